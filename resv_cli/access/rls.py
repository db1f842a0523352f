"""Row-level security on PostgreSQL, generated from this access layer (issue 18).

``resv db rls plan|apply`` installs, in the schema of resv's tables, SQL functions
that decide by *reading the same tables* the Python layer reads (accounts and their
places of work, organisations, facilities, management periods, scope rules,
duplicate-check rules), and policies on the tables that hold or reveal personal
data (``registrants``, ``certificates``, ``bookings``) that call them.  The
functions are compiled from the SQL of ``decide.py`` and ``core/management.py``
(the permitted-facilities statement and the management rule), not copied.

- ``resv_rls_facilities(account, actions, resource, day)``: the facilities where
  the account may take one of the actions: for one action, exactly
  ``decide.permitted_facilities``.
- ``resv_rls_duplicate_facilities(account, day)``: what its duplicate check spans
  (``decide.duplicate_check_scope``).
- ``resv_rls_role_facilities(account, table, write, day)``: the role-based grants
  of ``enforce.py`` (the import, the monthly report's masked names, the handover's
  counts): every facility, for the roles and tables ``ROLE_TABLES`` names.
- ``resv_rls_account()``: the acting account.  ``SECURITY DEFINER``, owned by the
  tables' owner, fixed ``search_path``: it hashes ``resv.session_token`` (which
  resv sets per transaction, core/db.py) and returns the account of a live session
  (not ended, not expired) with that token hash, else NULL.  Anyone may set the
  setting, but only the token of a live session acts as its account; another
  account's id, a made-up token or an ended session's token gives no rows.
- ``resv_rls_readable(table)`` / ``resv_rls_writable(table, action)``: what the
  policies call, once per statement: for reading, the union of every action's
  facilities and the role grants; for writing, the one action's and the role
  grants.  ``resv.action`` (``SET LOCAL``) declares what a transaction does: one
  action (``search``...) narrows reading to that action's facilities;
  ``check_duplicate`` adds the duplicate check's, which ``decide.
  duplicate_check_scope`` declares when it hands the check its scope.  So a query
  that forgets its filter returns the account's own rows, never the other
  centres' that only the purpose-bound check may look into.
- ``resv_rls_today()``: the city's calendar day (Asia/Tokyo), as ``clock.today``.
- ``resv_rls_maintenance()``: the owner's explicit maintenance (``SET LOCAL
  resv.maintenance = 'on'`` *and* the current role owns the tables): migrations.

``FORCE ROW LEVEL SECURITY`` makes the policies apply to the tables' owner too:
an owner connection acts through a session like any other, and only declared
maintenance (``db upgrade``) reads every row.  Superusers and BYPASSRLS roles are
never subject to policies (``db grant-runtime-role`` refuses such a runtime role).
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BinaryExpression,
    BindParameter,
    Boolean,
    Date,
    Integer,
    String,
    and_,
    exists,
    literal_column,
    not_,
    or_,
    select,
    text,
    union,
)
from sqlalchemy.sql import visitors

from resv_cli.access import decide
from resv_cli.access.enforce import ADMINISTRATION, GRANT_ROLES, MIGRATION, MONITORING
from resv_cli.core.errors import InputError
from resv_cli.core.i18n import _
from resv_cli.core.management import facility_tree, manager_expr
from resv_cli.core.models import (
    Account,
    AccountWorkplace,
    DuplicateCheckRule,
    Facility,
    FacilityCategory,
    Organization,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from resv_cli.core.context import Actor

TOKEN_SETTING = "resv.session_token"  # noqa: S105 - a setting name, not a secret
ACTION_SETTING = "resv.action"
MAINTENANCE_SETTING = "resv.maintenance"
AUDIT_ACTION = "db.rls_apply"
# table -> (the scope rules' resource, the action that adds a row)
TABLES: dict[str, tuple[str, str]] = {
    "registrants": ("registrants", "register"),
    "certificates": ("registrants", "register"),  # issued under `register` of the registrant
    "bookings": ("bookings", "lend"),
}
# the role-based grants of enforce.py at row level: (table, write) per kind of grant
ROLE_TABLES: dict[str, tuple[tuple[str, bool], ...]] = {
    # the import reads its facility's rows, adds, updates, removes an aborted batch's
    MIGRATION: (("registrants", False), ("registrants", True)),
    MONITORING: (("registrants", False),),  # the monthly report's masked names
    ADMINISTRATION: (("registrants", False), ("bookings", False)),  # the handover's counts
}


@functools.cache
def _dialect() -> Any:
    from sqlalchemy.dialects import postgresql

    return postgresql.dialect(paramstyle="named")  # a literal % stays one %


def _sql(stmt: Any) -> str:
    return str(stmt.compile(dialect=_dialect(), compile_kwargs={"literal_binds": True}))


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _array(values: Any) -> str:
    return "ARRAY[" + ", ".join(_lit(v) for v in values) + "]::text[]"


# --- the function bodies, compiled from the access layer's SQL ----------------------

_P_ON = literal_column("p_on", Date)


def _subject() -> Any:
    """The acting account as decide's ``Subject``, if valid on the day (else no row)."""
    a, o = Account.__table__, Organization.__table__
    return (
        select(
            a.c.id.label("account_id"),
            a.c.login_id.label("login"),
            a.c.organization_id.label("org_id"),
            o.c.code.label("org_code"),
            a.c.role.label("role"),
            a.c.facility_id.label("facility_id"),
            a.c.all_managed_facilities.label("all_managed"),
        )
        .join_from(a, o, o.c.id == a.c.organization_id)
        .where(
            a.c.id == literal_column("p_account", Integer),
            # decide._account_valid_on
            a.c.status == "active",
            or_(a.c.valid_from.is_(None), a.c.valid_from <= _P_ON),
            or_(a.c.valid_until.is_(None), a.c.valid_until >= _P_ON),
        )
        .cte("s")
    )


def _places(s: Any, fid: Any) -> Any:
    """SQL: ``fid`` is a place of work of the subject (decide.subject_of's ``places``)."""
    aw = AccountWorkplace.__table__
    return or_(
        fid.in_(select(aw.c.facility_id).where(aw.c.account_id == s.c.account_id)),
        fid == s.c.facility_id,
    )


def _mentions(element: Any, key: str) -> bool:
    return any(isinstance(e, BindParameter) and e.key == key for e in visitors.iterate(element))


def facilities_select() -> Any:
    """``decide._permitted_template`` for every shape, bound to the subject row.

    Its action is any of ``p_actions``: one action, exactly ``permitted_facilities``;
    every action, the union in one statement (the periods are looked up once).
    """
    s = _subject()
    opts = dict[str, Any]()
    values = {
        "on": _P_ON,
        "org_id": s.c.org_id,
        "org_code": s.c.org_code,
        "login": s.c.login,
        "role": s.c.role,
        "action_pat": literal_column("',' || a.action || ','", String),
        "resource": literal_column("p_resource", String),
    }

    def one_action(element: Any, **_kw: Any) -> Any:
        if isinstance(element, BindParameter) and element.key == "action_pat":
            return values["action_pat"]
        return None

    def bind(element: Any, **_kw: Any) -> Any:
        if isinstance(element, BinaryExpression) and _mentions(element, "action_pat"):
            # the rule names one of the actions asked about (any of ``p_actions``)
            each = visitors.replacement_traverse(element, opts, one_action)
            return literal_column(
                f"EXISTS (SELECT 1 FROM unnest(p_actions) AS a(action) WHERE {_sql(each)})",
                Boolean,
            )
        if (
            isinstance(element, BinaryExpression)
            and isinstance(element.right, BindParameter)
            and element.right.key == "places"
        ):
            return _places(s, element.left)
        if isinstance(element, BindParameter) and element.key in values:
            return values[element.key]
        return None

    operator = s.c.role == decide.MANAGING_ROLE
    shapes = (
        (False, False, not_(operator)),
        (True, False, and_(operator, not_(s.c.all_managed))),
        (True, True, and_(operator, s.c.all_managed)),
    )
    parts = []
    for managing, everywhere, cond in shapes:
        template: Any = decide._permitted_template(managing, everywhere)
        parts.append(visitors.replacement_traverse(template, opts, bind).where(cond))
    return union(*parts)


def duplicate_select() -> Any:
    """``decide.duplicate_check_rules`` + ``_covered``: the facilities the check spans."""
    s = _subject()
    r = DuplicateCheckRule.__table__
    f, p, g, base = facility_tree()
    rules = (
        base.with_only_columns(r.c.over_category)
        .join(r, r.c.from_facility_code == f.code)
        .where(
            s.c.role == decide.MANAGING_ROLE,
            _places(s, f.id),
            or_(r.c.valid_from.is_(None), r.c.valid_from <= _P_ON),
            or_(r.c.valid_until.is_(None), r.c.valid_until >= _P_ON),
            manager_expr(f, p, g, _P_ON) == s.c.org_id,
        )
        .cte("r")
    )
    cat, fac = FacilityCategory.__table__, Facility.__table__
    covered = select(cat.c.code).where(
        cat.c.is_senior.is_(True),
        or_(
            cat.c.code.in_(select(rules.c.over_category).where(rules.c.over_category.is_not(None))),
            exists(select(rules.c.over_category).where(rules.c.over_category.is_(None))),
        ),
    )
    return select(fac.c.id).where(fac.c.category.in_(covered))


def _ids_of(select_sql: str) -> str:
    return f"SELECT coalesce(array_agg(DISTINCT x.id ORDER BY x.id), '{{}}') FROM ({select_sql}) x"


def _role_body() -> str:
    grants = sorted(
        {(role, table, write) for kind, tabs in ROLE_TABLES.items() for role in GRANT_ROLES[kind]
         for table, write in tabs}
    )  # fmt: skip
    rows = ", ".join(f"({_lit(r)}, {_lit(t)}, {str(w).lower()})" for r, t, w in grants)
    s = _subject()
    who: Any = (
        select(literal_column("1"))
        .select_from(s)
        .where(literal_column(f"(s.role, p_table, p_write) IN (VALUES {rows})", Boolean))
    )
    return (
        f"SELECT CASE WHEN EXISTS ({_sql(who)}) THEN (SELECT coalesce(array_agg(id ORDER BY id), "
        "'{}') FROM facilities) ELSE '{}'::integer[] END"
    )


_READABLE = """DECLARE
  acc integer := resv_rls_account();
  on_day date := resv_rls_today();
  intent text := nullif(current_setting('{action}', true), '');
  res text := CASE WHEN p_table = 'bookings' THEN 'bookings' ELSE 'registrants' END;
  dup integer[] := '{{}}';
BEGIN
  IF acc IS NULL THEN
    RETURN '{{}}';
  ELSIF intent = ANY ({actions}) THEN
    RETURN resv_rls_facilities(acc, ARRAY[intent], res, on_day);
  ELSIF intent IS NOT NULL AND intent <> {duplicate} THEN
    RETURN '{{}}';
  END IF;
  IF intent = {duplicate} AND res = 'registrants' THEN
    dup := resv_rls_duplicate_facilities(acc, on_day);
  END IF;
  RETURN ARRAY(SELECT DISTINCT u FROM unnest(resv_rls_facilities(acc, {actions}, res, on_day)
    || dup || resv_rls_role_facilities(acc, p_table, false, on_day)) u ORDER BY u);
END"""

_WRITABLE = """DECLARE
  acc integer := resv_rls_account();
  on_day date := resv_rls_today();
  res text := CASE WHEN p_table = 'bookings' THEN 'bookings' ELSE 'registrants' END;
  own integer[] := '{{}}';
BEGIN
  IF acc IS NULL THEN
    RETURN '{{}}';
  END IF;
  IF p_action = ANY ({actions}) THEN
    own := resv_rls_facilities(acc, ARRAY[p_action], res, on_day);
  END IF;
  RETURN ARRAY(SELECT DISTINCT u FROM unnest(
    own || resv_rls_role_facilities(acc, p_table, true, on_day)) u ORDER BY u);
END"""

_ACCOUNT = f"""SELECT s.account_id FROM sessions s
WHERE s.token_hash = encode(sha256(convert_to(current_setting('{TOKEN_SETTING}', true), 'UTF8')),
                            'hex')
  AND s.ended_at IS NULL AND s.expires_at > now()"""

_MAINTENANCE = f"""SELECT coalesce(current_setting('{MAINTENANCE_SETTING}', true), '') = 'on'
  AND current_user = (SELECT pg_get_userbyid(c.relowner) FROM pg_class c
                      WHERE c.oid = 'registrants'::regclass)"""


@dataclass(frozen=True)
class Function:
    name: str
    args: str  # as pg_get_function_identity_arguments prints them
    returns: str  # as format_type prints it
    language: str
    body: str
    definer: bool = False


@dataclass(frozen=True)
class Policy:
    table: str
    name: str
    command: str
    using: str | None
    check: str | None

    def create(self) -> str:
        out = (
            f"CREATE POLICY {self.name} ON {self.table} AS PERMISSIVE FOR {self.command} TO PUBLIC"
        )
        if self.using:
            out += f"\n  USING ({self.using})"
        if self.check:
            out += f"\n  WITH CHECK ({self.check})"
        return out

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.create().encode()).hexdigest()[:16]


def functions() -> list[Function]:
    """Every function row-level security needs, in creation order."""
    actions = _array(decide.ACTIONS)
    dup = _lit(decide.DUPLICATE_CHECK)
    plpgsql = "BEGIN\n  RETURN ({});\nEND"
    acc_day = "p_account integer, p_on date"
    return [
        Function("resv_rls_account", "", "integer", "sql", _ACCOUNT, definer=True),
        Function(
            "resv_rls_today", "", "date", "sql", "SELECT (now() AT TIME ZONE 'Asia/Tokyo')::date"
        ),
        Function("resv_rls_maintenance", "", "boolean", "sql", _MAINTENANCE),
        Function(
            "resv_rls_facilities",
            "p_account integer, p_actions text[], p_resource text, p_on date",
            "integer[]",
            "plpgsql",
            plpgsql.format(_ids_of(_sql(facilities_select()))),
        ),
        Function(
            "resv_rls_duplicate_facilities",
            acc_day,
            "integer[]",
            "plpgsql",
            plpgsql.format(_ids_of(_sql(duplicate_select()))),
        ),
        Function(
            "resv_rls_role_facilities",
            "p_account integer, p_table text, p_write boolean, p_on date",
            "integer[]",
            "sql",
            _role_body(),
        ),
        Function(
            "resv_rls_readable",
            "p_table text",
            "integer[]",
            "plpgsql",
            _READABLE.format(action=ACTION_SETTING, actions=actions, duplicate=dup),
        ),
        Function(
            "resv_rls_writable",
            "p_table text, p_action text",
            "integer[]",
            "plpgsql",
            _WRITABLE.format(actions=actions),
        ),
    ]


def _rows(fn: str) -> str:
    """A policy's condition: declared maintenance, or the row's facility is among ``fn``'s.

    ``(SELECT ...)::integer[]`` is evaluated once per statement (an InitPlan), not per row.
    """
    return f"(SELECT resv_rls_maintenance()) OR facility_id = ANY ((SELECT {fn})::integer[])"


def policies() -> list[Policy]:
    """The policies of each table: read, add, update, remove."""
    out = []
    for table, (_resource, add) in TABLES.items():
        read = _rows(f"resv_rls_readable('{table}')")
        adds = _rows(f"resv_rls_writable('{table}', '{add}')")
        update = _rows(f"resv_rls_writable('{table}', 'update')")
        remove = _rows(f"resv_rls_writable('{table}', 'delete')")
        out += [
            Policy(table, "resv_read", "SELECT", read, None),
            Policy(table, "resv_add", "INSERT", None, adds),
            Policy(table, "resv_update", "UPDATE", update, update),
            Policy(table, "resv_remove", "DELETE", remove, None),
        ]
    return out


# --- the live state and what differs -----------------------------------------------

_FINGERPRINT = (
    "md5(concat_ws('|', pol.polcmd, pol.polpermissive, pol.polroles::text, "
    "pg_get_expr(pol.polqual, pol.polrelid), pg_get_expr(pol.polwithcheck, pol.polrelid)))"
)
_LIVE_POLICIES = (
    "SELECT c.relname, pol.polname, obj_description(pol.oid, 'pg_policy'), "
    + _FINGERPRINT
    + " FROM pg_policy pol JOIN pg_class c ON c.oid = pol.polrelid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = current_schema() AND c.relname = ANY (:tables)"
)
_LIVE_FUNCTIONS = (
    "SELECT p.proname, pg_get_function_identity_arguments(p.oid), "
    "format_type(p.prorettype, NULL), l.lanname, p.prosrc, p.prosecdef, p.provolatile, "
    "p.proconfig, pg_get_userbyid(p.proowner) "
    "FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang "
    "JOIN pg_namespace n ON n.oid = p.pronamespace "
    "WHERE n.nspname = current_schema() AND p.proname LIKE 'resv\\_rls\\_%'"
)


def _ident(name: str) -> str:
    if re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        return name
    return '"' + name.replace('"', '""') + '"'


@dataclass
class Live:
    schema: str
    owner: str
    functions: dict[tuple[str, str], tuple[Any, ...]]
    policies: dict[tuple[str, str], tuple[str | None, str]]
    tables: dict[str, tuple[bool, bool]]
    applied_before: bool

    @property
    def in_use(self) -> bool:
        """Row-level security was installed here (so it must be whole)."""
        return bool(
            self.functions
            or self.policies
            or any(a or b for a, b in self.tables.values())
            or self.applied_before
        )


def refuse_sqlite(conn: Any) -> None:
    if conn.dialect.name != "postgresql":
        raise InputError(
            _(
                "row-level security exists only on PostgreSQL; on SQLite protect the database "
                "file with file permissions (see docs/physical-controls.md)"
            )
        )


def live_state(conn: Any) -> Live:
    schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    owner = conn.execute(
        text(
            "SELECT tableowner FROM pg_tables WHERE schemaname = current_schema() "
            "AND tablename = 'registrants'"
        )
    ).scalar_one()
    funcs = {(r[0], r[1]): tuple(r[2:]) for r in conn.execute(text(_LIVE_FUNCTIONS))}
    pols = {
        (r[0], r[1]): (r[2], r[3])
        for r in conn.execute(text(_LIVE_POLICIES), {"tables": sorted(TABLES)})
    }
    tables = {
        r[0]: (bool(r[1]), bool(r[2]))
        for r in conn.execute(
            text(
                "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relname = ANY (:tables)"
            ),
            {"tables": sorted(TABLES)},
        )
    }
    before = conn.execute(
        text("SELECT 1 FROM audit_events WHERE action = :a LIMIT 1"), {"a": AUDIT_ACTION}
    ).first()
    return Live(str(schema), str(owner), funcs, pols, tables, before is not None)


def _search_path(schema: str) -> str:
    return f"pg_catalog, {_ident(schema)}, pg_temp"


def _comment(p: Policy) -> str:
    return f"resv-rls {p.digest}"


def differences(live: Live) -> list[str]:
    """What differs between the live database and what ``apply`` installs (empty: none)."""
    out: list[str] = []
    config = [f"search_path={_search_path(live.schema)}"]
    wanted = functions()
    for fn in wanted:
        got = live.functions.get((fn.name, fn.args))
        if got is None:
            out.append(_("missing function {name}({args})").format(name=fn.name, args=fn.args))
            continue
        returns, lang, src, definer, volatility, conf, owner = got
        if (returns, lang, src, bool(definer), volatility, list(conf or [])) != (
            fn.returns, fn.language, fn.body, fn.definer, "s", config
        ) or (fn.definer and owner != live.owner):  # fmt: skip
            out.append(_("stale function {name}({args})").format(name=fn.name, args=fn.args))
    names = {(fn.name, fn.args) for fn in wanted}
    for name, args in sorted(set(live.functions) - names):
        out.append(_("unexpected function {name}({args})").format(name=name, args=args))
    for table in TABLES:
        enabled, forced = live.tables.get(table, (False, False))
        if not enabled:
            out.append(_("row-level security is not enabled on {table}").format(table=table))
        elif not forced:
            out.append(_("row-level security is not forced on {table}").format(table=table))
    expected = {(p.table, p.name): p for p in policies()}
    for key, p in expected.items():
        got_p = live.policies.get(key)
        if got_p is None:
            out.append(_("missing policy {name} on {table}").format(name=p.name, table=p.table))
        elif got_p[0] != f"{_comment(p)} {got_p[1]}":
            out.append(_("stale policy {name} on {table}").format(name=p.name, table=p.table))
    for table, name in sorted(set(live.policies) - set(expected)):
        out.append(_("unexpected policy {name} on {table}").format(name=name, table=table))
    return out


def statements(live: Live) -> list[str]:
    """The SQL ``apply`` runs, in order, in one transaction."""
    out = [f"-- resv row-level security for schema {live.schema} (resv db rls apply)"]
    for table, name in sorted(live.policies):
        out.append(f"DROP POLICY IF EXISTS {_ident(name)} ON {table}")
    for name, args in sorted(live.functions):
        out.append(f"DROP FUNCTION IF EXISTS {name}({args})")
    for fn in functions():
        sig = f"{fn.name}({fn.args})"
        security = "SECURITY DEFINER" if fn.definer else "SECURITY INVOKER"
        out.append(
            f"CREATE FUNCTION {sig} RETURNS {fn.returns} LANGUAGE {fn.language} STABLE "
            f"{security}\n  SET search_path = {_search_path(live.schema)}\n"
            f"AS $resv${fn.body}$resv$"
        )
        if fn.definer:
            out.append(f"ALTER FUNCTION {sig} OWNER TO {_ident(live.owner)}")
        out.append(f"GRANT EXECUTE ON FUNCTION {sig} TO PUBLIC")
    for table in TABLES:
        out.append(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        out.append(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    for p in policies():
        out.append(p.create())
        # the comment binds the policy to this code (digest) and to its live form
        out.append(
            "DO $resv$ BEGIN EXECUTE format('COMMENT ON POLICY %I ON %I IS %L', "
            f"{_lit(p.name)}, {_lit(p.table)}, {_lit(_comment(p) + ' ')} || (SELECT "
            + _FINGERPRINT
            + " FROM pg_policy pol WHERE pol.polrelid = "
            f"{_lit(p.table)}::regclass AND pol.polname = {_lit(p.name)})); END $resv$"
        )
    return out


def script(live: Live) -> str:
    return "".join(s + ("\n" if s.startswith("--") else ";\n\n") for s in statements(live))


# --- the commands' services ------------------------------------------------------------


def plan(session: Session) -> tuple[str, list[str]]:
    """(the SQL ``apply`` would run, what differs from the installed state)."""
    conn = session.connection()
    refuse_sqlite(conn)
    live = live_state(conn)
    return script(live), differences(live)


def apply(session: Session, actor: Actor | None) -> list[str]:
    """Install row-level security in the command's transaction; return what differed."""
    from resv_cli.audit import chain as audit
    from resv_cli.core.context import require_role

    actor = require_role(actor, "admin", action=AUDIT_ACTION)
    conn = session.connection()
    refuse_sqlite(conn)
    live = live_state(conn)
    diffs = differences(live)
    me = conn.execute(text("SELECT current_user")).scalar_one()
    raw = conn.connection.driver_connection
    assert raw is not None
    from psycopg import errors

    with raw.cursor() as cur:
        for stmt in statements(live):
            if stmt.startswith("--"):
                continue
            try:
                cur.execute(stmt)
            except errors.InsufficientPrivilege as exc:
                raise InputError(
                    _(
                        "cannot install row-level security: the connecting role {me} may not "
                        "({problem}); connect as the tables' owner {owner}"
                    ).format(me=me, problem=exc.diag.message_primary, owner=live.owner)
                ) from None
    audit.record(
        session,
        actor,
        AUDIT_ACTION,
        resource_type="db_policy",
        resource_id=live.schema,
        detail={"changed": len(diffs), "noop": not diffs},
    )
    return diffs


def check(engine: Any) -> list[str]:
    """``db check``'s problems: on PostgreSQL, once installed, what is missing or stale."""
    if engine.dialect.name != "postgresql":
        return []
    with engine.connect() as conn:
        live = live_state(conn)
        return differences(live) if live.in_use else []


def copy_refused(conn: Any, table: str = "registrants") -> bool:
    """Whether row-level security is active on ``table`` for this connection's role.

    PostgreSQL refuses ``COPY ... FROM`` on such a table; a bulk writer (the legacy
    import) uses INSERT then, which the policies check row by row.
    """
    if conn.dialect.name != "postgresql":
        return False
    return bool(conn.execute(text("SELECT row_security_active(:t)"), {"t": table}).scalar())
