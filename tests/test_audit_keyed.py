"""The keyed chain against someone who can write the database but does not hold the key.

Issue 14's "done when": the history is rewritten the way an attacker with
database write access would -- edit and re-MAC without the key, delete and
renumber, reorder, truncate, swap in another installation's events, rewrite the
keyed events as unkeyed ones -- and ``audit verify`` catches every one without
any anchor; the cut tail is caught with the anchor a monthly report holds, and
with a signed anchor file.  All on a real database, through the CLI where a
monitor would run it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select, text
from support import disable_audit_triggers, enable_audit_triggers

from resv_cli.audit import chain as audit
from resv_cli.audit import keys
from resv_cli.audit.verify import verify_chain
from resv_cli.core.db import transaction
from resv_cli.core.models import AuditEvent

T = AuditEvent.__table__
EVENTS = 30


def _populate(engine, n: int = EVENTS) -> None:
    with transaction(engine) as s:
        for i in range(n):
            audit.record(
                s,
                None,
                ("registrant.view", "booking.add", "auth.login")[i % 3],
                resource_type="registrant",
                resource_id=i,
                facility_code="cosmos" if i % 2 else None,
                outcome=("allowed", "denied")[i % 2],
                detail={"rows": i},
                login_id="op-1",
            )


def _rows(conn, from_seq: int = 1) -> list[dict]:
    rows = conn.execute(select(T).where(T.c.seq >= from_seq).order_by(T.c.seq))
    return [dict(r._mapping) for r in rows]


def _forge(row: dict, prev: str, how: str, key: keys.AuditKey | None) -> tuple[str | None, str]:
    """(key_id, hash) of ``row`` re-chained onto ``prev`` the way an attacker would."""
    values = [row[f] for f in audit.FIELDS]
    values[1] = audit.canonical_time(values[1])
    values[11] = prev
    canon = audit.canonical_form(*values)
    if how == "sha":  # rewrite as a version-1 event: plain SHA-256, no key
        return None, hashlib.sha256(canon).hexdigest()
    assert key is not None
    kid = key.id if how == "foreign" else row["key_id"]
    mac = hmac.new(key.mac_key, canon + b"\x1f" + kid.encode(), "sha256").hexdigest()
    return kid, mac


def _rechain(conn, from_seq: int, how: str, key: keys.AuditKey | None = None) -> None:
    """Re-link and re-hash every event from ``from_seq`` on (the attacker's tidy-up)."""
    prev = (
        audit.GENESIS
        if from_seq == 1
        else conn.execute(select(T.c.hash).where(T.c.seq == from_seq - 1)).scalar_one()
    )
    for row in _rows(conn, from_seq):
        kid, digest = _forge(row, prev, how, key)
        # the hash column is unique: park it first
        conn.execute(
            T.update()
            .where(T.c.seq == row["seq"])
            .values(prev_hash=prev, key_id=kid, hash=f"x{row['seq']}")
        )
        conn.execute(T.update().where(T.c.seq == row["seq"]).values(hash=digest))
        prev = digest


ATTACKER_KEY = keys.new_key(1)  # a key the attacker made up: not the installation's


def _attack(conn, kind: str) -> int:
    """Apply one rewrite; return the first event verify must name."""
    head = conn.execute(text("SELECT max(seq) FROM audit_events")).scalar_one()
    k = 7
    if kind == "edit+remac":
        conn.execute(T.update().where(T.c.seq == k).values(outcome="allowed", detail='{"rows":0}'))
        _rechain(conn, k, "guess", ATTACKER_KEY)
        return k
    if kind == "edit+rehash-unkeyed":
        conn.execute(T.update().where(T.c.seq == k).values(detail='{"rows":99}'))
        _rechain(conn, k, "sha")
        return k
    if kind == "delete+renumber":
        conn.execute(T.delete().where(T.c.seq == k))
        conn.execute(T.update().where(T.c.seq > k).values(seq=-(T.c.seq - 1)))
        conn.execute(T.update().where(T.c.seq < 0).values(seq=-T.c.seq))
        _rechain(conn, k, "guess", ATTACKER_KEY)
        return k
    if kind == "reorder":
        conn.execute(T.update().where(T.c.seq == k).values(seq=-1))
        conn.execute(T.update().where(T.c.seq == k + 1).values(seq=k))
        conn.execute(T.update().where(T.c.seq == -1).values(seq=k + 1))
        _rechain(conn, k, "guess", ATTACKER_KEY)
        return k
    if kind == "foreign-installation":
        # another installation's history, MACed under its own (valid) key
        _rechain(conn, 1, "foreign", ATTACKER_KEY)
        return 1
    if kind == "whole-downgrade":
        _rechain(conn, 1, "sha")
        return 1
    if kind == "truncate":
        conn.execute(T.delete().where(T.c.seq > head - 3))
        return head - 2
    raise AssertionError(kind)


KINDS = [
    "edit+remac",
    "edit+rehash-unkeyed",
    "delete+renumber",
    "reorder",
    "foreign-installation",
    "whole-downgrade",
]


@pytest.fixture
def populated(installation):
    engine = installation.engine()
    _populate(engine)
    assert verify_chain(engine).ok
    return engine


@pytest.mark.parametrize("kind", KINDS)
def test_rewrites_without_the_key_are_caught_without_an_anchor(populated, kind):
    with populated.connect() as conn:
        trans = conn.begin()
        try:
            disable_audit_triggers(conn)
            first_bad = _attack(conn, kind)
            result = verify_chain(conn)  # no anchor at all
            assert not result.ok, (kind, result.message)
            assert result.first_bad_seq == first_bad, (kind, result.message)
            assert "altered" in result.message or "link" in result.message, result.message
        finally:
            trans.rollback()
    assert verify_chain(populated).ok  # the rollback left the real history intact


def test_a_cut_tail_needs_an_anchor_and_the_monthly_report_holds_one(installation, cli, tmp_path):
    engine = installation.engine()
    _populate(engine)
    r = cli("report", "monthly", "--month", "2026-11", "--output", str(tmp_path / "r.xlsx"))
    assert r.exit_code == 0, r
    detail = json.loads(
        installation.scalar(
            "SELECT detail FROM audit_events WHERE action = 'report.export' ORDER BY seq DESC"
        )
    )
    # the head the cover prints is recorded with the export too
    assert len(detail["chain_head_hash"]) == 64
    head = detail["chain_head_seq"]
    ok = cli("audit", "verify", "--anchor-from", str(tmp_path / "r.xlsx"), "-f", "json")
    assert ok.exit_code == 0, ok
    assert "1 anchor(s) matched" in json.loads(ok.stdout)["message"]
    # the attacker cuts the last events, up to and including the report's head
    with engine.begin() as conn:
        disable_audit_triggers(conn)
        conn.execute(T.delete().where(T.c.seq >= head - 2))
    plain = cli("audit", "verify")
    assert plain.exit_code == 0, plain  # a clean cut leaves a valid shorter chain ...
    cut = cli("audit", "verify", "--anchor-from", str(tmp_path / "r.xlsx"))
    assert cut.exit_code == 8, cut  # ... which the report's anchor exposes
    assert "events were cut off the tail (anchor from r.xlsx)" in cut.stderr


def test_report_anchor_catches_a_rewritten_head(installation, cli, tmp_path):
    engine = installation.engine()
    _populate(engine)
    out = tmp_path / "report.xlsx"
    r = cli("report", "monthly", "--month", "2026-11", "--lang", "en", "-o", str(out))
    assert r.exit_code == 0, r
    seq = json.loads(
        installation.scalar(
            "SELECT detail FROM audit_events WHERE action = 'report.export' ORDER BY seq DESC"
        )
    )["chain_head_seq"]
    with engine.begin() as conn:
        disable_audit_triggers(conn)
        conn.execute(T.update().where(T.c.seq == seq).values(hash="f" * 64))
    r = cli("audit", "verify", "--anchor-from", str(out))
    assert r.exit_code == 8
    assert f"event {seq}" in r.stderr and "audit history broken" in r.stderr


def test_report_anchor_refuses_a_file_that_is_not_a_report(installation, cli, tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.title = "Sheet"
    wb.save(tmp_path / "other.xlsx")
    r = cli("audit", "verify", "--anchor-from", str(tmp_path / "other.xlsx"))
    assert r.exit_code == 1
    assert "other.xlsx: no cover sheet" in r.stderr
    (tmp_path / "text.xlsx").write_text("not a zip")
    r = cli("audit", "verify", "--anchor-from", str(tmp_path / "text.xlsx"))
    assert r.exit_code == 1 and "text.xlsx: not an xlsx monthly report" in r.stderr
    # a missing file, with or without an xlsx name, and a file of another kind
    r = cli("audit", "verify", "--anchor-from", str(tmp_path / "gone"))
    assert r.exit_code == 1 and "gone: no such report file" in r.stderr
    r = cli("audit", "verify", "--anchor-from", str(tmp_path / "gone.xlsx"))
    assert r.exit_code == 1 and "gone.xlsx: no such report file" in r.stderr
    (tmp_path / "report.pdf").write_text("%PDF-1.4")
    r = cli("audit", "verify", "--anchor-from", str(tmp_path / "report.pdf"))
    assert r.exit_code == 1 and "report.pdf: not an xlsx monthly report" in r.stderr


def test_signed_anchor_file_round_trip_and_forgeries(installation, cli, tmp_path):
    engine = installation.engine()
    _populate(engine, 5)
    r = cli("audit", "signing-key", "--private-out", "monitor.key", "--public-out", "monitor.pub")
    assert r.exit_code == 0, r
    assert r.stdout.startswith("SHA256:")
    assert (Path("monitor.key").stat().st_mode & 0o777) == 0o600
    r = cli("audit", "anchor", "--output", "a1.json", "--signing-key", "monitor.key")
    assert r.exit_code == 0, r
    seq, digest = r.stdout.strip().split(":")
    doc = json.loads(Path("a1.json").read_text())
    assert (doc["seq"], doc["hash"], doc["taken_by"]) == (int(seq), digest, "it-admin")
    assert (Path("a1.json").stat().st_mode & 0o777) == 0o600
    # checkable with the public key alone: no database, no audit key
    shutil.copy("a1.json", tmp_path / "elsewhere.json")
    Path(keys.key_file()).rename(tmp_path / "key.aside")
    r = cli(
        "audit", "check-anchor", str(tmp_path / "elsewhere.json"), "--public-key", "monitor.pub"
    )
    assert r.exit_code == 0, r
    assert digest in r.stdout
    (tmp_path / "key.aside").rename(keys.key_file())
    # the history checks against it
    r = cli("audit", "verify", "--anchor-file", "a1.json", "--public-key", "monitor.pub")
    assert r.exit_code == 0, r
    # an edited anchor (to hide a later cut) fails its signature: exit 8
    doc["seq"] = int(seq) - 2
    Path("forged.json").write_text(json.dumps(doc))
    r = cli("audit", "check-anchor", "forged.json", "--public-key", "monitor.pub")
    assert r.exit_code == 8
    assert "forged.json: the signature does not verify with monitor.pub" in r.stderr
    # one re-signed with another key fails against the monitor's public key
    r = cli("audit", "signing-key", "--private-out", "evil.key", "--public-out", "evil.pub")
    assert r.exit_code == 0, r
    r = cli("audit", "anchor", "--output", "evil.json", "--signing-key", "evil.key")
    assert r.exit_code == 0, r
    r = cli("audit", "verify", "--anchor-file", "evil.json", "--public-key", "monitor.pub")
    assert r.exit_code == 8 and "signed with another key" in r.stderr
    # without the public key the file proves nothing: refused
    r = cli("audit", "verify", "--anchor-file", "a1.json")
    assert r.exit_code == 1 and "--anchor-file needs --public-key" in r.stderr
    # the signing key file is never overwritten
    r = cli("audit", "signing-key", "--private-out", "monitor.key", "--public-out", "x.pub")
    assert r.exit_code == 1 and "monitor.key already exists" in r.stderr
    # and a cut tail below the signed anchor is caught
    with engine.begin() as conn:
        disable_audit_triggers(conn)
        conn.execute(T.delete().where(T.c.seq >= int(seq) - 1))
    r = cli("audit", "verify", "--anchor-file", "a1.json", "--public-key", "monitor.pub")
    assert r.exit_code == 8
    assert "events were cut off the tail (anchor from a1.json)" in r.stderr


def test_rotation_old_key_cannot_continue_the_chain(installation, cli, tmp_path):
    engine = installation.engine()
    _populate(engine, 4)
    old_file = tmp_path / "old.key"
    shutil.copy(keys.key_file(), old_file)
    old_key = keys.load().current()
    r = cli("audit", "key", "rotate", "-f", "json")
    assert r.exit_code == 0, r
    out = json.loads(r.stdout)
    assert out["previous_key_id"] == old_key.id and out["key_id"] != old_key.id
    start = out["chain_from"]
    ring = keys.load()
    assert [k.id for k in ring.keys] == [old_key.id, out["key_id"]]
    assert ring.in_force(start).id == out["key_id"] and ring.in_force(start - 1).id == old_key.id
    ev = installation.scalar(f"SELECT action FROM audit_events WHERE seq = {start}")
    assert ev == "audit.key_rotate"
    _populate(engine, 3)
    assert cli("audit", "verify").exit_code == 0
    # the status shows identifiers, never secrets
    r = cli("audit", "key", "status", "-f", "json")
    assert r.exit_code == 0, r
    assert old_key.secret not in r.stdout and ring.current().secret not in r.stdout
    assert json.loads(r.stdout)["current_key"] == out["key_id"]
    # someone holding the old (perhaps leaked) key forges the newest event under it
    with engine.begin() as conn:
        disable_audit_triggers(conn)
        last = conn.execute(text("SELECT max(seq) FROM audit_events")).scalar_one()
        conn.execute(T.update().where(T.c.seq == last).values(detail='{"rows":42}'))
        row = _rows(conn, last)[0]
        row["key_id"] = old_key.id
        prev = row["prev_hash"]
        kid, digest = _forge(row, prev, "guess", old_key)
        conn.execute(T.update().where(T.c.seq == last).values(key_id=kid, hash=digest))
    r = cli("audit", "verify")
    assert r.exit_code == 8
    assert f"event {last} was altered (chained under key {old_key.id}" in r.stderr
    # a machine still holding the old key file cannot write at all now
    shutil.copy(old_file, keys.key_file())
    r = cli("audit", "anchor")
    assert r.exit_code == 1
    assert f"which the key file {keys.key_file()} does not hold" in r.stderr


def test_lost_key_procedure(installation, cli):
    engine = installation.engine()
    _populate(engine, 3)
    lost_id = keys.load().current().id
    keys.key_file().unlink()
    r = cli("audit", "key", "status")
    assert r.exit_code == 1
    assert "is missing (the history names keys: " + lost_id in r.stderr
    r = cli("audit", "key", "rotate", "--lost", "-f", "json")
    assert r.exit_code == 0, r
    out = json.loads(r.stdout)
    assert out["previous_key_lost"] is True and out["previous_key_id"] == lost_id
    ring = keys.load()
    assert ring.by_id(lost_id).lost and ring.by_id(lost_id).chain_from == 1
    r = cli("audit", "verify")
    assert r.exit_code == 0, r
    assert f"chained under the lost key {lost_id}" in r.stderr
    # a second --lost while a usable key exists is refused
    r = cli("audit", "key", "rotate", "--lost")
    assert r.exit_code == 1
    assert "still holds a usable key: rotate without --lost" in r.stderr


def test_a_group_readable_key_file_is_refused(installation, cli):
    keys.key_file().chmod(0o640)
    r = cli("audit", "verify")
    assert r.exit_code == 1
    assert "must be readable by its owner only (chmod 600)" in r.stderr


def test_another_database_cannot_reuse_a_rotated_key_file(installation, cli, tmp_path):
    assert cli("audit", "key", "rotate").exit_code == 0
    other = tmp_path / "other.db"
    r = cli(
        "--db", str(other), "db", "init", "--admin", "adm", "--name", "管理 者",
        "--password-stdin", input="Kyou-wa-ii-tenki-desu-ne-42\n",
    )  # fmt: skip
    assert r.exit_code == 1
    assert "belongs to another history" in r.stderr


def test_keyed_chain_survives_the_keyed_hash_of_terms(installation):
    """Search terms are keyed with the current key: the same secret as 0.1 used."""
    ring = keys.load()
    expected = hmac.new(ring.current().mac_key, "山田".encode(), "sha256").hexdigest()
    assert audit.keyed_hash("山田") == expected


def _make_it_a_0_1_installation(installation) -> str:
    """Turn the installation into what resv 0.1 left: SHA-256 events, no key_id, one-line key."""
    secret = keys.load().current().secret
    engine = installation.engine()
    with engine.begin() as conn:
        disable_audit_triggers(conn)
        _rechain(conn, 1, "sha")
        conn.exec_driver_sql("ALTER TABLE audit_events DROP COLUMN key_id")
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0001'")
        enable_audit_triggers(conn)
    engine.dispose()
    keys.key_file().write_text(secret + "\n")
    return secret


def test_a_0_1_history_is_migrated_and_both_versions_verified(installation, cli):
    secret = _make_it_a_0_1_installation(installation)
    r = cli("db", "upgrade")
    assert r.exit_code == 0, r
    assert installation.scalar("SELECT count(*) FROM audit_events WHERE key_id IS NULL") >= 2
    r = cli("audit", "verify")
    assert r.exit_code == 0, r
    assert "the history is not keyed yet: run `resv audit key upgrade`" in r.stderr
    r = cli("audit", "key", "upgrade", "-f", "json")
    assert r.exit_code == 0, r
    out = json.loads(r.stdout)
    start = out["chain_from"]
    assert out["key_id"] == keys.key_id_of(secret)  # the same secret, now pinned
    ring = keys.load()
    assert not ring.legacy and ring.keyed_from == start
    assert installation.scalar(f"SELECT action FROM audit_events WHERE seq = {start}") == (
        "audit.key_upgrade"
    )
    engine = installation.engine()
    _populate(engine, 5)
    r = cli("audit", "verify", "-f", "json")
    assert r.exit_code == 0, r
    assert installation.scalar(f"SELECT count(*) FROM audit_events WHERE seq < {start} "
                               "AND key_id IS NOT NULL") == 0  # fmt: skip
    assert installation.scalar(f"SELECT count(*) FROM audit_events WHERE seq >= {start} "
                               "AND key_id IS NULL") == 0  # fmt: skip
    # a second upgrade is refused
    r = cli("audit", "key", "upgrade")
    assert r.exit_code == 1 and f"already keyed from event {start}" in r.stderr
    # downgrading the keyed part to version 1 is caught at the switch-over
    with engine.connect() as conn:
        trans = conn.begin()
        disable_audit_triggers(conn)
        _rechain(conn, start, "sha")
        result = verify_chain(conn)
        trans.rollback()
    assert not result.ok and result.first_bad_seq == start
    assert "not keyed, inside the keyed chain" in result.message
    # rewriting the version-1 part (SHA-256 needs no key) breaks the switch-over's link
    with engine.connect() as conn:
        trans = conn.begin()
        disable_audit_triggers(conn)
        conn.execute(T.update().where(T.c.seq == 1).values(detail='{"x":1}'))
        prev = audit.GENESIS
        for row in _rows(conn, 1):
            if row["seq"] >= start:
                break
            kid, digest = _forge(row, prev, "sha", None)
            conn.execute(
                T.update().where(T.c.seq == row["seq"]).values(prev_hash=prev, hash=digest)
            )
            prev = digest
        result = verify_chain(conn)
        trans.rollback()
    assert not result.ok and result.first_bad_seq == start
    assert f"event {start} does not link" in result.message


def test_json_outputs_always_carry_a_result_object(installation, cli):
    """verify -f json prints the verdict even when broken; list -f json gives detail as object."""
    engine = installation.engine()
    _populate(engine, 4)
    r = cli("audit", "list", "--action", "registrant.view", "-f", "json")
    assert r.exit_code == 0, r
    rows = json.loads(r.stdout)
    assert rows and all(isinstance(row["detail"], dict) for row in rows)
    assert rows[0]["detail"] == {"rows": 0}
    ok = json.loads(cli("audit", "verify", "-f", "json").stdout)
    assert (ok["ok"], ok["reason"], ok["first_bad_seq"]) == (True, None, None)
    with engine.begin() as conn:
        disable_audit_triggers(conn)
        conn.execute(T.update().where(T.c.seq == 3).values(outcome="denied"))
    r = cli("audit", "verify", "-f", "json")
    assert r.exit_code == 8
    out = json.loads(r.stdout)
    assert (out["ok"], out["first_bad_seq"], out["reason"]) == (False, 3, "altered")
    assert "event 3 was altered" in r.stderr
