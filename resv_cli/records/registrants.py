"""Registrant services (利用者登録): add, search, show, update; counts and masked names.

Cards, certificates and the duplicate check are in ``certificates.py``.

Every query here is scoped by ``resv_cli.access.decide``: single records by
``access.decide`` on the record's facility, lists and searches by
``access.scope_filter`` inside the SQL.  A record outside the caller's scope is
answered exactly like a record that does not exist (same message, same exit code)
and the attempt is audited as refused.

The sealed fields (address, phone, emergency contact; the date of birth when the
installation chose it) are written sealed and searched by blind index
(``resv_cli.core.fieldcrypt``); a record is opened field by field, only the fields
the access decision lets its reader see.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import String, func, literal_column, select

from resv_cli.access import decide as access
from resv_cli.access.enforce import (
    ADMINISTRATION,
    MONITORING,
    Grant,
    logged_in,
    require,
    require_existing,
)
from resv_cli.audit import chain as audit
from resv_cli.core import clock, fieldcrypt, jpnorm
from resv_cli.core.db import lock_facility_registrants
from resv_cli.core.errors import Conflict, InputError, NotFound
from resv_cli.core.i18n import _
from resv_cli.core.lookup import facility_by_code
from resv_cli.core.models import Facility
from resv_cli.core.normalize import kana_key, name_key
from resv_cli.core.personal import (
    REGISTRANT_FIELDS,
    REGISTRANT_STATUSES,
    Certificate,
    Registrant,
)
from resv_cli.records import fields

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from resv_cli.core.context import Actor

SEARCH_COLUMNS = ("id", "facility", "kind", "name", "kana", "date_of_birth", "status")
_SEARCH_FIELDS = tuple(f for f in SEARCH_COLUMNS if f in REGISTRANT_FIELDS)
UPDATABLE = tuple(f for f in REGISTRANT_FIELDS if f != "kind")
MASK = "○○"
# the upper bound of a prefix range: sorts after every character a key can hold
_PREFIX_END = "\U0010ffff"


def digits(phone: str | None) -> str | None:
    """The digits of a phone number (full-width digits folded), for search."""
    return (jpnorm.digits_of(phone) or None) if phone else None


def not_found_message(registrant_id: int | str) -> str:
    """The one answer for a missing *and* an out-of-scope registrant."""
    return _("registrant {id} not found").format(id=registrant_id)


def phone_shown(phone: str | None, extension: str | None) -> str | None:
    """The phone as people read it: with its extension (内線), which is stored apart."""
    if phone and extension:
        return f"{phone} 内線{extension}"
    return phone


def _as_record(
    keys: fieldcrypt.FieldKeys,
    reg: Registrant,
    facility_code: str,
    allowed: frozenset[str] | None,
    wanted: tuple[str, ...] = REGISTRANT_FIELDS,
) -> dict[str, Any]:
    """The record a person is shown: of ``wanted``, the fields ``allowed`` (None: all).

    Only those are read, hence decrypted; the others are None (masked).
    """
    shown = [f for f in wanted if allowed is None or f in allowed]
    extension = ["phone_extension"] if "phone" in shown else []
    values = keys.opened(int(reg.id), reg, shown + extension)
    if "phone" in values:
        values["phone"] = phone_shown(values["phone"], values.pop("phone_extension"))
    return {
        "id": int(reg.id),
        "facility": facility_code,
        **{f: values.get(f) for f in wanted},
        "legacy_no": reg.legacy_no,
        "status": reg.status,
        "status_since": reg.status_since,
    }


def load_in_scope(
    session: Session, actor: Actor, registrant_id: int, action: str, audit_action: str
) -> tuple[Registrant, Facility, access.Decision]:
    """Return the registrant if ``action`` is allowed on it, else the not-found answer.

    Out of scope and nonexistent answer alike; both are audited as refused
    (``denied`` when the record exists elsewhere, ``failed`` when it does not).
    """
    reg = session.get(Registrant, registrant_id)
    fac = session.get(Facility, reg.facility_id) if reg is not None else None
    grant = require_existing(
        session,
        actor,
        action,
        "registrants",
        None if fac is None else fac.id,
        None if fac is None else fac.code,
        clock.today(),
        audit_action=audit_action,
        resource_type="registrant",
        resource_id=registrant_id,
        not_found=not_found_message(registrant_id),
    )
    assert reg is not None and fac is not None and grant.decision is not None
    return reg, fac, grant.decision


# --- add / update ------------------------------------------------------------------


@dataclass
class NewRegistrant:
    """A registration at the counter, as typed (the rules of ``fields`` apply)."""

    facility: str
    name: str
    kind: str = "individual"
    kana: str | None = None
    date_of_birth: dt.date | str | None = None
    postal_code: str | None = None
    address: str | None = None
    phone: str | None = None
    emergency_name: str | None = None
    emergency_phone: str | None = None
    representative_name: str | None = None
    card_valid_from: dt.date | str | None = None
    card_valid_until: dt.date | str | None = None


def _cleaned(values: dict[str, Any]) -> dict[str, Any]:
    """The columns after the one validator, or every refused option in one InputError."""
    cleaned = fields.clean(values, clock.today())
    if cleaned.problems:
        raise InputError(cleaned.message())
    return cleaned.columns


def _likely_duplicate(
    session: Session, facility_id: int, columns: dict[str, Any], other_than: int | None = None
) -> int | None:
    """A registrant of the facility with the same search key, kind and date of birth.

    ``columns``: as stored (the date of birth by its blind index, ``dob_bidx``);
    ``other_than``: the registrant itself, when it is changed.
    """
    dob = columns.get(fieldcrypt.DOB_TAG)
    dob_col: Any = Registrant.dob_bidx
    kind_col: Any = Registrant.kind
    if session.get_bind().dialect.name == "sqlite":
        # unary + keeps SQLite (no statistics) on (facility_id, name_key), as the
        # importer's by_person does; else it reads the date-of-birth index: every
        # registrant of the city born that day (or, IS NULL, every one without a date)
        dob_col = literal_column("+registrants.dob_bidx", String())
        kind_col = literal_column("+registrants.kind", String())
    q = select(Registrant.id).where(
        Registrant.facility_id == facility_id,
        Registrant.name_key == columns["name_key"],
        kind_col == columns["kind"],
        dob_col.is_(None) if dob is None else dob_col == dob,
    )
    if other_than is not None:
        q = q.where(Registrant.id != other_than)
    found = session.execute(q.order_by(Registrant.id).limit(1)).scalar()
    return None if found is None else int(found)


def _check_override(allow_duplicate: str | None) -> None:
    if allow_duplicate is not None and not allow_duplicate.strip():
        raise InputError(_("--allow-duplicate needs the reason (e.g. the application number)"))


def _duplicate_allowed(
    same: int | None, allow_duplicate: str | None, facility_code: str, action: str
) -> dict[str, Any]:
    """Refuse a likely duplicate (``same``) without a reason; else the audit detail of it."""
    if same is None:
        return {}
    if allow_duplicate is None:
        raise Conflict(
            _(
                "registrant {id} at {facility} has the same name, kind and date of birth: "
                "check it first; if this is another person, give --allow-duplicate REASON"
            ).format(id=same, facility=facility_code),
            action=action,
            resource_type="registrant",
            facility_code=facility_code,
            outcome="failed",
            detail={"reason": "likely_duplicate", "duplicate_of": same},
        )
    return {"duplicate_of": same, "override_reason": allow_duplicate[:200]}


def add_registrant(
    session: Session,
    actor: Actor | None,
    new: NewRegistrant,
    *,
    allow_duplicate: str | None = None,
) -> dict[str, Any]:
    """Register a person or group at a facility the actor may register at.

    The fields pass the importer's rules (``fields``).  A registrant of the same
    facility with the same name (search key), kind and date of birth is a likely
    duplicate: refused unless ``allow_duplicate`` gives the reason (audited).
    """
    actor = logged_in(actor)
    values = {k: v for k, v in vars(new).items() if k != "facility"}
    _check_override(allow_duplicate)
    columns = _cleaned(values)
    fac = facility_by_code(session, new.facility)
    grant = require(
        session,
        actor,
        "register",
        "registrants",
        fac.id,
        fac.code,
        clock.today(),
        audit_action="registrant.add",
        resource_type="registrant",
        full=True,
        message=_("permission denied: you may not register registrants at {facility}").format(
            facility=fac.code
        ),
    )
    decision = grant.decision
    assert decision is not None
    now = clock.now()
    lock_facility_registrants(session, fac.id)  # an import may be looking for duplicates
    keys = fieldcrypt.load(session, for_writing=True)
    detail: dict[str, Any] = {"kind": columns["kind"], "decided_by": decision.source}
    dob_tag = keys.dob_tag(columns.get("date_of_birth"))
    same = _likely_duplicate(session, fac.id, {**columns, fieldcrypt.DOB_TAG: dob_tag})
    detail |= _duplicate_allowed(same, allow_duplicate, fac.code, "registrant.add")
    rid = fieldcrypt.allocate_ids(session, 1)[0]  # sealed with its id, in the one INSERT
    reg = Registrant(
        id=rid,
        facility_id=fac.id,
        created_by=actor.account_id,
        created_at=now,
        updated_at=now,
        **keys.stored(rid, columns),
    )
    session.add(reg)
    session.flush()
    audit.record(
        session,
        actor,
        "registrant.add",
        resource_type="registrant",
        resource_id=int(reg.id),
        facility_code=fac.code,
        detail=detail,
    )
    return {"id": int(reg.id), "facility": fac.code, "kind": reg.kind}


def scoped_refusal(registrant_id: int, action: str, facility_code: str, reason: str) -> NotFound:
    """A refusal answered exactly like a missing record, and audited as denied."""
    return NotFound(
        not_found_message(registrant_id),
        action=action,
        resource_type="registrant",
        resource_id=str(registrant_id),
        facility_code=facility_code,
        outcome="denied",
        detail={"reason": reason},
    )


def update_registrant(
    session: Session,
    actor: Actor | None,
    registrant_id: int,
    changes: dict[str, Any],
    *,
    allow_duplicate: str | None = None,
) -> dict[str, Any]:
    """Change some fields of a registrant in scope for ``update``.

    A new name or date of birth that makes it a likely duplicate of another
    registrant of the facility is refused as in ``add_registrant``, unless
    ``allow_duplicate`` gives the reason (audited).
    """
    actor = logged_in(actor)
    _check_override(allow_duplicate)
    changes = {k: v for k, v in changes.items() if v is not None}
    unknown = sorted(set(changes) - set(UPDATABLE))
    if unknown:
        raise InputError(_("cannot update {fields}").format(fields=", ".join(unknown)))
    if not changes:
        raise InputError(_("nothing to update: give at least one field option"))
    reg, fac, decision = load_in_scope(session, actor, registrant_id, "update", "registrant.update")
    if decision.fields is not None and not set(changes) <= decision.fields:
        raise scoped_refusal(registrant_id, "registrant.update", fac.code, "field_not_allowed")
    keys = fieldcrypt.load(session, for_writing=True)
    new_person = bool({"name", "date_of_birth"} & set(changes))
    if new_person:  # before this row changes, as at registration (an import may be running)
        lock_facility_registrants(session, fac.id)
    for column, value in keys.stored(registrant_id, _cleaned(changes)).items():
        setattr(reg, column, value)
    try:  # one end of the card's validity given, checked against the other as stored
        fields.card_validity(reg.card_valid_from, reg.card_valid_until)
    except fields.FieldError as exc:
        given = "card_valid_until" if "card_valid_until" in changes else "card_valid_from"
        raise InputError(f"{fields.OPTIONS[given]}: {exc}") from None
    detail: dict[str, Any] = {"fields": sorted(changes)}
    if new_person:
        same = _likely_duplicate(
            session,
            fac.id,
            {"name_key": reg.name_key, "kind": reg.kind, fieldcrypt.DOB_TAG: reg.dob_bidx},
            other_than=registrant_id,
        )
        detail |= _duplicate_allowed(same, allow_duplicate, fac.code, "registrant.update")
    reg.updated_at = clock.now()
    audit.record(
        session,
        actor,
        "registrant.update",
        resource_type="registrant",
        resource_id=registrant_id,
        facility_code=fac.code,
        detail=detail,
    )
    return {"id": registrant_id, "facility": fac.code, "updated": ",".join(sorted(changes))}


# --- status (登録状態) -------------------------------------------------------------------


def set_status(
    session: Session,
    actor: Actor | None,
    registrant_id: int,
    status: str,
    *,
    reason: str | None = None,
    on: str | dt.date | None = None,
) -> dict[str, Any]:
    """Suspend, reinstate or delete a registration in scope for ``update``; audited.

    Deletion is a status, never a removed row: the registrant stays (its bookings
    and the history name it), hidden from search unless asked for.  ``reason`` is
    required to suspend or delete (stored with the registrant, never in the audit
    history: it may say something about the person); ``on`` is the day the change
    took effect (today by default, never in the future).
    """
    actor = logged_in(actor)
    if status not in REGISTRANT_STATUSES:
        raise InputError(
            _("status must be one of {known}").format(known=", ".join(REGISTRANT_STATUSES))
        )
    why = None
    if reason is not None and reason.strip():
        try:
            fields.control_characters(reason)
            fields.external_characters(reason)
            why = fields.status_reason(reason)
        except fields.FieldError as exc:
            raise InputError(f"--reason: {exc}") from None
    elif status != "active":
        raise InputError(
            _("--reason is required to suspend a registration (e.g. the notice number)")
            if status == "suspended"
            else _("--reason is required to delete a registration (e.g. the notice number)")
        )
    today = clock.today()
    try:
        day = today if on is None else fields.status_since(on, today)
    except fields.FieldError as exc:
        raise InputError(f"--on: {exc}") from None
    reg, fac, decision = load_in_scope(session, actor, registrant_id, "update", "registrant.status")
    if decision.fields is not None:  # a rule limited to some fields does not reach the status
        raise scoped_refusal(registrant_id, "registrant.status", fac.code, "field_not_allowed")
    previous = reg.status
    if previous == status:
        already = {
            "active": _("registrant {id} is already active (since {since})"),
            "suspended": _("registrant {id} is already suspended (since {since})"),
            "deleted": _("registrant {id} is already deleted (since {since})"),
        }[status]
        raise Conflict(
            already.format(id=registrant_id, since=reg.status_since or _("registration")),
            action="registrant.status",
            resource_type="registrant",
            resource_id=str(registrant_id),
            facility_code=fac.code,
            outcome="failed",
            detail={"reason": "no_change", "status": status},
        )
    reg.status, reg.status_since, reg.status_reason = status, day, why
    reg.updated_at = clock.now()
    audit.record(
        session,
        actor,
        "registrant.status",
        resource_type="registrant",
        resource_id=registrant_id,
        facility_code=fac.code,
        detail={"status": status, "previous_status": previous, "on": day.isoformat()},
    )
    return {
        "id": registrant_id,
        "facility": fac.code,
        "status": status,
        "status_since": day.isoformat(),
        "previous_status": previous,
    }


# --- read ----------------------------------------------------------------------------


def show_registrant(session: Session, actor: Actor | None, registrant_id: int) -> dict[str, Any]:
    """One registrant in scope for ``view`` with its certificates (narrow rules mask fields)."""
    actor = logged_in(actor)
    reg, fac, decision = load_in_scope(session, actor, registrant_id, "view", "registrant.view")
    record = _as_record(fieldcrypt.load(session), reg, fac.code, decision.fields)
    # why a status was set may say more about the person: shown with every field only
    record["status_reason"] = reg.status_reason if decision.fields is None else None
    certs = session.execute(
        select(Certificate.kind, Certificate.number, Certificate.issued_on)
        .where(Certificate.registrant_id == reg.id, Certificate.revoked_on.is_(None))
        .order_by(Certificate.issued_on)
    ).all()
    record["certificates"] = ", ".join(f"{k} {n} ({d})" for k, n, d in certs) or None
    audit.record(
        session,
        actor,
        "registrant.view",
        resource_type="registrant",
        resource_id=registrant_id,
        facility_code=fac.code,
        detail={"decided_by": decision.source},
    )
    return record


@dataclass
class Criteria:
    name: str | None = None
    kana: str | None = None
    date_of_birth: dt.date | None = None
    phone: str | None = None
    facility: str | None = None
    include_deleted: bool = False  # deleted registrations are hidden unless asked for

    def empty(self) -> bool:
        return not any((self.name, self.kana, self.date_of_birth, self.phone, self.facility))

    def hashed(self) -> dict[str, Any]:
        """The search terms as one keyed hash (never in plain text)."""
        terms = {
            "name": name_key(self.name) if self.name else None,
            "kana": kana_key(self.kana) if self.kana else None,
            "dob": self.date_of_birth.isoformat() if self.date_of_birth else None,
            "phone": digits(self.phone),
        }
        canonical = json.dumps(terms, sort_keys=True, ensure_ascii=False)
        out: dict[str, Any] = {"terms_hmac": audit.keyed_hash(canonical)}
        if self.facility:
            out["facility"] = self.facility
        if self.include_deleted:
            out["include_deleted"] = True
        return out


def _criteria_where(
    session: Session, c: Criteria, keys: fieldcrypt.FieldKeys | None = None
) -> list[Any]:
    where: list[Any] = []
    if c.date_of_birth or c.phone:  # searched by their blind indexes
        keys = keys or fieldcrypt.load(session)
    if c.name:
        key = name_key(c.name)
        if not key:
            raise InputError(_("--name has no searchable characters"))
        where += [Registrant.name_key >= key, Registrant.name_key < key + _PREFIX_END]
        where.append(Registrant.name_key.startswith(key, autoescape=True))
    if c.kana:
        key = kana_key(c.kana)
        if not key:
            raise InputError(_("--kana has no searchable characters"))
        where += [Registrant.kana_key >= key, Registrant.kana_key < key + _PREFIX_END]
        where.append(Registrant.kana_key.startswith(key, autoescape=True))
    if c.date_of_birth:
        assert keys is not None
        where.append(Registrant.dob_bidx == keys.dob_tag(c.date_of_birth))
    if c.phone:
        d = digits(c.phone)
        if not d:
            raise InputError(_("--phone has no digits"))
        assert keys is not None
        where.append(Registrant.phone_bidx == keys.phone_tag(d))
    if c.facility:
        fac = facility_by_code(session, c.facility)
        where.append(Registrant.facility_id == fac.id)
    if not c.include_deleted:
        where.append(Registrant.status != "deleted")
    return where


def _reading_order(session: Session) -> tuple[Any, ...]:
    """五十音 order: by the reading's key (katakana; none last), then the name's, then id.

    In code-point order on both databases (PostgreSQL's "C" collation, SQLite's
    binary one): katakana code points follow the 五十音 table (ア イ ウ ... ン, a
    voiced kana right after its plain one), whatever the server's locale.
    """

    def binary(column: Any) -> Any:
        return column.collate("C") if session.get_bind().dialect.name == "postgresql" else column

    return (
        Registrant.kana_key.is_(None),
        binary(Registrant.kana_key),
        binary(Registrant.name_key),
        Registrant.id,
    )


def search_query(
    session: Session,
    actor: Actor | access.Subject | int,
    c: Criteria,
    on: dt.date,
    keys: fieldcrypt.FieldKeys | None = None,
) -> Any:
    """The scoped search as one SELECT (also used by the benchmark)."""
    return (
        select(Registrant, Facility.code)
        .join(Facility, Facility.id == Registrant.facility_id)
        .where(
            access.scope_filter(
                session, actor, "search", "registrants", on, Registrant.facility_id
            ),
            *_criteria_where(session, c, keys),
        )
    )


def search_registrants(
    session: Session,
    actor: Actor | None,
    c: Criteria,
    *,
    limit: int = 100,
    count_only: bool = False,
) -> list[dict[str, Any]] | int:
    """Registrants in scope for ``search`` matching every given criterion.

    Names and readings match by prefix of their folded keys (width, kana form,
    spacing, variant kanji), date of birth exactly, phone by its digits.  Deleted
    registrations are left out unless ``c.include_deleted``; rows come in 五十音
    order of their readings (``_reading_order``).
    """
    actor = logged_in(actor)
    if c.empty():
        raise InputError(_("give at least one of --name, --kana, --dob, --phone, --facility"))
    on = clock.today()
    subj = access.subject_of(session, actor)  # once: the filter and the field check share it
    keys = fieldcrypt.load(session)
    if c.facility:
        fac = facility_by_code(session, c.facility)
        if not access.decide(session, actor, "search", "registrants", fac.id, on).allowed:
            # answered like no match (the scope filter finds nothing), but kept as a refusal
            audit.record(
                session,
                actor,
                "registrant.search",
                resource_type="registrant",
                facility_code=fac.code,
                outcome="denied",
                detail={**c.hashed(), "reason": "out_of_scope", "results": 0},
            )
            return 0 if count_only else []
    if count_only:
        base = search_query(session, subj, c, on, keys).with_only_columns(func.count())
        n = int(session.execute(base).scalar_one())
        audit.record(
            session,
            actor,
            "registrant.search",
            resource_type="registrant",
            detail={**c.hashed(), "results": n, "count_only": True},
        )
        return n
    rows = session.execute(
        search_query(session, subj, c, on, keys).order_by(*_reading_order(session)).limit(limit)
    ).all()
    decisions: dict[int, frozenset[str] | None] = {}
    # rows come from permitted facilities: without narrow rules every field shows
    narrow = access.has_narrow_rules(session, subj, "search", "registrants", on)
    out = []
    for reg, code in rows:
        if narrow and reg.facility_id not in decisions:
            decisions[reg.facility_id] = access.decide(
                session, actor, "search", "registrants", reg.facility_id, on
            ).fields
        rec = _as_record(keys, reg, code, decisions.get(reg.facility_id), _SEARCH_FIELDS)
        out.append({k: rec[k] for k in SEARCH_COLUMNS})
    audit.record(
        session,
        actor,
        "registrant.search",
        resource_type="registrant",
        detail={**c.hashed(), "results": len(out)},
    )
    return out


# --- reads for administration and monitoring (no personal values leave here) -----------


def count_at(session: Session, grant: Grant, facility_ids: set[int]) -> int:
    """How many registrants the facilities hold (the handover plan; no personal value)."""
    grant.expect(ADMINISTRATION)
    if not facility_ids:
        return 0
    q = select(func.count()).select_from(Registrant).where(Registrant.facility_id.in_(facility_ids))
    return int(session.execute(q).scalar_one())


def mask_name(name: str | None) -> str:
    """First character and ○○: enough to tell two matches apart, not to identify."""
    name = (name or "").strip()
    return (name[0] if name else "") + MASK


def masked_names(session: Session, grant: Grant, registrant_ids: set[int]) -> dict[int, str]:
    """Masked names of the registrants that flagged events name (the monthly report).

    The name only, masked here: never address, phone, contact or birth date.
    """
    grant.expect(MONITORING)
    if not registrant_ids:
        return {}
    rows = session.execute(
        select(Registrant.id, Registrant.name).where(Registrant.id.in_(sorted(registrant_ids)))
    )
    return {int(rid): mask_name(name) for rid, name in rows}
