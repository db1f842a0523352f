"""The one access layer for registrants and bookings (default deny).

Every read and write of ``registrants``, ``bookings`` and ``certificates`` goes
through this module: services in ``registrants.py`` and ``bookings.py`` ask it
either for a *decision* about one facility (``decide``) or for a *SQL filter*
(``permitted_facilities``) that they put in their query's WHERE clause, so a list,
a search or a count never fetches a row outside the caller's scope.

Where access comes from, on the day ``on`` of the action (the city's calendar day):

1. **Management periods** (管理期間) **at the places of work** (所属施設).  An
   *operator* account acts on the facilities its organisation manages that day
   (``resv_cli.core.management``: the facility's own period, else its parent's,
   else its grandparent's) *and* that are one of its places of work or lie inside
   one (a centre's rooms, a complex's centres): each person handles only the
   registrants of where they work, as the board asked.  The organisation-wide
   grant (``Account.all_managed_facilities``, explicit and audited) lifts the
   second condition.  Admin and monitor accounts get nothing from management:
   the city's administrators and monitors see no personal data unless an
   explicit rule says so.
2. **Scope rules** (利用範囲).  A rule names a subject (organisation code, login ID
   or role), actions, a resource, facilities (one code, which covers that
   facility's rooms too, or a category), optionally the only fields it reveals,
   and validity dates (inclusive).  Rules grant; nothing subtracts.
3. Everything else is denied.  An account whose own validity dates do not cover
   the day gets nothing.  An exception while deciding denies.

The purpose-bound duplicate check (``duplicate_check_decision``,
``duplicate_check_scope``) is separate: nobody has it unless city IT grants a
duplicate-check rule (``DuplicateCheckRule``) to a facility; then operators whose
place of work is that facility, while their organisation manages it, may check
the senior categories the rule names, and see only match / facility /
certificate number and date.  The opinion grants it to 中央老人福祉センター.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    Date,
    Select,
    and_,
    bindparam,
    false,
    func,
    literal,
    or_,
    select,
    true,
)

from resv_cli.core.i18n import _
from resv_cli.core.management import facility_tree, manager_expr, managing_period
from resv_cli.core.models import (
    SCOPE_ACTIONS,
    SCOPE_RESOURCES,
    Account,
    AccountWorkplace,
    DuplicateCheckRule,
    Facility,
    FacilityCategory,
    Organization,
    ScopeRule,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from resv_cli.core.context import Actor

ACTIONS = SCOPE_ACTIONS
RESOURCES = SCOPE_RESOURCES
# role that acts on the facilities its organisation manages
MANAGING_ROLE = "operator"
DUPLICATE_CHECK = "check_duplicate"

# How often each entry point was consulted in this process.  The test that walks
# every registrant/booking command asserts each one moved this counter.
CONSULTED: Counter[str] = Counter()

# TEST ONLY (tests/test_rls_property.py): True makes the scope filters (scope_filter,
# permitted_facilities) filter nothing, so that PostgreSQL's row-level security alone
# decides which rows a query returns; decisions (decide) and the duplicate check's
# own scope stay.
# Nothing in resv sets it, no option, setting or environment variable reaches it, and
# it refuses to work unless pytest is loaded (``_unfiltered``).
UNFILTERED_FOR_TESTS = False


def _unfiltered() -> bool:
    if not UNFILTERED_FOR_TESTS:
        return False
    import sys

    if "pytest" not in sys.modules:  # never in production, whatever set it
        raise RuntimeError("the scope filter can be switched off only in the test suite")
    return True


@dataclass(frozen=True)
class Decision:
    """The answer for one (account, action, resource, facility, day)."""

    allowed: bool
    reason: str
    source: str = "none"  # "period", "rule", "exception" or "none"
    rule: str | None = None
    period_id: int | None = None
    fields: frozenset[str] | None = None  # None: every field


@dataclass(frozen=True)
class Subject:
    """What the access layer needs to know about an account."""

    account_id: int
    login_id: str
    organization_id: int
    organization_code: str
    role: str
    facility_id: int | None
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None
    status: str = "active"
    # places of work (所属施設): the first place and every row of account_workplaces
    places: frozenset[int] = frozenset()
    # the explicit organisation-wide grant (every facility the organisation manages)
    all_managed: bool = False


def subject_of(session: Session, actor: Actor | int) -> Subject:
    """Load the account behind an actor (or an account id): validity, places of work."""
    account_id = actor if isinstance(actor, int) else actor.account_id
    row = session.execute(
        select(Account, Organization.code)
        .join(Organization, Organization.id == Account.organization_id)
        .where(Account.id == account_id)
    ).one()
    acc, org_code = row
    places = {
        int(f)
        for (f,) in session.execute(
            select(AccountWorkplace.facility_id).where(AccountWorkplace.account_id == acc.id)
        )
    }
    if acc.facility_id is not None:
        places.add(int(acc.facility_id))
    return Subject(
        account_id=acc.id,
        login_id=acc.login_id,
        organization_id=acc.organization_id,
        organization_code=org_code,
        role=acc.role,
        facility_id=acc.facility_id,
        valid_from=acc.valid_from,
        valid_until=acc.valid_until,
        status=acc.status,
        places=frozenset(places),
        all_managed=bool(acc.all_managed_facilities),
    )


def _account_valid_on(subj: Subject, on: dt.date) -> bool:
    if subj.status != "active":
        return False
    if subj.valid_from is not None and on < subj.valid_from:
        return False
    return subj.valid_until is None or on <= subj.valid_until


# --- SQL building blocks -------------------------------------------------------------

# who manages a facility on a day is resv_cli.core.management's rule (manager_expr,
# managing_period), shared with facilities and reports


def _rule_subject_matches(subj: Subject) -> ColumnElement[bool]:
    return or_(
        and_(
            ScopeRule.subject_type == "organization",
            ScopeRule.subject_ref == subj.organization_code,
        ),
        and_(ScopeRule.subject_type == "account", ScopeRule.subject_ref == subj.login_id),
        and_(ScopeRule.subject_type == "role", ScopeRule.subject_ref == subj.role),
    )


def _rule_action_matches(action: str) -> ColumnElement[bool]:
    # actions are stored comma-separated without spaces ("view,search")
    return (literal(",") + ScopeRule.actions + literal(",")).contains(f",{action},")


def _rule_valid_on(on: dt.date) -> ColumnElement[bool]:
    return and_(
        or_(ScopeRule.valid_from.is_(None), ScopeRule.valid_from <= on),
        or_(ScopeRule.valid_until.is_(None), ScopeRule.valid_until >= on),
    )


def _rule_targets(f: Any, p: Any) -> ColumnElement[bool]:
    """The rule names this facility: by its code, its parent's code, or its category."""
    return or_(
        ScopeRule.facility_code == f.code,
        and_(p.code.is_not(None), ScopeRule.facility_code == p.code),
        ScopeRule.facility_category == f.category,
    )


def _matching_rules(subj: Subject, action: str, resource: str, on: dt.date, f: Any, p: Any) -> Any:
    return and_(
        _rule_subject_matches(subj),
        _rule_action_matches(action),
        ScopeRule.resource == resource,
        _rule_valid_on(on),
        _rule_targets(f, p),
    )


def _check_names(action: str, resource: str) -> None:
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if resource not in RESOURCES:
        raise ValueError(f"unknown resource {resource!r}")


def _within(f: Any, p: Any, g: Any, places: Any) -> ColumnElement[bool]:
    """SQL: the facility is one of ``places`` or lies inside one (a room, a centre)."""
    return or_(f.id.in_(places), p.id.in_(places), g.id.in_(places))


@functools.cache
def _permitted_template(managing: bool, everywhere: bool = False) -> Select[Any]:
    """The permitted-facilities SELECT with bind parameters, built once per shape.

    Building SQLAlchemy expressions costs more than running this query, so the
    statement is built once and executed with the subject's values.  ``managing``:
    an operator, who gets what its organisation manages at its places of work
    (``everywhere``: the organisation-wide grant, every facility it manages).
    """
    on: Any = bindparam("on", type_=Date())
    f, p, g, base = facility_tree()
    by_period: ColumnElement[bool] = false()
    if managing:
        by_period = manager_expr(f, p, g, on) == bindparam("org_id")
        if not everywhere:
            by_period = and_(by_period, _within(f, p, g, bindparam("places", expanding=True)))
    rules = and_(
        or_(
            and_(
                ScopeRule.subject_type == "organization",
                ScopeRule.subject_ref == bindparam("org_code"),
            ),
            and_(ScopeRule.subject_type == "account", ScopeRule.subject_ref == bindparam("login")),
            and_(ScopeRule.subject_type == "role", ScopeRule.subject_ref == bindparam("role")),
        ),
        (literal(",") + ScopeRule.actions + literal(",")).contains(bindparam("action_pat")),
        ScopeRule.resource == bindparam("resource"),
        _rule_valid_on(on),
        _rule_targets(f, p),
    )
    return base.where(or_(by_period, select(ScopeRule.id).where(rules).exists()))


def _permitted(
    session: Session, actor: Actor | Subject | int, action: str, resource: str, on: dt.date
) -> tuple[Select[Any], dict[str, Any]]:
    CONSULTED["filter"] += 1
    _check_names(action, resource)
    subj = actor if isinstance(actor, Subject) else subject_of(session, actor)
    if not _account_valid_on(subj, on):
        return facility_tree()[3].where(false()), {}
    values = {
        "on": on,
        "org_id": subj.organization_id,
        "org_code": subj.organization_code,
        "login": subj.login_id,
        "role": subj.role,
        "action_pat": f",{action},",
        "resource": resource,
    }
    managing = subj.role == MANAGING_ROLE
    if not managing:
        del values["org_id"]
    elif not subj.all_managed:
        values["places"] = sorted(subj.places)
    return _permitted_template(managing, subj.all_managed), values


def permitted_facilities(
    session: Session, actor: Actor | Subject | int, action: str, resource: str, on: dt.date
) -> Select[Any]:
    """Return ``SELECT facilities.id`` of every facility where the action is allowed.

    Use it as ``Registrant.facility_id.in_(permitted_facilities(...))``: the
    filter runs inside the caller's query, so rows outside scope are never read.
    """
    stmt, values = _permitted(session, actor, action, resource, on)
    if _unfiltered():
        return select(Facility.id)
    return stmt.params(**values) if values else stmt


def scope_filter(
    session: Session,
    actor: Actor | Subject | int,
    action: str,
    resource: str,
    on: dt.date,
    facility_id_col: Any,
    *,
    inline: bool = False,
) -> ColumnElement[bool]:
    """WHERE clause: ``facility_id_col`` is a facility where the action is allowed.

    By default the permitted facility ids are resolved first (one small query over
    the facilities, never over personal data) and bound as an ``IN`` list: both
    planners then seek the ``(facility_id, name_key)`` index per facility, which
    keeps a scoped search over a million registrants in milliseconds.  With
    ``inline=True`` the rule is a subquery of the same statement instead.
    Either way no row outside scope is fetched.
    """
    if inline:
        return facility_id_col.in_(permitted_facilities(session, actor, action, resource, on))
    if _unfiltered():
        return true()
    stmt, values = _permitted(session, actor, action, resource, on)
    ids = [int(i) for (i,) in session.execute(stmt, values)]
    if not ids:
        return false()
    return facility_id_col.in_(ids)


# --- decisions ----------------------------------------------------------------------


def decide(
    session: Session,
    actor: Actor | Subject | int,
    action: str,
    resource: str,
    facility_id: int,
    on: dt.date,
) -> Decision:
    """Decide one action on one facility's records; any error while deciding denies."""
    CONSULTED["decide"] += 1
    try:
        return _decide(session, actor, action, resource, facility_id, on)
    except Exception as exc:  # noqa: BLE001 - an error must deny, never allow
        return _error_decision(exc)


def _error_decision(exc: Exception) -> Decision:
    return Decision(
        False, _("denied: error while deciding ({name})").format(name=type(exc).__name__)
    )


def _not_valid(subj: Subject, on: dt.date) -> Decision:
    return Decision(
        False,
        _("denied: account {login} is not valid on {on}").format(login=subj.login_id, on=on),
    )


def _decide(
    session: Session,
    actor: Actor | Subject | int,
    action: str,
    resource: str,
    facility_id: int,
    on: dt.date,
) -> Decision:
    subj = actor if isinstance(actor, Subject) else subject_of(session, actor)
    if action == DUPLICATE_CHECK:
        return duplicate_check_decision(session, subj, facility_id, on)
    _check_names(action, resource)
    if not _account_valid_on(subj, on):
        return _not_valid(subj, on)
    fac = session.get(Facility, facility_id)
    if fac is None:
        return Decision(False, _("denied: no such facility"))
    full_grant: Decision | None = None
    narrow: list[Decision] = []
    not_here: str | None = None  # why management gives nothing at this facility
    if subj.role == MANAGING_ROLE:
        period = managing_period(session, facility_id, on)
        if period is not None and period.organization_id == subj.organization_id:
            where = session.get(Facility, period.facility_id)
            until = period.valid_until.isoformat() if period.valid_until else _("open-ended")
            via = (
                ""
                if period.facility_id == facility_id
                else _(" (via {code})").format(code=where.code if where else "?")
            )
            managed = _("{org} manages {facility}{via} from {start} to {end} (period {period})")
            managed = managed.format(
                org=subj.organization_code,
                facility=fac.code,
                via=via,
                start=period.valid_from,
                end=until,
                period=period.id,
            )
            place = _place_of_work(session, subj, fac)
            if subj.all_managed or place is not None:
                whose = (
                    _("organisation-wide grant of {login}").format(login=subj.login_id)
                    if place is None
                    else _("{place} is a place of work of {login}").format(
                        place=place, login=subj.login_id
                    )
                )
                full_grant = Decision(
                    True,
                    _("allowed: {managed}; {whose}").format(managed=managed, whose=whose),
                    source="period",
                    period_id=period.id,
                )
            else:
                not_here = _(
                    "{managed}, but {facility} is not a place of work of {login} "
                    "(places of work: {places})"
                ).format(
                    managed=managed,
                    facility=fac.code,
                    login=subj.login_id,
                    places=_place_codes(session, subj) or _("none"),
                )
    f, p, _g, base = facility_tree()
    rules = (
        session.execute(
            base.with_only_columns(ScopeRule)
            .join(ScopeRule, _matching_rules(subj, action, resource, on, f, p))
            .where(f.id == facility_id)
            .order_by(ScopeRule.name)
        )
        .scalars()
        .all()
    )
    for rule in rules:
        fields = frozenset(f for f in (rule.fields or "").split(",") if f) or None
        at = rule.facility_code or _("category {code}").format(code=rule.facility_category)
        d = Decision(
            True,
            _(
                "allowed: rule {rule} ({subject_type} {subject}, {actions} on {resource} at {at})"
            ).format(
                rule=rule.name,
                subject_type=rule.subject_type,
                subject=rule.subject_ref,
                actions=rule.actions,
                resource=rule.resource,
                at=at,
            ),
            source="rule",
            rule=rule.name,
            fields=fields,
        )
        if fields is None and full_grant is None:
            full_grant = d
        elif fields is not None:
            narrow.append(d)
    if full_grant is not None:
        return full_grant
    if narrow:
        merged = frozenset().union(*(d.fields or frozenset() for d in narrow))
        first = narrow[0]
        return Decision(True, first.reason, "rule", first.rule, None, merged)
    manager = managing_period(session, facility_id, on)
    if not_here is not None:
        why = _("{not_here}, and no rule matches").format(not_here=not_here)
    elif subj.role != MANAGING_ROLE:
        why = _(
            "the {role} role gets no {resource} from management periods and no rule matches"
        ).format(role=subj.role, resource=resource)
    elif manager is None:
        why = _("no organisation manages {facility} on {on} and no rule matches").format(
            facility=fac.code, on=on
        )
    else:
        org = session.get(Organization, manager.organization_id)
        why = _(
            "{facility} is managed by {manager} on {on} (period {period}), not {org}, "
            "and no rule matches"
        ).format(
            facility=fac.code,
            manager=org.code if org else "?",
            on=on,
            period=manager.id,
            org=subj.organization_code,
        )
    return Decision(False, _("denied (default): {why}").format(why=why))


def _place_of_work(session: Session, subj: Subject, fac: Facility) -> str | None:
    """The code of the place of work ``fac`` is (or lies inside), or None."""
    current: Facility | None = fac
    for _level in range(3):
        if current is None:
            return None
        if current.id in subj.places:
            return current.code
        current = session.get(Facility, current.parent_id) if current.parent_id else None
    return None


def _place_codes(session: Session, subj: Subject) -> str:
    if not subj.places:
        return ""
    codes = session.execute(select(Facility.code).where(Facility.id.in_(subj.places))).scalars()
    return ", ".join(sorted(codes))


def has_narrow_rules(
    session: Session, actor: Actor | Subject | int, action: str, resource: str, on: dt.date
) -> bool:
    """Whether any field-limited rule could apply to this account (else grants show all)."""
    CONSULTED["narrow"] += 1
    subj = actor if isinstance(actor, Subject) else subject_of(session, actor)
    q = select(ScopeRule.id).where(
        _rule_subject_matches(subj),
        _rule_action_matches(action),
        ScopeRule.resource == resource,
        _rule_valid_on(on),
        ScopeRule.fields.is_not(None),
    )
    return session.execute(q.limit(1)).first() is not None


def effective_access(session: Session, account_id: int, on: dt.date) -> set[tuple[int, str, str]]:
    """Every (facility_id, action, resource) the account may act on, on ``on``."""
    subj = subject_of(session, account_id)
    out: set[tuple[int, str, str]] = set()
    for resource in RESOURCES:
        for action in ACTIONS:
            ids = session.execute(permitted_facilities(session, subj, action, resource, on))
            out.update((int(fid), action, resource) for (fid,) in ids)
    return out


# --- the duplicate-check exception -------------------------------------------------


def duplicate_check_rules(
    session: Session, subj: Subject, on: dt.date
) -> list[tuple[DuplicateCheckRule, int]]:
    """The duplicate-check rules that apply to this operator today, with their periods.

    A rule applies when one of the account's places of work is the rule's
    facility and the account's organisation manages that facility on ``on``.
    """
    if not subj.places:
        return []
    codes = {
        str(c): int(i)
        for c, i in session.execute(
            select(Facility.code, Facility.id).where(Facility.id.in_(subj.places))
        )
    }
    rules = session.execute(
        select(DuplicateCheckRule)
        .where(
            DuplicateCheckRule.from_facility_code.in_(codes),
            or_(DuplicateCheckRule.valid_from.is_(None), DuplicateCheckRule.valid_from <= on),
            or_(DuplicateCheckRule.valid_until.is_(None), DuplicateCheckRule.valid_until >= on),
        )
        .order_by(DuplicateCheckRule.name)
    ).scalars()
    out = []
    for rule in rules:
        period = managing_period(session, codes[rule.from_facility_code], on)
        if period is not None and period.organization_id == subj.organization_id:
            out.append((rule, int(period.id)))
    return out


def _covered(session: Session, rules: list[DuplicateCheckRule]) -> Select[Any]:
    """SQL: the categories the rules span (a named category, else every senior one)."""
    named = {r.over_category for r in rules if r.over_category}
    senior = any(r.over_category is None for r in rules)
    cond = FacilityCategory.code.in_(sorted(named)) if named else false()
    if senior:
        cond = or_(cond, FacilityCategory.is_senior == true())
    # a duplicate check is about senior certificates: never outside the senior categories
    return select(FacilityCategory.code).where(cond, FacilityCategory.is_senior == true())


def duplicate_check_decision(
    session: Session, actor: Actor | Subject | int, facility_id: int | None, on: dt.date
) -> Decision:
    """May this account run the purpose-bound duplicate check (over ``facility_id``)?

    Only through a duplicate-check rule (``DuplicateCheckRule``) that city IT
    granted to one of the account's places of work, valid on the day, while the
    account's organisation manages that place; the check spans the senior
    categories the rule names.  Nobody has it by default.
    """
    CONSULTED["duplicate_check"] += 1
    try:
        subj = actor if isinstance(actor, Subject) else subject_of(session, actor)
        if not _account_valid_on(subj, on):
            return _not_valid(subj, on)
        if subj.role != MANAGING_ROLE:
            return Decision(False, _("denied: the duplicate check is for operators"))
        if not subj.places:
            return Decision(False, _("denied: the account has no place of work (所属施設)"))
        applicable = duplicate_check_rules(session, subj, on)
        if not applicable:
            return Decision(
                False,
                _(
                    "denied: no duplicate-check rule covers the places of work of {login} "
                    "({places}) managed by {org} on {on}"
                ).format(
                    login=subj.login_id,
                    places=_place_codes(session, subj),
                    org=subj.organization_code,
                    on=on,
                ),
            )
        rules = [r for r, _period in applicable]
        if facility_id is not None:
            target = session.get(Facility, facility_id)
            covered = set(session.execute(_covered(session, rules)).scalars())
            if target is None or target.category not in covered:
                return Decision(
                    False, _("denied: the duplicate check does not span that facility's category")
                )
        rule, period_id = applicable[0]
        over = rule.over_category or _("every senior category")
        return Decision(
            True,
            _(
                "allowed: duplicate-check rule {rule} from {facility} "
                "(managed by {org}, period {period}) over {over}, for {purpose!r}"
            ).format(
                rule=rule.name,
                facility=rule.from_facility_code,
                org=subj.organization_code,
                period=period_id,
                over=over,
                purpose=rule.purpose,
            ),
            source="exception",
            rule=rule.name,
            period_id=period_id,
            fields=frozenset({"facility", "certificate_number", "issued_on"}),
        )
    except Exception as exc:  # noqa: BLE001 - an error must deny
        return _error_decision(exc)


def duplicate_check_scope(
    session: Session, actor: Actor | Subject | int, on: dt.date
) -> Select[Any]:
    """``SELECT facilities.id`` the actor's duplicate check spans today (nothing without a rule)."""
    CONSULTED["duplicate_check_filter"] += 1
    subj = actor if isinstance(actor, Subject) else subject_of(session, actor)
    if not duplicate_check_decision(session, subj, None, on).allowed:
        return select(Facility.id).where(false())
    if session.get_bind().dialect.name == "postgresql":
        # row-level security (access/rls.py): this transaction runs the duplicate check
        session.execute(select(func.set_config("resv.action", DUPLICATE_CHECK, True)))
    rules = [r for r, _period in duplicate_check_rules(session, subj, on)]
    return select(Facility.id).where(Facility.category.in_(_covered(session, rules)))
