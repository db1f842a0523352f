"""Row-level security (issue 18): `resv db rls plan|apply` on a real PostgreSQL server.

The suite connects as a superuser, which PostgreSQL never subjects to policies; these
tests act through a runtime role (`db grant-runtime-role`), as the staff PCs do.
"""

from __future__ import annotations

import datetime as dt
import uuid

import factories as f
import pytest
import scope_world
from support import psycopg_dsn, run_cli


def _role_url(owner_url: str, role: str, password: str) -> str:
    from sqlalchemy.engine import make_url

    return (
        make_url(owner_url)
        .set(username=role, password=password)
        .render_as_string(hide_password=False)
    )


@pytest.fixture
def pg(installation):
    if installation.backend != "postgresql":
        pytest.skip("row-level security is PostgreSQL only")
    return installation


@pytest.fixture
def runtime(pg):
    """A runtime role for this test: its URL (dropped afterwards)."""
    import psycopg

    from resv_cli.core.db import get_engine

    role = f"resv_rls_{uuid.uuid4().hex[:8]}"
    pw = "Runtime-role-pass-9x"
    r = run_cli("db", "grant-runtime-role", role, "--password-stdin", input=pw + "\n")
    assert r.exit_code == 0, r
    url = _role_url(pg.url, role, pw)
    try:
        yield url
    finally:
        get_engine(url).dispose()
        with psycopg.connect(psycopg_dsn(pg.url), autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                [role],
            )
            conn.execute(f'REASSIGN OWNED BY "{role}" TO CURRENT_USER')
            conn.execute(f'DROP OWNED BY "{role}"')
            conn.execute(f'DROP ROLE "{role}"')


def _apply() -> None:
    r = run_cli("db", "rls", "apply")
    assert r.exit_code == 0, r


def _raw(url: str, token: str | None, sql: str, *setup: str) -> list[tuple]:
    """Run ``sql`` on a connection of its own, presenting ``token`` (if any)."""
    import psycopg

    with psycopg.connect(psycopg_dsn(url)) as conn:
        if token is not None:
            conn.execute("SELECT set_config('resv.session_token', %s, true)", [token])
        for stmt in setup:
            conn.execute(stmt)
        return conn.execute(sql).fetchall()


def _owner(pg, sql: str) -> None:
    """Run ``sql`` as the suite's (superuser) owner connection, committed."""
    with pg.engine().begin() as conn:
        conn.exec_driver_sql(sql)


pg_only = pytest.mark.postgresql_only


@pg_only
def test_a_managers_account_sees_only_its_rows_and_forging_gives_none(pg, runtime, monkeypatch):
    from resv_cli.accounts.sessions import stored_token, token_hash

    regs = scope_world.build_city(pg)
    _apply()
    monkeypatch.setenv("RESV_DATABASE_URL", runtime)
    scope_world.login(pg, "fm-sato")  # works at 中央老人福祉センター (chuo-rojin)
    token = stored_token(runtime)
    assert token
    everything = {r[0] for r in pg.rows("SELECT id FROM registrants")}  # superuser
    assert len(everything) == len(regs) >= 6
    rows = _raw(runtime, token, "SELECT * FROM registrants")
    assert {r[0] for r in rows} == {regs["chuo"]}
    assert _raw(runtime, token, "SELECT count(*) FROM certificates")[0][0] == 0
    # resv itself acts through the same binding: the Python filter and RLS agree
    r = run_cli("registrant", "search", "--name", "高橋", "-f", "json")
    assert r.exit_code == 0, r
    assert '"chuo-rojin"' in r.stdout and "honme-rojin" not in r.stdout
    # forging the acting account: no setting, a made-up token, the stored hash, an id
    assert _raw(runtime, None, "SELECT count(*) FROM registrants") == [(0,)]
    assert _raw(runtime, "made-up-token", "SELECT count(*) FROM registrants") == [(0,)]
    assert _raw(runtime, token_hash(token), "SELECT count(*) FROM registrants") == [(0,)]
    admin_id = pg.scalar("SELECT id FROM accounts WHERE login_id = 'it-admin'")
    forged = _raw(
        runtime,
        None,
        "SELECT count(*) FROM registrants",
        f"SET resv.account_id = '{admin_id}'",
        "SET resv.maintenance = 'on'",  # honoured only for the tables' owner
    )
    assert forged == [(0,)]
    # the runtime role can neither replace the binding nor switch the policies off
    import psycopg
    from psycopg import errors

    for stmt in (
        "CREATE OR REPLACE FUNCTION resv_rls_account() RETURNS integer LANGUAGE sql "
        f"AS 'SELECT {admin_id}'",
        "ALTER TABLE registrants DISABLE ROW LEVEL SECURITY",
        "DROP POLICY resv_read ON registrants",
    ):
        with pytest.raises(errors.InsufficientPrivilege):
            _raw(runtime, token, stmt)
    # nor write outside its scope
    honme = pg.scalar("SELECT id FROM facilities WHERE code = 'honme-rojin'")
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
        _raw(
            runtime,
            token,
            "INSERT INTO registrants (facility_id, kind, name, name_key, status, created_at, "
            f"updated_at) VALUES ({honme}, 'individual', 'x', 'x', 'active', now(), now())",
        )
    assert _raw(runtime, token, f"UPDATE registrants SET name = name WHERE facility_id = {honme}"
                " RETURNING id") == []  # fmt: skip
    # an expired, then an ended session acts as nobody
    _owner(pg, "UPDATE sessions SET expires_at = now() - interval '1 minute' WHERE token_hash = "
           f"'{token_hash(token)}'")  # fmt: skip
    assert _raw(runtime, token, "SELECT count(*) FROM registrants") == [(0,)]
    _owner(pg, "UPDATE sessions SET expires_at = now() + interval '1 hour' WHERE token_hash = "
           f"'{token_hash(token)}'")  # fmt: skip
    assert _raw(runtime, token, "SELECT count(*) FROM registrants") == [(1,)]
    assert run_cli("logout").exit_code == 0
    assert _raw(runtime, token, "SELECT count(*) FROM registrants") == [(0,)]


@pg_only
def test_other_accounts_see_their_own_scope_through_resv(pg, runtime, monkeypatch):
    regs = scope_world.build_city(pg)
    f.make_booking(pg, "chuo-rojin-kaigi", regs["chuo"], dt.datetime(2031, 4, 1, 1, tzinfo=dt.UTC))
    _apply()
    monkeypatch.setenv("RESV_DATABASE_URL", runtime)
    # the organisation-wide grant of the city: every facility the city manages today
    scope_world.login(pg, "city-all")
    r = run_cli("registrant", "search", "--name", "高橋", "-f", "json")
    assert r.exit_code == 0, r
    assert "honme-rojin" in r.stdout and "chuo-rojin" not in r.stdout
    # a monitor has no scope: nothing (the report's masked names aside)
    scope_world.login(pg, "city-mon")
    r = run_cli("booking", "list", "--count")
    assert r.exit_code == 0 and r.stdout.split()[-1] == "0", r
    # an operator lends and lists its rooms' bookings through the policies
    scope_world.login(pg, "fm-sato")
    r = run_cli("booking", "list", "--count")
    assert r.exit_code == 0 and r.stdout.split()[-1] == "1", r
    r = run_cli(
        "booking", "add", "--facility", "chuo-rojin-kaigi", "--registrant", str(regs["chuo"]),
        "--date", "2031-05-01", "--from", "10:00", "--to", "11:00",
    )  # fmt: skip
    assert r.exit_code == 0, r
    assert pg.scalar("SELECT count(*) FROM bookings") == 2


@pg_only
def test_the_tables_force_row_level_security_on_their_owner(pg):
    _apply()
    rows = pg.rows(
        "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class "
        "WHERE relname IN ('registrants', 'certificates', 'bookings') ORDER BY relname"
    )
    assert [tuple(r) for r in rows] == [
        ("bookings", True, True),
        ("certificates", True, True),
        ("registrants", True, True),
    ]


@pg_only
def test_plan_and_apply_are_idempotent_and_audited(pg):
    first = run_cli("db", "rls", "plan")
    assert first.exit_code == 0, first
    assert "missing function resv_rls_account()" in first.stderr
    assert "missing policy resv_read on registrants" in first.stderr
    assert "CREATE POLICY resv_read ON registrants" in first.stdout
    assert "FORCE ROW LEVEL SECURITY" in first.stdout
    _apply()
    second = run_cli("db", "rls", "plan")
    assert second.exit_code == 0, second
    assert "matches; nothing to change" in second.stderr
    _apply()
    third = run_cli("db", "rls", "plan")
    assert third.stdout == second.stdout and "matches" in third.stderr
    assert run_cli("db", "check").exit_code == 0
    events = pg.rows("SELECT detail FROM audit_events WHERE action = 'db.rls_apply' ORDER BY seq")
    assert len(events) == 2
    assert '"noop":false' in events[0][0] and '"noop":true' in events[1][0]


@pg_only
@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("DROP POLICY resv_read ON registrants", "missing policy resv_read on registrants"),
        (
            "ALTER POLICY resv_update ON bookings USING (true)",
            "stale policy resv_update on bookings",
        ),
        (
            "CREATE POLICY everyone ON certificates USING (true)",
            "unexpected policy everyone on certificates",
        ),
        (
            "CREATE OR REPLACE FUNCTION resv_rls_today() RETURNS date LANGUAGE sql STABLE "
            "SET search_path = pg_catalog, public, pg_temp AS $$SELECT DATE '2017-04-01'$$",
            "stale function resv_rls_today()",
        ),
        (
            "ALTER TABLE registrants NO FORCE ROW LEVEL SECURITY",
            "row-level security is not forced on registrants",
        ),
    ],
)
def test_db_check_names_a_missing_or_stale_policy(pg, damage, message):
    assert run_cli("db", "check").exit_code == 0  # never applied: nothing to compare
    _apply()
    assert run_cli("db", "check").exit_code == 0
    _owner(pg, damage)
    r = run_cli("db", "check")
    assert r.exit_code == 8, r
    assert message in r.stderr
    _apply()
    assert run_cli("db", "check").exit_code == 0


def test_sqlite_refuses_with_one_clear_line(installation):
    if installation.backend != "sqlite":
        pytest.skip("SQLite only")
    for verb in ("plan", "apply"):
        r = run_cli("db", "rls", verb)
        assert r.exit_code == 1, r
        assert "row-level security exists only on PostgreSQL" in r.stderr


@pg_only
def test_the_import_writes_through_the_policies(pg, runtime, monkeypatch, tmp_path):
    """An administrator's legacy import, as the runtime role (COPY is refused under RLS)."""
    from legacy_files import write_csv
    from support import ADMIN_LOGIN, ADMIN_PASSWORD

    scope_world.build_city(pg)
    _apply()
    monkeypatch.setenv("RESV_DATABASE_URL", runtime)
    assert pg.login(ADMIN_LOGIN, ADMIN_PASSWORD).exit_code == 0
    legacy = write_csv(
        tmp_path / "legacy.csv",
        [["個人", "0001", "髙橋 一郎", "タカハシ イチロウ", "1940/03/02", "", "印西市大森1", "",
          "", "", "", ""]],
    )  # fmt: skip
    r = run_cli("import", "registrants", str(legacy), "--facility", "chuo-rojin")
    assert r.exit_code == 0, r
    assert pg.scalar("SELECT count(*) FROM registrants WHERE legacy_no = '0001'") == 1
    r = run_cli("import", "registrants", str(legacy), "--facility", "chuo-rojin")
    assert r.exit_code == 0 and "1 unchanged" in r.stderr, r


@pg_only
def test_the_daily_work_runs_through_the_policies(pg, runtime, monkeypatch):
    """Counter work, certificates and the duplicate check, as the runtime role."""
    import json

    regs = scope_world.build_city(pg)
    _apply()
    monkeypatch.setenv("RESV_DATABASE_URL", runtime)
    scope_world.login(pg, "fm-sato")
    r = run_cli(
        "registrant", "add", "--facility", "chuo-rojin", "--name", "鈴木 花子",
        "--kana", "スズキ ハナコ", "--dob", "1950-01-01", "--phone", "0476-99-0000",
    )  # fmt: skip
    assert r.exit_code == 0, r
    new_id = pg.scalar("SELECT max(id) FROM registrants")
    r = run_cli("registrant", "update", str(new_id), "--address", "印西市木下1")
    assert r.exit_code == 0, r
    r = run_cli("registrant", "issue-certificate", str(new_id))
    assert r.exit_code == 0, r
    # the purpose-bound check looks into the other senior centres, as without policies
    r = run_cli(
        "registrant", "check-duplicate", "--name", "高橋 花子", "--dob", "1948-05-03",
        "--reason", "申請 12", "-f", "json",
    )  # fmt: skip
    assert r.exit_code == 0, r
    assert {row["facility"] for row in json.loads(r.stdout)} == {"chuo-rojin", "honme-rojin"}
    # out of scope answers as missing
    r = run_cli("registrant", "show", str(regs["honme"]))
    assert r.exit_code != 0 and f"registrant {regs['honme']} not found" in r.stderr
