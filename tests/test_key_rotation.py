"""resv key status | rotate | rewrap: keys as a procedure, audited and resumable.

Rotation moves every sealed value to a new data key in committed batches and
retires the old key; killed by a real SIGKILL half-way, rows under both keys stay
readable and running it again finishes.  Rewrapping changes the key-encryption
key without touching a row.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from factories import assign, make_facility, make_registrant
from support import Installation

from resv_cli.core.errors import EXIT_DENIED

RESV = str(Path(sys.executable).with_name("resv"))
ROWS = 12


@pytest.fixture
def sealed(installation: Installation) -> tuple[Installation, list[int]]:
    """ROWS registrants with every sealed field, under the installation's first data key."""
    import datetime as dt

    make_facility(installation, "chuo-rojin", "senior_welfare_centre")
    assign(installation, "chuo-rojin", "city", dt.date(2000, 4, 1))
    ids = [
        make_registrant(
            installation, "chuo-rojin", f"利用者 {i:02d}", date_of_birth=dt.date(1940, 1, 1 + i),
            phone=f"0476-55-{i:04d}", address=f"印西市草深{i}", emergency_name=f"家族 {i:02d}",
            emergency_phone=f"090-5555-{i:04d}", phone_extension="3" if i % 3 == 0 else None,
        )
        for i in range(ROWS)
    ]  # fmt: skip
    return installation, ids


def _status(cli: Any) -> dict[str, Any]:
    r = cli("key", "status", "-f", "json")
    assert r.exit_code == 0, r
    return json.loads(r.stdout)


def _data_keys(status: dict[str, Any]) -> dict[str, tuple[str, int]]:
    return {k["key_id"]: (k["state"], k["rows"]) for k in status["keys"] if k["purpose"] == "data"}


def _opened(inst: Installation) -> list[tuple[Any, ...]]:
    return inst.clear_rows(
        "SELECT id, address, phone, phone_extension, emergency_name, emergency_phone, "
        "date_of_birth FROM registrants ORDER BY id"
    )


def _events(inst: Installation, action: str) -> list[dict[str, Any]]:
    return [
        json.loads(d)
        for (d,) in inst.rows(
            "SELECT detail FROM audit_events WHERE action = :a ORDER BY seq", a=action
        )
    ]


def test_status_shows_each_key_and_the_rows_under_it(sealed, cli):
    inst, ids = sealed
    out = _status(cli)
    (data,) = _data_keys(out).items()
    assert data[1] == ("active", ROWS)
    assert [k["purpose"] for k in out["keys"]].count("index") == 1
    assert out["encrypt_date_of_birth"] is False
    from resv_cli.core.config import data_key_file

    assert out["kek_source"] == str(data_key_file())
    assert "secret" not in json.dumps(out) and "wrapped" not in json.dumps(out)
    assert _events(inst, "key.status")[-1]["keys"] == [k["key_id"] for k in out["keys"]]
    table = cli("key", "status").stdout
    assert "active" in table and "index" in table


def test_rotate_reseals_every_row_and_retires_the_old_key(sealed, cli):
    inst, ids = sealed
    before = _opened(inst)
    (old,) = _data_keys(_status(cli))
    r = cli("key", "rotate", "--batch-size", "5", "-f", "json")
    assert r.exit_code == 0, r
    out = json.loads(r.stdout)
    assert out["rows_resealed"] == ROWS and out["retired_key"] == old and out["resumed"] is False
    assert f"re-sealed {ROWS} of {ROWS} registrants" in r.stderr
    keys = _data_keys(_status(cli))
    assert keys == {old: ("retired", 0), out["key_id"]: ("active", ROWS)}
    assert inst.scalar("SELECT count(*) FROM registrants WHERE address_enc LIKE :p", p=f"v1:{old}:%") == 0
    assert _opened(inst) == before
    assert [e["event"] for e in _events(inst, "key.rotate")] == ["start", "finish"]
    assert _events(inst, "key.rotate")[-1]["updated"] == ROWS
    # a second rotation starts from the new key
    r = cli("key", "rotate", "-f", "json")
    assert json.loads(r.stdout)["retired_key"] == out["key_id"]
    assert _opened(inst) == before


def test_rotation_killed_half_way_leaves_both_keys_readable_and_finishes(sealed, cli):
    inst, ids = sealed
    before = _opened(inst)
    (old,) = _data_keys(_status(cli))
    env = {**os.environ, "RESV_TEST_CRASH_AT": "key.rotate.batch2", "RESV_LANG": "en"}
    proc = subprocess.run(
        [RESV, "key", "rotate", "--batch-size", "4"], env=env, capture_output=True, text=True
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    keys = _data_keys(_status(cli))
    (new,) = [k for k, (state, _n) in keys.items() if state == "active"]
    assert keys == {old: ("retiring", ROWS - 8), new: ("active", 8)}
    assert _opened(inst) == before  # rows under the old key and under the new one
    note = cli("key", "status").stderr
    assert "Note: a rotation is under way: run `resv key rotate` to finish it" in note
    # a registrant written meanwhile is sealed under the new key
    import datetime as dt

    late = make_registrant(inst, "chuo-rojin", "途中 登録", date_of_birth=dt.date(1950, 1, 1),
                           address="印西市途中1")  # fmt: skip
    assert inst.scalar("SELECT address_enc FROM registrants WHERE id = :i", i=late).startswith(
        f"v1:{new}:"
    )
    r = cli("key", "rotate", "--batch-size", "4", "-f", "json")
    assert r.exit_code == 0, r
    out = json.loads(r.stdout)
    assert out == {
        "key_id": new, "retired_key": old, "resumed": True, "rows_resealed": ROWS - 8,
        "encrypt_date_of_birth": False,
    }  # fmt: skip
    assert _data_keys(_status(cli)) == {old: ("retired", 0), new: ("active", ROWS + 1)}
    assert _opened(inst)[:ROWS] == before
    assert [e["event"] for e in _events(inst, "key.rotate")] == ["start", "resume", "finish"]


def test_rotate_encrypt_dob_seals_the_dates_from_then_on(sealed, cli):
    inst, ids = sealed
    before = _opened(inst)
    r = cli("key", "rotate", "--encrypt-dob", "-f", "json")
    assert r.exit_code == 0, r
    assert json.loads(r.stdout)["encrypt_date_of_birth"] is True
    assert inst.scalar("SELECT count(*) FROM registrants WHERE date_of_birth IS NOT NULL") == 0
    assert inst.scalar("SELECT count(*) FROM registrants WHERE date_of_birth_enc IS NULL") == 0
    assert _opened(inst) == before
    assert _status(cli)["encrypt_date_of_birth"] is True


def test_rewrap_changes_the_key_encryption_key_and_no_row(sealed, cli, tmp_path):
    inst, ids = sealed
    from resv_cli.core.config import data_key_file

    stored = inst.rows("SELECT * FROM registrants ORDER BY id")
    old_file = data_key_file().read_bytes()
    old_kek = _status(cli)["kek_id"]
    r = cli("key", "rewrap", "-f", "json")
    assert r.exit_code == 0, r
    out = json.loads(r.stdout)
    assert out["previous_kek_id"] == old_kek and out["kek_id"] != old_kek
    assert f"copy {data_key_file()} to every machine that runs resv" in r.stderr
    assert inst.rows("SELECT * FROM registrants ORDER BY id") == stored
    assert [k["id"] for k in json.loads(data_key_file().read_text())["keys"]] == [out["kek_id"]]
    assert _events(inst, "key.rewrap")[-1]["previous_kek_id"] == old_kek
    before = _opened(inst)
    data_key_file().write_bytes(old_file)  # the old key file no longer opens anything
    r = cli("key", "status")
    assert r.exit_code == 0
    assert f"wrapped under the key-encryption key {out['kek_id']}, which {data_key_file()}" in (
        r.stderr
    )
    from resv_cli.core.errors import ResvError

    with pytest.raises(ResvError, match="does not hold"):
        _opened(inst)
    assert before[0][1] == "印西市草深0"


def test_an_interrupted_rewrap_is_finished_by_running_it_again(sealed, cli):
    inst, ids = sealed
    from resv_cli.core import kek

    before = _opened(inst)
    old = kek.load_file()
    both = kek.LocalKeks(old.source, (*old.keys, kek.new_kek()), old.path)
    kek.save(both)  # killed after writing the file, before the database was rewrapped
    assert _opened(inst) == before
    r = cli("key", "rewrap", "-f", "json")
    assert r.exit_code == 0, r
    assert json.loads(r.stdout)["kek_id"] == both.keys[-1].id
    assert [k.id for k in kek.load_file().keys] == [both.keys[-1].id]
    assert _opened(inst) == before
    # killed after the database commit, before the old key left the file
    again = kek.LocalKeks(old.source, (old.keys[0], both.keys[-1]), old.path)
    kek.save(again)
    r = cli("key", "rewrap", "-f", "json")
    assert r.exit_code == 0, r
    assert [k.id for k in kek.load_file().keys] == [both.keys[-1].id]
    assert _opened(inst) == before


def test_rewrap_with_the_key_in_the_environment_needs_the_next_one(db_url, cli, monkeypatch):
    from support import ADMIN_LOGIN, ADMIN_PASSWORD

    first, second = "11" * 32, "22" * 32
    monkeypatch.setenv("RESV_DATA_KEK", first)
    r = cli("db", "init", "--admin", ADMIN_LOGIN, "--password-stdin", input=ADMIN_PASSWORD + "\n")
    assert r.exit_code == 0, r
    assert "Created the key-encryption key" not in r.stderr
    assert cli("login", ADMIN_LOGIN, "--password-stdin", input=ADMIN_PASSWORD + "\n").exit_code == 0
    assert _status(cli)["kek_source"] == "RESV_DATA_KEK"
    r = cli("key", "rewrap")
    assert r.exit_code == 1
    assert r.stderr == (
        "Error: the key-encryption key comes from RESV_DATA_KEK: put the new one in "
        "RESV_DATA_KEK_NEW (64 hex digits) and run `resv key rewrap` again\n"
    )
    monkeypatch.setenv("RESV_DATA_KEK_NEW", second)
    r = cli("key", "rewrap")
    assert r.exit_code == 0, r
    assert "set RESV_DATA_KEK to the value of RESV_DATA_KEK_NEW" in r.stderr
    monkeypatch.delenv("RESV_DATA_KEK_NEW")
    assert "Note:" in cli("key", "status").stderr  # the old key opens nothing now
    monkeypatch.setenv("RESV_DATA_KEK", second)
    assert "Note:" not in cli("key", "status").stderr


@pytest.mark.parametrize("command", [["rotate"], ["rewrap"], ["status"]])
def test_an_operator_may_not_touch_the_keys(sealed, cli, command):
    inst, ids = sealed
    from factories import DEFAULT_PASSWORD, make_account, make_org

    make_org(inst, "inzai-fm")
    make_account(inst, "fm-op", "inzai-fm", "operator", facility="chuo-rojin")
    assert inst.login("fm-op", DEFAULT_PASSWORD).exit_code == 0
    r = cli("key", *command)
    assert r.exit_code == EXIT_DENIED
    action = f"key.{command[0]}"
    assert r.stderr == (
        f"Error: permission denied: {action} needs the admin{' or monitor' if command == ['status'] else ''} "
        "role (you are operator)\n"
    )
    assert inst.rows(
        "SELECT outcome FROM audit_events WHERE action = :a AND login_id = 'fm-op'", a=action
    ) == [("denied",)]


def test_rotate_refuses_a_batch_size_below_one(sealed, cli):
    r = cli("key", "rotate", "--batch-size", "0")
    assert r.exit_code == 1
    assert r.stderr == "Error: --batch-size must be positive\n"
