"""Policy files for scope rules: ``scope plan`` and ``scope apply``.

A policy file (TOML, read with the standard library's ``tomllib``) is the whole
desired set of scope rules, of both kinds (access rules and the duplicate-check
exception): ``scope plan`` shows the rules it would add, change and remove and
the effective access (account x facility x action x resource) gained and lost,
without writing; ``scope apply`` makes the same change in one transaction,
audited, and does nothing when the database already matches.  See
docs/guide-scope.md for the format.  Each rule is validated by
``rules.make_spec``, the same as ``scope add``.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update

from resv_cli.access import decide as access
from resv_cli.access.rules import (
    ACCESS,
    DUPLICATE_CHECK_KIND,
    KEY_TYPES,
    NAME_MAX,
    RULE_KEYS,
    RuleSpec,
    insert_rule,
    make_spec,
    stored_rules,
    table_of,
)
from resv_cli.audit import chain as audit
from resv_cli.core import clock
from resv_cli.core.context import require_role
from resv_cli.core.errors import InputError
from resv_cli.core.files import file_sha256
from resv_cli.core.i18n import NC_, _, pgettext
from resv_cli.core.models import Account, Facility
from resv_cli.core.normalize import control_problem

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from resv_cli.core.context import Actor


def read_policy(session: Session, path: Path) -> list[RuleSpec]:
    """Parse and validate a TOML policy file; errors name the file and the rule."""
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except UnicodeDecodeError:
        raise InputError(_("{path}: not UTF-8 text").format(path=path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(
            _("{path}: not valid TOML: {problem}").format(path=path, problem=exc)
        ) from None
    unknown_top = sorted(set(data) - {"rule", "version"})
    if unknown_top:
        raise InputError(
            _("{path}: unknown key(s) {keys} (expected [[rule]])").format(
                path=path, keys=", ".join(unknown_top)
            )
        )
    if data.get("version", 1) != 1:
        raise InputError(_("{path}: version must be 1").format(path=path))
    rules = data.get("rule", [])
    if not isinstance(rules, list):
        raise InputError(_("{path}: rule must be an array of tables ([[rule]])").format(path=path))
    specs: list[RuleSpec] = []
    seen: set[str] = set()
    for i, entry in enumerate(rules, 1):
        where = _("{path}: rule {n}").format(path=path, n=i)
        if not isinstance(entry, dict):
            raise InputError(_("{where}: must be a table").format(where=where))
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
            raise InputError(
                _("{where}: unknown key(s) {keys}").format(where=where, keys=", ".join(unknown))
            )
        _check_types(entry, where)
        kind = str(entry.get("kind", ACCESS)).replace("-", "_")
        required = ("name", "subject", "purpose") if kind == DUPLICATE_CHECK_KIND else (
            "name", "subject", "actions", "resource"
        )  # fmt: skip
        for req in required:
            if req not in entry:
                raise InputError(_("{where}: missing {key}").format(where=where, key=req))
        spec = make_spec(
            session,
            kind=kind,
            name=entry["name"],
            subject=entry["subject"],
            actions=entry.get("actions", ""),
            resource=entry.get("resource", "registrants"),
            facility=entry.get("facility"),
            category=entry.get("category"),
            fields=entry.get("fields"),
            purpose=entry.get("purpose"),
            valid_from=entry.get("valid_from"),
            valid_until=entry.get("valid_until"),
            where=where,
        )
        if spec.name in seen:
            raise InputError(
                _("{where}: duplicate rule name {name!r}").format(where=where, name=spec.name)
            )
        seen.add(spec.name)
        specs.append(spec)
    return specs


def _toml_type(value: Any) -> str:
    """A TOML value's type, as a person who wrote the file would name it."""
    if isinstance(value, bool):
        return pgettext("toml", "a boolean")
    for kind, said in (
        (int, NC_("toml", "an integer")),
        (float, NC_("toml", "a number")),
        (str, NC_("toml", "text")),
        (list, NC_("toml", "an array")),
        (dict, NC_("toml", "a table")),
        (dt.datetime, NC_("toml", "a date and time")),
        (dt.date, NC_("toml", "a date")),
        (dt.time, NC_("toml", "a time")),
    ):
        if isinstance(value, kind):
            return pgettext("toml", said)
    return type(value).__name__


# the types a key allows, as a person who wrote the file would name them
_WANTED = {
    str: NC_("toml", "text"),
    list: NC_("toml", "an array of text"),
    dt.date: NC_("toml", "a date"),
}


def _check_types(entry: dict[str, Any], where: str) -> None:
    """Refuse a key whose value has the wrong TOML type, naming the file, rule and key."""
    for key, value in entry.items():
        allowed = KEY_TYPES[key]
        wanted = _(" or ").join(pgettext("toml", _WANTED[t]) for t in allowed)
        if (isinstance(value, bool) or not isinstance(value, allowed)) or (
            isinstance(value, list) and not all(isinstance(v, str) for v in value)
        ):
            got = _toml_type(value)
            if isinstance(value, list) and list in allowed:
                bad = next(v for v in value if not isinstance(v, str))
                got = _("an array holding {type}").format(type=_toml_type(bad))
            raise InputError(
                _("{where}: {key} must be {wanted}, got {got}").format(
                    where=where, key=key, wanted=wanted, got=got
                )
            )


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
            out.append({"change": _("+ rule"), "what": s.name, "detail": _describe(s)})
        for old, new in self.change:
            diffs = [
                f"{k}: {old.row()[k]} -> {new.row()[k]}"
                for k in old.row()
                if old.row()[k] != new.row()[k]
            ]
            out.append({"change": _("~ rule"), "what": new.name, "detail": "; ".join(diffs)})
        for s in self.remove:
            out.append({"change": _("- rule"), "what": s.name, "detail": _describe(s)})
        for g in self.gained:
            out.append({"change": _("+ access"), "what": g["account"], "detail": _acc(g)})
        for g in self.lost:
            out.append({"change": _("- access"), "what": g["account"], "detail": _acc(g)})
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "on": self.on.isoformat() if self.on else None,
            "add": [s.name for s in self.add],
            "change": [n.name for _old, n in self.change],
            "remove": [s.name for s in self.remove],
            "unchanged": self.unchanged,
            "access_gained": self.gained,
            "access_lost": self.lost,
        }


def _describe(s: RuleSpec) -> str:
    d = s.display()
    return _(
        "{subject} {actions} {resource} at {facilities} fields {fields} valid {start} to {end}"
    ).format(
        subject=d["subject"],
        actions=d["actions"],
        resource=d["resource"],
        facilities=d["facilities"],
        fields=d["fields"],
        start=d["valid_from"] or _("open"),
        end=d["valid_until"] or _("open"),
    )


def _acc(g: dict[str, Any]) -> str:
    return _("{action} {resource} at {facility}").format(
        action=g["action"], resource=g["resource"], facility=g["facility"]
    )


def _all_access(session: Session, on: dt.date) -> set[tuple[str, str, str, str]]:
    accounts = session.execute(
        select(Account.id, Account.login_id).where(Account.status == "active")
    ).all()
    codes = {int(i): c for i, c in session.execute(select(Facility.id, Facility.code))}
    out: set[tuple[str, str, str, str]] = set()
    for aid, login in accounts:
        for fid, action, resource in access.effective_access(session, aid, on):
            out.add((login, codes[fid], action, resource))
        # the purpose-bound duplicate check, where it reaches
        for (fid,) in session.execute(access.duplicate_check_scope(session, int(aid), on)):
            out.add((login, codes[int(fid)], access.DUPLICATE_CHECK, "registrants"))
    return out


def _current(session: Session) -> dict[str, RuleSpec]:
    return {spec.name: spec for spec, _row in stored_rules(session)}


def _write(session: Session, plan: Plan) -> None:
    for s in plan.remove:
        session.execute(delete(table_of(s)).where(table_of(s).name == s.name))
    for old, new in plan.change:
        if old.kind != new.kind:  # another kind lives in another table
            session.execute(delete(table_of(old)).where(table_of(old).name == old.name))
            insert_rule(session, new, "policy")
            continue
        session.execute(
            update(table_of(new))
            .where(table_of(new).name == new.name)
            .values(**new.table_row(), source="policy")
        )
    for s in plan.add:
        insert_rule(session, s, "policy")
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
            "changed": [n.name for _old, n in plan.change],
            "removed": [s.name for s in plan.remove],
            "access_gained": len(plan.gained),
            "access_lost": len(plan.lost),
            "noop": plan.empty,
        },
    )
    return plan
