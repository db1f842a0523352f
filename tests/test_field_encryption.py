"""Field encryption (issue 18): the fraud-prone fields sealed at rest, opened for who may see them.

A copy of the database (the SQLite file, a ``pg_dump``) holds none of the test
addresses, phones or emergency contacts in clear; search, the duplicate checks,
import, show and update work as before; a ciphertext moved to another row or
field does not open, with a clear error that names no value; without the
key-encryption key nothing sealed opens; an older database is sealed by
``resv db upgrade`` once the key file exists.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
from legacy_files import run_import, write_csv
from scope_world import HANDOVER, at, build_city, login
from support import ADMIN_LOGIN, ADMIN_PASSWORD, psycopg_dsn

from resv_cli.core.errors import EXIT_INTEGRITY

PG_DUMP = "/usr/lib/postgresql/15/bin/pg_dump"
# the personal values of the tests below: none may be stored in clear
SECRETS = (
    "印西市大森1-1", "0476-11-1111", "0476111111", "髙橋 一郎", "090-1111-2222", "09011112222",
    "印西市本埜1", "0476-33-3333", "高橋 次郎", "090-3333-4444",
    "印西市牧の原77-7", "0476-77-7777", "0476777777", "牧野 七海", "080-7777-0000",
    "印西市小林9-9", "0476-99-1234", "0476991234", "小林 九郎", "090-9999-1234",
)  # fmt: skip
NEW = {
    "address": "印西市牧の原77-7",
    "phone": "0476-77-7777 内線 77",
    "emergency-name": "牧野 七海",
    "emergency-phone": "080-7777-0000",
}


@pytest.fixture
def city(installation: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, dict[str, Any]]:
    regs = build_city(installation)
    at(monkeypatch, HANDOVER)
    login(installation, "fm-sato")
    return installation, regs


def _add(cli: Any, *extra: str) -> Any:
    args = [f"--{k}={v}" for k, v in NEW.items()]
    return cli("registrant", "add", "--facility", "chuo-rojin", "--name", "牧野 一美",
               "--dob", "1939-09-09", *args, *extra, "-f", "json")  # fmt: skip


def _legacy_file(tmp_path: Path) -> Path:
    return write_csv(
        tmp_path / "legacy.csv",
        [["個人", "9001", "小林 一子", "コバヤシ イチコ", "S10.1.1", "270-1392", "印西市小林9-9",
          "0476-99-1234", "小林 九郎", "090-9999-1234", "", ""]],
    )  # fmt: skip


def database_bytes(inst: Any) -> bytes:
    """What a copy of the database holds: the SQLite file (and its WAL), or a pg_dump."""
    from resv_cli.core.db import get_engine

    if inst.backend == "sqlite":
        path = Path(get_engine(inst.url).url.database)
        get_engine(inst.url).dispose()
        con = sqlite3.connect(path)  # what a backup copies: the WAL folded into the file
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.close()
        copy = path.with_name("copy.db")
        shutil.copyfile(path, copy)
        wal = path.with_name(path.name + "-wal")
        return copy.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    dump = subprocess.run(
        [PG_DUMP, "--no-owner", psycopg_dsn(inst.url)], capture_output=True, check=True
    )
    return dump.stdout


def clear_values_in(data: bytes, values: tuple[str, ...] = SECRETS) -> list[str]:
    return [v for v in values if v.encode("utf-8") in data]


def test_a_copy_of_the_database_holds_no_sealed_value_in_clear(city, cli, tmp_path):
    inst, _regs = city
    assert _add(cli).exit_code == 0
    inst.login_admin()
    assert run_import(cli, _legacy_file(tmp_path)).exit_code == 0
    data = database_bytes(inst)
    assert clear_values_in(data) == []
    # the grep does see what is stored in clear: names, postal codes
    assert clear_values_in(data, ("牧野 一美", "小林 一子", "270-1392")) == [
        "牧野 一美", "小林 一子", "270-1392",
    ]  # fmt: skip


def test_show_update_and_search_open_what_the_reader_may_see(city, cli):
    inst, regs = city
    r = _add(cli)
    assert r.exit_code == 0, r
    rid = json.loads(r.stdout)["id"]
    shown = json.loads(cli("registrant", "show", str(rid), "-f", "json").stdout)
    assert (shown["address"], shown["phone"], shown["emergency_name"]) == (
        "印西市牧の原77-7", "0476-77-7777 内線77", "牧野 七海",
    )  # fmt: skip
    assert shown["emergency_phone"] == "080-7777-0000"
    found = json.loads(cli("registrant", "search", "--phone", "０４７６７７７７７７", "-f", "json").stdout)
    assert [f["id"] for f in found] == [rid]
    found = json.loads(cli("registrant", "search", "--dob", "S14.9.9", "-f", "json").stdout)
    assert [(f["id"], f["date_of_birth"]) for f in found] == [(rid, "1939-09-09")]
    # the other centre's person with the same phone digits is out of scope: not found
    assert json.loads(cli("registrant", "search", "--phone", "0476-33-3333", "-f", "json").stdout) == []
    assert cli("registrant", "update", str(rid), "--phone", "0476-12-3456").exit_code == 0
    assert json.loads(cli("registrant", "search", "--phone", "0476777777", "-f", "json").stdout) == []
    found = json.loads(cli("registrant", "search", "--phone", "0476123456", "-f", "json").stdout)
    assert [f["id"] for f in found] == [rid]
    shown = json.loads(cli("registrant", "show", str(rid), "-f", "json").stdout)
    assert shown["phone"] == "0476-12-3456" and shown["address"] == "印西市牧の原77-7"
    # the counter's likely-duplicate check compares the date by its blind index
    again = _add(cli)
    assert again.exit_code == 1
    assert f"registrant {rid} at chuo-rojin has the same name, kind and date of birth" in again.stderr


def test_the_duplicate_check_and_issuing_compare_blind_indexes(city, cli):
    inst, regs = city
    r = cli("registrant", "check-duplicate", "--name", "高橋 花子", "--kana", "タカハシ ハナコ",
            "--dob", "1948-05-03", "--reason", "申請 17-001", "-f", "json")  # fmt: skip
    assert r.exit_code == 0, r
    assert {m["facility"] for m in json.loads(r.stdout)} == {"chuo-rojin", "honme-rojin"}
    r = cli("registrant", "issue-certificate", str(regs["chuo"]), "-f", "json")
    assert r.exit_code == 0, r


def test_a_ciphertext_moved_to_another_row_or_field_does_not_open(city, cli):
    inst, regs = city
    chuo = regs["chuo"]
    other = _add(cli)
    assert other.exit_code == 0
    other_id = json.loads(other.stdout)["id"]
    with inst.engine().begin() as conn:  # someone who can write the database swaps two values
        conn.exec_driver_sql(
            "UPDATE registrants SET address_enc = (SELECT address_enc FROM registrants "
            f"WHERE id = {other_id}) WHERE id = {chuo}"
        )
    r = cli("registrant", "show", str(chuo))
    assert r.exit_code == EXIT_INTEGRITY
    assert r.stderr == (
        f"Error: registrants record {chuo}: the sealed address cannot be opened: it was moved "
        "from another record or field, or altered\n"
    )
    assert clear_values_in(r.stderr.encode()) == [] and "牧の原" not in r.stderr
    with inst.engine().begin() as conn:  # within one row: the phone's value as the address
        conn.exec_driver_sql(
            f"UPDATE registrants SET address_enc = phone_enc WHERE id = {other_id}"
        )
    r = cli("registrant", "show", str(other_id))
    assert r.exit_code == EXIT_INTEGRITY
    assert "the sealed address cannot be opened" in r.stderr and "0476" not in r.stderr
    # a value relabelled with another key id does not open either
    with inst.engine().begin() as conn:
        token = conn.exec_driver_sql(f"SELECT phone_enc FROM registrants WHERE id = {chuo}").scalar()
        forged = "v1:00000000:" + token.split(":", 2)[2]
        conn.exec_driver_sql(f"UPDATE registrants SET phone_enc = '{forged}' WHERE id = {chuo}")
    r = cli("registrant", "show", str(chuo))
    assert r.exit_code == EXIT_INTEGRITY


def test_without_the_key_file_nothing_sealed_opens(city, cli):
    inst, regs = city
    from resv_cli.core.config import data_key_file

    data_key_file().unlink()
    r = cli("registrant", "show", str(regs["chuo"]))
    assert r.exit_code == 1
    assert r.stderr.startswith(f"Error: data key file {data_key_file()} is missing: copy the")
    # a search by name opens nothing (the date of birth is not sealed here)
    r = cli("registrant", "search", "--name", "髙橋", "-f", "json")
    assert r.exit_code == 0 and len(json.loads(r.stdout)) == 1
    r = cli("registrant", "search", "--phone", "0476-11-1111")
    assert r.exit_code == 1 and "is missing" in r.stderr


def test_a_key_file_others_can_read_is_refused(city, cli):
    inst, regs = city
    from resv_cli.core.config import data_key_file

    data_key_file().chmod(0o644)
    r = cli("registrant", "show", str(regs["chuo"]))
    assert r.exit_code == 1
    assert r.stderr == (
        f"Error: data key file {data_key_file()} must be readable by its owner only (chmod 600)\n"
    )


def test_dates_of_birth_sealed_when_chosen_at_init(db_url, cli, monkeypatch):
    r = cli("db", "init", "--admin", ADMIN_LOGIN, "--encrypt-dob", "--password-stdin",
            input=ADMIN_PASSWORD + "\n")  # fmt: skip
    assert r.exit_code == 0, r
    assert "Created the key-encryption key" in r.stderr
    from support import Installation

    inst = Installation(db_url, "sqlite" if db_url.startswith("sqlite") else "postgresql")
    build_city(inst)
    at(monkeypatch, HANDOVER)
    login(inst, "fm-sato")
    rows = inst.rows("SELECT date_of_birth, date_of_birth_enc, dob_bidx FROM registrants")
    assert rows and all(r[0] is None for r in rows)
    assert all(r[1].startswith("v1:") for r in rows if r[2] is not None)
    found = json.loads(cli("registrant", "search", "--dob", "1948-05-03", "-f", "json").stdout)
    assert [(f["name"], f["date_of_birth"]) for f in found] == [("髙橋 花子", "1948-05-03")]
    assert _add(cli).exit_code == 0
    assert _add(cli).exit_code == 1  # the likely duplicate, by the sealed date's index
    r = cli("registrant", "check-duplicate", "--name", "高橋 花子", "--dob", "1948-05-03",
            "--reason", "申請 17-002", "-f", "json")  # fmt: skip
    assert {m["facility"] for m in json.loads(r.stdout)} == {"chuo-rojin", "honme-rojin"}
    data = database_bytes(inst)
    assert b"1939-09-09" not in data and b"1948-05-03" not in data


def _as_0006(inst: Any) -> None:
    """Put the registrants table back as revision 0006 left it, with values in clear."""
    from sqlalchemy import text

    engine = inst.engine()
    clear = {  # registrant -> (address, phone, digits, extension, emergency name, phone)
        "髙橋 花子": ("印西市大森1-1", "0476-11-1111", "0476111111", None, "髙橋 一郎",
                     "090-1111-2222"),
        "高橋 花子": ("印西市本埜1", "0476-33-3333", "0476333333", "12", "高橋 次郎",
                     "090-3333-4444"),
    }  # fmt: skip
    with engine.begin() as conn:
        for index in ("ix_registrants_dob_bidx", "ix_registrants_phone_bidx"):
            conn.exec_driver_sql(f"DROP INDEX {index}")
        for column in ("date_of_birth_enc", "dob_bidx", "address_enc", "phone_enc", "phone_bidx",
                       "phone_extension_enc", "emergency_name_enc", "emergency_phone_enc"):
            conn.exec_driver_sql(f"ALTER TABLE registrants DROP COLUMN {column}")  # fmt: skip
        for column, sql_type in (("address", "VARCHAR(300)"), ("phone", "VARCHAR(40)"),
                                 ("phone_digits", "VARCHAR(20)"), ("phone_extension", "VARCHAR(10)"),
                                 ("emergency_name", "VARCHAR(200)"), ("emergency_phone", "VARCHAR(40)")):
            conn.exec_driver_sql(f"ALTER TABLE registrants ADD COLUMN {column} {sql_type}")  # fmt: skip
        conn.exec_driver_sql("CREATE INDEX ix_registrants_date_of_birth ON registrants (date_of_birth)")
        conn.exec_driver_sql("CREATE INDEX ix_registrants_phone_digits ON registrants (phone_digits)")
        for name, values in clear.items():
            conn.execute(
                text("UPDATE registrants SET address = :a, phone = :p, phone_digits = :d, "
                     "phone_extension = :x, emergency_name = :en, emergency_phone = :ep "
                     "WHERE name = :n"),
                dict(zip(("a", "p", "d", "x", "en", "ep"), values, strict=True), n=name),
            )  # fmt: skip
        conn.exec_driver_sql("DROP TABLE data_keys")
        conn.exec_driver_sql("DELETE FROM settings WHERE key = 'encrypt_date_of_birth'")
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0006'")
    engine.dispose()


def test_upgrade_from_0006_seals_every_row_once_the_key_file_exists(city, cli):
    inst, regs = city
    from resv_cli.core.config import data_key_file
    from resv_cli.core.db import check_schema, get_engine
    from resv_cli.core.migrations import head_revision

    _as_0006(inst)
    inst.login_admin()
    data_key_file().unlink()
    r = cli("db", "upgrade")
    assert r.exit_code == 1
    assert r.stderr == (
        "Error: revision 0007 seals the registrants' addresses, phones and emergency contacts "
        "under a key-encryption key kept outside the database, and there is none: run "
        f"`resv key init` first (it makes {data_key_file()}; keep a copy offline), or set "
        "RESV_DATA_KEK; nothing was changed\n"
    )
    assert inst.scalar("SELECT version_num FROM alembic_version") == "0006"
    r = cli("key", "init", "-f", "json")
    assert r.exit_code == 0, r
    assert json.loads(r.stdout)["file"] == str(data_key_file())
    assert data_key_file().stat().st_mode & 0o777 == 0o600
    r = cli("db", "upgrade")
    assert r.exit_code == 0, r
    assert f"Upgraded from 0006 to revision {head_revision()}." in r.stderr
    assert check_schema(get_engine(inst.url)) == []
    login(inst, "fm-sato")
    shown = json.loads(cli("registrant", "show", str(regs["chuo"]), "-f", "json").stdout)
    assert (shown["address"], shown["phone"], shown["emergency_phone"]) == (
        "印西市大森1-1", "0476-11-1111", "090-1111-2222",
    )  # fmt: skip
    found = json.loads(cli("registrant", "search", "--phone", "0476111111", "-f", "json").stdout)
    assert [f["id"] for f in found] == [regs["chuo"]]
    assert clear_values_in(database_bytes(inst)) == []


def test_key_init_refuses_an_existing_file_and_a_key_in_the_environment(installation, cli, monkeypatch):
    from resv_cli.core.config import data_key_file

    before = data_key_file().read_bytes()
    r = cli("key", "init")
    assert r.exit_code == 1
    assert r.stderr == f"Error: data key file {data_key_file()} already exists; nothing was changed\n"
    assert data_key_file().read_bytes() == before
    monkeypatch.setenv("RESV_DATA_KEK", "ab" * 32)
    r = cli("key", "init")
    assert r.exit_code == 1
    assert r.stderr == (
        "Error: RESV_DATA_KEK is set: the key-encryption key comes from it; no file was made\n"
    )
    monkeypatch.setenv("RESV_DATA_KEK", "not-a-key")
    r = cli("key", "init")
    assert r.exit_code == 1
    assert r.stderr == (
        "Error: RESV_DATA_KEK must hold 64 hex digits (a 256-bit key, e.g. `openssl rand -hex "
        "32`)\n"
    )


def test_the_importer_finds_unchanged_rows_and_people_through_sealed_fields(installation, cli, tmp_path):
    inst = installation
    import factories as f

    f.make_facility(inst, "chuo-rojin", "senior_welfare_centre")
    f.assign(inst, "chuo-rojin", "city", dt.date(2000, 4, 1))
    legacy = _legacy_file(tmp_path)
    assert run_import(cli, legacy).exit_code == 0
    r = run_import(cli, legacy)  # every sealed field compared, opened: unchanged
    assert "1 read = 0 imported + 0 updated + 1 unchanged" in r.stderr
    other = write_csv(
        tmp_path / "other.csv",
        [["個人", "", "小林 一子", "", "S10.1.1", "", "", "", "", "", "", ""]],
    )
    r = run_import(cli, other)  # the same person (name and date of birth, by its index)
    assert "0 imported" in r.stderr and "1 duplicates" in r.stderr


def test_the_blind_index_is_hmac_sha256_cut_to_10_bytes():
    """The precomputed-pad HMAC gives RFC 2104's tag; a field's key is its own."""
    import hashlib
    import hmac
    import os

    from resv_cli.core import fieldcrypt

    keys = fieldcrypt.FieldKeys({}, False)
    phone_key, date_key = os.urandom(32), os.urandom(32)
    keys._blind["phone"] = fieldcrypt._hmac_pads(phone_key)
    keys._blind["date_of_birth"] = fieldcrypt._hmac_pads(date_key)
    for value in ("0476111111", "", "漢字"):
        want = hmac.digest(phone_key, value.encode(), hashlib.sha256)[:10].hex()
        assert keys.blind("phone", value) == want and len(want) == 20
    assert keys.dob_tag(dt.date(1948, 5, 3)) == keys.dob_tag("1948-05-03") != keys.blind(
        "phone", "1948-05-03"
    )
