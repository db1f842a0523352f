"""Handing facilities to a designated manager (指定管理者への引継ぎ) in one step.

``plan_handover`` reads only; ``apply_handover`` recomputes the same plan inside the
command's one transaction and carries it out, so apply does exactly what plan printed
(for the same arguments and the same database).  Applying twice changes nothing the
second time: a facility already managed by the receiving organisation from the
handover day is reported as unchanged.

Access follows management periods by date (``resv_cli.facilities.catalogue``), so a handover
recorded in advance switches access on its day with nothing run at midnight.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select

from resv_cli.access.enforce import Grant, require_administration
from resv_cli.audit import chain as audit
from resv_cli.core.errors import Conflict, InputError
from resv_cli.core.files import PrivateFile
from resv_cli.core.i18n import _
from resv_cli.core.lookup import facility_by_code, organization_by_code
from resv_cli.core.models import Account, Facility, ManagementPeriod, Organization
from resv_cli.facilities.catalogue import assign_facility, insert_period
from resv_cli.records import bookings, registrants

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from resv_cli.core.context import Actor


@dataclass
class HandoverPlan:
    """What a handover changes; ``as_dict()`` is what plan prints and apply reports."""

    to: str
    on: dt.date
    facilities: list[str]
    periods_closed: list[dict[str, Any]] = field(default_factory=list)
    periods_opened: list[dict[str, Any]] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    roster: dict[str, Any] | None = None
    access: dict[str, Any] = field(default_factory=dict)
    # not printed: what apply needs to act
    _close_ids: list[tuple[int, dt.date]] = field(default_factory=list, repr=False)
    _open: list[tuple[int, int, dt.date, dt.date | None]] = field(default_factory=list, repr=False)
    _roster_plan: Any = field(default=None, repr=False)

    @property
    def changes_anything(self) -> bool:
        return bool(self.periods_closed or self.periods_opened or self._roster_creates())

    def _roster_creates(self) -> int:
        """How many account changes the roster plan makes (0 without a roster)."""
        rp = self._roster_plan
        if rp is None:
            return 0
        return sum(
            len(getattr(rp, name, None) or [])
            for name in ("to_create", "to_update", "to_enable", "to_disable")
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "to": self.to,
            "on": self.on.isoformat(),
            "facilities": list(self.facilities),
            "periods_closed": self.periods_closed,
            "periods_opened": self.periods_opened,
            "unchanged": list(self.unchanged),
            "notes": list(self.notes),
            "roster": self.roster,
            "access": self.access,
        }


def _iso(d: dt.date | None) -> str | None:
    return d.isoformat() if d else None


def plan_handover(
    session: Session,
    actor: Actor | None,
    to: str,
    facility_codes: list[str],
    on: dt.date,
    roster: Path | None = None,
    *,
    action: str = "handover.plan",
) -> HandoverPlan:
    """Work out a handover of ``facility_codes`` to organisation ``to`` from day ``on`` (admin).

    Writes nothing.  Raises Conflict when the facilities' recorded periods do not
    allow a clean handover (a later period already recorded, another organisation
    starting the same day).
    """
    grant = require_administration(actor, on, audit_action=action)
    if not facility_codes:
        raise InputError(_("name at least one facility with --facility"))
    org = organization_by_code(session, to)
    until: dt.date | None = None
    if org.kind == "designated_manager":
        if org.term_start and on < org.term_start:
            raise InputError(
                _(
                    "{code}'s designation term starts on {first}; "
                    "it cannot take over facilities on {day}"
                ).format(code=org.code, first=org.term_start, day=on)
            )
        if org.term_end and on > org.term_end:
            raise InputError(
                _("{code}'s designation term ended on {end}").format(
                    code=org.code, end=org.term_end
                )
            )
        until = org.term_end
    codes = list(dict.fromkeys(facility_codes))
    plan = HandoverPlan(to=org.code, on=on, facilities=codes)
    org_codes = {int(i): c for i, c in session.execute(select(Organization.id, Organization.code))}
    moved: list[Facility] = []
    losing: dict[int, list[Facility]] = {}
    for code in codes:
        fac = facility_by_code(session, code)
        if fac.retired_on is not None and fac.retired_on <= on:
            raise InputError(
                _("{code} is retired from {day}; it cannot be handed over").format(
                    code=code, day=fac.retired_on
                )
            )
        periods = list(
            session.execute(
                select(ManagementPeriod)
                .where(
                    ManagementPeriod.facility_id == fac.id,
                    or_(ManagementPeriod.valid_until.is_(None), ManagementPeriod.valid_until >= on),
                )
                .order_by(ManagementPeriod.valid_from)
            ).scalars()
        )
        current = next((p for p in periods if p.valid_from <= on), None)
        if current is not None and current.organization_id == org.id:
            plan.unchanged.append(code)
            continue
        later = [p for p in periods if p.valid_from > on]
        if later:
            p = later[0]
            raise Conflict(
                _(
                    "{code}: a management period by {org} from {start} is already recorded "
                    "after {day}; resolve it before the handover"
                ).format(code=code, org=org_codes[p.organization_id], start=p.valid_from, day=on)
            )
        if current is not None:
            if current.valid_from == on:
                raise Conflict(
                    _(
                        "{code}: {org} starts managing it on {day} too; resolve that period first"
                    ).format(code=code, org=org_codes[current.organization_id], day=on)
                )
            new_until = on - dt.timedelta(days=1)
            plan.periods_closed.append(
                {
                    "facility": code,
                    "organization": org_codes[current.organization_id],
                    "valid_from": current.valid_from.isoformat(),
                    "valid_until_before": _iso(current.valid_until),
                    "valid_until_after": new_until.isoformat(),
                }
            )
            plan._close_ids.append((current.id, new_until))
            losing.setdefault(current.organization_id, []).append(fac)
        plan.periods_opened.append(
            {
                "facility": code,
                "organization": org.code,
                "valid_from": on.isoformat(),
                "valid_until": _iso(until),
            }
        )
        plan._open.append((fac.id, org.id, on, until))
        moved.append(fac)

    # facilities inside a handed-over one that keep their own manager: say so, since
    # a complex's handover is easily taken to include the facilities it houses
    with_own = {
        int(fid)
        for (fid,) in session.execute(
            select(ManagementPeriod.facility_id)
            .where(
                ManagementPeriod.valid_from <= on,
                or_(ManagementPeriod.valid_until.is_(None), ManagementPeriod.valid_until >= on),
            )
            .distinct()
        )
    }
    for fac in moved:
        kept = session.execute(
            select(Facility.code)
            .where(Facility.parent_id == fac.id, Facility.id.in_(with_own))
            .order_by(Facility.code)
        ).scalars()
        for child in kept:
            if child not in codes:
                plan.notes.append(
                    _(
                        "{child} is inside {parent} but has a management period of its own "
                        "on {day}: it is not handed over (name it with --facility to include it)"
                    ).format(child=child, parent=fac.code, day=on)
                )

    if roster is not None:
        plan._roster_plan = _plan_roster(session, org.code, roster, on)
        plan.roster = plan._roster_plan.as_dict()

    plan.access = _access_difference(session, grant, org, moved, losing, on, plan)
    return plan


def _plan_roster(session: Session, org_code: str, path: Path, on: dt.date) -> Any:
    import importlib

    try:
        # the accounts area's module; imported by name so this area works without it
        roster_mod = importlib.import_module("resv_cli.accounts.roster")
    except ImportError:
        raise InputError(
            _(
                "--roster needs the roster module (resv_cli.accounts.roster) of the accounts "
                "area, which this installation lacks"
            )
        ) from None
    rows = roster_mod.read_roster(path)
    return roster_mod.plan_roster(session, org_code, rows, valid_from=on)


def _carry_out_periods(session: Session, plan: HandoverPlan, org: Organization) -> None:
    for period_id, new_until in plan._close_ids:
        period = session.get(ManagementPeriod, period_id)
        assert period is not None
        period.valid_until = new_until
    session.flush()
    for fac_id, _org_id, start, until in plan._open:
        fac = session.get(Facility, fac_id)
        assert fac is not None
        insert_period(session, fac, org, start, until)


def _access_difference(
    session: Session,
    grant: Grant,
    org: Organization,
    moved: list[Facility],
    losing: dict[int, list[Facility]],
    on: dt.date,
    plan: HandoverPlan,
) -> dict[str, Any]:
    """Which accounts gain and lose which facilities on ``on``, and how much data moves.

    Asks the one access layer (``resv_cli.access.decide.effective_access``) what each active
    account of the receiving and the previous managers may *view* on the handover
    day, before and after the period changes (made inside a savepoint that is rolled
    back), so the difference is exactly what access will do on that day.
    """
    from resv_cli.access.decide import effective_access

    roster_logins: list[str] = []
    if plan._roster_plan is not None:
        for entry in getattr(plan._roster_plan, "to_create", []) or []:
            login = getattr(entry, "login_id", None)
            if login is None and isinstance(entry, dict):
                login = entry.get("login_id")
            roster_logins.append(str(login) if login else _("(new account)"))
    result: dict[str, Any] = {"gain": [], "lose": [], "accounts_from_roster": roster_logins}
    if not moved:
        return result
    org_codes = {int(i): c for i, c in session.execute(select(Organization.id, Organization.code))}
    accounts = session.execute(
        select(Account.id, Account.login_id, Account.organization_id)
        .where(
            Account.organization_id.in_({org.id, *losing}),
            Account.status == "active",
        )
        .order_by(Account.login_id)
    ).all()

    def views() -> dict[int, dict[str, set[int]]]:
        out: dict[int, dict[str, set[int]]] = {}
        for acc_id, _login, _org in accounts:
            seen: dict[str, set[int]] = {"registrants": set(), "bookings": set()}
            for fid, action, resource in effective_access(session, acc_id, on):
                if action == "view" and resource in seen:
                    seen[resource].add(fid)
            out[acc_id] = seen
        return out

    before = views()
    savepoint = session.begin_nested()
    try:
        _carry_out_periods(session, plan, org)
        after = views()
    finally:
        savepoint.rollback()

    codes = {int(i): c for i, c in session.execute(select(Facility.id, Facility.code))}
    groups: dict[tuple[str, str, tuple[str, ...], int, int], list[str]] = {}
    for acc_id, login, org_id in accounts:
        for side, new, old in (("gain", after, before), ("lose", before, after)):
            regs = new[acc_id]["registrants"] - old[acc_id]["registrants"]
            books = new[acc_id]["bookings"] - old[acc_id]["bookings"]
            if not regs and not books:
                continue
            key = (
                side,
                org_codes[org_id],
                tuple(sorted(codes[i] for i in regs | books)),
                registrants.count_at(session, grant, regs),
                bookings.count_booked_at(session, grant, books),
            )
            groups.setdefault(key, []).append(login)
    for (side, org_code, facs, n_regs, n_books), logins in sorted(groups.items()):
        result[side].append(
            {
                "organization": org_code,
                "accounts": logins,
                "facilities": list(facs),
                "registrants": n_regs,
                "bookings": n_books,
            }
        )
    return result


@dataclass
class HandoverResult:
    plan: dict[str, Any]
    applied: bool
    credentials: list[Any]


def apply_handover(
    session: Session,
    actor: Actor | None,
    to: str,
    facility_codes: list[str],
    on: dt.date,
    roster: Path | None = None,
    credentials_file: PrivateFile | None = None,
) -> HandoverResult:
    """Carry out ``plan_handover`` in the caller's transaction (admin), audited.

    The one-time passwords of accounts the roster grants are written, complete
    and synced, into ``credentials_file`` (reserved by the caller with
    ``accounts.credentials.open_credentials_file``) and its name and SHA-256
    recorded in the first ``handover.apply`` event; the caller renames it into
    place after the commit.
    """
    from resv_cli.core.context import require_role

    require_role(actor, "admin", action="handover.apply")
    plan = plan_handover(session, actor, to, facility_codes, on, roster, action="handover.apply")
    _carry_out_periods(session, plan, organization_by_code(session, to))
    credentials: list[Any] = []
    if plan._roster_plan is not None and plan._roster_creates():
        import importlib

        roster_mod = importlib.import_module("resv_cli.accounts.roster")
        credentials = list(roster_mod.apply_roster(session, actor, plan._roster_plan))
    filed: dict[str, str] = {}
    if credentials:
        if credentials_file is None:
            raise InputError(
                _(
                    "the roster grants accounts: their one-time passwords need a new "
                    "--credentials-out file"
                )
            )
        from resv_cli.accounts.credentials import fill_credentials_file

        digest = fill_credentials_file(credentials_file, credentials)
        # the first event of the handover names the workbook, so the recovery of a
        # kill between commit and rename knows it was committed
        filed = {"file": credentials_file.target.name, "file_sha256": digest}
    closed_by_code = {c["facility"]: c for c in plan.periods_closed}
    for opened in plan.periods_opened:
        prev = closed_by_code.get(opened["facility"])
        audit.record(
            session,
            actor,
            "handover.apply",
            resource_type="facility",
            resource_id=opened["facility"],
            facility_code=opened["facility"],
            detail={
                "to": plan.to,
                "on": plan.on.isoformat(),
                "from_organization": prev["organization"] if prev else None,
                "valid_until": opened["valid_until"],
                **filed,
            },
        )
        filed = {}
    if not plan.periods_opened:
        audit.record(
            session,
            actor,
            "handover.apply",
            resource_type="organization",
            resource_id=plan.to,
            detail={
                "to": plan.to,
                "on": plan.on.isoformat(),
                "facilities": plan.facilities,
                "changed": False,
                "accounts_issued": len(credentials),
                **filed,
            },
        )
    return HandoverResult(
        plan=plan.as_dict(), applied=plan.changes_anything, credentials=credentials
    )


def continue_management(
    session: Session, actor: Actor | None, org_code: str, previous_end: dt.date, until: dt.date
) -> list[str]:
    """After a renewal (``org renew``): the facilities go on with the same manager.

    Each facility whose management by ``org_code`` ended on ``previous_end`` (the
    previous term's last day) and that is not retired by then gets a new management
    period from the next day to ``until``, through ``assign_facility`` (admin only,
    inside the new term, never overlapping another organisation's period: a facility
    handed over to someone else stops the whole renewal with its name; each period
    recorded as ``facility.assign``).  The codes, sorted.
    """
    org = organization_by_code(session, org_code)
    start = previous_end + dt.timedelta(days=1)
    if org.term_start is None or org.term_start > start:
        raise InputError(
            _("--extend-management needs a renewal that continues the current term without a gap")
        )
    codes = session.execute(
        select(Facility.code)
        .join(ManagementPeriod, ManagementPeriod.facility_id == Facility.id)
        .where(
            ManagementPeriod.organization_id == org.id,
            ManagementPeriod.valid_until == previous_end,
            or_(Facility.retired_on.is_(None), Facility.retired_on > start),
        )
        .order_by(Facility.code)
    ).scalars()
    done = []
    for code in codes:
        assign_facility(session, actor, code, org.code, start, until)
        done.append(code)
    return done
