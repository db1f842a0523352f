"""Cards (利用者カード), senior certificates (登録証) and the purpose-bound duplicate check.

A certificate is issued only after the duplicate check across the senior
centres; the check itself is the board's one exception to per-facility scope,
decided by ``resv_cli.access.decide.duplicate_check_decision``, rate-limited and
audited with its search terms as a keyed hash.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select

from resv_cli.access import decide as access
from resv_cli.access.enforce import logged_in
from resv_cli.audit import chain as audit
from resv_cli.core import clock, fieldcrypt
from resv_cli.core.errors import Conflict, InputError, PermissionDenied
from resv_cli.core.i18n import _
from resv_cli.core.models import Facility
from resv_cli.core.normalize import REASON_MAX, check_text, kana_key, name_key
from resv_cli.core.personal import Certificate, Registrant
from resv_cli.records.registrants import load_in_scope, scoped_refusal

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from resv_cli.core.context import Actor


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
    actor = logged_in(actor)
    reg, fac, decision = load_in_scope(
        session, actor, registrant_id, "register", "registrant.issue_card"
    )
    if decision.fields is not None:
        # a rule that reveals only some fields does not allow issuing: refused, kept
        raise scoped_refusal(registrant_id, "registrant.issue_card", fac.code, "fields_restricted")
    if reg.kind != "group":
        raise InputError(
            _("a user card is issued to a group registrant; this one is an individual")
        )
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
    actor = logged_in(actor)
    reg, fac, decision = load_in_scope(
        session, actor, registrant_id, "register", "registrant.issue_certificate"
    )
    if decision.fields is not None:
        # a rule that reveals only some fields does not allow issuing: refused, kept
        raise scoped_refusal(
            registrant_id, "registrant.issue_certificate", fac.code, "fields_restricted"
        )
    if reg.kind != "individual":
        raise InputError(_("a senior certificate is issued to an individual; this one is a group"))
    from resv_cli.core.models import FacilityCategory

    cat = session.get(FacilityCategory, fac.category)
    if cat is None or not cat.is_senior:
        raise InputError(
            _("{facility} is not a senior facility: it issues no senior certificates").format(
                facility=fac.code
            )
        )
    if reg.dob_bidx is None:  # the date's blind index: set whenever a date is (sealed or not)
        raise InputError(_("the registrant has no date of birth: the duplicate check needs it"))
    existing = session.execute(
        select(Certificate.id).where(
            Certificate.registrant_id == reg.id,
            Certificate.kind == "senior_certificate",
            Certificate.revoked_on.is_(None),
        )
    ).first()
    if existing is not None:
        raise Conflict(
            _("registrant {id} already holds a senior certificate").format(id=registrant_id),
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
            _(
                "rate limit: at most {n} duplicate checks per hour (issuing a certificate "
                "runs one); try again later"
            ).format(n=limit),
            **refused,
            detail={"reason": "rate_limit"},
        )
    on = clock.today()
    # the cross-centre look is the board's one exception, the same rule as
    # `check-duplicate` (中央老人福祉センター): with it the check spans the senior
    # categories the rule names; without it, only what the issuer may view itself
    across = access.duplicate_check_decision(session, actor, None, on)
    where = (
        access.duplicate_check_scope(session, actor, on)
        if across.allowed
        else access.permitted_facilities(session, actor, "view", "registrants", on)
    )
    matches = _duplicate_matches(
        session, where, reg.name_key, reg.kana_key, reg.dob_bidx, exclude_id=int(reg.id)
    )
    elsewhere = [m for m in matches if m["certificate_number"]]
    override = (
        check_text("--override-reason", override_reason or "", max_len=REASON_MAX).strip() or None
    )
    if elsewhere and override is None:
        # where, and the number, only through the purpose-bound check (a reason is
        # required there): this refusal says only that one exists
        raise Conflict(
            _(
                "a senior certificate already exists at another senior centre for a person with "
                "the same name, reading and date of birth; see where with `resv registrant "
                "check-duplicate`, and rerun with --override-reason if this is a different "
                "person or a deliberate reissue"
            ),
            # a business refusal, not a scope refusal: the person may register here
            **{**refused, "outcome": "failed"},
            detail={"reason": "duplicate", "matches": len(elsewhere)},
        )
    result = _issue(session, actor, reg, fac, "senior_certificate", override)
    detail: dict[str, Any] = {
        "number": result["number"],
        "duplicates_found": len(elsewhere),
        # how far the duplicate check looked: the exception's rule, or the issuer's scope
        "decided_by": f"rule {across.rule}" if across.allowed else "own_scope",
    }
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
    where: Any,
    nkey: str,
    kkey: str | None,
    dob_tag: str,
    exclude_id: int | None = None,
) -> list[dict[str, Any]]:
    """Registrants with the same keys at the facilities ``where`` (a SELECT of ids).

    The date of birth by its blind index (``dob_bidx``): compared, never read.
    """
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
            Registrant.facility_id.in_(where),
            Registrant.kind == "individual",
            Registrant.name_key == nkey,
            Registrant.dob_bidx == dob_tag,
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
    actor = logged_in(actor)
    reason = check_text("--reason", reason or "", max_len=REASON_MAX).strip()
    if not reason:
        raise InputError(_("--reason is required: say why you check (e.g. the application number)"))
    nkey = name_key(name or "")
    if not nkey:
        raise InputError(_("--name has no searchable characters"))
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
            _(
                "permission denied: the duplicate check needs a duplicate-check rule for your "
                "place of work, granted by city IT (see `resv scope list`)"
            ),
            action="registrant.check_duplicate",
            outcome="denied",
            facility_code=work_code,
            # "reason" is why it was refused; "purpose" is the reason the user gave
            detail={"reason": "not_eligible", "purpose": reason, "terms_hmac": terms_hmac},
        )
    limit, used = _duplicate_checks_used(session, actor)
    if used >= limit:
        raise PermissionDenied(
            _("rate limit: at most {n} duplicate checks per hour; try again later").format(n=limit),
            action="registrant.check_duplicate",
            outcome="denied",
            facility_code=work_code,
            detail={"reason": "rate_limit", "purpose": reason, "terms_hmac": terms_hmac},
        )
    dob_tag = fieldcrypt.load(session).dob_tag(date_of_birth)
    assert dob_tag is not None
    rows = _duplicate_matches(
        session, access.duplicate_check_scope(session, actor, on), nkey, kkey, dob_tag
    )
    audit.record(
        session,
        actor,
        "registrant.check_duplicate",
        resource_type="registrant",
        facility_code=work_code,
        detail={
            "terms_hmac": terms_hmac,
            "purpose": reason,
            "matches": len(rows),
            # numbers only, so the monthly report can show which records matched
            "registrant_ids": sorted({r["_registrant_id"] for r in rows}),
        },
    )
    if not rows:
        return [dict.fromkeys(DUPLICATE_COLUMNS) | {"match": "no"}]
    return [{k: r[k] for k in DUPLICATE_COLUMNS} for r in rows]
