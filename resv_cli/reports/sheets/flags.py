"""Flags: what the reviewer should look at, each with blank columns for the finding.

Reads the designated managers in scope (``ctx.organizations``: a term ending within
90 days, staff accounts but no information security officer), the activity's
aggregates (``ctx.agg``) and the accounts; leaves the count per kind in
``ctx.flag_counts`` for the cover and the audit event.  Out-of-hours flags concern
the use of personal data (registrant and booking actions) only: see
``context.Aggregates``.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from resv_cli.core.terms import days_left
from resv_cli.reports.scope import JST
from resv_cli.reports.sheets.base import Col, Table, num

if TYPE_CHECKING:
    from resv_cli.reports.context import ReportContext

FLAG_KINDS = (
    "term_ending",
    "no_security_officer",
    "out_of_hours",
    "bulk_view",
    "not_on_roster",
    "left_roster",
    "expired",
    "dormant",
    "untrained",
    "non_regular",
)

# the reviewer's findings offered by the 確認結果 drop-down (label keys)
FINDINGS = ("finding.ok", "finding.asked", "finding.fix", "finding.fixed")

# kind, day, login ID, facility code, detail text, value, evidence (seq)
_Flag = tuple[str, Any, Any, Any, str, Any, Any]


def _months_before(day: dt.date, months: int) -> dt.date:
    y, m = divmod(day.year * 12 + day.month - 1 - months, 12)
    m += 1
    return dt.date(y, m, min(day.day, calendar.monthrange(y, m)[1]))


class Flags(Table):
    key = "sheet.flags"
    counted_as = "flags"
    columns = (
        num("seq", 6),
        Col("flag", 26, wrap=True),
        Col("date", 18),
        Col("account", 18),
        Col("facility_code", 16),
        Col("detail", 50, wrap=True),
        num("value", 8),
        num("evidence", 12),
        Col("finding", 24, choices=FINDINGS),
        Col("reviewer", 16),
    )

    def rows(self, ctx: ReportContext) -> Iterator[list[Any]]:
        L = ctx.L
        counts: Counter[str] = Counter()
        n = 0
        for kind, day, login, fac, text, value, ev in self._flags(ctx):
            n += 1
            counts[kind] += 1
            yield [n, L(f"flag.{kind}"), day, login, fac, text, value, ev, None, None]
        ctx.flag_counts = {k: counts.get(k, 0) for k in FLAG_KINDS}

    def _flags(self, ctx: ReportContext) -> Iterator[_Flag]:
        L = ctx.L
        agg = ctx.agg
        accounts = ctx.data.accounts
        login_of = {a["id"]: a["login_id"] for a in accounts}
        ref = ctx.ref_day
        for org in ctx.organizations:
            # the designation ends soon (or has ended): the renewal is to be recorded
            days = days_left("designated_manager", org["term_end"], ref)
            if days is not None:
                which = "d.term_ended" if days < 0 else "d.term_ending"
                end = ctx.date_text(org["term_end"])
                text = L(which, org=org["code"], end=end, days=abs(days))
                yield ("term_ending", ref, None, None, text, days, None)
            # the agreement obliges a manager whose staff use the system to name one
            if org["staff"] and org["officer"] is None:
                text = L("d.no_security_officer", org=org["code"], n=org["staff"])
                yield ("no_security_officer", ref, None, None, text, org["staff"], None)
        for (key, fac, day), (cnt, first, last, seq) in sorted(
            agg.out_of_hours.items(), key=lambda kv: (kv[0][2], str(kv[0][1]), kv[1][3])
        ):
            hours = ctx.data.facilities[fac]["hours"]
            text = L(
                "d.out_of_hours",
                n=cnt,
                first=first.strftime("%H:%M"),
                last=last.strftime("%H:%M"),
                opens=hours[2],
                closes=hours[3],
            )
            login = login_of.get(key, agg.logins.get(key))
            yield ("out_of_hours", day, login, fac, text, cnt, seq)
        keys = sorted(
            set(agg.viewed) | set(agg.listed), key=lambda k: (k[1], agg.first_seq.get(k, 0))
        )
        threshold = ctx.bulk_threshold
        for key in keys:
            views = len(agg.viewed.get(key, ()))
            listed = agg.listed.get(key, 0)
            if views + listed > threshold:
                acc, day = key
                text = L("d.bulk_view", views=views, listed=listed, threshold=threshold)
                login = login_of.get(acc, agg.logins.get(acc))
                yield ("bulk_view", day, login, None, text, views + listed, agg.first_seq.get(key))
        dormant_before = ref - dt.timedelta(days=ctx.dormant_days)
        training_since = _months_before(ref, 12)
        for a in accounts:
            if a["status"] != "active":
                continue
            login, fac = a["login_id"], a["facility_code"]
            if a["org_kind"] == "designated_manager" and a["roster_entry_id"] is None:
                yield ("not_on_roster", ref, login, fac, L("d.not_on_roster"), None, None)
            elif a["roster_status"] == "left":
                yield ("left_roster", ref, login, fac, L("d.left_roster"), None, None)
            if a["valid_until"] is not None and a["valid_until"] < ref:
                text = L("d.expired", until=ctx.date_text(a["valid_until"]))
                yield ("expired", ref, login, fac, text, None, None)
            last_login = a["last_login_at"]
            if last_login is not None:
                last_day = last_login.astimezone(JST).date()
                if last_day < dormant_before:
                    days = (ref - last_day).days
                    text = L("d.dormant", last=ctx.date_text(last_day), days=days)
                    yield ("dormant", ref, login, fac, text, days, None)
            else:
                created = a["created_at"].astimezone(JST).date()
                if created < dormant_before:
                    text = L("d.never", created=ctx.date_text(created))
                    yield ("dormant", ref, login, fac, text, (ref - created).days, None)
            used = ctx.agg.personal.get(a["id"], 0)
            if a["role"] == "operator" or used:
                training = a["training"]
                if training is None or training[0] < training_since:
                    why = L("why.role") if a["role"] == "operator" else L("why.used")
                    last_t = ctx.date_text(training[0]) if training else L("none")
                    text = L("d.untrained", why=why, last=last_t)
                    yield ("untrained", ref, login, fac, text, None, None)
            if a["employment_type"] == "non_regular":
                role = ctx.code("role").get(a["role"], a["role"])
                text = L("d.non_regular", role=role, n=used)
                yield ("non_regular", ref, login, fac, text, used, None)
