"""The PostgreSQL runtime role: what day-to-day ``resv`` connections log in as.

The tables belong to the owner (the DBA's role that ran ``resv db init``).
Staff PCs connect as a separate, non-owner, non-superuser role that may read
and write the application tables but may only SELECT and INSERT audit events:
no UPDATE, DELETE or TRUNCATE of ``audit_events`` and no write at all to
``audit_archives``.  So even with the triggers dropped by an owner, the
runtime credentials on the PCs cannot rewrite history; archiving is run by
the owner.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from resv_cli.audit import chain as audit
from resv_cli.core.context import require_role
from resv_cli.core.errors import Conflict, InputError
from resv_cli.core.i18n import _

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from resv_cli.core.context import Actor

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def scram_sha256_verifier(password: str, *, iterations: int = 4096) -> str:
    """Return PostgreSQL's SCRAM-SHA-256 verifier, so the password never reaches the server.

    (A plain ``PASSWORD '...'`` would be sent, and possibly logged, as text.)
    Format from RFC 5803 as PostgreSQL stores it in ``pg_authid``.
    """
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(b: bytes) -> str:
        return base64.b64encode(b).decode("ascii")

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def role_dangers(session: Session, role: str, owner: str) -> list[str]:
    """Why ``role`` could become the owner or escape the audit rules (empty: it cannot).

    Looks at the role and every role it is a member of, directly or through
    other memberships (a member may ``SET ROLE`` to any of them): being the
    owner, a superuser, BYPASSRLS, CREATEROLE (which can grant itself the
    owner's role), CREATEDB, or owning any object in any database.
    """
    rows = session.execute(
        text(
            "WITH RECURSIVE up(oid, via) AS ("
            "  SELECT oid, NULL::name FROM pg_roles WHERE rolname = :r"
            "  UNION"
            "  SELECT m.roleid,"
            "         COALESCE(up.via, (SELECT rolname FROM pg_roles WHERE oid = m.roleid))"
            "  FROM pg_auth_members m JOIN up ON m.member = up.oid"
            ") "
            "SELECT r.rolname, up.via, r.rolsuper, r.rolbypassrls, r.rolcreaterole, "
            "       r.rolcreatedb, "
            "       (SELECT count(*) FROM pg_shdepend d WHERE d.refclassid = 'pg_authid'::regclass"
            "          AND d.refobjid = r.oid AND d.deptype = 'o')"
            "     + (SELECT count(*) FROM pg_database db WHERE db.datdba = r.oid) AS owned "
            "FROM up JOIN pg_roles r ON r.oid = up.oid ORDER BY up.via NULLS FIRST, r.rolname"
        ),
        {"r": role},
    ).all()
    out: list[str] = []
    for name, via, superuser, bypass, createrole, createdb, owned in rows:
        who = (
            _("it")
            if via is None
            else _("through membership of {via}, {name}").format(via=via, name=name)
        )
        if name == owner:
            out.append(
                _("it is a member of the owner role {owner}").format(owner=owner)
                if via in (None, owner)
                else _("it is a member of the owner role {owner} (through {via})").format(
                    owner=owner, via=via
                )
            )
            continue
        if superuser:
            out.append(_("{who} is a superuser").format(who=who))
        if bypass:
            out.append(_("{who} has BYPASSRLS").format(who=who))
        if createrole:
            out.append(
                _("{who} has CREATEROLE (it could grant itself the owner's role)").format(who=who)
            )
        if createdb:
            out.append(_("{who} has CREATEDB").format(who=who))
        if owned:
            out.append(_("{who} owns {n} database object(s)").format(who=who, n=owned))
    return out


def grant_runtime_role(
    session: Session, actor: Actor | None, role: str, *, password: str | None = None
) -> dict[str, Any]:
    """Create (if needed) and configure ``role`` as the runtime role; return its grants."""
    actor = require_role(actor, "admin", action="db.grant_runtime_role")
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        raise InputError(
            _(
                "runtime roles exist only on PostgreSQL; on SQLite protect the database file "
                "with file permissions (see docs/physical-controls.md)"
            )
        )
    if not ROLE_NAME.match(role):
        raise InputError(
            _("role name {role!r} must be lowercase letters, digits and _ (at most 63)").format(
                role=role
            )
        )
    from psycopg import sql

    owner = conn.execute(
        text(
            "SELECT tableowner FROM pg_tables WHERE schemaname = current_schema() "
            "AND tablename = 'audit_events'"
        )
    ).scalar()
    if role == owner:
        raise Conflict(
            _("{role} owns the tables; the runtime role must be a different role").format(role=role)
        )
    existing = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
    if existing is not None:
        dangers = role_dangers(session, role, str(owner))
        if dangers:
            raise Conflict(
                _(
                    "role {role} cannot be the runtime role: {dangers}. Choose a new "
                    "role name (this command creates it with none of these), or remove them "
                    "(see 'The runtime role' in docs/guide-city-it.md)"
                ).format(role=role, dangers="; ".join(dangers))
            )
    me = conn.execute(
        text(
            "SELECT current_user, rolsuper OR rolcreaterole FROM pg_roles "
            "WHERE rolname = current_user"
        )
    ).one()
    if (existing is None or password) and not me[1] and me[0] != role:
        what = (
            _("create role {role}") if existing is None else _("set the password of {role}")
        ).format(role=role)
        raise InputError(
            _(
                "cannot {what}: the connecting role {me} lacks CREATEROLE. Ask the DBA to run "
                "`CREATE ROLE {role} LOGIN` (or to set its password), then run this command "
                "again without --password-stdin; it only grants"
            ).format(what=what, me=me[0], role=role)
        )
    if me[0] != owner and not me[1]:
        raise InputError(
            _(
                "cannot grant on the tables: the connecting role {me} is not their owner "
                "({owner}); connect as {owner}"
            ).format(me=me[0], owner=owner)
        )
    schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    database = conn.execute(text("SELECT current_database()")).scalar_one()
    raw = conn.connection.driver_connection
    assert raw is not None
    r, s = sql.Identifier(role), sql.Identifier(schema)
    stmts: list[Any] = []
    if existing is None:
        stmts.append(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE").format(r))
    if password:
        stmts.append(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                r, sql.Literal(scram_sha256_verifier(password))
            )
        )
    stmts += [
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database), r),
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, r),
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {} TO {}").format(
            s, r
        ),
        sql.SQL("REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA {} FROM {}").format(
            s, r
        ),
        sql.SQL("REVOKE UPDATE, DELETE ON {}, {} FROM {}").format(
            sql.Identifier(schema, "audit_events"), sql.Identifier(schema, "audit_archives"), r
        ),
        sql.SQL("REVOKE INSERT ON {} FROM {}").format(sql.Identifier(schema, "audit_archives"), r),
        sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}").format(s, r),
    ]
    if conn.execute(text("SELECT to_regclass('alembic_version') IS NOT NULL")).scalar():
        stmts.append(
            sql.SQL("REVOKE INSERT, UPDATE, DELETE ON {} FROM {}").format(
                sql.Identifier(schema, "alembic_version"), r
            )
        )
    from psycopg import errors

    with raw.cursor() as cur:
        for stmt in stmts:
            try:
                cur.execute(stmt)
            except errors.InsufficientPrivilege as exc:
                raise InputError(
                    _(
                        "cannot set up runtime role {role}: the connecting role {me} may not "
                        "({problem}); connect as the tables' owner {owner}, with CREATEROLE"
                    ).format(role=role, me=me[0], problem=exc.diag.message_primary, owner=owner)
                ) from None
    grants = [
        {"table": t, "privileges": p}
        for t, p in conn.execute(
            text(
                "SELECT table_name, string_agg(privilege_type, ', ' ORDER BY privilege_type) "
                "FROM information_schema.role_table_grants "
                "WHERE grantee = :r AND table_schema = current_schema() "
                "GROUP BY table_name ORDER BY table_name"
            ),
            {"r": role},
        )
    ]
    audit.record(
        session,
        actor,
        "db.grant_runtime_role",
        resource_type="db_role",
        resource_id=role,
        detail={"created": existing is None, "password_set": bool(password)},
    )
    return {"role": role, "created": existing is None, "grants": grants}
