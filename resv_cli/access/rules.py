"""Scope rules (利用範囲): list, add, remove, explain, and policy files (plan/apply).

A policy file (TOML, read with the standard library's ``tomllib``) is the whole
desired set of scope rules: ``scope plan`` shows the rules it would add, change
and remove and the effective access (account x facility x action x resource)
gained and lost, without writing; ``scope apply`` makes the same change in one
transaction, audited, and does nothing when the database already matches.
See docs/guide-scope.md for the format.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from resv_cli.access import decide as access
from resv_cli.audit import chain as audit
from resv_cli.core import clock
from resv_cli.core.context import require_role
from resv_cli.core.errors import Conflict, InputError, NotFound
from resv_cli.core.i18n import N_, _
from resv_cli.core.lookup import facility_by_code
from resv_cli.core.models import (
    SCOPE_ACTIONS,
    SCOPE_RESOURCES,
    SCOPE_SUBJECTS,
    Account,
    DuplicateCheckRule,
    FacilityCategory,
    Organization,
    ScopeRule,
)
from resv_cli.core.normalize import check_text, max_len
from resv_cli.core.personal import REGISTRANT_FIELDS

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from resv_cli.core.context import Actor

FIELD_NAMES = REGISTRANT_FIELDS  # a rule may reveal only some of them
RULE_KEYS = {
    "name",
    "kind",
    "subject",
    "actions",
    "resource",
    "facility",
    "category",
    "fields",
    "purpose",
    "valid_from",
    "valid_until",
}


# what each key of a policy-file rule may hold (TOML types), checked before its value
KEY_TYPES: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "kind": (str,),
    "subject": (str,),
    "actions": (str, list),
    "resource": (str,),
    "facility": (str,),
    "category": (str,),
    "fields": (str, list),
    "purpose": (str,),
    "valid_from": (str, dt.date),
    "valid_until": (str, dt.date),
}
# the longest text of each part of a rule, from the scope_rules columns
NAME_MAX = max_len(ScopeRule.name)
SUBJECT_MAX = max_len(ScopeRule.subject_type) + 1 + max_len(ScopeRule.subject_ref)
DATE_TEXT_MAX = 40
# the two kinds of rule: access to records, and the purpose-bound duplicate check
ACCESS = "access"
DUPLICATE_CHECK_KIND = "duplicate_check"
KINDS = (ACCESS, DUPLICATE_CHECK_KIND)
# what the duplicate check reveals (resv_cli.access.decide.duplicate_check_decision)
EVERY_SENIOR_CATEGORY = N_("every senior category")
ALL_FIELDS = N_("(all)")
DUPLICATE_FIELDS = ("facility", "certificate_number", "issued_on")


@dataclass(frozen=True)
class RuleSpec:
    """A scope rule as written by a person (CLI options or one policy-file entry)."""

    name: str
    subject_type: str
    subject_ref: str
    actions: tuple[str, ...]
    resource: str
    facility_code: str | None = None
    facility_category: str | None = None
    fields: tuple[str, ...] | None = None
    purpose: str | None = None
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None
    kind: str = ACCESS

    def row(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "subject_type": self.subject_type,
            "subject_ref": self.subject_ref,
            "actions": ",".join(self.actions),
            "resource": self.resource,
            "facility_code": self.facility_code,
            "facility_category": self.facility_category,
            "fields": ",".join(self.fields) if self.fields else None,
            "purpose": self.purpose,
            "valid_from": self.valid_from,
            "valid_until": self.valid_until,
        }

    def table_row(self) -> dict[str, Any]:
        """The row of its table: ``scope_rules`` or ``duplicate_check_rules``."""
        if self.kind == DUPLICATE_CHECK_KIND:
            return {
                "name": self.name,
                "from_facility_code": self.subject_ref,
                "over_category": self.facility_category,
                "purpose": self.purpose,
                "valid_from": self.valid_from,
                "valid_until": self.valid_until,
            }
        r = self.row()
        del r["kind"]
        return r

    def display(self, *, for_people: bool = True) -> dict[str, Any]:
        """The rule as a row; ``for_people=False``: its words in English (audit details)."""
        r = self.row()
        said = _ if for_people else str
        if self.kind == DUPLICATE_CHECK_KIND:
            facilities = (
                f"category:{self.facility_category}"
                if self.facility_category
                else said(EVERY_SENIOR_CATEGORY)
            )
        else:
            facilities = self.facility_code or f"category:{self.facility_category}"
        return {
            "name": r["name"],
            "kind": self.kind,
            "subject": f"{self.subject_type}:{self.subject_ref}",
            "actions": r["actions"],
            "resource": r["resource"],
            "facilities": facilities,
            "fields": r["fields"] or said(ALL_FIELDS),
            "valid_from": self.valid_from,
            "valid_until": self.valid_until,
            "purpose": self.purpose,
        }


def dup_spec_of(rule: DuplicateCheckRule) -> RuleSpec:
    return RuleSpec(
        name=rule.name,
        subject_type="facility",
        subject_ref=rule.from_facility_code,
        actions=(access.DUPLICATE_CHECK,),
        resource="registrants",
        facility_category=rule.over_category,
        fields=DUPLICATE_FIELDS,
        purpose=rule.purpose,
        valid_from=rule.valid_from,
        valid_until=rule.valid_until,
        kind=DUPLICATE_CHECK_KIND,
    )


def spec_of(rule: ScopeRule) -> RuleSpec:
    return RuleSpec(
        name=rule.name,
        subject_type=rule.subject_type,
        subject_ref=rule.subject_ref,
        actions=tuple(a for a in rule.actions.split(",") if a),
        resource=rule.resource,
        facility_code=rule.facility_code,
        facility_category=rule.facility_category,
        fields=tuple(f for f in rule.fields.split(",") if f) if rule.fields else None,
        purpose=rule.purpose,
        valid_from=rule.valid_from,
        valid_until=rule.valid_until,
    )


def _split(value: str | list[str] | tuple[str, ...] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v).strip() for v in value if str(v).strip()]


def make_spec(
    session: Session,
    *,
    name: str,
    subject: str,
    actions: str | list[str],
    resource: str,
    facility: str | None = None,
    category: str | None = None,
    fields: str | list[str] | None = None,
    purpose: str | None = None,
    valid_from: dt.date | str | None = None,
    valid_until: dt.date | str | None = None,
    where: str = "",
    kind: str = ACCESS,
) -> RuleSpec:
    """Validate a rule's parts against the database; ``where`` prefixes error messages."""
    w = f"{where}: " if where else ""
    kind = check_text(f"{w}kind", kind or ACCESS, max_len=32).replace("-", "_")
    if kind not in KINDS:
        raise InputError(
            w + _("kind must be access or duplicate-check, got {kind!r}").format(kind=kind)
        )
    if kind == DUPLICATE_CHECK_KIND:
        return _duplicate_spec(
            session,
            w,
            name=name,
            subject=subject,
            facility=facility,
            category=category,
            purpose=purpose,
            valid_from=valid_from,
            valid_until=valid_until,
        )

    def text(key: str, value: str, column: Any) -> str:
        # the input rule: no control character, no more than the column holds
        return check_text(f"{w}{key}", value, max_len=max_len(column))

    name = text("name", name or "", ScopeRule.name)
    if not name:
        raise InputError(w + _("name must be 1 to {n} characters").format(n=NAME_MAX))
    subject = check_text(f"{w}subject", subject, max_len=SUBJECT_MAX)
    if isinstance(actions, str):
        actions = text("actions", actions, ScopeRule.actions)
    else:
        actions = [text("actions", a, ScopeRule.actions) for a in actions]
    if isinstance(fields, str):
        fields = text("fields", fields, ScopeRule.fields)
    elif fields is not None:
        fields = [text("fields", f, ScopeRule.fields) for f in fields]
    resource = text("resource", resource, ScopeRule.resource)
    facility = text("facility", facility, ScopeRule.facility_code) if facility else facility
    category = text("category", category, ScopeRule.facility_category) if category else category
    purpose = text("purpose", purpose, ScopeRule.purpose) if purpose else purpose
    if ":" not in subject:
        raise InputError(
            w
            + _("subject must be TYPE:REF, e.g. organization:inzai-fm, got {subject!r}").format(
                subject=subject
            )
        )
    stype, sref = (p.strip() for p in subject.split(":", 1))
    if stype not in SCOPE_SUBJECTS:
        raise InputError(
            w
            + _("subject type must be one of {types}, got {type!r}").format(
                types=", ".join(SCOPE_SUBJECTS), type=stype
            )
        )
    if (
        stype == "organization"
        and not session.execute(select(Organization.id).where(Organization.code == sref)).first()
    ):
        raise InputError(w + _("no organisation {code!r}").format(code=sref))
    if (
        stype == "account"
        and not session.execute(select(Account.id).where(Account.login_id == sref)).first()
    ):
        raise InputError(w + _("no account {login!r}").format(login=sref))
    if stype == "role" and sref not in ("admin", "monitor", "operator"):
        raise InputError(
            w + _("role must be admin, monitor or operator, got {role!r}").format(role=sref)
        )
    acts = _split(actions)
    bad = [a for a in acts if a not in SCOPE_ACTIONS]
    if not acts or bad:
        known = ", ".join(SCOPE_ACTIONS)
        raise InputError(
            w
            + (
                _("actions must be some of {known}, got {bad}").format(
                    known=known, bad=", ".join(bad)
                )
                if bad
                else _("actions must be some of {known}").format(known=known)
            )
        )
    if resource not in SCOPE_RESOURCES:
        raise InputError(
            w
            + _("resource must be registrants or bookings, got {resource!r}").format(
                resource=resource
            )
        )
    if bool(facility) == bool(category):
        raise InputError(w + _("give exactly one of facility or category"))
    if facility:
        try:
            facility_by_code(session, facility)
        except NotFound as exc:
            raise InputError(f"{w}{exc}") from None
    if category and session.get(FacilityCategory, category) is None:
        raise InputError(w + _("no facility category {code!r}").format(code=category))
    flds = _split(fields) or None
    if flds:
        badf = [f for f in flds if f not in FIELD_NAMES]
        if badf:
            raise InputError(
                w
                + _("fields must be some of {known}, got {bad}").format(
                    known=", ".join(FIELD_NAMES), bad=", ".join(badf)
                )
            )
    vf, vu = _validity(valid_from, valid_until, w)
    return RuleSpec(
        name=name,
        subject_type=stype,
        subject_ref=sref,
        actions=tuple(a for a in SCOPE_ACTIONS if a in acts),
        resource=resource,
        facility_code=facility or None,
        facility_category=category or None,
        fields=tuple(f for f in FIELD_NAMES if f in flds) if flds else None,
        purpose=(purpose or "").strip() or None,
        valid_from=vf,
        valid_until=vu,
    )


def _duplicate_spec(
    session: Session,
    w: str,
    *,
    name: str,
    subject: str,
    facility: str | None,
    category: str | None,
    purpose: str | None,
    valid_from: dt.date | str | None,
    valid_until: dt.date | str | None,
) -> RuleSpec:
    """The duplicate-check exception: from one facility, over senior categories, for a purpose."""
    name = check_text(f"{w}name", name or "", max_len=max_len(DuplicateCheckRule.name))
    if not name:
        raise InputError(w + _("name must be 1 to {n} characters").format(n=NAME_MAX))
    subject = check_text(f"{w}subject", subject or "", max_len=SUBJECT_MAX)
    stype, _colon, sref = (p.strip() for p in subject.partition(":"))
    if stype != "facility" or not sref:
        raise InputError(
            w
            + _(
                "a duplicate-check rule's subject is facility:CODE (whose staff may check), "
                "got {subject!r}"
            ).format(subject=subject)
        )
    try:
        facility_by_code(session, sref)
    except NotFound as exc:
        raise InputError(f"{w}{exc}") from None
    if facility:
        raise InputError(
            w
            + _(
                "a duplicate-check rule spans categories: give category (or none for every "
                "senior category), not facility"
            )
        )
    if category:
        category = check_text(f"{w}category", category, max_len=50)
        cat = session.get(FacilityCategory, category)
        if cat is None:
            raise InputError(w + _("no facility category {code!r}").format(code=category))
        if not cat.is_senior:
            raise InputError(
                w
                + _("the duplicate check spans senior categories only; {code!r} is not one").format(
                    code=category
                )
            )
    purpose = check_text(
        f"{w}purpose", purpose or "", max_len=max_len(DuplicateCheckRule.purpose)
    ).strip()
    if not purpose:
        raise InputError(
            w + _("a duplicate-check rule needs a purpose (e.g. 登録証の重複発行防止)")
        )
    vf, vu = _validity(valid_from, valid_until, w)
    return RuleSpec(
        name=name,
        subject_type="facility",
        subject_ref=sref,
        actions=(access.DUPLICATE_CHECK,),
        resource="registrants",
        facility_category=category or None,
        fields=DUPLICATE_FIELDS,
        purpose=purpose,
        valid_from=vf,
        valid_until=vu,
        kind=DUPLICATE_CHECK_KIND,
    )


def _validity(
    valid_from: dt.date | str | None, valid_until: dt.date | str | None, w: str
) -> tuple[dt.date | None, dt.date | None]:
    """A rule's validity dates (inclusive), the end not before the start."""
    vf = _date(valid_from, f"{w}valid_from")
    vu = _date(valid_until, f"{w}valid_until")
    if vf and vu and vu < vf:
        raise InputError(w + _("valid_until is before valid_from"))
    return vf, vu


def _date(value: dt.date | str | None, what: str) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    # a date in any form is short: a longer text is refused before it is echoed
    return clock.parse_date(check_text(what, str(value), max_len=DATE_TEXT_MAX), what=what)


# --- CRUD ----------------------------------------------------------------------------


def stored_rules(session: Session) -> list[tuple[RuleSpec, Any]]:
    """Every rule of both kinds, with its row, by name."""
    out: list[tuple[RuleSpec, Any]] = [
        (spec_of(r), r) for r in session.execute(select(ScopeRule)).scalars()
    ]
    out += [(dup_spec_of(r), r) for r in session.execute(select(DuplicateCheckRule)).scalars()]
    return sorted(out, key=lambda x: x[0].name)


def list_rules(session: Session, actor: Actor | None) -> list[dict[str, Any]]:
    require_role(actor, "admin", "monitor", action="scope.list")
    return [spec.display() | {"source": row.source} for spec, row in stored_rules(session)]


def table_of(spec: RuleSpec) -> Any:
    return DuplicateCheckRule if spec.kind == DUPLICATE_CHECK_KIND else ScopeRule


def insert_rule(session: Session, spec: RuleSpec, source: str) -> None:
    session.add(table_of(spec)(**spec.table_row(), source=source, created_at=clock.now()))


def add_rule(session: Session, actor: Actor | None, spec: RuleSpec) -> dict[str, Any]:
    actor = require_role(actor, "admin", action="scope.add")
    if any(s.name == spec.name for s, _row in stored_rules(session)):
        raise Conflict(_("a scope rule named {name!r} already exists").format(name=spec.name))
    insert_rule(session, spec, "cli")
    session.flush()
    audit.record(
        session,
        actor,
        "scope.add",
        resource_type="scope_rule",
        resource_id=spec.name,
        facility_code=spec.facility_code,
        detail=_audit_view(spec),
    )
    return spec.display()


def remove_rule(session: Session, actor: Actor | None, name: str) -> dict[str, Any]:
    actor = require_role(actor, "admin", action="scope.remove")
    found = [(s, r) for s, r in stored_rules(session) if s.name == name]
    if not found:
        raise NotFound(_("no scope rule named {name!r}").format(name=name))
    spec, rule = found[0]
    session.delete(rule)
    session.flush()
    audit.record(
        session,
        actor,
        "scope.remove",
        resource_type="scope_rule",
        resource_id=name,
        facility_code=spec.facility_code,
        detail=_audit_view(spec),
    )
    return spec.display()


def _audit_view(spec: RuleSpec) -> dict[str, Any]:
    d = spec.display(for_people=False)
    return {
        k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in d.items() if k != "name"
    }


# --- explain -------------------------------------------------------------------------


def explain(
    session: Session,
    actor: Actor | None,
    *,
    login_id: str,
    action: str,
    facility: str,
    resource: str = "registrants",
    on: dt.date | None = None,
) -> dict[str, Any]:
    """Allow or deny, and which period or rule decided it."""
    actor = require_role(actor, "admin", "monitor", action="scope.explain")
    on = on or clock.today()
    acc = session.execute(select(Account).where(Account.login_id == login_id)).scalar_one_or_none()
    if acc is None:
        raise NotFound(_("no account {login!r}").format(login=login_id))
    fac = facility_by_code(session, facility)
    if action != access.DUPLICATE_CHECK and action not in SCOPE_ACTIONS:
        raise InputError(
            _("--action must be one of {known}").format(
                known=", ".join((*SCOPE_ACTIONS, access.DUPLICATE_CHECK))
            )
        )
    if resource not in SCOPE_RESOURCES:
        raise InputError(_("--resource must be registrants or bookings"))
    d = access.decide(session, acc.id, action, resource, fac.id, on)
    return {
        "account": login_id,
        "action": action,
        "resource": resource,
        "facility": facility,
        "on": on,
        "decision": "allow" if d.allowed else "deny",
        "decided_by": d.rule
        and _("rule {name}").format(name=d.rule)
        or (_("period {id}").format(id=d.period_id) if d.period_id else _("default deny")),
        "fields": ",".join(sorted(d.fields)) if d.fields else _(ALL_FIELDS) if d.allowed else "",
        "reason": d.reason,
    }


__all__ = [
    "RuleSpec",
    "add_rule",
    "explain",
    "list_rules",
    "make_spec",
    "remove_rule",
]
