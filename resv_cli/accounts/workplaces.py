"""Places of work (所属施設) of an account: the one place they are written and read.

An operator acts on registrants and bookings only at its places of work (and
what lies inside them: a centre's rooms, a complex's centres), and only while
its organisation manages them; the organisation-wide grant
(``Account.all_managed_facilities``) is the explicit exception.  The access
layer reads ``account_workplaces`` directly in its SQL; everything that *sets*
places of work (``account grant``, ``account update``, the roster) calls
``set_workplaces`` here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import delete, insert, select

from resv_cli.core.models import Account, AccountWorkplace, Facility

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def set_workplaces(session: Session, account: Account, facility_ids: Sequence[int]) -> bool:
    """Make ``facility_ids`` (in order; the first is shown as 所属施設) the account's places.

    Returns True when anything changed.  An empty list removes every place of
    work (the account then acts nowhere by management).
    """
    wanted = list(dict.fromkeys(int(i) for i in facility_ids))
    have = workplace_ids(session, account.id)
    first = wanted[0] if wanted else None
    if set(have) == set(wanted) and account.facility_id == first:
        return False
    session.execute(delete(AccountWorkplace).where(AccountWorkplace.account_id == account.id))
    if wanted:
        session.execute(
            insert(AccountWorkplace),
            [{"account_id": account.id, "facility_id": f} for f in wanted],
        )
    account.facility_id = first
    return True


def workplace_ids(session: Session, account_id: int) -> list[int]:
    """The account's places of work (facility ids), the first place first."""
    first = session.execute(select(Account.facility_id).where(Account.id == account_id)).scalar()
    ids = [
        int(i)
        for (i,) in session.execute(
            select(AccountWorkplace.facility_id)
            .where(AccountWorkplace.account_id == account_id)
            .order_by(AccountWorkplace.facility_id)
        )
    ]
    return sorted(ids, key=lambda i: (i != first, i))


def workplace_codes(session: Session, account_id: int) -> list[str]:
    """The codes of the account's places of work, the first place first."""
    ids = workplace_ids(session, account_id)
    if not ids:
        return []
    rows = session.execute(select(Facility.id, Facility.code).where(Facility.id.in_(ids)))
    codes = {int(i): str(c) for i, c in rows}
    return [codes[i] for i in ids if i in codes]
