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
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update

from resv_cli.access import decide as access
from resv_cli.audit import chain as audit
from resv_cli.core import clock
from resv_cli.core.context import require_role
from resv_cli.core.errors import Conflict, InputError, NotFound
from resv_cli.core.files import file_sha256
from resv_cli.core.lookup import facility_by_code
from resv_cli.core.models import (
    SCOPE_ACTIONS,
    SCOPE_RESOURCES,
    SCOPE_SUBJECTS,
    Account,
    Facility,
    FacilityCategory,
    Organization,
    ScopeRule,
)
from resv_cli.core.normalize import check_text, control_problem, max_len
from resv_cli.core.personal import REGISTRANT_FIELDS

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from resv_cli.core.context import Actor

FIELD_NAMES = REGISTRANT_FIELDS  # a rule may reveal only some of them
RULE_KEYS = {
    "name",
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

    def row(self) -> dict[str, Any]:
        return {
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

    def display(self) -> dict[str, Any]:
        r = self.row()
        return {
            "name": r["name"],
            "subject": f"{self.subject_type}:{self.subject_ref}",
            "actions": r["actions"],
            "resource": r["resource"],
            "facilities": self.facility_code or f"category:{self.facility_category}",
            "fields": r["fields"] or "(all)",
            "valid_from": self.valid_from,
            "valid_until": self.valid_until,
            "purpose": self.purpose,
        }


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
) -> RuleSpec:
    """Validate a rule's parts against the database; ``where`` prefixes error messages."""
    w = f"{where}: " if where else ""

    def text(key: str, value: str, column: Any) -> str:
        # the input rule: no control character, no more than the column holds
        return check_text(f"{w}{key}", value, max_len=max_len(column))

    name = text("name", name or "", ScopeRule.name)
    if not name:
        raise InputError(f"{w}name must be 1 to {NAME_MAX} characters")
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
            f"{w}subject must be TYPE:REF, e.g. organization:inzai-fm, got {subject!r}"
        )
    stype, sref = (p.strip() for p in subject.split(":", 1))
    if stype not in SCOPE_SUBJECTS:
        raise InputError(
            f"{w}subject type must be one of {', '.join(SCOPE_SUBJECTS)}, got {stype!r}"
        )
    if (
        stype == "organization"
        and not session.execute(select(Organization.id).where(Organization.code == sref)).first()
    ):
        raise InputError(f"{w}no organisation {sref!r}")
    if (
        stype == "account"
        and not session.execute(select(Account.id).where(Account.login_id == sref)).first()
    ):
        raise InputError(f"{w}no account {sref!r}")
    if stype == "role" and sref not in ("admin", "monitor", "operator"):
        raise InputError(f"{w}role must be admin, monitor or operator, got {sref!r}")
    acts = _split(actions)
    bad = [a for a in acts if a not in SCOPE_ACTIONS]
    if not acts or bad:
        raise InputError(
            f"{w}actions must be some of {', '.join(SCOPE_ACTIONS)}"
            + (f", got {', '.join(bad)}" if bad else "")
        )
    if resource not in SCOPE_RESOURCES:
        raise InputError(f"{w}resource must be registrants or bookings, got {resource!r}")
    if bool(facility) == bool(category):
        raise InputError(f"{w}give exactly one of facility or category")
    if facility:
        try:
            facility_by_code(session, facility)
        except NotFound as exc:
            raise InputError(f"{w}{exc}") from None
    if category and session.get(FacilityCategory, category) is None:
        raise InputError(f"{w}no facility category {category!r}")
    flds = _split(fields) or None
    if flds:
        badf = [f for f in flds if f not in FIELD_NAMES]
        if badf:
            raise InputError(
                f"{w}fields must be some of {', '.join(FIELD_NAMES)}, got {', '.join(badf)}"
            )
    vf = _date(valid_from, f"{w}valid_from")
    vu = _date(valid_until, f"{w}valid_until")
    if vf and vu and vu < vf:
        raise InputError(f"{w}valid_until is before valid_from")
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


def list_rules(session: Session, actor: Actor | None) -> list[dict[str, Any]]:
    require_role(actor, "admin", "monitor", action="scope.list")
    rules = session.execute(select(ScopeRule).order_by(ScopeRule.name)).scalars()
    return [spec_of(r).display() | {"source": r.source} for r in rules]


def _insert(session: Session, spec: RuleSpec, source: str) -> None:
    session.add(ScopeRule(**spec.row(), source=source, created_at=clock.now()))


def add_rule(session: Session, actor: Actor | None, spec: RuleSpec) -> dict[str, Any]:
    actor = require_role(actor, "admin", action="scope.add")
    if session.execute(select(ScopeRule.id).where(ScopeRule.name == spec.name)).first():
        raise Conflict(f"a scope rule named {spec.name!r} already exists")
    _insert(session, spec, "cli")
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
    rule = session.execute(select(ScopeRule).where(ScopeRule.name == name)).scalar_one_or_none()
    if rule is None:
        raise NotFound(f"no scope rule named {name!r}")
    spec = spec_of(rule)
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
    d = spec.display()
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
        raise NotFound(f"no account {login_id!r}")
    fac = facility_by_code(session, facility)
    if action != access.DUPLICATE_CHECK and action not in SCOPE_ACTIONS:
        raise InputError(
            f"--action must be one of {', '.join((*SCOPE_ACTIONS, access.DUPLICATE_CHECK))}"
        )
    if resource not in SCOPE_RESOURCES:
        raise InputError("--resource must be registrants or bookings")
    d = access.decide(session, acc.id, action, resource, fac.id, on)
    return {
        "account": login_id,
        "action": action,
        "resource": resource,
        "facility": facility,
        "on": on,
        "decision": "allow" if d.allowed else "deny",
        "decided_by": d.rule
        and f"rule {d.rule}"
        or (f"period {d.period_id}" if d.period_id else "default deny"),
        "fields": ",".join(sorted(d.fields)) if d.fields else "(all)" if d.allowed else "",
        "reason": d.reason,
    }


# --- policy files --------------------------------------------------------------------


def read_policy(session: Session, path: Path) -> list[RuleSpec]:
    """Parse and validate a TOML policy file; errors name the file and the rule."""
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML: {exc}") from None
    unknown_top = sorted(set(data) - {"rule", "version"})
    if unknown_top:
        raise InputError(f"{path}: unknown key(s) {', '.join(unknown_top)} (expected [[rule]])")
    if data.get("version", 1) != 1:
        raise InputError(f"{path}: version must be 1")
    rules = data.get("rule", [])
    if not isinstance(rules, list):
        raise InputError(f"{path}: rule must be an array of tables ([[rule]])")
    specs: list[RuleSpec] = []
    seen: set[str] = set()
    for i, entry in enumerate(rules, 1):
        where = f"{path}: rule {i}"
        if not isinstance(entry, dict):
            raise InputError(f"{where}: must be a table")
        name = entry.get("name")
        if (
            isinstance(name, str)
            and name.strip()
            and len(name) <= NAME_MAX
            and control_problem(name) is None
        ):
            where += f" ({name.strip()})"  # only a name that may be shown
        unknown = sorted(set(entry) - RULE_KEYS)
        if unknown:
            raise InputError(f"{where}: unknown key(s) {', '.join(unknown)}")
        for req in ("name", "subject", "actions", "resource"):
            if req not in entry:
                raise InputError(f"{where}: missing {req}")
        _check_types(entry, where)
        spec = make_spec(
            session,
            name=entry["name"],
            subject=entry["subject"],
            actions=entry["actions"],
            resource=entry["resource"],
            facility=entry.get("facility"),
            category=entry.get("category"),
            fields=entry.get("fields"),
            purpose=entry.get("purpose"),
            valid_from=entry.get("valid_from"),
            valid_until=entry.get("valid_until"),
            where=where,
        )
        if spec.name in seen:
            raise InputError(f"{where}: duplicate rule name {spec.name!r}")
        seen.add(spec.name)
        specs.append(spec)
    return specs


def _toml_type(value: Any) -> str:
    """A TOML value's type, as a person who wrote the file would name it."""
    if isinstance(value, bool):
        return "a boolean"
    for kind, said in (
        (int, "an integer"),
        (float, "a number"),
        (str, "text"),
        (list, "an array"),
        (dict, "a table"),
        (dt.datetime, "a date and time"),
        (dt.date, "a date"),
        (dt.time, "a time"),
    ):
        if isinstance(value, kind):
            return said
    return type(value).__name__


def _check_types(entry: dict[str, Any], where: str) -> None:
    """Refuse a key whose value has the wrong TOML type, naming the file, rule and key."""
    for key, value in entry.items():
        allowed = KEY_TYPES[key]
        wanted = " or ".join(
            {str: "text", list: "an array of text", dt.date: "a date"}[t] for t in allowed
        )
        if (isinstance(value, bool) or not isinstance(value, allowed)) or (
            isinstance(value, list) and not all(isinstance(v, str) for v in value)
        ):
            got = _toml_type(value)
            if isinstance(value, list) and list in allowed:
                bad = next(v for v in value if not isinstance(v, str))
                got = f"an array holding {_toml_type(bad)}"
            raise InputError(f"{where}: {key} must be {wanted}, got {got}")


@dataclass
class Plan:
    add: list[RuleSpec] = field(default_factory=list)
    change: list[tuple[RuleSpec, RuleSpec]] = field(default_factory=list)
    remove: list[RuleSpec] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    gained: list[dict[str, Any]] = field(default_factory=list)
    lost: list[dict[str, Any]] = field(default_factory=list)
    on: dt.date | None = None

    @property
    def empty(self) -> bool:
        return not (self.add or self.change or self.remove)

    def rows(self) -> list[dict[str, Any]]:
        """One row per rule change, then one per access change."""
        out: list[dict[str, Any]] = []
        for s in self.add:
            out.append({"change": "+ rule", "what": s.name, "detail": _describe(s)})
        for old, new in self.change:
            diffs = [
                f"{k}: {old.row()[k]} -> {new.row()[k]}"
                for k in old.row()
                if old.row()[k] != new.row()[k]
            ]
            out.append({"change": "~ rule", "what": new.name, "detail": "; ".join(diffs)})
        for s in self.remove:
            out.append({"change": "- rule", "what": s.name, "detail": _describe(s)})
        for g in self.gained:
            out.append({"change": "+ access", "what": g["account"], "detail": _acc(g)})
        for g in self.lost:
            out.append({"change": "- access", "what": g["account"], "detail": _acc(g)})
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "on": self.on.isoformat() if self.on else None,
            "add": [s.name for s in self.add],
            "change": [n.name for _, n in self.change],
            "remove": [s.name for s in self.remove],
            "unchanged": self.unchanged,
            "access_gained": self.gained,
            "access_lost": self.lost,
        }


def _describe(s: RuleSpec) -> str:
    d = s.display()
    when = f" valid {d['valid_from'] or 'open'} to {d['valid_until'] or 'open'}"
    where = f"{d['resource']} at {d['facilities']} fields {d['fields']}"
    return f"{d['subject']} {d['actions']} {where}{when}"


def _acc(g: dict[str, Any]) -> str:
    return f"{g['action']} {g['resource']} at {g['facility']}"


def _all_access(session: Session, on: dt.date) -> set[tuple[str, str, str, str]]:
    accounts = session.execute(
        select(Account.id, Account.login_id).where(Account.status == "active")
    ).all()
    codes = {int(i): c for i, c in session.execute(select(Facility.id, Facility.code))}
    out: set[tuple[str, str, str, str]] = set()
    for aid, login in accounts:
        for fid, action, resource in access.effective_access(session, aid, on):
            out.add((login, codes[fid], action, resource))
    return out


def _current(session: Session) -> dict[str, RuleSpec]:
    return {r.name: spec_of(r) for r in session.execute(select(ScopeRule)).scalars()}


def _write(session: Session, plan: Plan) -> None:
    for s in plan.remove:
        session.execute(delete(ScopeRule).where(ScopeRule.name == s.name))
    for _old, new in plan.change:
        session.execute(
            update(ScopeRule).where(ScopeRule.name == new.name).values(**new.row(), source="policy")
        )
    for s in plan.add:
        _insert(session, s, "policy")
    session.flush()


def plan_policy(
    session: Session, actor: Actor | None, path: Path, on: dt.date | None = None
) -> Plan:
    """The difference between the database's rules and the policy file, without writing."""
    require_role(actor, "admin", action="scope.plan")
    return _plan(session, path, on or clock.today(), keep=False)


def _plan(session: Session, path: Path, on: dt.date, *, keep: bool) -> Plan:
    wanted = {s.name: s for s in read_policy(session, path)}
    current = _current(session)
    plan = Plan(on=on)
    for name, spec in sorted(wanted.items()):
        if name not in current:
            plan.add.append(spec)
        elif current[name] != spec:
            plan.change.append((current[name], spec))
        else:
            plan.unchanged.append(name)
    plan.remove = [current[n] for n in sorted(set(current) - set(wanted))]
    if plan.empty:
        return plan
    before = _all_access(session, on)
    # compute access after the change inside a savepoint, then undo it (plan) or keep it
    nested = session.begin_nested()
    _write(session, plan)
    after = _all_access(session, on)
    if keep:
        nested.commit()
    else:
        nested.rollback()

    def rows(items: set[tuple[str, str, str, str]]) -> list[dict[str, Any]]:
        return [
            {"account": a, "facility": f, "action": ac, "resource": r}
            for a, f, ac, r in sorted(items)
        ]

    plan.gained = rows(after - before)
    plan.lost = rows(before - after)
    return plan


def apply_policy(
    session: Session, actor: Actor | None, path: Path, on: dt.date | None = None
) -> Plan:
    """Make the rules match the policy file, in the caller's transaction, audited."""
    actor = require_role(actor, "admin", action="scope.apply")

    plan = _plan(session, path, on or clock.today(), keep=True)
    audit.record(
        session,
        actor,
        "scope.apply",
        resource_type="scope_policy",
        resource_id=path.name,
        detail={
            "file_sha256": file_sha256(path),
            "added": [s.name for s in plan.add],
            "changed": [n.name for _, n in plan.change],
            "removed": [s.name for s in plan.remove],
            "access_gained": len(plan.gained),
            "access_lost": len(plan.lost),
            "noop": plan.empty,
        },
    )
    return plan


__all__ = [
    "Plan",
    "RuleSpec",
    "add_rule",
    "apply_policy",
    "asdict",
    "explain",
    "list_rules",
    "make_spec",
    "plan_policy",
    "read_policy",
    "remove_rule",
]
