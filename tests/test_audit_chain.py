"""The audit chain: canonical form in SQL equals Python's, verify, append-only triggers."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from sqlalchemy import select, text

from resv_cli.audit import chain as audit
from resv_cli.audit import keys
from resv_cli.audit.verify import chain_head, parse_anchor, verify_chain
from resv_cli.core import clock
from resv_cli.core.db import transaction
from resv_cli.core.errors import InputError
from resv_cli.core.models import AuditEvent


def _add_events(engine, n: int) -> None:
    with transaction(engine) as s:
        for i in range(n):
            audit.record(
                s,
                None,
                "audit.show",
                resource_type="registrant" if i % 2 else None,
                resource_id=i if i % 3 else None,
                facility_code="中央-rojin" if i % 4 == 0 else "",
                outcome=("allowed", "denied", "failed")[i % 3],
                detail={"rows": i, "file": "日本語\x1f:None", "kind": "", "value": None},
                login_id="職員 一" if i == 3 else None,
                account_id=i if i % 2 else None,
            )


def test_driver_rows_give_the_same_canonical_form_as_record(installation):
    """What verify builds from raw driver rows equals what record() hashed."""
    engine = installation.engine()
    _add_events(engine, 12)
    with engine.connect() as conn:
        t = AuditEvent.__table__
        typed = list(conn.execute(select(t).order_by(t.c.seq)))
        raw_cur = conn.connection.driver_connection.cursor()
        raw_cur.execute(audit.verify_select_sql(conn.dialect.name))
        raw = raw_cur.fetchall()
    assert len(typed) == len(raw) >= 14  # db.init, login, 12 test events
    for ev, row in zip(typed, raw, strict=True):
        values = [getattr(ev, f) for f in audit.FIELDS]
        values[1] = audit.canonical_time(values[1])
        expected = audit.canonical_form(*values)
        got = audit.canonical_text(row[:12])
        assert got.encode() == expected
        assert audit.well_formed(row[:12], got)
        # a new installation is keyed from its first event: an HMAC under the key file's key
        key = keys.load().in_force(ev.seq)
        assert key is not None and row[12] == ev.key_id == key.id
        assert (
            hmac.new(key.mac_key, expected + b"\x1f" + key.id.encode(), "sha256").hexdigest()
            == (row[13])
            == ev.hash
        )
        assert hashlib.sha256(expected).hexdigest() != ev.hash


@pytest.mark.parametrize("bad", ["None", "a\x1fb", "tab\there", "\x7f"])
def test_record_refuses_values_that_would_blur_the_encoding(installation, bad):
    with pytest.raises(ValueError, match="may not be 'None' or hold control characters"):
        with transaction(installation.engine()) as s:
            audit.record(s, None, "audit.show", resource_id=bad)


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
            {"h": "0" * 64, "t": audit.canonical_time(clock.now())},
        )
    for stmt in ("UPDATE audit_archives SET last_seq = 2", "DELETE FROM audit_archives"):
        with pytest.raises(DatabaseError, match="append-only"):
            with installation.engine().begin() as conn:
                conn.execute(text(stmt))
