"""No action without its event: when the audit write fails, the action does not happen."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import ADMIN_LOGIN, ADMIN_PASSWORD

MESSAGE = "audit store unavailable"


def _break_audit_writes(inst) -> None:
    """Make every INSERT into audit_events fail (as a full disk or a revoked grant would)."""
    with inst.engine().begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(
                "CREATE FUNCTION t_fail() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN RAISE EXCEPTION '{MESSAGE}'; END; $$"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER t_fail BEFORE INSERT ON audit_events "
                "FOR EACH ROW EXECUTE FUNCTION t_fail()"
            )
        else:
            conn.exec_driver_sql(
                "CREATE TRIGGER t_fail BEFORE INSERT ON audit_events "
                f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
            )


def _repair(inst) -> None:
    with inst.engine().begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER t_fail" + (" ON audit_events" if
                             conn.dialect.name == "postgresql" else ""))  # fmt: skip


def _assert_failed(result) -> None:
    assert result.exit_code == 1, result
    assert f"Error: database error: {MESSAGE}" in result.stderr


def test_logout_does_not_happen_without_its_event(installation, cli):
    _break_audit_writes(installation)
    events = installation.scalar("SELECT count(*) FROM audit_events")
    _assert_failed(cli("logout"))
    assert installation.scalar("SELECT count(*) FROM sessions WHERE ended_at IS NULL") == 1
    assert installation.scalar("SELECT count(*) FROM audit_events") == events
    _repair(installation)
    r = cli("whoami")  # the session was never ended
    assert r.exit_code == 0 and ADMIN_LOGIN in r.stdout


def test_login_does_not_happen_without_its_event(installation, cli):
    sessions = installation.scalar("SELECT count(*) FROM sessions")
    _break_audit_writes(installation)
    _assert_failed(installation.login(ADMIN_LOGIN, ADMIN_PASSWORD))
    assert installation.scalar("SELECT count(*) FROM sessions") == sessions


def test_archive_does_not_happen_without_its_event(installation, cli):
    events = installation.scalar("SELECT count(*) FROM audit_events")
    _break_audit_writes(installation)
    _assert_failed(cli("audit", "archive", "--before", "2999-01-01", "--output", "a.jsonl.gz"))
    assert installation.scalar("SELECT count(*) FROM audit_events") == events
    assert installation.scalar("SELECT count(*) FROM audit_archives") == 0
    assert not Path("a.jsonl.gz").exists()
    assert not Path("a.jsonl.gz.partial").exists()


def test_reads_are_not_served_without_their_event(installation, cli):
    _break_audit_writes(installation)
    for args in (["audit", "list"], ["audit", "show", "1"], ["audit", "anchor"]):
        r = cli(*args)
        _assert_failed(r)
        assert r.stdout == ""  # nothing was shown


def test_runtime_role_not_granted_without_its_event(installation, cli):
    if installation.backend != "postgresql":
        pytest.skip("PostgreSQL roles")
    _break_audit_writes(installation)
    _assert_failed(cli("db", "grant-runtime-role", "resv_failing_role"))
    assert (
        installation.scalar("SELECT count(*) FROM pg_roles WHERE rolname = 'resv_failing_role'")
        == 0
    )
