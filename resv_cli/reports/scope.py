"""What a monthly report covers: a JST calendar month, and an organisation or facilities.

Scope: with ``--org`` the events of that organisation's accounts plus every event at
a facility it managed during the month (child rooms included); with ``--facility``
the events at those facilities plus the facility-less events (logins) of the
accounts working there; with neither, everything.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, false, or_, select

from resv_cli.audit.vocabulary import A
from resv_cli.core import clock, management
from resv_cli.core.errors import InputError, PermissionDenied
from resv_cli.core.i18n import _
from resv_cli.core.lookup import facility_by_code, organization_by_code
from resv_cli.core.models import Account, AccountWorkplace, Facility, Organization

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from resv_cli.core.context import Actor
    from resv_cli.reports.monthly import MonthlyOptions

JST = clock.JST
_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
_NINE_HOURS = dt.timedelta(hours=9)


def parse_month(text: str) -> tuple[dt.date, dt.date]:
    """Return the first day of the month and the first day of the next."""
    m = _MONTH_RE.match(text.strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise InputError(_("--month must be a month like 2026-05, got {text!r}").format(text=text))
    first = dt.date(int(m.group(1)), int(m.group(2)), 1)
    nxt = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, nxt


def to_jst(value: Any) -> dt.datetime:
    """A stored instant (SQLite text in UTC, or an aware datetime) as naive Japan time."""
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value[:19]) + _NINE_HOURS
    return value.astimezone(JST).replace(tzinfo=None, microsecond=0)


def jst_or_none(value: dt.datetime | None) -> dt.datetime | None:
    """An aware instant as naive Japan time to the second (None stays None)."""
    return None if value is None else value.astimezone(JST).replace(tzinfo=None, microsecond=0)


@dataclass
class Scope:
    org: Organization | None
    facility_ids: set[int] | None  # None: every facility
    facility_codes: list[str]
    account_ids: set[int] | None  # None: every account

    explicit: bool  # facilities named with --facility

    def events(self, t: Any) -> Any:
        """SQL condition for the events in scope (None: every event)."""
        codes = self.facility_codes
        at_facility = t.facility_code.in_(codes) if codes else false()
        if self.explicit:
            accounts = sorted(self.account_ids or ())
            no_facility = and_(
                t.facility_code.is_(None),
                t.account_id.in_(accounts) if accounts else false(),
            )
            return or_(at_facility, no_facility)
        if self.org is not None:
            return or_(t.organization_code == self.org.code, at_facility)
        return None


def resolve_scope(
    s: Session, actor: Actor, options: MonthlyOptions, first: dt.date, nxt: dt.date
) -> Scope:
    """The organisation, facilities and accounts ``options`` name, checked for ``actor``."""
    org: Organization | None = None
    code = options.org_code
    if actor.organization_kind == "designated_manager":
        # a designated manager's monitor reports on its own organisation only
        if code is not None and code != actor.organization_code:
            raise PermissionDenied(
                _("permission denied: you may report on {org} only").format(
                    org=actor.organization_code
                ),
                action=A.REPORT_EXPORT,
                outcome="denied",
                detail={"reason": "scope", "org": code, "month": options.month},
            )
        code = actor.organization_code
    if code is not None:
        org = organization_by_code(s, code)
    last = nxt - dt.timedelta(days=1)
    facility_ids: set[int] | None = None
    explicit = bool(options.facility_codes)
    if explicit:
        facility_ids = set()
        for fcode in options.facility_codes:
            facility_ids.add(int(facility_by_code(s, fcode).id))
    elif org is not None:
        # who managed what that month: the one rule (a complex's period reaches its
        # centres, a centre's own period wins), on any day of the month
        facility_ids = management.facilities_managed_between(s, org.id, first, last)
    if explicit and facility_ids is not None:
        facility_ids = _with_children(s, facility_ids)
    codes: list[str] = []
    if facility_ids:
        codes = sorted(
            s.execute(select(Facility.code).where(Facility.id.in_(facility_ids))).scalars()
        )
    acc = select(Account.id)
    account_ids: set[int] | None = None
    if org is not None or explicit:
        if org is not None:
            acc = acc.where(Account.organization_id == org.id)
        if explicit:
            # the people who work there: any of their places of work is named
            acc = acc.where(
                or_(
                    Account.facility_id.in_(facility_ids or {-1}),
                    Account.id.in_(
                        select(AccountWorkplace.account_id).where(
                            AccountWorkplace.facility_id.in_(facility_ids or {-1})
                        )
                    ),
                )
            )
        account_ids = {int(a) for a in s.execute(acc).scalars()}
    return Scope(org, facility_ids, codes, account_ids, explicit)


def _with_children(s: Session, ids: set[int]) -> set[int]:
    result = set(ids)
    frontier = set(ids)
    while frontier:
        kids = {
            int(k)
            for k in s.execute(
                select(Facility.id).where(Facility.parent_id.in_(frontier))
            ).scalars()
        } - result
        result |= kids
        frontier = kids
    return result
