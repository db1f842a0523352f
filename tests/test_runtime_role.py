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
