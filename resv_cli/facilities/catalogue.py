"""Facilities (施設), their tree (complex > facility > room) and management periods (管理期間).

Who manages a facility on a day is answered from ``management_periods`` by date, so
access switches on the day a period starts with nothing run at midnight.  The rule
lives in one place, ``resv_cli.core.management`` (the access layer uses it too): a
facility's own period covering the day wins; without one, its parent's decides (a
room), then its grandparent's (a room of a centre inside a complex).  So handing
one centre of a complex to a designated manager moves exactly that centre and its
rooms.  The tree is at most three levels deep (complex > facility > room).

Cross-area API (used by scope, registrants, handover, reports):
``facilities_managed_by``, ``managing_organization``, ``facility_by_code``.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError

from resv_cli.audit import chain as audit
from resv_cli.core import clock, management
from resv_cli.core.errors import Conflict, InputError
from resv_cli.core.i18n import N_, _
from resv_cli.core.lookup import facility_by_code, organization_by_code
from resv_cli.core.models import (
    Facility,
    FacilityCategory,
    ManagementPeriod,
    Organization,
)
from resv_cli.core.normalize import check_text, max_len

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from resv_cli.core.context import Actor

CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


# --- look-ups ------------------------------------------------------------------------


def _covers(on: dt.date) -> Any:
    return and_(
        ManagementPeriod.valid_from <= on,
        or_(ManagementPeriod.valid_until.is_(None), ManagementPeriod.valid_until >= on),
    )


def _tree(session: Session, on: dt.date) -> tuple[dict[int, int | None], set[int]]:
    """(facility id -> parent id) and the ids of facilities with a period covering ``on``."""
    parents = {
        int(fid): (int(pid) if pid is not None else None)
        for fid, pid in session.execute(select(Facility.id, Facility.parent_id))
    }
    with_periods = {
        int(fid)
        for (fid,) in session.execute(
            select(ManagementPeriod.facility_id).where(_covers(on)).distinct()
        )
    }
    return parents, with_periods


def _inheriting_descendants(
    roots: Iterable[int], parents: dict[int, int | None], with_periods: set[int]
) -> set[int]:
    """Descendants of ``roots`` reached without passing a facility in ``with_periods``."""
    children: dict[int, list[int]] = defaultdict(list)
    for fid, pid in parents.items():
        if pid is not None:
            children[pid].append(fid)
    out: set[int] = set()
    stack = list(roots)
    while stack:
        fid = stack.pop()
        for child in children.get(fid, ()):
            if child not in with_periods and child not in out:
                out.add(child)
                stack.append(child)
    return out


def _check_depth(session: Session, code: str, parent: Facility, *, levels_below: int) -> None:
    """Refuse a tree deeper than complex > facility > room (management's rule needs it)."""
    if management.depth_above(session, parent.id) + levels_below > management.MAX_DEPTH:
        raise InputError(
            _(
                "{code!r} cannot go under {parent!r}: the facility tree has at most "
                "{n} levels (complex > facility > room)"
            ).format(code=code, parent=parent.code, n=management.MAX_DEPTH)
        )


def facilities_managed_by(session: Session, organization_id: int, on: dt.date) -> list[int]:
    """Facility ids managed by ``organization_id`` on ``on`` (the one rule: core.management)."""
    return management.facilities_managed_by(session, organization_id, on)


def managing_organization(session: Session, facility_id: int, on: dt.date) -> int | None:
    """The organisation id managing ``facility_id`` on ``on`` (None: nobody)."""
    return management.managing_organization(session, facility_id, on)


# --- hours -------------------------------------------------------------------------

# 9:00 / 9時 / 9時5分 / 午後5時30分 (groups: 午前|午後, hour, minute after ':', minute before 分)
_TIME = r"(午前|午後)?\s*(\d{1,2})\s*(?::\s*(\d{2})|時\s*(?:(\d{1,2})\s*分)?)"
_RANGE_RE = re.compile(_TIME + r"\s*(?:[-~〜～－ー―‐]|から)\s*" + _TIME + r"(?:\s*まで)?")


def _fold(text: str) -> str:
    # NFKC turns full-width digits, '：' and '～' into ASCII; '〜' (wave dash) survives
    return unicodedata.normalize("NFKC", text)


def parse_hours(text: str | None) -> tuple[str, str] | None:
    """Find the first 'H:MM-H:MM' range in ``text``; return ('HH:MM', 'HH:MM') or None.

    Accepts the forms real files use: ``9:00～17:00``, ``8：30～１7:15``,
    ``9時～17時``, ``09:00-21:00``, ``午前9時30分から午後5時``... (the first range
    wins).
    Raises InputError for a range that is not a valid time of day or ends before it
    starts.
    """
    if not text:
        return None
    m = _RANGE_RE.search(_fold(text))
    if not m:
        return None
    g = m.groups()
    start = _hhmm(g[0], g[1], g[2] or g[3] or "0")
    end = _hhmm(g[4], g[5], g[6] or g[7] or "0")
    if start is None or end is None:
        raise InputError(_("opening hours {text!r}: not a time of day").format(text=text.strip()))
    if end <= start:
        raise InputError(
            _("opening hours {text!r}: closing time is not after opening").format(text=text.strip())
        )
    return start, end


def _hhmm(half: str | None, h: str, m: str) -> str | None:
    hour, minute = int(h), int(m)
    if half and hour > 12:
        return None  # 午後15時 is not a time
    if half == "午後" and hour < 12:
        hour += 12
    if hour > 24 or minute > 59 or (hour == 24 and minute):
        return None
    return f"{hour:02d}:{minute:02d}"


def parse_hours_option(text: str) -> tuple[str, str]:
    """Parse ``--hours``: like ``parse_hours`` but the whole value must be one range."""
    folded = _fold(text).strip()
    m = _RANGE_RE.fullmatch(folded)
    if not m:
        raise InputError(_("--hours must look like 09:00-21:00, got {text!r}").format(text=text))
    result = parse_hours(folded)
    assert result is not None
    return result


# --- facilities --------------------------------------------------------------------


NAME_EMPTY = N_("facility name must not be empty")
# the free-text fields a person types, with the option that gives each (the input rule)
TEXT_FIELDS = {
    "name": N_("facility name"),
    "kana": "--kana",
    "address": "--address",
    "phone": "--phone",
}


def _text(field: str, value: str) -> str:
    """A facility's text field as stored, or InputError naming the option (never the value)."""
    return check_text(_(TEXT_FIELDS[field]), value, max_len=max_len(getattr(Facility, field)))


def _check_code(code: str) -> str:
    if not CODE_RE.fullmatch(code):
        raise InputError(
            _("facility code {code!r}: use 1-40 lower-case letters, digits, '-' or '_'").format(
                code=code
            )
        )
    return code


def _check_category(session: Session, category: str) -> str:
    if session.get(FacilityCategory, category) is None:
        known = ", ".join(
            c for (c,) in session.execute(select(FacilityCategory.code).order_by("code"))
        )
        raise InputError(
            _("unknown category {code!r}; known: {known}").format(code=category, known=known)
        )
    return category


def list_categories(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(select(FacilityCategory).order_by(FacilityCategory.code)).scalars()
    return [{"code": c.code, "name_ja": c.name_ja, "is_senior": c.is_senior} for c in rows]


def _would_cycle(session: Session, fac_id: int, parent_id: int) -> bool:
    current: int | None = parent_id
    seen: set[int] = set()
    while current is not None and current not in seen:
        if current == fac_id:
            return True
        seen.add(current)
        current = session.execute(
            select(Facility.parent_id).where(Facility.id == current)
        ).scalar_one_or_none()
    return False


def add_facility(
    session: Session,
    actor: Actor | None,
    code: str,
    name: str,
    *,
    category: str,
    parent: str | None = None,
    hours: str | None = None,
    kana: str | None = None,
    address: str | None = None,
    phone: str | None = None,
) -> Facility:
    """Create a facility (admin)."""
    from resv_cli.core.context import require_role

    require_role(actor, "admin", action="facility.add")
    _check_code(code)
    name = _text("name", name)
    if not name:
        raise InputError(_(NAME_EMPTY))
    kana, address, phone = (
        _text(f, v) or None if v is not None else None
        for f, v in (("kana", kana), ("address", address), ("phone", phone))
    )
    _check_category(session, category)
    if session.execute(select(Facility.id).where(Facility.code == code)).first():
        raise Conflict(
            _("facility {code!r} already exists (use `resv facility update`)").format(code=code)
        )
    parent_fac = facility_by_code(session, parent) if parent else None
    if parent_fac is not None:
        _check_depth(session, code, parent_fac, levels_below=1)
    opens = closes = None
    if hours:
        opens, closes = parse_hours_option(hours)
    now = clock.now()
    fac = Facility(
        code=code,
        name=name,
        kana=kana,
        category=category,
        parent_id=parent_fac.id if parent_fac else None,
        address=address,
        phone=phone,
        opens_at=opens,
        closes_at=closes,
        created_at=now,
        updated_at=now,
    )
    session.add(fac)
    session.flush()
    audit.record(
        session,
        actor,
        "facility.add",
        resource_type="facility",
        resource_id=fac.id,
        facility_code=code,
        detail={"category": category, "parent": parent},
    )
    return fac


UPDATABLE = ("name", "kana", "category", "parent", "hours", "address", "phone")


def update_facility(
    session: Session, actor: Actor | None, code: str, **changes: Any
) -> tuple[Facility, list[str]]:
    """Change fields of a facility (admin); return it and the names of changed fields.

    ``parent=""`` removes the parent, ``hours=""`` clears the opening hours.
    """
    from resv_cli.core.context import require_role

    require_role(actor, "admin", action="facility.update")
    fac = facility_by_code(session, code)
    changed: list[str] = []

    def _set(attr: str, value: Any) -> None:
        if getattr(fac, attr) != value:
            setattr(fac, attr, value)
            changed.append(attr)

    for key, value in changes.items():
        if value is None:
            continue
        if key not in UPDATABLE:
            raise InputError(_("cannot update {field!r}").format(field=key))
        if key in TEXT_FIELDS:
            value = _text(key, value)
        if key == "name":
            if not value:
                raise InputError(_(NAME_EMPTY))
            _set("name", value)
        elif key == "category":
            _set("category", _check_category(session, value))
        elif key == "parent":
            if value == "":
                _set("parent_id", None)
            else:
                parent_fac = facility_by_code(session, value)
                if _would_cycle(session, fac.id, parent_fac.id):
                    raise InputError(
                        _("{parent!r} cannot be the parent of {code!r}: a cycle").format(
                            parent=value, code=code
                        )
                    )
                _check_depth(
                    session, code, parent_fac, levels_below=management.depth_below(session, fac.id)
                )
                _set("parent_id", parent_fac.id)
        elif key == "hours":
            if value == "":
                _set("opens_at", None)
                _set("closes_at", None)
            else:
                opens, closes = parse_hours_option(value)
                _set("opens_at", opens)
                _set("closes_at", closes)
        else:
            _set(key, value or None)
    if changed:
        fac.updated_at = clock.now()
        session.flush()
        audit.record(
            session,
            actor,
            "facility.update",
            resource_type="facility",
            resource_id=fac.id,
            facility_code=code,
            detail={"fields": changed},
        )
    return fac, changed


def retire_facility(
    session: Session, actor: Actor | None, code: str, on: dt.date
) -> dict[str, Any]:
    """Retire a facility and its rooms from ``on``; end their open periods the day before."""
    from resv_cli.core.context import require_role

    require_role(actor, "admin", action="facility.retire")
    fac = facility_by_code(session, code)
    parents, _managed = _tree(session, on)
    ids = {fac.id} | _inheriting_descendants([fac.id], parents, set())
    later = session.execute(
        select(ManagementPeriod.id).where(
            ManagementPeriod.facility_id.in_(ids), ManagementPeriod.valid_from >= on
        )
    ).first()
    if later:
        raise Conflict(
            _(
                "{code}: a management period starts on or after {day}; "
                "retire from a later day or remove that period first"
            ).format(code=code, day=on)
        )
    closed = 0
    for p in session.execute(
        select(ManagementPeriod).where(ManagementPeriod.facility_id.in_(ids), _covers(on))
    ).scalars():
        p.valid_until = on - dt.timedelta(days=1)
        closed += 1
    retired = []
    for f in session.execute(select(Facility).where(Facility.id.in_(ids))).scalars():
        if f.retired_on is None or f.retired_on > on:
            f.retired_on = on
            f.updated_at = clock.now()
            retired.append(f.code)
    session.flush()
    audit.record(
        session,
        actor,
        "facility.retire",
        resource_type="facility",
        resource_id=fac.id,
        facility_code=code,
        detail={"on": on.isoformat(), "retired": sorted(retired), "periods_closed": closed},
    )
    return {
        "facility": code,
        "retired_on": on,
        "retired": sorted(retired),
        "periods_closed": closed,
    }


def _org_codes(session: Session) -> dict[int, str]:
    return {int(i): c for i, c in session.execute(select(Organization.id, Organization.code))}


def list_facilities(
    session: Session,
    *,
    category: str | None = None,
    org: str | None = None,
    on: dt.date | None = None,
    include_retired: bool = False,
) -> list[dict[str, Any]]:
    """Facilities with their parent and the organisation managing them on ``on`` (today)."""
    on = on or clock.today()
    q = select(Facility).order_by(Facility.code)
    if category:
        _check_category(session, category)
        q = q.where(Facility.category == category)
    if org:
        managed = facilities_managed_by(session, organization_by_code(session, org).id, on)
        q = q.where(Facility.id.in_(managed))
    if not include_retired:
        q = q.where(or_(Facility.retired_on.is_(None), Facility.retired_on > on))
    facs = list(session.execute(q).scalars())
    codes = {int(i): c for i, c in session.execute(select(Facility.id, Facility.code))}
    managers = management.managers_on(session, on)
    org_codes = _org_codes(session)
    return [
        {
            "code": f.code,
            "name": f.name,
            "category": f.category,
            "parent": codes.get(f.parent_id) if f.parent_id else None,
            "hours": f"{f.opens_at}-{f.closes_at}" if f.opens_at else None,
            "managed_by": org_codes.get(managers[f.id]) if managers.get(f.id) else None,
        }
        for f in facs
    ]


def show_facility(session: Session, code: str, on: dt.date | None = None) -> dict[str, Any]:
    on = on or clock.today()
    f = facility_by_code(session, code)
    parent = session.get(Facility, f.parent_id) if f.parent_id else None
    children = [
        c
        for (c,) in session.execute(
            select(Facility.code).where(Facility.parent_id == f.id).order_by(Facility.code)
        )
    ]
    org_id = managing_organization(session, f.id, on)
    org = session.get(Organization, org_id) if org_id else None
    return {
        "code": f.code,
        "name": f.name,
        "kana": f.kana,
        "category": f.category,
        "parent": parent.code if parent else None,
        "children": ", ".join(children) if children else None,
        "address": f.address,
        "phone": f.phone,
        "hours": f"{f.opens_at}-{f.closes_at}" if f.opens_at else None,
        "hours_note": f.hours_note,
        "latitude": f.latitude,
        "longitude": f.longitude,
        "source": f"{f.source_lg_code}/{f.source_id}" if f.source_lg_code else None,
        "retired_on": f.retired_on,
        "on": on,
        "managed_by": org.code if org else None,
    }


# --- management periods ------------------------------------------------------------


def _fmt_range(start: dt.date, until: dt.date | None) -> str:
    return f"{start}..{until or _('open')}"


def overlap_message(
    session: Session, facility: Facility, start: dt.date, until: dt.date | None
) -> str:
    """A one-line explanation naming the period the new one would overlap."""
    end = until or dt.date.max
    other = session.execute(
        select(ManagementPeriod, Organization.code)
        .join(Organization, Organization.id == ManagementPeriod.organization_id)
        .where(
            ManagementPeriod.facility_id == facility.id,
            ManagementPeriod.valid_from <= end,
            or_(ManagementPeriod.valid_until.is_(None), ManagementPeriod.valid_until >= start),
        )
        .order_by(ManagementPeriod.valid_from)
    ).first()
    which = (
        f" ({other[1]} {_fmt_range(other[0].valid_from, other[0].valid_until)})" if other else ""
    )
    return _(
        "{code}: management period {range} overlaps an existing period{which}; periods of "
        "a facility must not overlap (end the existing one first, or use `resv handover`)"
    ).format(code=facility.code, range=_fmt_range(start, until), which=which)


def insert_period(
    session: Session,
    facility: Facility,
    org: Organization,
    start: dt.date,
    until: dt.date | None,
) -> ManagementPeriod:
    """Insert a period inside a savepoint; the database's overlap rule becomes a Conflict."""
    period = ManagementPeriod(
        facility_id=facility.id,
        organization_id=org.id,
        valid_from=start,
        valid_until=until,
        created_at=clock.now(),
    )
    try:
        with session.begin_nested():
            session.add(period)
            session.flush()
    except IntegrityError as exc:
        if _is_overlap_error(exc):
            raise Conflict(overlap_message(session, facility, start, until)) from None
        raise
    return period


def _is_overlap_error(exc: BaseException) -> bool:
    text = str(getattr(exc, "orig", exc))
    return "ex_management_periods_no_overlap" in text or "must not overlap" in text


def _check_term(org: Organization, start: dt.date, until: dt.date | None) -> None:
    if org.kind != "designated_manager":
        return
    if org.term_start and start < org.term_start:
        raise InputError(
            _(
                "{code}'s designation term starts on {first}; "
                "a management period cannot start on {start}"
            ).format(code=org.code, first=org.term_start, start=start)
        )
    if org.term_end and (until is None or until > org.term_end):
        raise InputError(
            _("{code}'s designation term ends on {end}; give --until {end} or earlier").format(
                code=org.code, end=org.term_end
            )
        )


def assign_facility(
    session: Session,
    actor: Actor | None,
    code: str,
    org_code: str,
    start: dt.date,
    until: dt.date | None = None,
) -> dict[str, Any]:
    """Record that ``org_code`` manages facility ``code`` from ``start`` to ``until`` (admin).

    For a designated manager with a designation term, ``until`` defaults to the
    term's end and the period must lie inside the term.
    """
    from resv_cli.core.context import require_role

    require_role(actor, "admin", action="facility.assign")
    fac = facility_by_code(session, code)
    org = organization_by_code(session, org_code)
    if until is None and org.kind == "designated_manager" and org.term_end:
        until = org.term_end
    if until is not None and until < start:
        raise InputError(
            _("--until {until} is before --from {start}").format(until=until, start=start)
        )
    _check_term(org, start, until)
    period = insert_period(session, fac, org, start, until)
    audit.record(
        session,
        actor,
        "facility.assign",
        resource_type="management_period",
        resource_id=period.id,
        facility_code=code,
        detail={
            "organization": org.code,
            "valid_from": start.isoformat(),
            "valid_until": until.isoformat() if until else None,
        },
    )
    return {
        "facility": code,
        "organization": org.code,
        "valid_from": start,
        "valid_until": until,
    }


def facility_history(
    session: Session, code: str, on: dt.date | None = None
) -> list[dict[str, Any]]:
    """Who managed a facility over time, oldest first; with ``on`` only who managed it that day.

    The effective management (``resv_cli.core.management.timeline``): the
    facility's own periods where they cover a day, its parent's (or the
    complex's) elsewhere, marked ``via`` that facility.  So ``history`` agrees
    with ``show`` and with access on every day.
    """
    fac = facility_by_code(session, code)
    codes = {int(i): str(c) for i, c in session.execute(select(Facility.id, Facility.code))}
    orgs = {o.id: o for o in session.execute(select(Organization)).scalars()}
    out = []
    for seg in management.timeline(session, fac.id):
        if on is not None and not (
            seg.valid_from <= on and (seg.valid_until is None or on <= seg.valid_until)
        ):
            continue
        o = orgs[seg.period.organization_id]
        out.append(
            {
                "facility": fac.code,
                "organization": o.code,
                "organization_name": o.name,
                "kind": o.kind,
                "valid_from": seg.valid_from,
                "valid_until": seg.valid_until,
                "via": None if seg.via_facility_id == fac.id else codes.get(seg.via_facility_id),
            }
        )
    return out
