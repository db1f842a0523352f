"""What every sheet of one monthly report is given: ``ReportContext``.

It holds the request (options, actor, scope, labels), the settings and clock
readings the report is made with, the data source (``ReportData``) and what the
sheets learn for each other: ``organizations`` (the designated managers in scope,
read by the cover and the flags), ``agg`` (filled by the activity sheet's one pass over
the events, read by the flags, the cover and the hour x day sheet), ``refusals``
(filled by the refused sheet, read by the refusals chart) and ``flag_counts``
(filled by the flags sheet, read by the cover and the audit event).

How a person reads what a sheet writes: ``code(kind)`` labels the codes of one kind
from the audit vocabulary (the Japanese report; the English one keeps the codes),
``date_text``/``month_text``/``stamp_text`` write days and instants in the report's
era (``--era``: 令和8年5月3日, or 2026-05-03).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

from resv_cli.audit.vocabulary import CODES, A
from resv_cli.core import clock, settings, wareki
from resv_cli.reports.data import PERSONAL_PREFIXES, ReportData, parse_detail, result_count
from resv_cli.reports.labels import Labels

if TYPE_CHECKING:
    from openpyxl.styles import NamedStyle
    from sqlalchemy.orm import Session

    from resv_cli.access.enforce import Grant
    from resv_cli.reports.chain import ChainStatus
    from resv_cli.reports.monthly import MonthlyOptions
    from resv_cli.reports.scope import Scope


class Aggregates:
    """What the one pass over the activity learns for the cover and the flags."""

    def __init__(self, facilities: dict[str, dict[str, Any]], account_facilities: dict[int, str]):
        self.facilities = facilities
        self.account_facilities = account_facilities
        self.daily: dict[dt.date, list[int]] = defaultdict(lambda: [0, 0])
        self.hourly: dict[dt.date, list[int]] = defaultdict(lambda: [0] * 24)
        self.by_action: Counter[tuple[str, str]] = Counter()
        # (account key, facility code, day) -> [count, first, last, first seq]
        self.out_of_hours: dict[tuple[Any, str, dt.date], list[Any]] = {}
        self.viewed: dict[tuple[Any, dt.date], set[str]] = defaultdict(set)
        self.listed: Counter[tuple[Any, dt.date]] = Counter()
        self.first_seq: dict[tuple[Any, dt.date], int] = {}
        self.personal: Counter[int] = Counter()  # account id -> personal-data actions
        self.logins: dict[Any, str | None] = {}  # account key -> login ID shown

    def observe(
        self,
        seq: int,
        when: dt.datetime,
        login: str | None,
        action: str,
        rid: str | None,
        fac: str | None,
        outcome: str,
        acc_id: int | None,
        search_detail: str | None,
    ) -> None:
        """Count one event (``when`` in Japan time)."""
        day = when.date()
        self.daily[day][0 if outcome == "allowed" else 1] += 1
        self.hourly[day][when.hour] += 1
        self.by_action[(action, outcome)] += 1
        key: Any = acc_id if acc_id is not None else login
        personal = action.startswith(PERSONAL_PREFIXES)
        # out-of-hours *use*: of personal data (registrants, bookings) by facility staff;
        # city IT setting up organisations, facilities, accounts or scope is not a
        # facility's use, nor is a login
        where = None
        if personal:
            where = fac or (None if acc_id is None else self.account_facilities.get(acc_id))
        if where is not None:
            info = self.facilities.get(where)
            hours = info["hours"] if info else None
            if hours is not None:
                minute = when.hour * 60 + when.minute
                if minute < hours[0] or minute >= hours[1]:
                    k = (key, where, day)
                    hit = self.out_of_hours.get(k)
                    if hit is None:
                        self.out_of_hours[k] = [1, when, when, seq]
                        self.logins[key] = login
                    else:
                        hit[0] += 1
                        hit[2] = when
        if outcome == "allowed" and personal:
            if acc_id is not None:
                self.personal[acc_id] += 1
            if action == A.REGISTRANT_VIEW and rid is not None:
                self.viewed[(key, day)].add(rid)
                self.first_seq.setdefault((key, day), seq)
                self.logins[key] = login
            elif action == A.REGISTRANT_SEARCH:
                n = result_count(parse_detail(search_detail))
                if n:
                    self.listed[(key, day)] += n
                    self.first_seq.setdefault((key, day), seq)
                    self.logins[key] = login


class ReportContext:
    """One report in the making (see the module docstring)."""

    def __init__(
        self,
        session: Session,
        grant: Grant,
        options: MonthlyOptions,
        scope: Scope,
        first: dt.date,
        nxt: dt.date,
        chain: ChainStatus,
    ) -> None:
        self.session = session
        self.actor = grant.actor
        self.options = options
        self.scope = scope
        self.first = first
        self.nxt = nxt
        self.last_day = nxt - dt.timedelta(days=1)
        self.chain = chain
        self.L = Labels(options.lang)
        self.generated = clock.now()
        # the day the report describes: the month's last day, or today if earlier
        self.ref_day = min(self.last_day, clock.today())
        self.bulk_threshold = settings.get_int(session, "bulk_view_threshold")
        self.dormant_days = settings.get_int(session, "dormant_days")
        self.data = ReportData(session, grant, scope, first, nxt)
        self.agg = Aggregates(self.data.facilities, self.data.account_facilities())
        # the designated managers in scope on the report's day: term, officer, staff
        self.organizations = self.data.organizations(self.ref_day)
        self.flag_counts: dict[str, int] = {}
        # (login ID shown, facility code or None, "denied" / "failed" / "lock") -> count
        self.refusals: Counter[tuple[str, str | None, str]] = Counter()
        self.styles: dict[str, NamedStyle] = {}  # the workbook's named styles
        self.era = options.era or ("japanese" if options.lang == "ja" else "western")
        self.era_dates = self.era == "japanese"
        self._codes: dict[str, dict[str, str]] = {}

    def code(self, kind: str) -> dict[str, str]:
        """code -> what a person reads, for ``kind`` of the audit vocabulary's codes.

        Japanese: the label; English: empty (the report keeps codes).  Use as
        ``labels.get(value, value)``: a code the vocabulary lacks is shown as stored.
        """
        found = self._codes.get(kind)
        if found is None:
            found = self._codes[kind] = (
                {code: pair[0] for code, pair in CODES.get(kind, {}).items()}
                if self.L.lang == "ja"
                else {}
            )
        return found

    def date_text(self, day: dt.date | None) -> str:
        """A day as the report prints it: 令和8年5月3日, R8.5.3 (English) or 2026-05-03."""
        if day is None:
            return ""
        if not self.era_dates:
            return day.isoformat()
        return wareki.date_text(day) if self.L.lang == "ja" else wareki.short_text(day)

    def month_text(self) -> str:
        """The report's month: 令和8年5月, 2026年5月 (Japanese, western) or 2026-05."""
        first = self.first
        if self.L.lang == "ja":
            if self.era_dates:
                return wareki.month_text(first.year, first.month)
            return f"{first.year}年{first.month}月"
        if self.era_dates:
            era = wareki.era_of(first)
            assert era is not None
            return f"{first:%Y-%m} ({wareki.ABBREVIATIONS[era[0]]}{era[1]})"
        return f"{first:%Y-%m}"

    def stamp_text(self, instant: dt.datetime) -> str:
        """An instant in Japan time to the minute, its day in the report's era."""
        local = instant.astimezone(clock.JST)
        return f"{self.date_text(local.date())} {local:%H:%M}"
