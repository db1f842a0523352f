"""Enforcement: decide, then refuse (audited) or hand out a ``Grant``.

``decide.py`` answers questions; this module turns an answer into an action.
Every function of ``resv_cli.records`` that reads or writes registrants, bookings
or certificates takes a ``Grant`` and checks its kind, and only this module can
make one, so a service cannot reach personal data without asking here first:

- ``require`` -- one action on one facility's records, for the logged-in
  operator (management periods and scope rules, ``decide``);
- ``require_existing`` -- the same for one existing record, where a record out of
  scope answers exactly like a missing one (``NotFound``, audited as refused);
- ``require_migration`` -- the legacy import into one facility on one day, for
  the city's administrators (the migration administrator), audited by the batch;
- ``require_monitoring`` -- the monthly report's reads: masked names of the
  registrants that flagged events name, for administrators and monitors;
- ``require_administration`` -- counts per facility (no personal values) for the
  handover plan, for administrators.

A refusal raises a ``ResvError`` that carries its audit fields; the command
boundary records it, so every refusal is in the history.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from resv_cli.access.decide import Decision, decide
from resv_cli.core.context import Actor, require_role
from resv_cli.core.errors import NotFound, NotLoggedIn, PermissionDenied
from resv_cli.core.i18n import _

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

# The kinds of grant; ``records`` functions name the kinds they accept.
FACILITY = "facility"  # an operator's action on one facility (decide)
MIGRATION = "migration"  # a legacy import into one facility
MONITORING = "monitoring"  # masked names for the monthly report
ADMINISTRATION = "administration"  # per-facility counts, no personal values

# The roles each role-based kind of grant is for (FACILITY grants come from decide);
# row-level security (access/rls.py) grants the same roles the same tables.
GRANT_ROLES: dict[str, tuple[str, ...]] = {
    MIGRATION: ("admin",),
    MONITORING: ("monitor", "admin"),
    ADMINISTRATION: ("admin",),
}

_ISSUER = object()  # only this module makes grants


@dataclass(frozen=True)
class Grant:
    """Proof that the access layer allowed one kind of access; made only here."""

    kind: str
    actor: Actor
    action: str
    on: dt.date
    facility_id: int | None = None
    decision: Decision | None = None
    _issuer: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._issuer is not _ISSUER:
            raise TypeError("a Grant is made only by resv_cli.access")

    def expect(self, *kinds: str, facility_id: int | None = None) -> None:
        """Refuse a grant of another kind (or for another facility): a programming error."""
        if self.kind not in kinds:
            raise TypeError(f"this needs a grant of kind {' or '.join(kinds)}, not {self.kind}")
        if facility_id is not None and self.facility_id != facility_id:
            raise TypeError("the grant is for another facility")


def logged_in(actor: Actor | None) -> Actor:
    """The actor, or the one not-logged-in answer."""
    if actor is None:
        raise NotLoggedIn(_("not logged in: run `resv login` first"))
    return actor


def _grant(kind: str, actor: Actor, action: str, on: dt.date, **kw: Any) -> Grant:
    return Grant(kind, actor, action, on, _issuer=_ISSUER, **kw)


def require(
    session: Session,
    actor: Actor | None,
    action: str,
    resource: str,
    facility_id: int,
    facility_code: str,
    on: dt.date,
    *,
    audit_action: str,
    resource_type: str | None = None,
    full: bool = False,
    message: str | None = None,
) -> Grant:
    """Allow ``action`` on ``resource`` at one facility, or refuse (audited, exit 6).

    ``full=True`` refuses a grant that reveals only some fields (writes need all).
    """
    actor = logged_in(actor)
    decision = decide(session, actor, action, resource, facility_id, on)
    if not decision.allowed or (full and decision.fields is not None):
        raise PermissionDenied(
            message
            or _("permission denied: you may not {action} {resource} at {facility}").format(
                action=action, resource=resource, facility=facility_code
            ),
            action=audit_action,
            resource_type=resource_type,
            facility_code=facility_code,
            outcome="denied",
            detail={"reason": "out_of_scope"},
        )
    return _grant(FACILITY, actor, audit_action, on, facility_id=facility_id, decision=decision)


def require_existing(
    session: Session,
    actor: Actor | None,
    action: str,
    resource: str,
    facility_id: int | None,
    facility_code: str | None,
    on: dt.date,
    *,
    audit_action: str,
    resource_type: str,
    resource_id: int | str,
    not_found: str,
    full: bool = False,
) -> Grant:
    """Allow ``action`` on one record, else the same ``NotFound`` as a missing record.

    ``facility_id`` None means the record does not exist (audited as failed); a
    record outside scope is audited as denied, with the same message and exit code.
    ``full=True`` refuses a grant that reveals only some fields (writes need all).
    """
    actor = logged_in(actor)
    if facility_id is None:
        raise NotFound(
            not_found,
            action=audit_action,
            resource_type=resource_type,
            resource_id=str(resource_id),
            outcome="failed",
            detail={"reason": "not_found"},
        )
    decision = decide(session, actor, action, resource, facility_id, on)
    if not decision.allowed or (full and decision.fields is not None):
        raise NotFound(
            not_found,
            action=audit_action,
            resource_type=resource_type,
            resource_id=str(resource_id),
            facility_code=facility_code,
            outcome="denied",
            detail={"reason": "out_of_scope"},
        )
    return _grant(FACILITY, actor, audit_action, on, facility_id=facility_id, decision=decision)


def require_migration(
    actor: Actor | None, facility_id: int, on: dt.date, *, audit_action: str
) -> Grant:
    """Allow a legacy import into one facility: the city's administrators only."""
    actor = require_role(actor, *GRANT_ROLES[MIGRATION], action=audit_action)
    return _grant(MIGRATION, actor, audit_action, on, facility_id=facility_id)


def require_monitoring(actor: Actor | None, on: dt.date, *, audit_action: str) -> Grant:
    """Allow the monthly report's masked reads: administrators and monitors."""
    actor = require_role(actor, *GRANT_ROLES[MONITORING], action=audit_action)
    return _grant(MONITORING, actor, audit_action, on)


def require_administration(actor: Actor | None, on: dt.date, *, audit_action: str) -> Grant:
    """Allow counts per facility without personal values: administrators only."""
    actor = require_role(actor, *GRANT_ROLES[ADMINISTRATION], action=audit_action)
    return _grant(ADMINISTRATION, actor, audit_action, on)
