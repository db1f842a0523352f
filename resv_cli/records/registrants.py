"""Registrant services (利用者登録): add, search, show, update, cards, certificates.

Every query here is scoped by ``resv_cli.access.decide``: single records by
``access.decide`` on the record's facility, lists and searches by
``access.scope_filter`` inside the SQL.  A record outside the caller's scope is
answered exactly like a record that does not exist (same message, same exit code)
and the attempt is audited as refused.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select

from resv_cli.access import decide as access
from resv_cli.access.rules import FIELD_NAMES
from resv_cli.audit import chain as audit
from resv_cli.core import clock
from resv_cli.core.db import lock_facility_registrants
from resv_cli.core.errors import Conflict, InputError, NotFound, PermissionDenied
from resv_cli.core.models import Certificate, Facility, Registrant
from resv_cli.core.normalize import kana_key, name_key, nfc

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from resv_cli.core.context import Actor

# fields a narrow scope rule may reveal (id and facility are always shown): the
# field names a rule may list
PERSONAL_FIELDS = FIELD_NAMES
SEARCH_COLUMNS = ("id", "facility", "kind", "name", "kana", "date_of_birth")
UPDATABLE = (
    "name",
    "kana",
    "date_of_birth",
    "postal_code",
    "address",
    "phone",
    "emergency_name",
    "emergency_phone",
    "representative_name",
)
# the upper bound of a prefix range: sorts after every character a key can hold
_PREFIX_END = "\U0010ffff"


def _require_actor(actor: Actor | None) -> Actor:
    if actor is None:
        from resv_cli.core.errors import NotLoggedIn

        raise NotLoggedIn("not logged in: run `resv login` first")
    return actor


def digits(phone: str | None) -> str | None:
    """The digits of a phone number (full-width digits folded), for search."""
    if not phone:
        return None
    import unicodedata

    out = "".join(c for c in unicodedata.normalize("NFKC", phone) if c.isdigit())
    return out or None


def not_found_message(registrant_id: int | str) -> str:
    """The one answer for a missing *and* an out-of-scope registrant."""
    return f"registrant {registrant_id} not found"


def _facility_by_code(session: Session, code: str) -> Facility:
    fac = session.execute(select(Facility).where(Facility.code == code)).scalar_one_or_none()
    if fac is None:
        raise NotFound(f"facility {code} not found")
    return fac


def _mask(record: dict[str, Any], fields: frozenset[str] | None) -> dict[str, Any]:
    if fields is None:
        return record
    return {k: (v if k not in PERSONAL_FIELDS or k in fields else None) for k, v in record.items()}


def _as_record(reg: Registrant, facility_code: str) -> dict[str, Any]:
    return {
        "id": int(reg.id),
        "facility": facility_code,
        "kind": reg.kind,
        "name": reg.name,
        "kana": reg.kana,
        "date_of_birth": reg.date_of_birth,
        "postal_code": reg.postal_code,
        "address": reg.address,
        "phone": reg.phone,
        "emergency_name": reg.emergency_name,
        "emergency_phone": reg.emergency_phone,
        "representative_name": reg.representative_name,
        "legacy_no": reg.legacy_no,
    }


def load_in_scope(
    session: Session, actor: Actor, registrant_id: int, action: str, audit_action: str
) -> tuple[Registrant, Facility, access.Decision]:
    """Return the registrant if ``action`` is allowed on it, else the not-found answer.

    Out of scope and nonexistent answer alike; both are audited as refused
    (``denied`` when the record exists elsewhere, ``failed`` when it does not).
    """
    reg = session.get(Registrant, registrant_id)
    if reg is None:
        raise NotFound(
            not_found_message(registrant_id),
            action=audit_action,
            resource_type="registrant",
            resource_id=str(registrant_id),
            outcome="failed",
            detail={"reason": "not_found"},
        )
    decision = access.decide(session, actor, action, "registrants", reg.facility_id, clock.today())
    fac = session.get(Facility, reg.facility_id)
    assert fac is not None
    if not decision.allowed:
        raise NotFound(
            not_found_message(registrant_id),
            action=audit_action,
            resource_type="registrant",
            resource_id=str(registrant_id),
            facility_code=fac.code,
            outcome="denied",
            detail={"reason": "out_of_scope"},
        )
    return reg, fac, decision


# --- add / update ------------------------------------------------------------------


@dataclass
class NewRegistrant:
    facility: str
    name: str
    kind: str = "individual"
    kana: str | None = None
    date_of_birth: dt.date | None = None
    postal_code: str | None = None
    address: str | None = None
    phone: str | None = None
    emergency_name: str | None = None
    emergency_phone: str | None = None
    representative_name: str | None = None


def add_registrant(session: Session, actor: Actor | None, new: NewRegistrant) -> dict[str, Any]:
    """Register a person or group at a facility the actor may register at."""
    actor = _require_actor(actor)
    if new.kind not in ("individual", "group"):
        raise InputError("--kind must be individual or group")
    if not new.name.strip():
        raise InputError("--name must not be empty")
    fac = _facility_by_code(session, new.facility)
    decision = access.decide(session, actor, "register", "registrants", fac.id, clock.today())
    if not decision.allowed or decision.fields is not None:
        raise PermissionDenied(
            f"permission denied: you may not register registrants at {fac.code}",
            action="registrant.add",
            resource_type="registrant",
            facility_code=fac.code,
            outcome="denied",
            detail={"reason": "out_of_scope"},
        )
    now = clock.now()
    lock_facility_registrants(session, fac.id)  # an import may be looking for duplicates
    reg = Registrant(
        facility_id=fac.id,
        kind=new.kind,
        name=nfc(new.name),
        name_key=name_key(new.name),
        kana=nfc(new.kana) if new.kana else None,
        kana_key=kana_key(new.kana) if new.kana else None,
        date_of_birth=new.date_of_birth,
        postal_code=new.postal_code,
        address=nfc(new.address) if new.address else None,
        phone=new.phone,
        phone_digits=digits(new.phone),
        emergency_name=new.emergency_name,
        emergency_phone=new.emergency_phone,
        representative_name=new.representative_name,
        created_by=actor.account_id,
        created_at=now,
        updated_at=now,
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
        detail={"kind": new.kind, "decided_by": decision.source},
    )
    return {"id": int(reg.id), "facility": fac.code, "kind": reg.kind}


def _scoped_refusal(registrant_id: int, action: str, facility_code: str, reason: str) -> NotFound:
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
    session: Session, actor: Actor | None, registrant_id: int, changes: dict[str, Any]
) -> dict[str, Any]:
    """Change some fields of a registrant in scope for ``update``."""
    actor = _require_actor(actor)
    changes = {k: v for k, v in changes.items() if v is not None}
    unknown = sorted(set(changes) - set(UPDATABLE))
    if unknown:
        raise InputError(f"cannot update {', '.join(unknown)}")
    if not changes:
        raise InputError("nothing to update: give at least one field option")
    reg, fac, decision = load_in_scope(session, actor, registrant_id, "update", "registrant.update")
    if decision.fields is not None and not set(changes) <= decision.fields:
        raise _scoped_refusal(registrant_id, "registrant.update", fac.code, "field_not_allowed")
    for key, value in changes.items():
        if key in ("name", "kana", "address") and isinstance(value, str):
            value = nfc(value)
        setattr(reg, key, value)
    if "name" in changes:
        reg.name_key = name_key(reg.name)
    if "kana" in changes:
        reg.kana_key = kana_key(reg.kana) if reg.kana else None
    if "phone" in changes:
        reg.phone_digits = digits(reg.phone)
    reg.updated_at = clock.now()
    audit.record(
        session,
        actor,
        "registrant.update",
        resource_type="registrant",
        resource_id=registrant_id,
        facility_code=fac.code,
        detail={"fields": sorted(changes)},
    )
    return {"id": registrant_id, "facility": fac.code, "updated": ",".join(sorted(changes))}


# --- read ----------------------------------------------------------------------------


def show_registrant(session: Session, actor: Actor | None, registrant_id: int) -> dict[str, Any]:
    """One registrant in scope for ``view`` with its certificates (narrow rules mask fields)."""
    actor = _require_actor(actor)
    reg, fac, decision = load_in_scope(session, actor, registrant_id, "view", "registrant.view")
    record = _mask(_as_record(reg, fac.code), decision.fields)
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

    def empty(self) -> bool:
        return not any((self.name, self.kana, self.date_of_birth, self.phone, self.facility))

    def hashed(self) -> dict[str, str]:
        """The search terms as one keyed hash (never in plain text)."""
        terms = {
            "name": name_key(self.name) if self.name else None,
            "kana": kana_key(self.kana) if self.kana else None,
            "dob": self.date_of_birth.isoformat() if self.date_of_birth else None,
            "phone": digits(self.phone),
        }
        canonical = json.dumps(terms, sort_keys=True, ensure_ascii=False)
        out = {"terms_hmac": audit.keyed_hash(canonical)}
        if self.facility:
            out["facility"] = self.facility
        return out


def _criteria_where(session: Session, c: Criteria) -> list[Any]:
    where: list[Any] = []
    if c.name:
        key = name_key(c.name)
        if not key:
            raise InputError("--name has no searchable characters")
        where += [Registrant.name_key >= key, Registrant.name_key < key + _PREFIX_END]
        where.append(Registrant.name_key.startswith(key, autoescape=True))
    if c.kana:
        key = kana_key(c.kana)
        if not key:
            raise InputError("--kana has no searchable characters")
        where += [Registrant.kana_key >= key, Registrant.kana_key < key + _PREFIX_END]
        where.append(Registrant.kana_key.startswith(key, autoescape=True))
    if c.date_of_birth:
        where.append(Registrant.date_of_birth == c.date_of_birth)
    if c.phone:
        d = digits(c.phone)
        if not d:
            raise InputError("--phone has no digits")
        where.append(Registrant.phone_digits == d)
    if c.facility:
        fac = _facility_by_code(session, c.facility)
        where.append(Registrant.facility_id == fac.id)
    return where


def search_query(
    session: Session, actor: Actor | access.Subject | int, c: Criteria, on: dt.date
) -> Any:
    """The scoped search as one SELECT (also used by the benchmark)."""
    return (
        select(Registrant, Facility.code)
        .join(Facility, Facility.id == Registrant.facility_id)
        .where(
            access.scope_filter(
                session, actor, "search", "registrants", on, Registrant.facility_id
            ),
            *_criteria_where(session, c),
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
    spacing, variant kanji), date of birth exactly, phone by its digits.
    """
    actor = _require_actor(actor)
    if c.empty():
        raise InputError("give at least one of --name, --kana, --dob, --phone, --facility")
    on = clock.today()
    subj = access.subject_of(session, actor)  # once: the filter and the field check share it
    if c.facility:
        fac = _facility_by_code(session, c.facility)
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
        base = search_query(session, subj, c, on).with_only_columns(func.count())
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
        search_query(session, subj, c, on).order_by(Registrant.name_key, Registrant.id).limit(limit)
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
        rec = _mask(_as_record(reg, code), decisions.get(reg.facility_id))
        out.append({k: rec[k] for k in SEARCH_COLUMNS})
    audit.record(
        session,
        actor,
        "registrant.search",
        resource_type="registrant",
        detail={**c.hashed(), "results": len(out)},
    )
    return out


# --- cards and certificates ------------------------------------------------------------


def _next_number(session: Session, kind: str, fac: Facility, on: dt.date) -> str:
    prefix = f"{'S' if kind == 'senior_certificate' else 'C'}-{fac.code}-{on.year}-"
    n = session.execute(
        select(func.count()).where(Certificate.kind == kind, Certificate.number.startswith(prefix))
    ).scalar_one()
    return f"{prefix}{int(n) + 1:05d}"


def _issue(
    session: Session,
    actor: Actor,
    reg: Registrant,
    fac: Facility,
    kind: str,
    override_reason: str | None = None,
) -> dict[str, Any]:
    on = clock.today()
    number = _next_number(session, kind, fac, on)
    cert = Certificate(
        registrant_id=reg.id,
        facility_id=fac.id,
        kind=kind,
        number=number,
        issued_on=on,
        issued_by=actor.account_id,
        override_reason=override_reason,
        created_at=clock.now(),
    )
    session.add(cert)
    session.flush()
    return {
        "registrant": int(reg.id),
        "facility": fac.code,
        "kind": kind,
        "number": number,
        "issued_on": on,
    }


def issue_card(session: Session, actor: Actor | None, registrant_id: int) -> dict[str, Any]:
    """Issue a user card (利用者カード) to a group registrant in scope for ``register``."""
    actor = _require_actor(actor)
    reg, fac, decision = load_in_scope(
        session, actor, registrant_id, "register", "registrant.issue_card"
    )
    if decision.fields is not None:
        # a rule that reveals only some fields does not allow issuing: refused, kept
        raise _scoped_refusal(registrant_id, "registrant.issue_card", fac.code, "fields_restricted")
    if reg.kind != "group":
        raise InputError("a user card is issued to a group registrant; this one is an individual")
    result = _issue(session, actor, reg, fac, "user_card")
    audit.record(
        session,
        actor,
        "registrant.issue_card",
        resource_type="registrant",
        resource_id=registrant_id,
        facility_code=fac.code,
        detail={"number": result["number"]},
    )
    return result


def issue_certificate(
    session: Session, actor: Actor | None, registrant_id: int, override_reason: str | None = None
) -> dict[str, Any]:
    """Issue a senior certificate (登録証) to an individual, after the duplicate check.

    Refuses when another senior facility already issued a certificate to the same
    person (same name, reading and date of birth), unless ``override_reason``
    is given; the override is audited with its reason.
    """
    actor = _require_actor(actor)
    reg, fac, decision = load_in_scope(
        session, actor, registrant_id, "register", "registrant.issue_certificate"
    )
    if decision.fields is not None:
        # a rule that reveals only some fields does not allow issuing: refused, kept
        raise _scoped_refusal(
            registrant_id, "registrant.issue_certificate", fac.code, "fields_restricted"
        )
    if reg.kind != "individual":
        raise InputError("a senior certificate is issued to an individual; this one is a group")
    from resv_cli.core.models import FacilityCategory

    cat = session.get(FacilityCategory, fac.category)
    if cat is None or not cat.is_senior:
        raise InputError(f"{fac.code} is not a senior facility: it issues no senior certificates")
    if reg.date_of_birth is None:
        raise InputError("the registrant has no date of birth: the duplicate check needs it")
    existing = session.execute(
        select(Certificate.id).where(
            Certificate.registrant_id == reg.id,
            Certificate.kind == "senior_certificate",
            Certificate.revoked_on.is_(None),
        )
    ).first()
    if existing is not None:
        raise Conflict(
            f"registrant {registrant_id} already holds a senior certificate",
            action="registrant.issue_certificate",
            resource_type="registrant",
            resource_id=str(registrant_id),
            facility_code=fac.code,
            outcome="failed",
            detail={"reason": "already_holds"},
        )
    # the refusals below, as the history records them
    refused = {
        "action": "registrant.issue_certificate",
        "resource_type": "registrant",
        "resource_id": str(registrant_id),
        "facility_code": fac.code,
        "outcome": "denied",
    }
    # the check below looks into the other senior centres: it counts against the same
    # hourly limit as `check-duplicate` (else changing a record's name and date of
    # birth and asking again would be an unlimited way to ask about anyone)
    limit, used = _duplicate_checks_used(session, actor)
    if used >= limit:
        raise PermissionDenied(
            f"rate limit: at most {limit} duplicate checks per hour (issuing a certificate "
            "runs one); try again later",
            **refused,
            detail={"reason": "rate_limit"},
        )
    matches = _duplicate_matches(
        session, reg.name_key, reg.kana_key, reg.date_of_birth, exclude_id=int(reg.id)
    )
    elsewhere = [m for m in matches if m["certificate_number"]]
    override = (override_reason or "").strip() or None
    if elsewhere and override is None:
        # where, and the number, only through the purpose-bound check (a reason is
        # required there): this refusal says only that one exists
        raise Conflict(
            "a senior certificate already exists at another senior centre for a person with "
            "the same name, reading and date of birth; see where with `resv registrant "
            "check-duplicate`, and rerun with --override-reason if this is a different "
            "person or a deliberate reissue",
            **refused,
            detail={"reason": "duplicate", "matches": len(elsewhere)},
        )
    result = _issue(session, actor, reg, fac, "senior_certificate", override)
    detail: dict[str, Any] = {"number": result["number"], "duplicates_found": len(elsewhere)}
    if elsewhere and override:
        detail["override_reason"] = override
    audit.record(
        session,
        actor,
        "registrant.issue_certificate",
        resource_type="registrant",
        resource_id=registrant_id,
        facility_code=fac.code,
        detail=detail,
    )
    return result


# --- the purpose-bound duplicate check ---------------------------------------------


def _duplicate_checks_used(session: Session, actor: Actor) -> tuple[int, int]:
    """(the hourly limit, the checks this person ran in the last hour).

    A check is an allowed `check-duplicate`, or an `issue-certificate` that looked
    into the other centres (allowed, or refused because a certificate exists);
    other refusals ran no check and do not count.
    """
    from resv_cli.core import settings
    from resv_cli.core.models import AuditEvent

    limit = settings.get_int(session, "duplicate_check_per_hour")
    since = clock.now() - dt.timedelta(hours=1)
    used = session.execute(
        select(func.count()).where(
            AuditEvent.account_id == actor.account_id,
            AuditEvent.occurred_at >= since,
            or_(
                (AuditEvent.action == "registrant.check_duplicate")
                & (AuditEvent.outcome == "allowed"),
                (AuditEvent.action == "registrant.issue_certificate")
                & (
                    (AuditEvent.outcome == "allowed")
                    # the refusal because one exists (canonical detail: sorted, compact)
                    | AuditEvent.detail.like('%"reason":"duplicate"%')
                ),
            ),
        )
    ).scalar_one()
    return limit, int(used)


DUPLICATE_COLUMNS = ("match", "facility", "facility_name", "certificate_number", "issued_on")


def _duplicate_matches(
    session: Session,
    nkey: str,
    kkey: str | None,
    dob: dt.date,
    exclude_id: int | None = None,
) -> list[dict[str, Any]]:
    """Registrants of senior facilities with the same keys; only minimal columns."""
    q = (
        select(
            Facility.code, Facility.name, Certificate.number, Certificate.issued_on, Registrant.id
        )
        .select_from(Registrant)
        .join(Facility, Facility.id == Registrant.facility_id)
        .outerjoin(
            Certificate,
            (Certificate.registrant_id == Registrant.id)
            & (Certificate.kind == "senior_certificate")
            & Certificate.revoked_on.is_(None),
        )
        .where(
            Registrant.facility_id.in_(access.duplicate_check_scope(session)),
            Registrant.kind == "individual",
            Registrant.name_key == nkey,
            Registrant.date_of_birth == dob,
        )
        .order_by(Facility.code, Certificate.issued_on)
    )
    if kkey:
        q = q.where(Registrant.kana_key == kkey)
    if exclude_id is not None:
        q = q.where(Registrant.id != exclude_id)
    return [
        {
            "match": "yes",
            "facility": code,
            "facility_name": fname,
            "certificate_number": number,
            "issued_on": issued,
            "_registrant_id": int(rid),
        }
        for code, fname, number, issued, rid in session.execute(q)
    ]


def _work_facility_code(session: Session, actor: Actor) -> str | None:
    from resv_cli.core.models import Account

    fid = session.execute(
        select(Account.facility_id).where(Account.id == actor.account_id)
    ).scalar_one_or_none()
    if fid is None:
        return None
    return session.execute(select(Facility.code).where(Facility.id == fid)).scalar_one_or_none()


def check_duplicate(
    session: Session,
    actor: Actor | None,
    *,
    name: str,
    kana: str | None,
    date_of_birth: dt.date,
    reason: str,
) -> list[dict[str, Any]]:
    """The senior-centre duplicate check: match or not, facility, certificate number and date.

    Only for operators whose place of work is a senior welfare centre their
    organisation manages today; rate-limited per account per hour; audited with
    the search terms as a keyed hash.  Never returns address, phone, emergency
    contact or date of birth.
    """
    actor = _require_actor(actor)
    reason = (reason or "").strip()
    if not reason:
        raise InputError("--reason is required: say why you check (e.g. the application number)")
    nkey = name_key(name or "")
    if not nkey:
        raise InputError("--name has no searchable characters")
    kkey = kana_key(kana) if kana else None
    terms = json.dumps(
        {"name": nkey, "kana": kkey, "dob": date_of_birth.isoformat()}, sort_keys=True
    )
    terms_hmac = audit.keyed_hash(terms)
    on = clock.today()
    decision = access.duplicate_check_decision(session, actor, None, on)
    # the checking facility (the account's place of work) goes into the history
    work_code = _work_facility_code(session, actor)
    if not decision.allowed:
        raise PermissionDenied(
            "permission denied: the duplicate check is only for staff of a senior welfare "
            "centre that your organisation manages",
            action="registrant.check_duplicate",
            outcome="denied",
            facility_code=work_code,
            # "reason" is why it was refused; "purpose" is the reason the user gave
            detail={"reason": "not_eligible", "purpose": reason[:200], "terms_hmac": terms_hmac},
        )
    limit, used = _duplicate_checks_used(session, actor)
    if used >= limit:
        raise PermissionDenied(
            f"rate limit: at most {limit} duplicate checks per hour; try again later",
            action="registrant.check_duplicate",
            outcome="denied",
            facility_code=work_code,
            detail={"reason": "rate_limit", "purpose": reason[:200], "terms_hmac": terms_hmac},
        )
    rows = _duplicate_matches(session, nkey, kkey, date_of_birth)
    audit.record(
        session,
        actor,
        "registrant.check_duplicate",
        resource_type="registrant",
        facility_code=work_code,
        detail={
            "terms_hmac": terms_hmac,
            "purpose": reason[:200],
            "matches": len(rows),
            # numbers only, so the monthly report can show which records matched
            "registrant_ids": sorted({r["_registrant_id"] for r in rows}),
        },
    )
    if not rows:
        return [dict.fromkeys(DUPLICATE_COLUMNS) | {"match": "no"}]
    return [{k: r[k] for k in DUPLICATE_COLUMNS} for r in rows]
