"""resv db grant-runtime-role: a real non-owner role on a real PostgreSQL server."""

from __future__ import annotations

import uuid

import pytest
from support import psycopg_dsn, run_cli


def _role_url(owner_url: str, role: str, password: str) -> str:
    from sqlalchemy.engine import make_url

    return (
        make_url(owner_url)
        .set(username=role, password=password)
        .render_as_string(hide_password=False)
    )


def test_refused_on_sqlite_with_a_clear_message(installation, cli):
    if installation.backend != "sqlite":
        pytest.skip("SQLite only")
    r = cli("db", "grant-runtime-role", "resv_app")
    assert r.exit_code == 1
    assert "runtime roles exist only on PostgreSQL" in r.stderr


def test_runtime_role_can_append_but_never_rewrite(installation, cli, monkeypatch):
    if installation.backend != "postgresql":
        pytest.skip("PostgreSQL roles")
    import psycopg
    from psycopg import errors

    role = f"resv_app_{uuid.uuid4().hex[:8]}"
    pw = "Runtime-role-pass-9x"
    r = cli("db", "grant-runtime-role", role, "--password-stdin", input=pw + "\n")
    assert r.exit_code == 0, r
    assert f"Created runtime role {role}" in r.stderr
    assert "audit_events" in r.stdout
    (grant_ev,) = installation.rows(
        "SELECT resource_id, detail FROM audit_events WHERE action = 'db.grant_runtime_role'"
    )
    assert grant_ev[0] == role and pw not in grant_ev[1]
    # the password went over as a SCRAM verifier
    verifier = installation.scalar("SELECT rolpassword FROM pg_authid WHERE rolname = :r", r=role)
    assert verifier.startswith("SCRAM-SHA-256$4096:")
    url = _role_url(installation.url, role, pw)
    try:
        with psycopg.connect(psycopg_dsn(url), autocommit=True) as conn:
            assert conn.execute("SELECT current_user").fetchone()[0] == role
            assert conn.execute("SELECT count(*) FROM audit_events").fetchone()[0] >= 2
            for stmt in (
                "UPDATE audit_events SET action = 'x'",
                "DELETE FROM audit_events",
                "TRUNCATE audit_events",
                "INSERT INTO audit_archives (first_seq, last_seq, last_hash, file_name, "
                "file_sha256, created_at) VALUES (1, 1, 'x', 'f', 'x', now())",
                "DELETE FROM audit_archives",
                "UPDATE alembic_version SET version_num = 'x'",
            ):
                with pytest.raises(errors.InsufficientPrivilege, match="permission denied"):
                    conn.execute(stmt)
        # the application's normal commands work through the runtime role
        from resv_cli.core.db import get_engine

        monkeypatch.setenv("RESV_DATABASE_URL", url)
        before = installation.scalar("SELECT max(seq) FROM audit_events")
        assert installation.login("it-admin", "Kyou-wa-ii-tenki-desu-ne-42").exit_code == 0
        assert run_cli("whoami").exit_code == 0
        assert run_cli("audit", "list").exit_code == 0
        v = run_cli("audit", "verify")
        assert v.exit_code == 0, v
        assert installation.scalar("SELECT max(seq) FROM audit_events") == before + 3
        # archiving needs DELETE: refused for the runtime role, nothing written
        a = run_cli("audit", "archive", "--before", "2999-01-01", "--output", "a.jsonl.gz")
        assert a.exit_code == 1
        assert "permission denied for table audit_" in a.stderr
        assert installation.scalar("SELECT count(*) FROM audit_archives") == 0
        import pathlib

        assert not pathlib.Path("a.jsonl.gz").exists()
        assert run_cli("logout").exit_code == 0
        get_engine(url).dispose()
    finally:
        from resv_cli.core.db import get_engine

        get_engine(url).dispose()
        with psycopg.connect(psycopg_dsn(installation.url), autocommit=True) as conn:
            conn.execute(f'REASSIGN OWNED BY "{role}" TO CURRENT_USER')
            conn.execute(f'DROP OWNED BY "{role}"')
            conn.execute(f'DROP ROLE "{role}"')


def test_owner_and_bad_names_refused(installation, cli):
    if installation.backend != "postgresql":
        pytest.skip("PostgreSQL roles")
    owner = installation.scalar("SELECT current_user")
    r = cli("db", "grant-runtime-role", owner)
    assert r.exit_code in (1,)
    assert "must be a different role" in r.stderr or "superuser" in r.stderr
    r = cli("db", "grant-runtime-role", 'x"; DROP TABLE accounts; --')
    assert r.exit_code == 1
    assert "must be lowercase letters, digits and _" in r.stderr
    assert installation.scalar("SELECT count(*) FROM accounts") == 1


def test_operator_may_not_grant(installation, cli):
    if installation.backend != "postgresql":
        pytest.skip("PostgreSQL roles")
    from tests import factories

    factories.make_account(installation, "op-1", "city", role="operator")
    assert installation.login("op-1", factories.DEFAULT_PASSWORD).exit_code == 0
    r = cli("db", "grant-runtime-role", "resv_app_x")
    assert r.exit_code == 6
    assert "db.grant_runtime_role needs the admin role" in r.stderr
    assert installation.scalar("SELECT count(*) FROM pg_roles WHERE rolname = 'resv_app_x'") == 0
    assert (
        installation.scalar(
            "SELECT outcome FROM audit_events WHERE action = 'db.grant_runtime_role'"
        )
        == "denied"
    )


# --- roles that could become the owner (issue 14) ------------------------------------


@pytest.fixture
def owned_by_plain_role(backend, monkeypatch):
    """A database whose tables belong to a non-superuser owner role without CREATEROLE.

    That is how a DBA sets resv up in production: the owner runs ``db init``;
    the runtime role must not be able to become it.
    """
    if backend != "postgresql":
        pytest.skip("PostgreSQL roles")
    import psycopg
    from support import init_and_login, require_pg

    admin_url = require_pg()
    tag = uuid.uuid4().hex[:8]
    owner, db = f"resv_owner_{tag}", f"resv_owned_{tag}"
    made: list[str] = [owner]
    admin_dsn = psycopg_dsn(admin_url)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {owner} LOGIN NOCREATEROLE NOCREATEDB")
        conn.execute(f"CREATE DATABASE {db} OWNER {owner}")
    from sqlalchemy.engine import make_url

    url = make_url(admin_url).set(database=db, username=owner).render_as_string(False)
    monkeypatch.setenv("RESV_DATABASE_URL", url)
    init_and_login()
    try:
        yield {"owner": owner, "db": db, "url": url, "admin_dsn": admin_dsn, "made": made}
    finally:
        from resv_cli.core.db import get_engine

        get_engine(url).dispose()
        get_engine.cache_clear()
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            for role in reversed(made):
                conn.execute(f"DROP OWNED BY {role}")
                conn.execute(f"DROP ROLE IF EXISTS {role}")


def test_roles_that_could_become_the_owner_are_refused(owned_by_plain_role):
    import psycopg
    from psycopg import errors

    env = owned_by_plain_role
    owner, tag = env["owner"], env["owner"].removeprefix("resv_owner_")
    # an owner that may not create roles: a clear refusal, not an unexpected error
    r = run_cli("db", "grant-runtime-role", f"resv_app_{tag}")
    assert r.exit_code == 1, r
    assert f"cannot create role resv_app_{tag}: the connecting role {owner} lacks CREATEROLE" in (
        r.stderr
    )
    with psycopg.connect(env["admin_dsn"], autocommit=True) as conn:
        conn.execute(f"ALTER ROLE {owner} CREATEROLE")
        roles = {
            "member": f"GRANT {owner} TO {{r}}",
            "createrole": "ALTER ROLE {r} CREATEROLE",
            "createdb": "ALTER ROLE {r} CREATEDB",
            "bypassrls": "ALTER ROLE {r} BYPASSRLS",
            "superuser": "ALTER ROLE {r} SUPERUSER",
            "owner_of_table": f"CREATE SCHEMA s_{tag}; CREATE TABLE s_{tag}.t (i int); "
            f"ALTER TABLE s_{tag}.t OWNER TO {{r}}",
        }
        for kind, grant in roles.items():
            role = f"resv_{kind}_{tag}"
            env["made"].append(role)
            conn.execute(f"CREATE ROLE {role} LOGIN")
            for stmt in grant.format(r=role).split("; "):
                conn.execute(stmt)
        # and one that is dangerous only through a membership
        indirect = f"resv_indirect_{tag}"
        env["made"].append(indirect)
        conn.execute(f"CREATE ROLE {indirect} LOGIN")
        conn.execute(f"GRANT resv_createrole_{tag} TO {indirect}")
    # the danger is real: a member of the owner role rewrites history
    member_url = _role_url(env["url"], f"resv_member_{tag}", "")
    with psycopg.connect(psycopg_dsn(member_url)) as conn:
        conn.execute(f"SET ROLE {owner}")
        conn.execute("ALTER TABLE audit_events DISABLE TRIGGER USER")
        conn.execute("UPDATE audit_events SET detail = '{}' WHERE seq = 1")
        conn.rollback()
    expected = {
        "member": f"it is a member of the owner role {owner}",
        "createrole": "it has CREATEROLE (it could grant itself the owner's role)",
        "createdb": "it has CREATEDB",
        "bypassrls": "it has BYPASSRLS",
        "superuser": "it is a superuser",
        "owner_of_table": "it owns 1 database object(s)",
        "indirect": f"through membership of resv_createrole_{tag}, resv_createrole_{tag} has "
        "CREATEROLE",
    }
    for kind, why in expected.items():
        role = f"resv_{kind}_{tag}"
        r = run_cli("db", "grant-runtime-role", role)
        assert r.exit_code == 1, (kind, r)
        assert f"role {role} cannot be the runtime role: " in r.stderr, (kind, r)
        assert why in r.stderr, (kind, r)
        assert "Choose a new role name" in r.stderr
    # a fresh role is created clean, and cannot become the owner
    app = f"resv_app_{tag}"
    env["made"].insert(1, app)
    r = run_cli("db", "grant-runtime-role", app)
    assert r.exit_code == 0, r
    with psycopg.connect(psycopg_dsn(_role_url(env["url"], app, ""))) as conn:
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute(f"SET ROLE {owner}")
        conn.rollback()
        with pytest.raises(errors.InsufficientPrivilege, match="must be owner"):
            conn.execute("ALTER TABLE audit_events DISABLE TRIGGER USER")
