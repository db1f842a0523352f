"""Booking services (施設貸出): add, list, cancel -- all scoped by ``resv_cli.access.decide``.

Lending a room needs ``lend`` on the room's facility and ``view`` on the
registrant; listing needs ``view`` on bookings and is filtered in SQL; cancelling
needs ``update``.  A booking or registrant outside scope answers exactly like one
that does not exist.  Only an active registrant whose card (if its validity is
recorded) is valid on the day can book, and only within the facility's opening
hours, unless an override reason is given (audited).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from resv_cli.access import decide as access
from resv_cli.access.enforce import (
    ADMINISTRATION,
    Grant,
    logged_in,
    require,
    require_existing,
)
from resv_cli.audit import chain as audit
from resv_cli.core import clock
from resv_cli.core.errors import Conflict, InputError
from resv_cli.core.i18n import _
from resv_cli.core.lookup import facility_by_code
from resv_cli.core.models import Facility
from resv_cli.core.normalize import check_text, max_len
from resv_cli.core.personal import Booking, Registrant
from resv_cli.records.registrants import load_in_scope

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from resv_cli.core.context import Actor

LIST_COLUMNS = ("id", "facility", "registrant", "starts_at", "ends_at", "status", "purpose")


def not_found_message(booking_id: int | str) -> str:
    return _("booking {id} not found").format(id=booking_id)


def parse_slot(date_text: str, start: str, end: str) -> tuple[dt.datetime, dt.datetime]:
    """A slot given as a JST calendar day and HH:MM times, as UTC instants."""
    day = clock.parse_date(date_text, what="--date")
    try:
        t0 = dt.time.fromisoformat(start)
        t1 = dt.time.fromisoformat(end)
    except ValueError:
        raise InputError(_("--from and --to must be times like 09:00")) from None
    starts = dt.datetime.combine(day, t0, clock.JST).astimezone(dt.UTC)
    ends = dt.datetime.combine(day, t1, clock.JST).astimezone(dt.UTC)
    if ends <= starts:
        raise InputError(_("--to must be after --from"))
    return starts, ends


def _opening_hours(session: Session, fac: Facility) -> tuple[str, str] | None:
    """(opens, closes) as HH:MM of a facility, or of the nearest parent that has them.

    A room (a child of a complex) usually has no hours of its own: the building's
    apply.  None: no hours recorded anywhere up the chain (any slot is accepted).
    """
    seen: set[int] = set()
    current: Facility | None = fac
    while current is not None and current.id not in seen:
        if current.opens_at and current.closes_at:
            return current.opens_at, current.closes_at
        seen.add(current.id)
        current = session.get(Facility, current.parent_id) if current.parent_id else None
    return None


def _outside_hours(
    hours: tuple[str, str] | None, starts_at: dt.datetime, ends_at: dt.datetime
) -> bool:
    if hours is None:
        return False
    start = starts_at.astimezone(clock.JST)
    end = ends_at.astimezone(clock.JST)
    if start.date() != end.date():
        return True  # past midnight: no facility is open then
    # HH:MM texts compare in time order
    return start.strftime("%H:%M") < hours[0] or end.strftime("%H:%M") > hours[1]


def _refuse_registrant(reg: Registrant, day: dt.date) -> tuple[str, str] | None:
    """(message, reason code) when the registrant may not book on ``day``, else None."""
    rid = int(reg.id)
    if reg.status != "active":
        message = (
            _(
                "registrant {id} is suspended: only active registrants can book; "
                "reinstate it first (resv registrant reinstate {id})"
            )
            if reg.status == "suspended"
            else _(
                "registrant {id} is deleted: only active registrants can book; "
                "a deleted registration cannot book"
            )
            if reg.status == "deleted"
            else _(
                "registrant {id} is {status}: only active registrants can book; "
                "a deleted registration cannot book"
            )
        )
        return message.format(id=rid, status=reg.status), f"registrant_{reg.status}"
    if reg.card_valid_from is not None and day < reg.card_valid_from:
        return (
            _(
                "registrant {id}'s card is valid only from {start}, after {day}; book from "
                "that day, or correct it (resv registrant update {id} --card-valid-from)"
            ).format(id=rid, start=reg.card_valid_from, day=day),
            "card_not_yet_valid",
        )
    if reg.card_valid_until is not None and day > reg.card_valid_until:
        return (
            _(
                "registrant {id}'s card expired on {end} (有効期限), before {day}; renew it "
                "first (resv registrant update {id} --card-valid-until DATE)"
            ).format(id=rid, end=reg.card_valid_until, day=day),
            "card_expired",
        )
    return None


def add_booking(
    session: Session,
    actor: Actor | None,
    *,
    facility: str,
    registrant_id: int,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    purpose: str | None = None,
    override_reason: str | None = None,
) -> dict[str, Any]:
    """Lend a facility (room) to a registrant for a slot.

    Refused: a registrant that is not active or whose card is not valid on the
    slot's day (when a validity is recorded), a slot taken, and a slot outside the
    facility's opening hours (its own, or its building's) unless
    ``override_reason`` says why (kept in the audit event).
    """
    actor = logged_in(actor)
    if purpose is not None:
        purpose = check_text("--purpose", purpose, max_len=max_len(Booking.purpose)).strip()
    if override_reason is not None:
        override_reason = check_text("--override-reason", override_reason, max_len=200).strip()
        if not override_reason:
            raise InputError(_("--override-reason needs the reason (e.g. the approval number)"))
    fac = facility_by_code(session, facility)
    on = clock.today()
    grant = require(
        session,
        actor,
        "lend",
        "bookings",
        fac.id,
        fac.code,
        on,
        audit_action="booking.add",
        resource_type="booking",
        full=True,
        message=_("permission denied: you may not lend {facility}").format(facility=fac.code),
    )
    decision = grant.decision
    assert decision is not None
    reg, _fac, _decision = load_in_scope(session, actor, registrant_id, "view", "booking.add")
    day = starts_at.astimezone(clock.JST).date()
    refused = _refuse_registrant(reg, day)
    if refused is not None:
        raise Conflict(
            refused[0],
            action="booking.add",
            resource_type="booking",
            facility_code=fac.code,
            outcome="failed",
            detail={"reason": refused[1], "registrant_id": registrant_id},
        )
    hours = _opening_hours(session, fac)
    outside = _outside_hours(hours, starts_at, ends_at)
    if outside and override_reason is None:
        assert hours is not None
        raise Conflict(
            _(
                "{facility} is open {opens}-{closes}: the slot is outside its opening "
                "hours; give --override-reason REASON to book it anyway (audited)"
            ).format(facility=fac.code, opens=hours[0], closes=hours[1]),
            action="booking.add",
            resource_type="booking",
            facility_code=fac.code,
            outcome="failed",
            detail={"reason": "outside_opening_hours", "opening_hours": "-".join(hours)},
        )
    clash = session.execute(
        select(Booking.id).where(
            Booking.facility_id == fac.id,
            Booking.status == "booked",
            Booking.starts_at < ends_at,
            Booking.ends_at > starts_at,
        )
    ).first()
    if clash is not None:
        raise Conflict(
            _("{facility} is already booked in that slot (booking {id})").format(
                facility=fac.code, id=clash[0]
            ),
            action="booking.add",
            resource_type="booking",
            facility_code=fac.code,
            outcome="failed",
            detail={"reason": "slot_taken", "clashes_with": int(clash[0])},
        )
    b = Booking(
        facility_id=fac.id,
        registrant_id=registrant_id,
        starts_at=starts_at,
        ends_at=ends_at,
        status="booked",
        purpose=purpose,
        created_by=actor.account_id,
        created_at=clock.now(),
    )
    session.add(b)
    session.flush()
    audit.record(
        session,
        actor,
        "booking.add",
        resource_type="booking",
        resource_id=int(b.id),
        facility_code=fac.code,
        detail={"registrant_id": registrant_id}
        | (
            {"opening_hours": "-".join(hours), "override_reason": override_reason}
            if outside and hours is not None
            else {}
        ),
    )
    # Japan time, as `booking list` shows it (a UTC instant read as 01:00 looked wrong)
    return {
        "id": int(b.id),
        "facility": fac.code,
        "starts_at": starts_at.astimezone(clock.JST).strftime("%Y-%m-%d %H:%M"),
        "ends_at": ends_at.astimezone(clock.JST).strftime("%Y-%m-%d %H:%M"),
    }


def list_query(
    session: Session,
    actor: Actor | access.Subject | int,
    on: dt.date,
    *,
    facility: str | None = None,
    day: dt.date | None = None,
    include_cancelled: bool = False,
) -> Any:
    q = (
        select(Booking, Facility.code)
        .join(Facility, Facility.id == Booking.facility_id)
        .where(access.scope_filter(session, actor, "view", "bookings", on, Booking.facility_id))
    )
    if facility:
        q = q.where(Facility.code == facility)
    if day:
        start = dt.datetime.combine(day, dt.time(0), clock.JST).astimezone(dt.UTC)
        q = q.where(Booking.starts_at >= start, Booking.starts_at < start + dt.timedelta(days=1))
    if not include_cancelled:
        q = q.where(Booking.status == "booked")
    return q


def list_bookings(
    session: Session,
    actor: Actor | None,
    *,
    facility: str | None = None,
    day: dt.date | None = None,
    include_cancelled: bool = False,
    count_only: bool = False,
    limit: int = 500,
) -> list[dict[str, Any]] | int:
    """Bookings of the facilities in scope for ``view``, filtered in SQL."""
    actor = logged_in(actor)
    on = clock.today()
    # an unknown code is a mistake to name (facility codes are public); a known one out
    # of scope is answered like a facility without bookings
    fac = facility_by_code(session, facility) if facility else None
    if (
        fac is not None
        and not access.decide(session, actor, "view", "bookings", fac.id, on).allowed
    ):
        # answered like a facility without bookings, but kept as a refusal
        audit.record(
            session,
            actor,
            "booking.list",
            resource_type="booking",
            facility_code=fac.code,
            outcome="denied",
            detail={"reason": "out_of_scope", "results": 0},
        )
        return 0 if count_only else []
    q = list_query(
        session, actor, on, facility=facility, day=day, include_cancelled=include_cancelled
    )
    if count_only:
        n = int(session.execute(q.with_only_columns(func.count())).scalar_one())
        audit.record(session, actor, "booking.list", resource_type="booking", detail={"results": n})
        return n
    rows = session.execute(q.order_by(Booking.starts_at, Booking.id).limit(limit)).all()
    out = [
        {
            "id": int(b.id),
            "facility": code,
            "registrant": int(b.registrant_id),
            "starts_at": b.starts_at.astimezone(clock.JST).strftime("%Y-%m-%d %H:%M"),
            "ends_at": b.ends_at.astimezone(clock.JST).strftime("%Y-%m-%d %H:%M"),
            "status": b.status,
            "purpose": b.purpose,
        }
        for b, code in rows
    ]
    audit.record(
        session, actor, "booking.list", resource_type="booking", detail={"results": len(out)}
    )
    return out


def cancel_booking(session: Session, actor: Actor | None, booking_id: int) -> dict[str, Any]:
    """Cancel a booking in scope for ``update``."""
    actor = logged_in(actor)
    b = session.get(Booking, booking_id)
    fields: dict[str, Any] = {
        "action": "booking.cancel",
        "resource_type": "booking",
        "resource_id": str(booking_id),
    }
    fac = session.get(Facility, b.facility_id) if b is not None else None
    grant = require_existing(
        session,
        actor,
        "update",
        "bookings",
        None if fac is None else fac.id,
        None if fac is None else fac.code,
        clock.today(),
        audit_action="booking.cancel",
        resource_type="booking",
        resource_id=booking_id,
        not_found=not_found_message(booking_id),
        full=True,
    )
    decision = grant.decision
    assert b is not None and fac is not None and decision is not None
    if b.status == "cancelled":
        raise Conflict(
            _("booking {id} is already cancelled").format(id=booking_id),
            **fields,
            facility_code=fac.code,
            outcome="failed",
            detail={"reason": "already_cancelled"},
        )
    b.status = "cancelled"
    b.cancelled_at = clock.now()
    audit.record(
        session,
        actor,
        "booking.cancel",
        resource_type="booking",
        resource_id=booking_id,
        facility_code=fac.code,
    )
    return {"id": booking_id, "facility": fac.code, "status": "cancelled"}


def count_booked_at(session: Session, grant: Grant, facility_ids: set[int]) -> int:
    """How many live bookings the facilities hold (the handover plan; no personal value)."""
    grant.expect(ADMINISTRATION)
    if not facility_ids:
        return 0
    q = (
        select(func.count())
        .select_from(Booking)
        .where(Booking.facility_id.in_(facility_ids), Booking.status == "booked")
    )
    return int(session.execute(q).scalar_one())
