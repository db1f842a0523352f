"""resv db schema / check / upgrade, and schema.sql kept in sync with the code."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import create_pg_database, drop_pg_database, require_pg

from resv_cli.core.db import check_schema, get_engine, schema_ddl
from resv_cli.core.errors import EXIT_INTEGRITY
from resv_cli.core.migrations import head_revision

ROOT = Path(__file__).resolve().parents[1]


def test_schema_sql_matches_the_code(cli):
    result = cli("db", "schema", "--dialect", "postgresql")
    assert result.exit_code == 0, result
    assert (ROOT / "schema.sql").read_text("utf-8") == result.stdout, (
        "schema.sql is stale: run `resv db schema > schema.sql`"
    )


def test_sqlite_schema_prints(cli):
    result = cli("db", "schema", "--dialect", "sqlite")
    assert result.exit_code == 0
    assert "CREATE TABLE audit_events" in result.stdout
    assert "tr_audit_events_no_delete" in result.stdout


def test_schema_sql_builds_a_database_that_matches_the_definitions():
    """Load schema.sql into a real PostgreSQL database; compare it with the models."""
    require_pg()
    import psycopg
    from support import psycopg_dsn

    db = create_pg_database()
    try:
        with psycopg.connect(psycopg_dsn(db.url), autocommit=True) as conn:
            conn.execute((ROOT / "schema.sql").read_text("utf-8"))
        engine = get_engine(db.url)
        with engine.begin() as conn:
            from resv_cli.core import migrations

            migrations.stamp_head(conn)
        problems = check_schema(engine)
        assert problems == []
    finally:
        drop_pg_database(db)


def test_check_passes_on_a_fresh_database(installation, cli):
    result = cli("db", "check")
    assert result.exit_code == 0, result
    assert result.stdout.strip() == "ok"


def test_check_detects_a_drifted_schema(installation, cli):
    with installation.engine().begin() as conn:
        conn.exec_driver_sql("ALTER TABLE facilities ADD COLUMN rogue_column INTEGER")
        conn.exec_driver_sql("DROP INDEX ix_registrants_dob_bidx")
    result = cli("db", "check")
    assert result.exit_code == EXIT_INTEGRITY
    assert "Error: database does not match this version's schema (2 problem(s))" in result.stderr
    assert "rogue_column" in result.stderr
    assert "ix_registrants_dob_bidx" in result.stderr


def test_check_detects_a_missing_trigger(installation, cli):
    with installation.engine().begin() as conn:
        if installation.backend == "sqlite":
            conn.exec_driver_sql("DROP TRIGGER tr_audit_events_no_delete")
            missing = "tr_audit_events_no_delete"
        else:
            conn.exec_driver_sql("DROP TRIGGER tr_audit_events_no_update ON audit_events")
            missing = "tr_audit_events_no_update"
    result = cli("db", "check")
    assert result.exit_code == EXIT_INTEGRITY
    assert f"missing trigger or constraint: {missing}" in result.stderr


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_head_revision_is_the_newest_migration_file(backend):
    from resv_cli.core.migrations import HERE

    newest = max(p.name.split("_")[0] for p in (HERE / "versions").glob("0*.py"))
    assert head_revision() == newest


def test_upgrade_on_current_database_is_a_no_op(installation, cli):
    result = cli("db", "upgrade")
    assert result.exit_code == 0, result
    assert f"Already at revision {head_revision()}." in result.stderr


def test_upgrade_builds_an_empty_database(db_url, cli):
    assert cli("key", "init").exit_code == 0  # the key-encryption key comes first (0007)
    result = cli("db", "upgrade")
    assert result.exit_code == 0, result
    assert f"Upgraded from an empty database to revision {head_revision()}." in result.stderr
    assert check_schema(get_engine(db_url)) == []


def test_audit_table_refuses_update_and_delete(installation):
    import pytest
    from sqlalchemy.exc import DBAPIError

    for sql in ("UPDATE audit_events SET action='x'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError) as info:
            with installation.engine().begin() as conn:
                conn.exec_driver_sql(sql)
        assert "append-only" in str(info.value)


def test_ddl_differs_by_dialect():
    assert "EXCLUDE USING gist" in schema_ddl("postgresql")
    assert "EXCLUDE" not in schema_ddl("sqlite")


def test_upgrade_from_0002_gives_each_account_its_place_of_work(installation, cli):
    """Revision 0003 on a database as 0002 left it: places of work from facility_id."""
    from factories import make_account, make_facility, make_org

    make_org(installation, "inzai-fm")
    make_facility(installation, "chuo-rojin", "senior_welfare_centre")
    make_account(installation, "op-1", "inzai-fm", role="operator", facility="chuo-rojin")
    engine = installation.engine()
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE account_workplaces")
        conn.exec_driver_sql("DROP TABLE duplicate_check_rules")
        conn.exec_driver_sql("ALTER TABLE accounts DROP COLUMN all_managed_facilities")
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0002'")
    engine.dispose()
    r = cli("db", "upgrade")
    assert r.exit_code == 0, r
    assert f"Upgraded from 0002 to revision {head_revision()}." in r.stderr
    assert installation.rows(
        "SELECT a.login_id, f.code FROM account_workplaces w JOIN accounts a ON a.id = "
        "w.account_id JOIN facilities f ON f.id = w.facility_id"
    ) == [("op-1", "chuo-rojin")]
    assert installation.scalar("SELECT count(*) FROM accounts WHERE all_managed_facilities") == 0
    assert check_schema(get_engine(installation.url)) == []
    # the upgrade is in the history, in its own transaction's event, and the chain holds
    events = installation.rows(
        "SELECT action, outcome, login_id, detail FROM audit_events "
        "WHERE action = 'db.upgrade' ORDER BY seq"
    )
    assert [(a, o, who) for a, o, who, _detail in events] == [("db.upgrade", "allowed", None)]
    import json

    assert json.loads(events[0][3]) == {
        "dialect": installation.backend,
        "revision_from": "0002",
        "revision_to": head_revision(),
    }
    assert cli("audit", "verify").exit_code == 0
    # at head again: nothing to change, nothing recorded
    assert cli("db", "upgrade").exit_code == 0
    assert installation.scalar("SELECT count(*) FROM audit_events WHERE action = 'db.upgrade'") == 1


def test_a_failed_upgrade_records_nothing_and_changes_nothing(installation, cli):
    # without the audit key the event cannot be written: the migrations roll back with it
    from resv_cli.audit import keys

    engine = installation.engine()
    with engine.begin() as conn:  # as 0005 left it (see test_registrant_indexes)
        conn.exec_driver_sql("DROP INDEX ix_registrants_facility_id_kana_key")
        conn.exec_driver_sql("CREATE INDEX ix_registrants_kana_key ON registrants (kana_key)")
        conn.exec_driver_sql("CREATE INDEX ix_registrants_name_key ON registrants (name_key)")
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0005'")
    engine.dispose()
    key = keys.key_file()
    saved = key.read_bytes()
    key.unlink()
    try:
        r = cli("db", "upgrade")
    finally:
        key.write_bytes(saved)
        key.chmod(0o600)
    assert r.exit_code == 1
    assert r.stderr.strip() == (
        f"Error: audit key file {key} is missing; copy the installation's key file there "
        "or set RESV_AUDIT_KEY_FILE"
    )
    assert installation.scalar("SELECT version_num FROM alembic_version") == "0005"
    assert installation.scalar("SELECT count(*) FROM audit_events WHERE action = 'db.upgrade'") == 0
    # the migration's own change was rolled back with the missing event
    r = cli("db", "upgrade")
    assert r.exit_code == 0, r
    assert f"Upgraded from 0005 to revision {head_revision()}." in r.stderr
