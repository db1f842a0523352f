"""Find a facility or an organisation by its code: one query, one message each.

Every service that takes a ``--facility`` or ``--org`` code calls these, so a
mistyped code reads the same wherever it was typed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select, text

from resv_cli.core.errors import NotFound
from resv_cli.core.i18n import _
from resv_cli.core.models import Facility, Organization

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection
    from sqlalchemy.orm import Session


def facility_not_found(code: str) -> NotFound:
    """The one answer for a facility code that names no facility."""
    return NotFound(
        _("no facility with code {code!r} (see `resv facility list`)").format(code=code)
    )


def organization_not_found(code: str) -> NotFound:
    """The one answer for an organisation code that names no organisation."""
    return NotFound(_("no organisation with code {code!r} (see `resv org list`)").format(code=code))


def facility_by_code(session: Session, code: str) -> Facility:
    """The facility with ``code`` (surrounding spaces ignored); NotFound otherwise."""
    code = code.strip()
    fac = session.execute(select(Facility).where(Facility.code == code)).scalar_one_or_none()
    if fac is None:
        raise facility_not_found(code)
    return fac


def facility_id_by_code(conn: Session | Connection, code: str) -> int:
    """The id of the facility with ``code``, on a session or a plain connection."""
    code = code.strip()
    row: Any = conn.execute(text("SELECT id FROM facilities WHERE code = :c"), {"c": code}).first()
    if row is None:
        raise facility_not_found(code)
    return int(row[0])


def organization_by_code(session: Session, code: str) -> Organization:
    """The organisation with ``code``; NotFound otherwise."""
    code = code.strip()
    org = session.execute(
        select(Organization).where(Organization.code == code)
    ).scalar_one_or_none()
    if org is None:
        raise organization_not_found(code)
    return org
