"""resv import: the command end to end on real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from legacy_files import registrants, run_import, write_csv

from tests import factories

GOOD = [
    ["個人", "0001", "髙橋 一郎", "ﾀｶﾊｼ ｲﾁﾛｳ", "昭和15年3月2日", "２７０－１３９２",
     "印西市大森２５２８ー１ ハイツー101", "０４７６－４２－１１１１ 内線１２", "髙橋 花子",
     "090-1111-2222", "", ""],
    ["個人", "0002", "山﨑 ①子", "やまざき まるこ", "S15.3.2", "2701392", "印西市\n木下1-2",
     "0476421112", "", "", "", ""],
    ["団体", "0003", "", "", "", "", "", "", "", "", "㈱コスモス会", "佐藤 次郎"],
]  # fmt: skip
PERSONAL = ["髙橋", "山﨑", "コスモス", "ﾀｶﾊｼ", "0476", "2528", "1940", "昭和15"]


@pytest.fixture
def inst(installation: Any) -> Any:
    factories.make_facility(installation, "chuo-rojin", category="senior_welfare_centre")
    factories.make_facility(installation, "cosmos", category="community_centre")
    return installation


def test_import_normalises_and_reconciles(inst: Any, cli: Any, tmp_path: Path) -> None:
    f = write_csv(tmp_path / "legacy.csv", GOOD)
    r = run_import(cli, f, "--format", "json")
    assert r.exit_code == 0, r
    summary = {row["item"]: row["count"] for row in json.loads(r.stdout)}
    assert summary["records read"] == 3 and summary["imported"] == 3
    assert (
        "Reconciliation: 3 read = 3 imported + 0 updated + 0 unchanged + 0 duplicates + 0 rejected (ok)"
        in r.stderr
    )
    rows = {row[0]: row for row in registrants(inst)}
    one = rows["0001"]
    assert one[1:4] == ("individual", "髙橋 一郎", "高橋一郎")
    assert one[4:6] == ("タカハシ\u3000イチロウ", "タカハシイチロウ")
    assert str(one[6]) == "1940-03-02"
    assert one[7:12] == (
        "270-1392",
        "印西市大森2528-1 ハイツー101",
        "0476-42-1111",
        "0476421111",
        "12",
    )
    assert one[12:14] == ("髙橋 花子", "090-1111-2222")
    two = rows["0002"]
    assert two[2] == "山﨑 ①子" and two[3] == "山崎1子" and two[4] == "ヤマザキ\u3000マルコ"
    assert two[8] == "印西市 木下1-2"
    group = rows["0003"]
    assert group[1:3] == ("group", "㈱コスモス会") and group[14] == "佐藤 次郎"
    batch = inst.rows(
        "SELECT status, records_read, imported, file_sha256, account_id FROM import_batches"
    )
    assert (
        batch[0][0:3] == ("completed", 3, 3) and len(batch[0][3]) == 64 and batch[0][4] is not None
    )
    events = inst.rows(
        "SELECT action, outcome, facility_code, detail FROM audit_events WHERE action = 'import.batch' ORDER BY seq"
    )
    assert [(e[0], e[1], e[2]) for e in events] == [("import.batch", "allowed", "chuo-rojin")] * 2
    assert json.loads(events[-1][3])["imported"] == 3
    assert not any(p in events[-1][3] for p in PERSONAL)


REJECTS = [
    (["個人", "0101", "", "", "S15.3.2", "", "", "", "", "", "", ""], "氏名", "name is empty"),
    (["個人", "0102", "田中 一", "", "昭和64年1月8日", "", "", "", "", "", "", ""], "生年月日", "date outside its era (昭和 runs from 1926-12-25 to 1989-01-07)"),
    (["個人", "0103", "田中 二", "", "平成31年5月1日", "", "", "", "", "", "", ""], "生年月日", "date outside its era (平成 runs from 1989-01-08 to 2019-04-30)"),
    (["個人", "0104", "田中 三", "", "1940/2/30", "", "", "", "", "", "", ""], "生年月日", "impossible date (no such month or day)"),
    (["個人", "0105", "田中 四", "", "2099/1/1", "", "", "", "", "", "", ""], "生年月日", "date of birth is in the future"),
    (["個人", "0106", "田中 五", "", "いつか", "", "", "", "", "", "", ""], "生年月日", "date of birth is not in a recognised form"),
    (["個人", "0107", "田中 六", "", "", "12-345", "", "", "", "", "", ""], "郵便番号", "postal code must have 7 digits"),
    (["個人", "0108", "田中 七", "", "", "", "", "03-12", "", "", "", ""], "電話番号", "phone number must have 10 or 11 digits starting with 0"),
    (["個人", "0109", "田中 八", "", "", "", "", "", "", "携帯", "", ""], "緊急連絡先電話番号", "emergency phone number has characters other than digits and dashes"),
    (["個人", "0110", "田中 九", "田中", "", "", "", "", "", "", "", ""], "フリガナ", "reading must be written in kana"),
    (["法人", "0111", "田中 十", "", "", "", "", "", "", "", "", ""], "区分", "区分 must be 個人 or 団体"),
    (["個人", "0112", "田中 十一", "", "", "", "", "", "", "", "", "", "余分"], "", "record has 13 fields, the header has 12"),
    (["個人", "0113", "田中" * 101, "", "", "", "", "", "", "", "", ""], "氏名", "name longer than 200 characters"),
]  # fmt: skip


def test_every_reject_reason_without_personal_data(inst: Any, cli: Any, tmp_path: Path) -> None:
    rows = [r for r, _, _ in REJECTS] + GOOD
    f = write_csv(tmp_path / "legacy.csv", rows)
    out = tmp_path / "rejects.csv"
    r = run_import(cli, f, "--rejects", str(out))
    assert r.exit_code == 0, r
    assert (
        f"read = 3 imported + 0 updated + 0 unchanged + 0 duplicates + {len(REJECTS)} rejected (ok)"
        in r.stderr
    )
    assert out.stat().st_mode & 0o777 == 0o600  # it names legacy registration numbers
    with out.open(encoding="utf-8-sig", newline="") as fh:
        got = list(csv.DictReader(fh))
    expected = [
        {
            "record_no": str(i + 1),
            "column": col,
            "kind": "rejected",
            "reason": reason,
            # a record whose fields do not line up with the header has no number:
            # the value under the heading may be anyone's name
            "legacy_no": "" if len(row) != 12 else row[1],
        }
        for i, (row, col, reason) in enumerate(REJECTS)
    ]
    assert got == expected
    text = out.read_text(encoding="utf-8-sig") + r.stderr + r.stdout
    assert not any(p in text for p in ["田中", "12-345", "03-12", "携帯", "1940", "2099"])
    stored = inst.rows(
        "SELECT record_no, column_name, reason FROM import_rejects ORDER BY record_no"
    )
    assert [(s[0], s[1], s[2]) for s in stored] == [
        (int(e["record_no"]), e["column"], e["reason"]) for e in expected
    ]


def test_undecodable_byte_rejects_the_record(inst: Any, cli: Any, tmp_path: Path) -> None:
    f = write_csv(tmp_path / "legacy.csv", GOOD)
    f.write_bytes(f.read_bytes() + "個人,0009,".encode("cp932") + b"\x81\x20" + b",,,,,,,,,,\r\n")
    out = tmp_path / "rejects.csv"
    r = run_import(cli, f, "--rejects", str(out))
    assert r.exit_code == 0, r
    assert "read = 3 imported" in r.stderr and "1 rejected (ok)" in r.stderr
    assert "4,氏名,rejected,undecodable byte (not valid cp932),0009" in out.read_text(
        encoding="utf-8-sig"
    )


def test_utf8_with_and_without_bom(inst: Any, cli: Any, tmp_path: Path) -> None:
    r = run_import(cli, write_csv(tmp_path / "a.csv", GOOD[:1], "utf-8-sig"))
    assert r.exit_code == 0 and "(utf-8-sig)" in r.stderr, r
    r = cli(
        "import",
        "registrants",
        str(write_csv(tmp_path / "b.csv", GOOD[1:2], "utf-8")),
        "--facility",
        "cosmos",
        "--encoding",
        "utf-8",
    )
    assert r.exit_code == 0 and "(utf-8)" in r.stderr, r
    assert len(registrants(inst)) == 2


def test_duplicates_in_file_and_against_database(inst: Any, cli: Any, tmp_path: Path) -> None:
    import datetime as dt

    factories.make_registrant(
        inst, "chuo-rojin", "鈴木 三郎", date_of_birth=dt.date(1950, 1, 1), legacy_no="X9"
    )
    rows = GOOD + [
        ["個人", "0001", "別人 太郎", "", "1960/1/1", "", "", "", "", "", "", ""],  # same number
        ["個人", "0201", "高橋一郎", "", "1940-03-02", "", "", "", "", "", "", ""],  # same person
        ["個人", "0202", "鈴木　三郎", "", "S25.1.1", "", "", "", "", "", "", ""],  # in database
    ]
    out = tmp_path / "rejects.csv"
    r = run_import(cli, write_csv(tmp_path / "legacy.csv", rows), "--rejects", str(out))
    assert r.exit_code == 0, r
    assert (
        "6 read = 3 imported + 0 updated + 0 unchanged + 3 duplicates + 0 rejected (ok)" in r.stderr
    )
    lines = out.read_text(encoding="utf-8-sig").splitlines()[1:]
    assert (
        lines[0]
        == "4,登録番号,duplicate,duplicate of an earlier record in this file (record 1): same registration number,0001"
    )
    assert (
        lines[1]
        == "5,氏名+生年月日,duplicate,duplicate of an earlier record in this file (record 1): same name and date of birth,0201"
    )
    assert lines[2].startswith("6,氏名+生年月日,duplicate,already in the database as registrant ")
    assert inst.scalar("SELECT count(*) FROM registrants") == 4


def test_rerun_changes_nothing_and_reports_unchanged(inst: Any, cli: Any, tmp_path: Path) -> None:
    f = write_csv(tmp_path / "legacy.csv", GOOD + [REJECTS[1][0]])
    assert run_import(cli, f).exit_code == 0
    before = registrants(inst)
    ids = inst.rows("SELECT id, updated_at FROM registrants ORDER BY id")
    r = run_import(cli, f)
    assert r.exit_code == 0, r
    assert (
        "4 read = 0 imported + 0 updated + 3 unchanged + 0 duplicates + 1 rejected (ok)" in r.stderr
    )
    assert registrants(inst) == before
    assert inst.rows("SELECT id, updated_at FROM registrants ORDER BY id") == ids


def test_on_conflict_skip_update_fail(inst: Any, cli: Any, tmp_path: Path) -> None:
    assert run_import(cli, write_csv(tmp_path / "a.csv", GOOD)).exit_code == 0
    changed = [list(GOOD[0]), GOOD[1], GOOD[2]]
    changed[0][7] = "0476-99-0000"
    f = write_csv(tmp_path / "b.csv", changed)
    r = run_import(cli, f)
    assert r.exit_code == 0 and "0 updated + 2 unchanged + 1 duplicates" in r.stderr, r
    assert inst.clear_rows("SELECT phone FROM registrants WHERE legacy_no = '0001'") == [("0476-42-1111",)]
    r = run_import(cli, f, "--on-conflict", "fail")
    assert r.exit_code == 1
    assert (
        "Error: b.csv: record 1: registration number already in the database with different data (--on-conflict fail)"
        in r.stderr
    )
    assert inst.clear_rows("SELECT phone FROM registrants WHERE legacy_no = '0001'") == [("0476-42-1111",)]
    r = run_import(cli, f, "--on-conflict", "update")
    assert r.exit_code == 0 and "1 updated + 2 unchanged + 0 duplicates" in r.stderr, r
    assert inst.clear_rows("SELECT phone FROM registrants WHERE legacy_no = '0001'") == [("0476-99-0000",)]
    assert inst.scalar("SELECT count(*) FROM registrants") == 3
    statuses = [row[0] for row in inst.rows("SELECT status FROM import_batches ORDER BY id")]
    assert statuses == ["completed", "completed", "aborted", "completed"]


def test_dry_run_writes_no_registrant(inst: Any, cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "rejects.xlsx"
    f = write_csv(tmp_path / "legacy.csv", GOOD + [REJECTS[0][0], GOOD[0]])
    r = run_import(cli, f, "--dry-run", "--rejects", str(out))
    assert r.exit_code == 0, r
    assert "Dry run (nothing written)" in r.stderr
    assert (
        "5 read = 3 imported + 0 updated + 0 unchanged + 1 duplicates + 1 rejected (ok)" in r.stderr
    )
    assert inst.scalar("SELECT count(*) FROM registrants") == 0
    assert inst.rows("SELECT status, imported FROM import_batches") == [("dry_run", 3)]
    from openpyxl import load_workbook

    ws = load_workbook(out).active
    values = [[c.value for c in row] for row in ws.iter_rows()]
    assert values[0] == ["レコード番号", "列", "種別", "理由", "登録番号"]
    assert values[1] == [4, "氏名", "rejected", "name is empty", "0101"]
    assert values[2][0:3] == [5, "登録番号", "duplicate"]


def test_max_rejects_aborts_cleanly(inst: Any, cli: Any, tmp_path: Path) -> None:
    rows = GOOD + [r for r, _, _ in REJECTS[:3]]
    r = run_import(
        cli, write_csv(tmp_path / "legacy.csv", rows), "--max-rejects", "2", "--chunk-size", "2"
    )
    assert r.exit_code == 1
    assert (
        "Error: legacy.csv: more than 2 rejected records (--max-rejects); batch 1 aborted, nothing of it was kept"
        in r.stderr
    )
    assert inst.scalar("SELECT count(*) FROM registrants") == 0
    assert inst.scalar("SELECT status FROM import_batches") == "aborted"
    outcome = inst.rows(
        "SELECT outcome FROM audit_events WHERE action = 'import.batch' ORDER BY seq"
    )
    assert [o[0] for o in outcome] == ["allowed", "failed"]


def test_mapping_file_with_split_columns(inst: Any, cli: Any, tmp_path: Path) -> None:
    mapping = tmp_path / "map.toml"
    mapping.write_text(
        '[columns]\nlegacy_no = "会員No"\nname = ["姓", "名"]\n'
        'phone = { join = ["市外", "局番", "番号"], sep = "-" }\n'
        'postal_code = { join = ["〒上", "〒下"], sep = "-" }\n'
        'date_of_birth = { era = "元号", year = "年", month = "月", day = "日" }\n',
        encoding="utf-8",
    )
    text = "会員No,姓,名,市外,局番,番号,〒上,〒下,元号,年,月,日\r\nA1,山田,太郎,0476,42,1111,270,1392,3,15,3,2\r\n"
    f = tmp_path / "odd.csv"
    f.write_bytes(text.encode("cp932"))
    r = run_import(cli, f, "--mapping", str(mapping))
    assert r.exit_code == 0, r
    row = inst.clear_rows("SELECT legacy_no, name, phone, postal_code, date_of_birth FROM registrants")[0]
    assert tuple(map(str, row)) == ("A1", "山田 太郎", "0476-42-1111", "270-1392", "1940-03-02")


def test_xlsx_import(inst: Any, cli: Any, tmp_path: Path) -> None:
    import datetime as dt

    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append(["登録番号", "氏名", "生年月日", "電話番号"])
    wb.active.append(["X1", "髙橋 一郎", dt.datetime(1940, 3, 2), "0476-42-1111"])
    f = tmp_path / "legacy.xlsx"
    wb.save(f)
    r = run_import(cli, f)
    assert r.exit_code == 0 and "1 read = 1 imported" in r.stderr, r
    assert str(inst.scalar("SELECT date_of_birth FROM registrants")) == "1940-03-02"


def test_list_show_and_resume_finished_batch(inst: Any, cli: Any, tmp_path: Path) -> None:
    assert (
        run_import(cli, write_csv(tmp_path / "legacy.csv", GOOD + [REJECTS[0][0]])).exit_code == 0
    )
    r = cli("import", "list", "--format", "json")
    assert r.exit_code == 0, r
    assert [(b["id"], b["status"], b["imported"], b["run_by"]) for b in json.loads(r.stdout)] == [
        (1, "completed", 3, "it-admin")
    ]
    r = cli("import", "show", "1", "--format", "json")
    info = json.loads(r.stdout)
    assert (
        info["reconciliation"]
        == "4 read = 3 imported + 0 updated + 0 unchanged + 0 duplicates + 1 rejected"
    )
    assert info["rejects"] == [
        {
            "record_no": 4,
            "column": "氏名",
            "kind": "rejected",
            "reason": "name is empty",
            "legacy_no": "0101",
        }
    ]
    r = cli("import", "resume", "1")
    assert (
        r.exit_code == 1
        and "Error: batch 1 is completed; only a running batch can be resumed" in r.stderr
    )
    r = cli("import", "show", "99")
    assert r.exit_code == 1 and "Error: no import batch 99" in r.stderr


def test_operator_is_refused_and_audited(inst: Any, cli: Any, tmp_path: Path) -> None:
    factories.make_org(inst, "inzai-fm")
    factories.make_account(inst, "fm-staff", "inzai-fm", role="operator")
    assert inst.login("fm-staff", factories.DEFAULT_PASSWORD).exit_code == 0
    r = run_import(cli, write_csv(tmp_path / "legacy.csv", GOOD))
    assert r.exit_code == 6
    assert (
        "Error: permission denied: import.batch needs the admin role (you are operator)" in r.stderr
    )
    assert (
        inst.scalar(
            "SELECT count(*) FROM audit_events WHERE action = 'import.batch' AND outcome = 'denied'"
        )
        == 1
    )
    assert inst.scalar("SELECT count(*) FROM import_batches") == 0


def test_bad_input_errors(inst: Any, cli: Any, tmp_path: Path) -> None:
    r = run_import(cli, tmp_path / "missing.csv")
    assert r.exit_code == 1 and "missing.csv: no such file" in r.stderr
    r = cli(
        "import", "registrants", str(write_csv(tmp_path / "a.csv", GOOD)), "--facility", "nowhere"
    )
    assert r.exit_code == 1 and "Error: no facility with code 'nowhere' (see `resv facility list`)" in r.stderr
    assert inst.scalar("SELECT count(*) FROM import_batches") == 0


def test_file_without_registration_numbers_rerun_inserts_nothing(
    inst: Any, cli: Any, tmp_path: Path
) -> None:
    f = tmp_path / "ledger.csv"
    f.write_bytes(
        "氏名,生年月日\r\n山田 太郎,S15.3.2\r\n山田　太郎,1940/3/2\r\n鈴木 花子,\r\n".encode(
            "cp932"
        )
    )
    r = run_import(cli, f)
    assert (
        r.exit_code == 0
        and "3 read = 2 imported + 0 updated + 0 unchanged + 1 duplicates" in r.stderr
    ), r
    out = tmp_path / "rejects.csv"
    r = run_import(cli, f, "--rejects", str(out))
    # without a registration number a stored record is found by its name and date of
    # birth (or its name alone when the date is unknown): a duplicate, never a second row
    assert (
        r.exit_code == 0
        and "3 read = 0 imported + 0 updated + 0 unchanged + 3 duplicates" in r.stderr
    ), r
    assert inst.scalar("SELECT count(*) FROM registrants") == 2
    assert "same name, no date of birth" in out.read_text(encoding="utf-8-sig")
