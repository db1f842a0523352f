"""The audit chain: canonical form in SQL equals Python's, verify, append-only triggers."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import literal_column, select, text

from resv_cli import audit
from resv_cli.audit_verify import chain_head, parse_anchor, verify_chain
from resv_cli.db import transaction
from resv_cli.errors import InputError
from resv_cli.models import AuditEvent


def _add_events(engine, n: int) -> None:
    with transaction(engine) as s:
        for i in range(n):
            audit.record(
                s,
                None,
                "test.event",
                resource_type="registrant" if i % 2 else None,
                resource_id=i if i % 3 else None,
                facility_code="中央-rojin" if i % 4 == 0 else "",
                outcome=("allowed", "denied", "failed")[i % 3],
                detail={"n": i, "note": "日本語\x1f:~5:", "empty": ""},
                login_id="it-\x1fweird" if i == 3 else None,
            )


def test_sql_canonical_form_equals_python_and_hash(installation):
    engine = installation.engine()
    _add_events(engine, 12)
    with engine.connect() as conn:
        t = AuditEvent.__table__
        canon = literal_column(audit.canonical_sql(conn.dialect.name)).label("canon")
        cols = [t.c[name] for name in audit.FIELDS]
        rows = list(conn.execute(select(*cols, t.c.hash, canon).order_by(t.c.seq)))
    assert len(rows) >= 14  # db.init, login, 12 test events
    for r in rows:
        values = list(r[: len(audit.FIELDS)])
        values[1] = audit.format_time(values[1])
        py = audit.canonical_text(values)
        assert r.canon == py
        assert hashlib.sha256(py.encode()).hexdigest() == r.hash


def test_verify_passes_then_detects_an_edit(installation):
    engine = installation.engine()
    _add_events(engine, 5)
    result = verify_chain(engine)
    assert result.ok, result.message
    with transaction(engine) as s:
        head = chain_head(s)
    assert (result.head_seq, result.head_hash) == head
    assert result.first_bad_seq is None
    assert verify_chain(engine, anchor=f"{head[0]}:{head[1]}").ok
    conn = engine.connect()
    trans = conn.begin()
    try:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("ALTER TABLE audit_events DISABLE TRIGGER USER")
        else:
            conn.exec_driver_sql("DROP TRIGGER tr_audit_events_no_update")
        conn.execute(text("UPDATE audit_events SET action = 'x' WHERE seq = 3"))
        bad = verify_chain(conn)
        assert not bad.ok
        assert bad.first_bad_seq == 3
        assert "event 3 was altered" in bad.message
    finally:
        trans.rollback()
        conn.close()
    assert verify_chain(engine).ok


def test_anchor_detects_cut_tail_and_bad_hash(installation):
    engine = installation.engine()
    _add_events(engine, 3)
    seq, digest = verify_chain(engine).head_seq, verify_chain(engine).head_hash
    r = verify_chain(engine, anchor=(seq + 2, digest))
    assert not r.ok and r.first_bad_seq == seq + 1
    assert "cut off the tail" in r.message
    r = verify_chain(engine, anchor=(seq, "0" * 64))
    assert not r.ok and r.first_bad_seq == seq
    assert "differs from the anchor" in r.message


def test_parse_anchor_refuses_garbage():
    assert parse_anchor("12:" + "a" * 64) == (12, "a" * 64)
    for bad in ("12", "x:" + "a" * 64, "12:abc", "12:" + "g" * 64):
        with pytest.raises(InputError, match="--anchor must be SEQ:HASH"):
            parse_anchor(bad)


@pytest.mark.parametrize(
    "stmt", ["UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events"]
)
def test_triggers_refuse_update_and_delete(installation, stmt):
    from sqlalchemy.exc import DatabaseError

    with pytest.raises(DatabaseError, match="append-only"):
        with installation.engine().begin() as conn:
            conn.execute(text(stmt))
    assert installation.scalar("SELECT count(*) FROM audit_events") >= 2


def test_truncate_refused_on_postgresql(installation):
    if installation.backend != "postgresql":
        pytest.skip("TRUNCATE exists only on PostgreSQL")
    from sqlalchemy.exc import DatabaseError

    for table in ("audit_events", "audit_archives"):
        with pytest.raises(DatabaseError, match="append-only"):
            with installation.engine().begin() as conn:
                conn.exec_driver_sql(f"TRUNCATE {table}")


def test_archive_table_is_append_only(installation):
    from sqlalchemy.exc import DatabaseError

    with installation.engine().begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_archives (first_seq, last_seq, last_hash, file_name, "
                "file_sha256, created_at) VALUES (1, 1, :h, 'f', :h, :t)"
            ),
            {"h": "0" * 64, "t": audit.format_time(__import__("resv_cli.clock").clock.now())},
        )
    for stmt in ("UPDATE audit_archives SET last_seq = 2", "DELETE FROM audit_archives"):
        with pytest.raises(DatabaseError, match="append-only"):
            with installation.engine().begin() as conn:
                conn.execute(text(stmt))
