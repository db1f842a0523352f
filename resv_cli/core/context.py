"""Who is acting: the ``Actor`` every service receives, and role checks."""

from __future__ import annotations

from dataclasses import dataclass

from resv_cli.core.errors import PermissionDenied
from resv_cli.core.i18n import _


@dataclass(frozen=True)
class Actor:
    """The logged-in person a command acts as (never a shared or database user)."""

    account_id: int
    login_id: str
    display_name: str
    organization_id: int
    organization_code: str
    organization_kind: str
    role: str
    facility_id: int | None = None
    session_id: int | None = None


def require_role(actor: Actor | None, *roles: str, action: str) -> Actor:
    """Refuse (audited by the command session) unless the actor has one of ``roles``."""
    if actor is None:
        from resv_cli.core.errors import NotLoggedIn

        raise NotLoggedIn(_("not logged in: run `resv login` first"))
    if actor.role not in roles:
        wanted = _(" or ").join(roles)
        raise PermissionDenied(
            _("permission denied: {action} needs the {wanted} role (you are {role})").format(
                action=action, wanted=wanted, role=actor.role
            ),
            action=action,
            outcome="denied",
            detail={"reason": "role", "role": actor.role},
        )
    return actor
