"""resv audit list / show / anchor / verify / archive, through the CLI."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import pytest
from sqlalchemy import text

from resv_cli.audit import chain as audit
from resv_cli.core.db import transaction
from tests import factories


def _add(inst, action: str, when: dt.datetime, facility: str | None = None, outcome="allowed"):
    import resv_cli.core.clock as clock_mod

    orig = clock_mod.now
    clock_mod.now = lambda: when  # type: ignore[assignment]
    try:
        with transaction(inst.engine()) as s:
            audit.record(s, None, action, facility_code=facility, outcome=outcome, login_id="x-1")
    finally:
        clock_mod.now = orig  # type: ignore[assignment]


def test_list_filters_and_formats(installation, cli):
    t0 = dt.datetime(2026, 4, 1, 0, 30, tzinfo=dt.UTC)  # 09:30 JST on 1 April
    _add(installation, "booking.add", t0, "cosmos")
    _add(installation, "registrant.view", t0 + dt.timedelta(hours=16), "cosmos", "denied")
    _add(installation, "registrant.search", t0 + dt.timedelta(days=1), "chuo-rojin")
    r = cli("audit", "list", "--from", "2026-04-01", "--to", "2026-04-01", "--format", "json")
    assert r.exit_code == 0, r
    got = json.loads(r.stdout)
    # 16:30 UTC on 1 April is 01:30 JST on 2 April: outside --to 2026-04-01
    assert [e["action"] for e in got] == ["booking.add"]
    r = cli("audit", "list", "--action", "registrant.*", "--format", "csv")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[0].startswith("seq,occurred_at,login_id")
    assert len(lines) == 3
    r = cli("audit", "list", "--outcome", "denied", "--facility", "cosmos", "--format", "json")
    assert [e["action"] for e in json.loads(r.stdout)] == ["registrant.view"]
    r = cli("audit", "list", "--account", "x-1", "--limit", "2", "--format", "json")
    assert len(json.loads(r.stdout)) == 2
    r = cli("audit", "list", "--account", "it-admin", "--action", "audit.list")
    assert r.exit_code == 0 and "audit.list" in r.stdout
    # every read above is itself recorded, with its filters
    details = [
        json.loads(d)
        for (d,) in installation.rows(
            "SELECT detail FROM audit_events WHERE action = 'audit.list' ORDER BY seq"
        )
    ]
    assert details[0] == {"from": "2026-04-01", "to": "2026-04-01", "rows": 1}
    assert len(details) == 5


def test_list_bad_dates(installation, cli):
    r = cli("audit", "list", "--from", "2026-13-01")
    assert r.exit_code == 1
    assert "Error: --from: impossible date (no such month or day), got '2026-13-01'" in r.stderr
    r = cli("audit", "list", "--from", "April")
    assert r.exit_code == 1
    assert r.stderr == (
        "Error: --from must be a date like 2017-04-01, 2017/4/1, 20170401, 2017年4月1日, "
        "平成29年4月1日, H29.4.1, got 'April'\n"
    )
    r = cli("audit", "list", "--from", "令和8年4月1日", "--to", "R8.4.1", "-f", "json")
    assert r.exit_code == 0, r.stderr
    r = cli("audit", "list", "--from", "2026-04-02", "--to", "2026-04-01")
    assert r.exit_code == 1
    assert "--to is before --from" in r.stderr


def test_show(installation, cli):
    r = cli("audit", "show", "2", "--format", "json")
    assert r.exit_code == 0, r
    ev = json.loads(r.stdout)
    assert ev["seq"] == 2 and ev["action"] == "auth.login" and len(ev["hash"]) == 64
    assert isinstance(ev["detail"], dict)
    r = cli("audit", "show", "999")
    assert r.exit_code == 1
    assert "no audit event 999" in r.stderr
    assert installation.scalar("SELECT count(*) FROM audit_events WHERE action = 'audit.show'") == 1


def test_operator_is_refused_and_the_refusal_recorded(installation, cli):
    factories.make_account(installation, "op-1", "city", role="operator")
    assert installation.login("op-1", factories.DEFAULT_PASSWORD).exit_code == 0
    for args, action in (
        (["audit", "list"], "audit.list"),
        (["audit", "show", "1"], "audit.show"),
        (["audit", "verify"], "audit.verify"),
        (["audit", "anchor"], "audit.anchor"),
        (["audit", "archive", "--before", "2999-01-01", "-o", "x.gz"], "audit.archive"),
    ):
        r = cli(*args)
        assert r.exit_code == 6, r
        assert f"permission denied: {action} needs the" in r.stderr
        assert r.stdout == ""
        row = installation.rows(
            "SELECT login_id, outcome FROM audit_events ORDER BY seq DESC LIMIT 1"
        )[0]
        assert (row[0], row[1]) == ("op-1", "denied")
    assert not Path("x.gz").exists()


def test_monitor_may_read_but_not_archive(installation, cli):
    factories.make_account(installation, "mon-1", "city", role="monitor")
    assert installation.login("mon-1", factories.DEFAULT_PASSWORD).exit_code == 0
    assert cli("audit", "list").exit_code == 0
    assert cli("audit", "verify").exit_code == 0
    r = cli("audit", "archive", "--before", "2999-01-01", "-o", "x.gz")
    assert r.exit_code == 6
    assert "audit.archive needs the admin role" in r.stderr


def test_anchor_verify_and_cut_tail(installation, cli):
    r = cli("audit", "anchor")
    assert r.exit_code == 0
    seq_text, digest = r.stdout.strip().split(":")
    assert installation.scalar("SELECT hash FROM audit_events WHERE seq = :s", s=int(seq_text)) == (
        digest
    )
    assert (
        installation.scalar("SELECT action FROM audit_events WHERE seq = :s", s=int(seq_text))
        == "audit.anchor"
    )
    v = cli("audit", "verify", "--anchor", r.stdout.strip(), "--format", "json")
    assert v.exit_code == 0, v
    assert json.loads(v.stdout)["ok"] is True
    # cut the tail (as someone with the owner's rights could) and verify again
    with installation.engine().begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("ALTER TABLE audit_events DISABLE TRIGGER USER")
        else:
            conn.exec_driver_sql("DROP TRIGGER tr_audit_events_no_delete")
        conn.execute(text("DELETE FROM audit_events WHERE seq >= :s"), {"s": int(seq_text)})
    v = cli("audit", "verify", "--anchor", r.stdout.strip())
    assert v.exit_code == 8
    assert f"anchor {seq_text} was taken later: events were cut off the tail" in v.stderr
    assert cli("audit", "verify").exit_code == 0  # a chain alone cannot see a cut tail
    # the events appended since re-use the cut numbers: the anchor still tells
    v = cli("audit", "verify", "--anchor", r.stdout.strip())
    assert v.exit_code == 8
    assert f"event {seq_text} differs from the anchor" in v.stderr
    v = cli("audit", "verify", "--anchor", "nonsense")
    assert v.exit_code == 1
    assert "--anchor must be SEQ:HASH" in v.stderr


def test_verify_names_the_first_bad_event(installation, cli):
    for _ in range(3):
        assert cli("audit", "anchor").exit_code == 0
    with installation.engine().begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("ALTER TABLE audit_events DISABLE TRIGGER USER")
        else:
            conn.exec_driver_sql("DROP TRIGGER tr_audit_events_no_update")
        conn.execute(text("UPDATE audit_events SET outcome = 'denied' WHERE seq = 3"))
    r = cli("audit", "verify")
    assert r.exit_code == 8
    assert "Error: audit history broken: event 3 was altered (hash mismatch)" in r.stderr
    last = installation.rows(
        "SELECT action, outcome, resource_id FROM audit_events ORDER BY seq DESC LIMIT 1"
    )[0]
    assert tuple(last) == ("audit.verify", "failed", "3")


def test_archive_round_trip(installation, cli, tmp_path, monkeypatch):
    import resv_cli.core.clock as clock_mod

    r = cli("audit", "archive", "--before", "2999-01-01", "--output", "a1.jsonl.gz")
    assert r.exit_code == 0, r
    assert "Archived events 1..2 (2)" in r.stderr
    assert installation.scalar("SELECT min(seq) FROM audit_events") == 3
    real_now = clock_mod.now()
    _add(installation, "booking.add", real_now)
    # a month later: the events above are older than the cut-off day
    later = real_now + dt.timedelta(days=30)
    monkeypatch.setattr(clock_mod, "now", lambda: later)
    installation.login_admin()
    cutoff = (real_now + dt.timedelta(days=15)).astimezone(clock_mod.JST).date().isoformat()
    a2 = tmp_path / "a2.jsonl.gz"
    r = cli("audit", "archive", "--before", cutoff, "--output", str(a2))
    assert r.exit_code == 0, r
    assert "Archived events 3..4 (2)" in r.stderr
    with gzip.open(a2, "rt", encoding="utf-8") as fh:
        lines = [json.loads(x) for x in fh]
    assert lines[0]["format"] == "resv-audit-archive" and lines[0]["first_seq"] == 3
    assert [e["seq"] for e in lines[1:]] == [3, 4]
    assert lines[2]["occurred_at"] == audit.canonical_time(real_now)
    # both archives and the live table check as one chain; order of files does not matter
    r = cli("audit", "verify", "--archive", str(a2), "--archive", "a1.jsonl.gz")
    assert r.exit_code == 0, r
    r = cli("audit", "verify")
    assert r.exit_code == 0
    assert "events 1..4 are archived and were not re-checked" in r.stderr
    assert installation.scalar("SELECT min(seq) FROM audit_events") == 5
    r = cli("audit", "verify", "--archive", str(a2))
    assert r.exit_code == 0
    assert "events 1..2 are archived" in r.stderr
    r = cli("audit", "show", "3")
    assert r.exit_code == 1 and "it was archived to a2.jsonl.gz" in r.stderr
    # an edited archive file is caught
    bad = tmp_path / "bad.jsonl.gz"
    lines[2]["action"] = "booking.cancel"
    with gzip.open(bad, "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps(x) + "\n" for x in lines)
    r = cli("audit", "verify", "--archive", "a1.jsonl.gz", "--archive", str(bad))
    assert r.exit_code == 8
    assert "differs from the archive recorded in the database" in r.stderr
    # the same edit with the recorded checksum out of the picture: the hash catches it
    from resv_cli.audit.verify import verify_chain

    res = verify_chain(installation.engine(), archives=[bad])
    assert not res.ok and res.first_bad_seq == 3
    # refuses to overwrite, and to archive nothing
    r = cli("audit", "archive", "--before", cutoff, "--output", str(a2))
    assert r.exit_code == 1 and "already exists" in r.stderr
    r = cli("audit", "archive", "--before", "2000-01-01", "--output", "none.gz")
    assert r.exit_code == 1 and "no audit events before 2000-01-01" in r.stderr
    assert not Path("none.gz").exists()


def test_archive_deletion_only_through_the_archive_path(installation):
    """The trigger lets DELETE through only for events covered by an archive record."""
    from sqlalchemy.exc import DatabaseError

    with pytest.raises(DatabaseError, match="append-only"):
        with installation.engine().begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SET LOCAL resv.audit_archive = 'on'")
            conn.execute(text("DELETE FROM audit_events WHERE seq = 1"))
    with installation.engine().begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_archives (first_seq, last_seq, last_hash, file_name, "
                "file_sha256, created_at) VALUES (1, 1, :h, 'f', :h, :t)"
            ),
            {"h": "0" * 64, "t": dt.datetime.now(dt.UTC).replace(tzinfo=None)},
        )
    if installation.backend == "postgresql":
        # without the transaction setting even a recorded prefix stays
        with pytest.raises(DatabaseError, match="append-only"):
            with installation.engine().begin() as conn:
                conn.execute(text("DELETE FROM audit_events WHERE seq = 1"))
    with pytest.raises(DatabaseError, match="append-only"):
        with installation.engine().begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SET LOCAL resv.audit_archive = 'on'")
            conn.execute(text("DELETE FROM audit_events WHERE seq = 2"))
    with installation.engine().begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL resv.audit_archive = 'on'")
        conn.execute(text("DELETE FROM audit_events WHERE seq = 1"))
    assert installation.scalar("SELECT min(seq) FROM audit_events") == 2


def test_forged_archive_record_is_caught(installation, cli):
    """On SQLite a file owner could add an archive record to delete a prefix: verify sees it."""
    cli("audit", "anchor")
    head = installation.scalar("SELECT max(seq) FROM audit_events")
    last_hash = installation.scalar("SELECT hash FROM audit_events WHERE seq = 2")
    with installation.engine().begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_archives (first_seq, last_seq, last_hash, file_name, "
                "file_sha256, created_at) VALUES (1, 2, :h, 'gone.jsonl.gz', :z, :t)"
            ),
            {"h": last_hash, "z": "0" * 64, "t": dt.datetime.now(dt.UTC).replace(tzinfo=None)},
        )
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL resv.audit_archive = 'on'")
        conn.execute(text("DELETE FROM audit_events WHERE seq <= 2"))
    r = cli("audit", "verify")
    assert r.exit_code == 8
    assert "archive record of events 1..2 has no matching audit.archive event" in r.stderr
    assert installation.scalar("SELECT max(seq) FROM audit_events") == head + 1


def test_damaged_archive_file_is_reported(installation, cli, tmp_path):
    r = cli("audit", "archive", "--before", "2999-01-01", "--output", "a.jsonl.gz")
    assert r.exit_code == 0, r
    data = Path("a.jsonl.gz").read_bytes()
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(data[: len(data) - 12])  # truncated gzip stream
    from resv_cli.audit.verify import verify_chain

    res = verify_chain(installation.engine(), archives=[cut])
    assert not res.ok
    assert "differs from the archive recorded" in res.message or "damaged" in res.message
    r = cli("audit", "verify", "--archive", str(cut))
    assert r.exit_code == 8
    assert "Error: audit history broken:" in r.stderr
