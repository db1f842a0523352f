"""Organisations: the city (実施機関) and designated managers (指定管理者) with their term."""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from resv_cli.audit import chain as audit
from resv_cli.audit.vocabulary import A
from resv_cli.core import clock
from resv_cli.core.context import Actor, require_role
from resv_cli.core.errors import Conflict, InputError
from resv_cli.core.i18n import _
from resv_cli.core.lookup import organization_by_code
from resv_cli.core.models import (
    ORG_KINDS,
    Account,
    Organization,
    OrganizationTerm,
    SecurityOfficer,
)
from resv_cli.core.normalize import check_text, max_len, name_key
from resv_cli.core.terms import term_warning

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

CODE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,31}$")
KIND_ALIASES = {"designated-manager": "designated_manager", "city": "city"}


def add_org(
    session: Session,
    actor: Actor | None,
    code: str,
    name: str,
    *,
    kind: str,
    term_start: dt.date | None = None,
    term_end: dt.date | None = None,
) -> Organization:
    """Register an organisation (admin); a designated manager needs its designation term."""
    require_role(actor, "admin", action="org.add")
    code = code.strip()
    kind = KIND_ALIASES.get(kind, kind)
    if kind not in ORG_KINDS:
        raise InputError(_("--kind must be city or designated-manager"))
    if not CODE_RE.fullmatch(code):
        raise InputError(
            _(
                "organisation code must be 2-32 characters: lower-case letters, digits and '-', "
                "starting with a letter or digit (got {code!r})"
            ).format(code=code)
        )
    name = check_text(_("organisation name"), name, max_len=max_len(Organization.name))
    if not name:
        raise InputError(_("the organisation's name is empty"))
    if kind == "designated_manager" and (term_start is None or term_end is None):
        raise InputError(
            _("a designated manager needs its designation term: --term-start and --term-end")
        )
    if term_start and term_end and term_end < term_start:
        raise InputError(_("--term-end is before --term-start"))
    if session.execute(select(Organization.id).where(Organization.code == code)).first():
        raise Conflict(_("an organisation with code {code!r} already exists").format(code=code))
    org = Organization(
        code=code,
        name=name,
        kind=kind,
        term_start=term_start,
        term_end=term_end,
        created_at=clock.now(),
    )
    session.add(org)
    session.flush()
    if term_start is not None and term_end is not None:
        session.add(_period(org, term_start, term_end, "add"))
    audit.record(
        session,
        actor,
        "org.add",
        resource_type="organization",
        resource_id=code,
        detail={
            "kind": kind,
            "term_start": term_start.isoformat() if term_start else None,
            "term_end": term_end.isoformat() if term_end else None,
        },
    )
    return org


def check_validity(
    org: Organization, valid_from: dt.date | None, valid_until: dt.date | None
) -> tuple[dt.date | None, dt.date | None]:
    """Apply the defaults (the designation term) and refuse dates outside it.

    Refuses an account that the designation term would make born expired (the term
    ended before today, or before ``valid_from``): the message says to record the
    renewal first.  An explicit past ``valid_until`` is the caller's choice.
    """
    today = clock.today()
    renew = _("record the renewal with `resv org renew {code} --until ...` first")
    said = {"code": org.code, "end": org.term_end, "start": org.term_start}
    if org.kind == "designated_manager":
        if valid_until is None:
            valid_until = org.term_end
            if org.term_end is not None and org.term_end < max(today, valid_from or today):
                raise InputError(
                    (
                        _("{code}'s designation ended on {end}: {renew}")
                        if org.term_end < today
                        else _(
                            "{code}'s designation ends on {end}, before --valid-from {day}: {renew}"
                        )
                    ).format(**said, day=valid_from, renew=renew.format(code=org.code))
                )
        elif org.term_end is not None and valid_until > org.term_end:
            raise InputError(
                _(
                    "--valid-until {day} is after the end of {code}'s designation term ({end})"
                ).format(**said, day=valid_until)
            )
        if valid_from is None and org.term_start is not None and org.term_start > clock.today():
            valid_from = org.term_start
        if valid_from is not None and org.term_start is not None and valid_from < org.term_start:
            raise InputError(
                _(
                    "--valid-from {day} is before the start of {code}'s designation term ({start})"
                ).format(**said, day=valid_from)
            )
    if valid_from and valid_until and valid_until < valid_from:
        raise InputError(_("--valid-until is before --valid-from"))
    return valid_from, valid_until


def _period(org: Organization, start: dt.date, end: dt.date, source: str) -> OrganizationTerm:
    now = clock.now()
    return OrganizationTerm(
        organization_id=org.id,
        term_start=start,
        term_end=end,
        source=source,
        created_at=now,
        updated_at=now,
    )


def security_officer(
    session: Session, org_id: int, on: dt.date
) -> tuple[SecurityOfficer, str] | None:
    """The security officer (情報セキュリティ対策責任者) named for ``on``, and how to show them.

    The latest naming on or before ``on``; shown as "login-id (display name)" for an
    account, else the name as given.
    """
    officer = session.execute(
        select(SecurityOfficer)
        .where(SecurityOfficer.organization_id == org_id, SecurityOfficer.valid_from <= on)
        .order_by(SecurityOfficer.valid_from.desc())
        .limit(1)
    ).scalar_one_or_none()
    if officer is None:
        return None
    if officer.account_id is not None:
        acc = session.get(Account, officer.account_id)
        shown = f"{acc.login_id} ({acc.display_name})" if acc is not None else "?"
    else:
        shown = officer.name or ""
    return officer, shown


def _as_row(org: Organization, accounts: int, today: dt.date) -> dict[str, Any]:
    return {
        "code": org.code,
        "name": org.name,
        "kind": org.kind,
        "term_start": org.term_start,
        "term_end": org.term_end,
        "active_accounts": accounts,
        "warning": term_warning(org.code, org.kind, org.term_end, today),
    }


def list_orgs(session: Session, actor: Actor | None) -> list[dict[str, Any]]:
    """Organisations with their term, active accounts and a warning when the term ends soon."""
    require_role(actor, "admin", "monitor", action="org.list")
    counts = dict(
        session.execute(
            select(Account.organization_id, func.count())
            .where(Account.status == "active")
            .group_by(Account.organization_id)
        ).all()
    )
    today = clock.today()
    orgs = session.execute(select(Organization).order_by(Organization.code)).scalars()
    return [_as_row(o, int(counts.get(o.id, 0)), today) for o in orgs]


Period = OrganizationTerm | tuple[dt.date, dt.date]


def terms_of(session: Session, org: Organization) -> list[Period]:
    """Every designation period, oldest first (the organisation's term when none is recorded)."""
    rows: list[Period] = list(
        session.execute(
            select(OrganizationTerm)
            .where(OrganizationTerm.organization_id == org.id)
            .order_by(OrganizationTerm.term_start)
        ).scalars()
    )
    if not rows and org.term_start is not None and org.term_end is not None:
        rows = [(org.term_start, org.term_end)]
    return rows


def _span(p: Period) -> tuple[dt.date, dt.date]:
    return (p.term_start, p.term_end) if isinstance(p, OrganizationTerm) else p


def show_org(session: Session, actor: Actor | None, code: str) -> dict[str, Any]:
    """One organisation: its term and every designation period, officer, account counts."""
    require_role(actor, "admin", "monitor", action="org.show")
    org = organization_by_code(session, code)
    by_status = dict(
        session.execute(
            select(Account.status, func.count())
            .where(Account.organization_id == org.id)
            .group_by(Account.status)
        ).all()
    )
    today = clock.today()
    row = _as_row(org, int(by_status.get("active", 0)), today)
    row["disabled_accounts"] = int(by_status.get("disabled", 0))
    row["revoked_accounts"] = int(by_status.get("revoked", 0))
    if org.kind == "designated_manager":
        in_term = (org.term_start is None or org.term_start <= today) and (
            org.term_end is None or today <= org.term_end
        )
        row["in_term_today"] = in_term
        row["designation_periods"] = ", ".join(
            f"{a}..{b}" for a, b in (_span(p) for p in terms_of(session, org))
        )
    named = security_officer(session, org.id, today)
    row["security_officer"] = named[1] if named else None
    row["security_officer_since"] = named[0].valid_from if named else None
    row["created_at"] = org.created_at
    return row


def _ensure_periods(session: Session, org: Organization) -> list[OrganizationTerm]:
    """The recorded periods; an organisation's term made before they were kept becomes one."""
    periods = [p for p in terms_of(session, org) if isinstance(p, OrganizationTerm)]
    if not periods and org.term_start is not None and org.term_end is not None:
        first = _period(org, org.term_start, org.term_end, "add")
        session.add(first)
        session.flush()
        periods = [first]
    return periods


def _run_start(periods: list[OrganizationTerm]) -> dt.date:
    """The first day of the unbroken run of periods that ends with the latest one."""
    start = periods[-1].term_start
    for p in reversed(periods[:-1]):
        if p.term_end + dt.timedelta(days=1) < start:
            break
        start = p.term_start
    return start


def _officer(session: Session, org: Organization, who: str) -> tuple[Account | None, str | None]:
    """Resolve ``--security-officer``: an account of ``org`` (login ID or name), else a name."""
    who = check_text("--security-officer", who, max_len=max_len(SecurityOfficer.name)).strip()
    if not who:
        raise InputError(_("--security-officer is empty"))
    acc = session.execute(select(Account).where(Account.login_id == who)).scalar_one_or_none()
    if acc is None:
        # a name: the one live account of the organisation with that name, if any
        key = name_key(who)
        same = [
            a
            for a in session.execute(
                select(Account).where(
                    Account.organization_id == org.id, Account.status != "revoked"
                )
            ).scalars()
            if name_key(a.display_name) == key
        ]
        if len(same) == 1:
            acc = same[0]
        else:
            return None, who
    if acc.organization_id != org.id:
        other = session.get(Organization, acc.organization_id)
        raise InputError(
            _(
                "--security-officer: account {login} belongs to {other}, not {code}: "
                "the officer is a person of {code}"
            ).format(login=acc.login_id, other=other.code if other else "?", code=org.code)
        )
    if acc.status == "revoked":
        raise InputError(
            _("--security-officer: account {login} is revoked").format(login=acc.login_id)
        )
    return acc, None


def update_org(
    session: Session,
    actor: Actor | None,
    code: str,
    *,
    name: str | None = None,
    term_start: dt.date | None = None,
    term_end: dt.date | None = None,
    security_officer_: str | None = None,
    officer_from: dt.date | None = None,
) -> dict[str, Any]:
    """Correct an organisation's name or current designation period, or name its officer (admin).

    ``term_start``/``term_end`` correct the current (latest) period; a new period
    is ``renew_org``.  ``security_officer_`` names the 情報セキュリティ対策責任者
    from ``officer_from`` (default today): an account of the organisation (login
    ID, or a name that is exactly one of its accounts) or a person's name.
    Recorded as ``org.update`` with what changed (never a person's name).
    """
    require_role(actor, "admin", action=A.ORG_UPDATE)
    org = organization_by_code(session, code)
    if name is None and term_start is None and term_end is None and security_officer_ is None:
        raise InputError(
            _("nothing to change: give --name, --term-start, --term-end or --security-officer")
        )
    if officer_from is not None and security_officer_ is None:
        raise InputError(_("--officer-from needs --security-officer"))
    changed: list[str] = []
    detail: dict[str, Any] = {}
    if name is not None:
        name = check_text("--name", name, max_len=max_len(Organization.name))
        if not name:
            raise InputError(_("--name is empty"))
        if name != org.name:
            org.name = name
            changed.append("name")
    if term_start is not None or term_end is not None:
        if org.kind != "designated_manager":
            raise InputError(
                _("{code} is the city: it has no designation term").format(code=org.code)
            )
        periods = _ensure_periods(session, org)
        if not periods:
            if term_start is None or term_end is None:
                raise InputError(
                    _(
                        "{code} has no designation term yet: give --term-start and --term-end"
                    ).format(code=org.code)
                )
            periods = [_period(org, term_start, term_end, "add")]
            session.add(periods[0])
        current = periods[-1]
        new_start = term_start or current.term_start
        new_end = term_end or current.term_end
        if new_end < new_start:
            raise InputError(
                _("--term-end {end} is before --term-start {start}").format(
                    end=new_end, start=new_start
                )
            )
        if len(periods) > 1 and new_start <= periods[-2].term_end:
            raise InputError(
                _(
                    "--term-start {start} is within the previous designation period "
                    "({first}..{last})"
                ).format(start=new_start, first=periods[-2].term_start, last=periods[-2].term_end)
            )
        if new_end != org.term_end:
            detail["previous_term_end"] = _iso(org.term_end)
        if new_start != current.term_start:
            changed.append("term_start")
        if new_end != current.term_end:
            changed.append("term_end")
        current.term_start, current.term_end = new_start, new_end
        current.updated_at = clock.now()
        session.flush()
        org.term_start, org.term_end = _run_start(periods), new_end
        detail["term_start"] = _iso(org.term_start)
        detail["term_end"] = _iso(org.term_end)
    if security_officer_ is not None:
        acc, person = _officer(session, org, security_officer_)
        since = officer_from or clock.today()
        row = session.execute(
            select(SecurityOfficer).where(
                SecurityOfficer.organization_id == org.id, SecurityOfficer.valid_from == since
            )
        ).scalar_one_or_none()
        if row is None:
            row = SecurityOfficer(organization_id=org.id, valid_from=since, created_at=clock.now())
            session.add(row)
        row.account_id = acc.id if acc is not None else None
        row.name = person
        changed.append("security_officer")
        detail["valid_from"] = since.isoformat()
        if acc is not None:
            detail["security_officer"] = "account"
            detail["account_id"] = acc.id
        else:
            detail["security_officer"] = "name"
            detail["name_hmac"] = audit.keyed_hash(person or "")
    session.flush()
    audit.record(
        session,
        actor,
        A.ORG_UPDATE,
        resource_type="organization",
        resource_id=org.code,
        detail={"changed": changed, **detail} if changed else {"noop": True},
    )
    row_out = show_org(session, actor, org.code)
    row_out["accounts_valid_after_term"] = _accounts_after(session, org)
    return row_out


def _accounts_after(session: Session, org: Organization) -> int:
    """Active accounts valid beyond the organisation's term end (after shortening it)."""
    if org.term_end is None:
        return 0
    return int(
        session.execute(
            select(func.count())
            .select_from(Account)
            .where(
                Account.organization_id == org.id,
                Account.status == "active",
                Account.valid_until > org.term_end,
            )
        ).scalar_one()
    )


def _iso(d: dt.date | None) -> str | None:
    return d.isoformat() if d else None


def renew_org(
    session: Session,
    actor: Actor | None,
    code: str,
    *,
    until: dt.date,
    start: dt.date | None = None,
    extend_accounts: bool = False,
) -> dict[str, Any]:
    """Record a new designation period (指定期間) of a designated manager (admin).

    The period runs from ``start`` (default: the day after the current term ends)
    to ``until``; the previous periods are kept.  ``extend_accounts`` moves the
    last valid day of the active accounts that ended with the previous term to
    ``until`` (each recorded as ``account.update``); without it they still end
    with the previous term and the result counts them.
    """
    require_role(actor, "admin", action=A.ORG_RENEW)
    org = organization_by_code(session, code)
    if org.kind != "designated_manager":
        raise InputError(
            _("{code} is the city: it has no designation term to renew").format(code=org.code)
        )
    periods = _ensure_periods(session, org)
    previous_end = org.term_end
    if start is None:
        if previous_end is None:
            raise InputError(
                _(
                    "{code} has no designation term yet: give --from (the new period's first day)"
                ).format(code=org.code)
            )
        start = previous_end + dt.timedelta(days=1)
    if previous_end is not None and start <= previous_end:
        raise InputError(
            _(
                "a renewal starts after the current term ends ({end}); to correct the "
                "current term use `resv org update {code} --term-end DATE`"
            ).format(end=previous_end, code=org.code)
        )
    if until < start:
        raise InputError(
            _("--until {until} is before the new period's first day {start}").format(
                until=until, start=start
            )
        )
    new = _period(org, start, until, "renew")
    session.add(new)
    session.flush()
    periods.append(new)
    org.term_start, org.term_end = _run_start(periods), until
    ending = []
    if previous_end is not None:
        ending = list(
            session.execute(
                select(Account)
                .where(
                    Account.organization_id == org.id,
                    Account.status == "active",
                    Account.valid_until == previous_end,
                )
                .order_by(Account.login_id)
            ).scalars()
        )
    extended = 0
    if extend_accounts and start == previous_end + dt.timedelta(days=1):  # type: ignore[operator]
        now = clock.now()
        for acc in ending:
            acc.valid_until = until
            acc.updated_at = now
            extended += 1
            audit.record(
                session,
                actor,
                A.ACCOUNT_UPDATE,
                resource_type="account",
                resource_id=acc.login_id,
                detail={"account_id": acc.id, "valid_until": until.isoformat()},
            )
    elif extend_accounts:
        raise InputError(
            _("--extend-accounts needs a renewal that continues the current term without a gap")
        )
    audit.record(
        session,
        actor,
        A.ORG_RENEW,
        resource_type="organization",
        resource_id=org.code,
        detail={
            "term_start": start.isoformat(),
            "term_end": until.isoformat(),
            "previous_term_end": _iso(previous_end),
            "accounts_extended": extended,
        },
    )
    row = show_org(session, actor, org.code)
    row["previous_term_end"] = previous_end
    row["accounts_extended"] = extended
    row["accounts_ending_with_previous_term"] = len(ending) - extended
    return row
