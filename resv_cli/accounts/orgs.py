"""Organisations: the city (実施機関) and designated managers (指定管理者) with their term."""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from resv_cli.audit import chain as audit
from resv_cli.core import clock
from resv_cli.core.context import Actor, require_role
from resv_cli.core.errors import Conflict, InputError
from resv_cli.core.lookup import organization_by_code
from resv_cli.core.models import ORG_KINDS, Account, Organization
from resv_cli.core.normalize import check_text, max_len

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
        raise InputError("--kind must be city or designated-manager")
    if not CODE_RE.fullmatch(code):
        raise InputError(
            "organisation code must be 2-32 characters: lower-case letters, digits and '-', "
            f"starting with a letter or digit (got {code!r})"
        )
    name = check_text("organisation name", name, max_len=max_len(Organization.name))
    if not name:
        raise InputError("the organisation's name is empty")
    if kind == "designated_manager" and (term_start is None or term_end is None):
        raise InputError(
            "a designated manager needs its designation term: --term-start and --term-end"
        )
    if term_start and term_end and term_end < term_start:
        raise InputError("--term-end is before --term-start")
    if session.execute(select(Organization.id).where(Organization.code == code)).first():
        raise Conflict(f"an organisation with code {code!r} already exists")
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


def _as_row(org: Organization, accounts: int) -> dict[str, Any]:
    return {
        "code": org.code,
        "name": org.name,
        "kind": org.kind,
        "term_start": org.term_start,
        "term_end": org.term_end,
        "active_accounts": accounts,
    }


def list_orgs(session: Session, actor: Actor | None) -> list[dict[str, Any]]:
    require_role(actor, "admin", "monitor", action="org.list")
    counts = dict(
        session.execute(
            select(Account.organization_id, func.count())
            .where(Account.status == "active")
            .group_by(Account.organization_id)
        ).all()
    )
    orgs = session.execute(select(Organization).order_by(Organization.code)).scalars()
    return [_as_row(o, int(counts.get(o.id, 0))) for o in orgs]


def show_org(session: Session, actor: Actor | None, code: str) -> dict[str, Any]:
    require_role(actor, "admin", "monitor", action="org.show")
    org = organization_by_code(session, code)
    by_status = dict(
        session.execute(
            select(Account.status, func.count())
            .where(Account.organization_id == org.id)
            .group_by(Account.status)
        ).all()
    )
    row = _as_row(org, int(by_status.get("active", 0)))
    row["disabled_accounts"] = int(by_status.get("disabled", 0))
    row["revoked_accounts"] = int(by_status.get("revoked", 0))
    today = clock.today()
    if org.kind == "designated_manager":
        in_term = (org.term_start is None or org.term_start <= today) and (
            org.term_end is None or today <= org.term_end
        )
        row["in_term_today"] = in_term
    row["created_at"] = org.created_at
    return row
