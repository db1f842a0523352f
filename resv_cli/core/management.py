"""Who manages a facility on a day: the one rule, in Python and in SQL.

Management periods (管理期間) say which organisation manages a facility over
which days.  A facility's own period covering the day decides; without one, its
parent's decides (a room inherits its centre's), then its grandparent's (a room
of a centre inside a complex).  So a period of a complex applies to every centre
and room under it, except where a centre has a period of its own that day; and
handing one centre to a designated manager moves exactly that centre and its
rooms.  The tree is at most ``MAX_DEPTH`` levels (complex > facility > room):
``check_depth`` refuses a deeper one, so the SQL form (three joined levels) and
the Python form always agree.

Everything that asks "who manages X on D" calls this module: the access layer
(``manager_expr`` inside its SQL, ``managing_period`` for decisions),
``facility show|list|history`` and handover (``managers_on``,
``facilities_managed_by``, ``timeline``), and the monthly report.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select

from resv_cli.core.models import Facility, ManagementPeriod

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

MAX_DEPTH = 3  # complex > facility > room


def covers(mp: Any, on: Any) -> ColumnElement[bool]:
    """SQL: the period ``mp`` (a table or alias) covers the day ``on``."""
    return and_(mp.valid_from <= on, or_(mp.valid_until.is_(None), mp.valid_until >= on))


# Core aliases built once: building ORM aliases per call costs milliseconds.
_F = Facility.__table__.alias("f")
_P = Facility.__table__.alias("fp")
_G = Facility.__table__.alias("fg")
_MP = [ManagementPeriod.__table__.alias(f"mp{i}") for i in range(MAX_DEPTH)]
_TREE = _F.outerjoin(_P, _P.c.id == _F.c.parent_id).outerjoin(_G, _G.c.id == _P.c.parent_id)


def facility_tree() -> tuple[Any, Any, Any, Select[Any]]:
    """``(f, p, g, select_from)``: a facility with its parent and grandparent (outer joins)."""
    return _F.c, _P.c, _G.c, select(_F.c.id).select_from(_TREE)


def manager_expr(f: Any, p: Any, g: Any, on: Any) -> ColumnElement[Any]:
    """SQL expression: the organisation managing facility ``f`` on ``on`` (NULL: nobody).

    The facility's own covering period wins, then its parent's, then its
    grandparent's (periods of one facility never overlap, so each scalar
    subquery yields at most one row).
    """

    def own(fid: Any, i: int) -> Any:
        mp = _MP[i].c
        return (
            select(mp.organization_id)
            .where(mp.facility_id == fid, covers(mp, on))
            .limit(1)
            .scalar_subquery()
        )

    return func.coalesce(own(f.id, 0), own(p.id, 1), own(g.id, 2))


def managing_period(session: Session, facility_id: int, on: dt.date) -> ManagementPeriod | None:
    """The period that decides who manages ``facility_id`` on ``on`` (own, else an ancestor's)."""
    current: int | None = facility_id
    for _ in range(MAX_DEPTH):
        if current is None:
            return None
        period = session.execute(
            select(ManagementPeriod)
            .where(ManagementPeriod.facility_id == current, covers(ManagementPeriod, on))
            .limit(1)
        ).scalar_one_or_none()
        if period is not None:
            return period
        current = session.execute(
            select(Facility.parent_id).where(Facility.id == current)
        ).scalar_one_or_none()
    return None


def managing_organization(session: Session, facility_id: int, on: dt.date) -> int | None:
    """The organisation id managing ``facility_id`` on ``on`` (None: nobody)."""
    period = managing_period(session, facility_id, on)
    return int(period.organization_id) if period is not None else None


def _parents(session: Session) -> dict[int, int | None]:
    return {
        int(fid): (int(pid) if pid is not None else None)
        for fid, pid in session.execute(select(Facility.id, Facility.parent_id))
    }


def managers_on(session: Session, on: dt.date) -> dict[int, int]:
    """facility id -> managing organisation id on ``on``, for every managed facility."""
    direct = {
        int(f): int(o)
        for f, o in session.execute(
            select(ManagementPeriod.facility_id, ManagementPeriod.organization_id).where(
                covers(ManagementPeriod, on)
            )
        )
    }
    parents = _parents(session)
    out: dict[int, int] = {}
    for fid in parents:
        current: int | None = fid
        for _ in range(MAX_DEPTH):
            if current is None:
                break
            if current in direct:
                out[fid] = direct[current]
                break
            current = parents.get(current)
    return out


def facilities_managed_by(session: Session, organization_id: int, on: dt.date) -> list[int]:
    """Facility ids the organisation manages on ``on`` (with what inherits from them)."""
    return sorted(f for f, o in managers_on(session, on).items() if o == organization_id)


@dataclass(frozen=True)
class Segment:
    """Who managed a facility over a run of days, and through which facility's period."""

    valid_from: dt.date
    valid_until: dt.date | None  # None: open-ended
    period: ManagementPeriod
    via_facility_id: int  # the facility the period belongs to (itself, or an ancestor)


def timeline(session: Session, facility_id: int) -> list[Segment]:
    """The facility's effective management over time, oldest first.

    Built from its own periods and its ancestors': on each day the nearest
    facility with a covering period decides, exactly as ``managing_period``.
    Days nobody manages are absent.
    """
    return _timeline(facility_id, _parents(session), _periods_by_facility(session))


def _periods_by_facility(session: Session) -> dict[int, list[ManagementPeriod]]:
    periods: dict[int, list[ManagementPeriod]] = defaultdict(list)
    for p in session.execute(
        select(ManagementPeriod).order_by(ManagementPeriod.valid_from)
    ).scalars():
        periods[int(p.facility_id)].append(p)
    return periods


def _timeline(
    facility_id: int,
    parents: dict[int, int | None],
    all_periods: dict[int, list[ManagementPeriod]],
) -> list[Segment]:
    chain: list[int] = []
    current: int | None = facility_id
    while current is not None and len(chain) < MAX_DEPTH:
        chain.append(current)
        current = parents.get(current)
    periods = {f: all_periods.get(f, []) for f in chain}
    # every boundary where the answer can change
    cuts = sorted(
        {p.valid_from for ps in periods.values() for p in ps}
        | {
            p.valid_until + dt.timedelta(days=1)
            for ps in periods.values()
            for p in ps
            if p.valid_until is not None and p.valid_until < dt.date.max
        }
    )
    out: list[Segment] = []
    for i, start in enumerate(cuts):
        end = cuts[i + 1] - dt.timedelta(days=1) if i + 1 < len(cuts) else None
        decided = _deciding(chain, periods, start)
        if decided is None:
            continue
        period, via = decided
        last = out[-1] if out else None
        if (
            last is not None
            and last.period.id == period.id
            and last.valid_until is not None
            and last.valid_until + dt.timedelta(days=1) == start
        ):
            out[-1] = Segment(last.valid_from, end, period, via)
        else:
            out.append(Segment(start, end, period, via))
    return out


def facilities_managed_between(
    session: Session, organization_id: int, first: dt.date, last: dt.date
) -> set[int]:
    """Facility ids the organisation manages on at least one day of ``first``..``last``."""
    parents = _parents(session)
    periods = _periods_by_facility(session)
    out: set[int] = set()
    for fid in parents:
        for seg in _timeline(fid, parents, periods):
            if (
                seg.period.organization_id == organization_id
                and seg.valid_from <= last
                and (seg.valid_until is None or seg.valid_until >= first)
            ):
                out.add(fid)
                break
    return out


def _deciding(
    chain: list[int], periods: dict[int, list[ManagementPeriod]], on: dt.date
) -> tuple[ManagementPeriod, int] | None:
    for fid in chain:
        for p in periods.get(fid, ()):
            if p.valid_from <= on and (p.valid_until is None or on <= p.valid_until):
                return p, fid
    return None


def depth_below(session: Session, facility_id: int) -> int:
    """How many levels the facility's subtree has (1: no children)."""
    parents = _parents(session)
    children: dict[int, list[int]] = defaultdict(list)
    for fid, pid in parents.items():
        if pid is not None:
            children[pid].append(fid)

    def depth(fid: int, seen: frozenset[int]) -> int:
        kids = [c for c in children.get(fid, ()) if c not in seen]
        return 1 + max((depth(c, seen | {c}) for c in kids), default=0)

    return depth(facility_id, frozenset({facility_id}))


def depth_above(session: Session, facility_id: int) -> int:
    """How many levels from the top of the tree down to the facility (1: no parent)."""
    parents = _parents(session)
    n, current, seen = 1, parents.get(facility_id), {facility_id}
    while current is not None and current not in seen:
        seen.add(current)
        n += 1
        current = parents.get(current)
    return n
