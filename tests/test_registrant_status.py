"""Registrant status and card validity (issue 15 part 6), the extension shown, 五十音 order.

On SQLite and PostgreSQL: ``registrant suspend|reinstate|delete`` (a status, never a
removed row, audited), search hiding deleted registrations unless asked, the card's
validity at the counter and at booking time, the phone extension in ``show``,
search results in the order of the reading, and revision 0005 on a 0004 database.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from scope_world import HANDOVER, at, build_city, login


@pytest.fixture
def city(installation: Any, monkeypatch: Any) -> tuple[Any, dict[str, Any]]:
    regs = build_city(installation)
    at(monkeypatch, HANDOVER)
    login(installation, "fm-sato")
    return installation, regs


def _book(cli: Any, rid: int, day: str = "2017-04-10", *extra: str) -> Any:
    return cli(
        "booking", "add", "--facility", "chuo-rojin-kaigi", "--registrant", str(rid),
        "--date", day, "--from", "10:00", "--to", "11:00", *extra,
    )  # fmt: skip


def _events(inst: Any, action: str) -> list[tuple[Any, ...]]:
    return [
        (r[0], r[1], json.loads(r[2]))
        for r in inst.rows(
            "SELECT resource_id, outcome, detail FROM audit_events WHERE action = :a ORDER BY seq",
            a=action,
        )
    ]


def test_suspend_reinstate_delete_is_a_status_audited_without_the_reason(city, cli):
    inst, regs = city
    rid = regs["chuo"]
    r = cli("registrant", "suspend", str(rid))
    assert (r.exit_code, r.stderr) == (
        1,
        "Error: --reason is required to suspend a registration (e.g. the notice number)\n",
    )
    r = cli("registrant", "suspend", str(rid), "--reason", "入院のため 通知12", "-f", "json")
    assert r.exit_code == 0, r
    assert json.loads(r.stdout) == {
        "id": rid, "facility": "chuo-rojin", "status": "suspended",
        "status_since": "2017-04-01", "previous_status": "active",
    }  # fmt: skip
    shown = json.loads(cli("registrant", "show", str(rid), "-f", "json").stdout)
    assert (shown["status"], shown["status_since"], shown["status_reason"]) == (
        "suspended", "2017-04-01", "入院のため 通知12",
    )  # fmt: skip
    again = cli("registrant", "suspend", str(rid), "--reason", "x")
    assert (again.exit_code, again.stderr) == (
        1,
        f"Error: registrant {rid} is already suspended (since 2017-04-01)\n",
    )
    # a suspended registrant cannot book; reinstated, it can
    r = _book(cli, rid)
    assert (r.exit_code, r.stderr) == (
        1,
        f"Error: registrant {rid} is suspended: only active registrants can book; "
        f"reinstate it first (resv registrant reinstate {rid})\n",
    )
    assert cli("registrant", "reinstate", str(rid)).exit_code == 0
    assert _book(cli, rid).exit_code == 0
    # deleted: kept as a row, hidden from search unless asked for, cannot book
    r = cli("registrant", "delete", str(rid), "--reason", "転出", "--on", "H29.3.31")
    assert r.exit_code == 0, r
    assert inst.rows("SELECT status, status_since FROM registrants WHERE id = :i", i=rid) == [
        ("deleted", dt.date(2017, 3, 31) if inst.backend == "postgresql" else "2017-03-31")
    ]
    found = json.loads(cli("registrant", "search", "--name", "髙橋", "-f", "json").stdout)
    assert found == []
    r = cli("registrant", "search", "--name", "髙橋", "--include-deleted", "-f", "json")
    assert [(x["id"], x["status"]) for x in json.loads(r.stdout)] == [(rid, "deleted")]
    r = _book(cli, rid, "2017-04-11")
    assert (r.exit_code, r.stderr) == (
        1,
        f"Error: registrant {rid} is deleted: only active registrants can book; a deleted "
        "registration cannot book\n",
    )
    assert [(e[0], e[1], e[2]) for e in _events(inst, "registrant.status")] == [
        (str(rid), "allowed", {"status": "suspended", "previous_status": "active",
                               "on": "2017-04-01"}),
        (str(rid), "failed", {"reason": "no_change", "status": "suspended"}),
        (str(rid), "allowed", {"status": "active", "previous_status": "suspended",
                               "on": "2017-04-01"}),
        (str(rid), "allowed", {"status": "deleted", "previous_status": "active",
                               "on": "2017-03-31"}),
    ]  # fmt: skip
    texts = [r[0] for r in inst.rows("SELECT detail FROM audit_events")]
    assert not any("入院" in t or "転出" in t for t in texts)
    refused = [e for e in _events(inst, "booking.add") if e[1] == "failed"]
    assert [e[2]["reason"] for e in refused] == ["registrant_suspended", "registrant_deleted"]
    search = [e[2] for e in _events(inst, "registrant.search")]
    assert [d.get("include_deleted") for d in search] == [None, True]


def test_status_changes_are_scoped_and_dated(city, cli):
    inst, regs = city
    other = regs["honme"]
    r = cli("registrant", "delete", str(other), "--reason", "x")
    assert (r.exit_code, r.stderr) == (1, f"Error: registrant {other} not found\n")
    r = cli("registrant", "suspend", str(regs["chuo"]), "--reason", "x", "--on", "2017-04-02")
    assert (r.exit_code, r.stderr) == (
        1,
        "Error: --on: status date is in the future (record a change when it takes effect)\n",
    )
    r = cli("registrant", "suspend", str(regs["chuo"]), "--reason", "x", "--on", "someday")
    assert r.exit_code == 1
    assert r.stderr.startswith("Error: --on: status date: not a date like 2017-04-01")
    r = cli("registrant", "suspend", str(regs["chuo"]), "--reason", "a\x00b")
    assert r.exit_code == 1 and r.stderr.startswith("Error: --reason: ")
    assert inst.scalar("SELECT count(*) FROM registrants WHERE status <> 'active'") == 0
    assert _events(inst, "registrant.status")[0][:2] == (str(other), "denied")


def test_card_validity_at_the_counter_and_when_booking(city, cli):
    inst, _ = city
    r = cli(
        "registrant", "add", "--facility", "chuo-rojin", "--name", "木下 一郎",
        "--card-valid-from", "平成29年4月1日", "--card-valid-until", "2017-04-30", "-f", "json",
    )  # fmt: skip
    assert r.exit_code == 0, r
    rid = json.loads(r.stdout)["id"]
    shown = json.loads(cli("registrant", "show", str(rid), "-f", "json").stdout)
    assert (shown["card_valid_from"], shown["card_valid_until"]) == ("2017-04-01", "2017-04-30")
    assert (shown["status"], shown["status_since"]) == ("active", None)
    r = cli("registrant", "update", str(rid), "--card-valid-until", "2017-03-31")
    assert (r.exit_code, r.stderr) == (
        1,
        "Error: --card-valid-until: card validity ends before it starts\n",
    )
    r = cli(
        "registrant", "add", "--facility", "chuo-rojin", "--name", "木下 二郎",
        "--card-valid-from", "2017-05-01", "--card-valid-until", "2017-04-01",
    )  # fmt: skip
    assert (r.exit_code, r.stderr) == (
        1,
        "Error: --card-valid-until: card validity ends before it starts\n",
    )
    r = cli("registrant", "add", "--facility", "chuo-rojin", "--name", "木下 三郎",
            "--card-valid-until", "いつか")  # fmt: skip
    assert r.exit_code == 1
    assert r.stderr.startswith("Error: --card-valid-until: card valid until: not a date like ")
    assert _book(cli, rid, "2017-04-30").exit_code == 0
    r = _book(cli, rid, "2017-05-01")
    assert (r.exit_code, r.stderr) == (
        1,
        f"Error: registrant {rid}'s card expired on 2017-04-30 (有効期限), before 2017-05-01; "
        f"renew it first (resv registrant update {rid} --card-valid-until DATE)\n",
    )
    assert cli("registrant", "update", str(rid), "--card-valid-until", "R2.3.31").exit_code == 0
    assert _book(cli, rid, "2017-05-01").exit_code == 0
    assert cli("registrant", "update", str(rid), "--card-valid-from", "2017-06-01").exit_code == 0
    r = _book(cli, rid, "2017-05-02")
    assert r.exit_code == 1
    assert r.stderr.startswith(f"Error: registrant {rid}'s card is valid only from 2017-06-01")
    # a blank value clears the validity: no validity recorded, no check
    assert cli("registrant", "update", str(rid), "--card-valid-from", "").exit_code == 0
    assert _book(cli, rid, "2017-05-02").exit_code == 0
    reasons = [e[2]["reason"] for e in _events(inst, "booking.add") if e[1] == "failed"]
    assert reasons == ["card_expired", "card_not_yet_valid"]


def test_bookings_outside_opening_hours_need_a_reason(city, cli):
    import factories as f

    inst, regs = city
    with inst.engine().begin() as conn:
        conn.exec_driver_sql(
            "UPDATE facilities SET opens_at = '09:00', closes_at = '17:00' "
            "WHERE code = 'chuo-rojin'"
        )
        conn.exec_driver_sql(  # the room has no hours of its own: the building's apply
            "UPDATE facilities SET opens_at = NULL, closes_at = NULL "
            "WHERE code = 'chuo-rojin-kaigi'"
        )
    del f
    rid = str(regs["chuo"])
    args = ["booking", "add", "--facility", "chuo-rojin-kaigi", "--registrant", rid,
            "--date", "2017-04-10"]  # fmt: skip
    r = cli(*args, "--from", "16:00", "--to", "18:00")
    assert (r.exit_code, r.stderr) == (
        1,
        "Error: chuo-rojin-kaigi is open 09:00-17:00: the slot is outside its opening hours; "
        "give --override-reason REASON to book it anyway (audited)\n",
    )
    r = cli(*args, "--from", "08:30", "--to", "10:00")
    assert r.exit_code == 1
    r = cli(*args, "--from", "16:00", "--to", "18:00", "--override-reason", " ")
    assert (r.exit_code, r.stderr) == (
        1,
        "Error: --override-reason needs the reason (e.g. the approval number)\n",
    )
    assert cli(*args, "--from", "09:00", "--to", "17:00").exit_code == 0
    r = cli(*args, "--date", "2017-04-11", "--from", "17:00", "--to", "19:00",
            "--override-reason", "館長承認 第3号", "-f", "json")  # fmt: skip
    assert r.exit_code == 0, r
    assert json.loads(r.stdout)["starts_at"] == "2017-04-11 17:00"
    events = _events(inst, "booking.add")
    assert [(e[1], e[2]) for e in events] == [
        ("failed", {"reason": "outside_opening_hours", "opening_hours": "09:00-17:00"}),
        ("failed", {"reason": "outside_opening_hours", "opening_hours": "09:00-17:00"}),
        ("allowed", {"registrant_id": int(rid)}),
        ("allowed", {"registrant_id": int(rid), "opening_hours": "09:00-17:00",
                     "override_reason": "館長承認 第3号"}),
    ]  # fmt: skip


def test_the_phone_extension_is_shown_with_the_phone(city, cli):
    inst, _ = city
    r = cli("registrant", "add", "--facility", "chuo-rojin", "--name", "内線 太郎",
            "--phone", "０４７６－４２－１１１１ 内線１２", "-f", "json")  # fmt: skip
    assert r.exit_code == 0, r
    rid = json.loads(r.stdout)["id"]
    assert inst.clear_rows("SELECT phone, phone_extension FROM registrants WHERE id = :i", i=rid) == [
        ("0476-42-1111", "12")
    ]
    shown = json.loads(cli("registrant", "show", str(rid), "-f", "json").stdout)
    assert shown["phone"] == "0476-42-1111 内線12"
    table = cli("registrant", "show", str(rid)).stdout
    assert "0476-42-1111 内線12" in table
    # a new number without an extension drops the old extension
    assert cli("registrant", "update", str(rid), "--phone", "0476-42-2222").exit_code == 0
    shown = json.loads(cli("registrant", "show", str(rid), "-f", "json").stdout)
    assert shown["phone"] == "0476-42-2222"


def test_search_results_are_in_the_order_of_the_reading(city, cli):
    import factories as f

    inst, _ = city
    people = [  # name, reading (code-point order of the names is another one)
        ("渡辺 一", "ワタナベ ハジメ"),
        ("阿部 二", "あべ つぐ"),  # hiragana: its key is katakana
        ("加藤 三", "ｶﾄｳ ｿﾞｳ"),  # half-width
        ("伊藤 四", "イトウ シ"),
        ("後藤 五", "ゴトウ イツ"),
        ("赤井 六", None),  # no reading: after those with one, by name
        ("Aoki", None),
    ]
    for name, kana in people:
        f.make_registrant(inst, "chuo-rojin", name, kana, phone="0476-99-0000")
    r = cli("registrant", "search", "--phone", "0476-99-0000", "-f", "json")
    assert r.exit_code == 0, r
    assert [x["name"] for x in json.loads(r.stdout)] == [
        "阿部 二", "伊藤 四", "加藤 三", "後藤 五", "渡辺 一", "Aoki", "赤井 六",
    ]  # fmt: skip


def test_upgrade_from_0004_makes_every_registrant_active(installation, cli):
    """Revision 0005 on a database as 0004 left it: the columns, every registrant active."""
    import factories as f
    from sqlalchemy import text

    from resv_cli.core.db import check_schema, get_engine
    from resv_cli.core.migrations import head_revision

    f.make_facility(installation, "chuo-rojin", "senior_welfare_centre")
    rid = f.make_registrant(installation, "chuo-rojin", "髙橋 花子", "タカハシ ハナコ")
    engine = installation.engine()
    new_columns = ("status", "status_since", "status_reason", "card_valid_from",
                   "card_valid_until")  # fmt: skip
    if installation.backend == "postgresql":
        with engine.begin() as conn:
            for c in new_columns:
                conn.exec_driver_sql(f"ALTER TABLE registrants DROP COLUMN {c}")
            conn.exec_driver_sql("ALTER TABLE import_batches DROP COLUMN skipped")
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0004'")
    else:
        _sqlite_table_as_in_0004(engine, new_columns)
    engine.dispose()
    r = cli("db", "upgrade")
    assert r.exit_code == 0, r
    assert f"Upgraded from 0004 to revision {head_revision()}." in r.stderr
    assert installation.rows(
        "SELECT id, status, status_since, card_valid_until FROM registrants"
    ) == [(rid, "active", None, None)]
    assert installation.scalar("SELECT count(*) FROM import_batches WHERE skipped <> 0") == 0
    assert check_schema(get_engine(installation.url)) == []
    # the constraints came with the columns
    with pytest.raises(Exception, match="(?i)check"), engine.begin() as conn:
        conn.execute(text("UPDATE registrants SET status = 'gone'"))
    with pytest.raises(Exception, match="(?i)check"), engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE registrants SET card_valid_from = '2017-04-02', "
                "card_valid_until = '2017-04-01'"
            )
        )


def _sqlite_table_as_in_0004(engine: Any, new_columns: tuple[str, ...]) -> None:
    """Rebuild registrants without the new columns (SQLite cannot drop a checked column)."""
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection  # pragmas outside any transaction
        raw.execute("PRAGMA foreign_keys = OFF")
        raw.execute("PRAGMA legacy_alter_table = ON")
        with conn.begin():
            create = conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'registrants'"
            ).scalar_one()
            indexes = [
                r[0]
                for r in conn.exec_driver_sql(
                    "SELECT sql FROM sqlite_master WHERE type = 'index' AND "
                    "tbl_name = 'registrants' AND sql IS NOT NULL"
                )
            ]
            gone = (*new_columns, "CONSTRAINT ck_registrants_status",
                    "CONSTRAINT ck_registrants_card_validity")  # fmt: skip
            kept = [line for line in create.splitlines() if not line.strip().startswith(gone)]
            columns = [
                r[1]
                for r in conn.exec_driver_sql("PRAGMA table_info(registrants)")
                if r[1] not in new_columns
            ]
            conn.exec_driver_sql("ALTER TABLE registrants RENAME TO registrants_0005")
            conn.exec_driver_sql("\n".join(kept))
            cols = ", ".join(columns)
            conn.exec_driver_sql(
                f"INSERT INTO registrants ({cols}) SELECT {cols} FROM registrants_0005"
            )
            conn.exec_driver_sql("DROP TABLE registrants_0005")
            for ddl in indexes:
                conn.exec_driver_sql(ddl)
            conn.exec_driver_sql("ALTER TABLE import_batches DROP COLUMN skipped")
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0004'")
        raw.execute("PRAGMA legacy_alter_table = OFF")
        raw.execute("PRAGMA foreign_keys = ON")
