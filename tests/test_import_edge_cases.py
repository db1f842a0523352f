"""Import edge cases: options of an unfinished batch, one run per batch, --max-rejects,
errors of the file, update of the file's fields only, merged and cut rejects, 外字,
extensions, line breaks, phone digits, date forms, numbered namesakes.

On real SQLite files and a real PostgreSQL server, through the command.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from legacy_files import HEADER, registrants, run_import, write_csv

from resv_cli.core import jpnorm
from resv_cli.importing.record import GAIJI_REASON
from tests import factories


@pytest.fixture
def inst(installation: Any) -> Any:
    factories.make_facility(installation, "chuo-rojin", category="senior_welfare_centre")
    return installation


def person(no: str, name: str, dob: str = "S15.3.2", phone: str = "0476-42-1111") -> list[str]:
    return ["個人", no, name, "", dob, "", "", phone, "", "", "", ""]


def batches(inst: Any) -> list[tuple[Any, ...]]:
    return [
        tuple(r)
        for r in inst.rows(
            "SELECT id, status, records_read, imported, updated, unchanged, duplicates, "
            "rejected FROM import_batches ORDER BY id"
        )
    ]


def interrupt(inst: Any, batch_id: int, checkpoint: int) -> None:
    """Make a completed batch look like one killed after ``checkpoint`` records."""
    from sqlalchemy import text

    with inst.engine().begin() as conn:
        conn.execute(
            text(
                "UPDATE import_batches SET status = 'running', checkpoint = :c, "
                "finished_at = NULL WHERE id = :b"
            ),
            {"c": checkpoint, "b": batch_id},
        )


# --- D1: re-running a file does not finish its batch with other options ---------------


def test_rerun_with_other_options_refuses_to_finish_the_unfinished_batch(
    inst: Any, cli: Any, tmp_path: Path
) -> None:
    f = write_csv(tmp_path / "a.csv", [person("1", "佐藤 一"), person("2", "佐藤 二")])
    assert run_import(cli, f, "--chunk-size", "1").exit_code == 0
    interrupt(inst, 1, 1)
    r = run_import(cli, f, "--chunk-size", "1", "--on-conflict", "update")
    assert (r.exit_code, r.stderr.strip()) == (
        1,
        "Error: a.csv: batch 1 of this file is unfinished and was started with another "
        "on-conflict; finish it with `resv import resume 1` (it keeps its own options) before "
        "importing the file with new ones",
    )
    mapping = tmp_path / "m.toml"
    mapping.write_text('[columns]\nname = "氏名"\n', encoding="utf-8")
    r = run_import(cli, f, "--chunk-size", "1", "--mapping", str(mapping))
    assert r.exit_code == 1 and "started with another mapping file;" in r.stderr
    assert batches(inst)[0][1] == "running"
    # the same options: the batch is finished where it stopped
    r = run_import(cli, f, "--chunk-size", "1")
    assert r.exit_code == 0, r
    assert "resumed after record 1" in r.stderr
    assert [b[1] for b in batches(inst)] == ["completed"]


# --- D11: one process per batch ---------------------------------------------------------

HOLD = """
import sys, time
from resv_cli.core.db import BatchRunLock, get_engine
lock = BatchRunLock(get_engine(sys.argv[1]), int(sys.argv[2]))
print("held" if lock.acquire() else "busy", flush=True)
sys.stdin.readline()
lock.release()
"""


def test_a_batch_another_process_is_running_is_not_resumed(
    inst: Any, cli: Any, tmp_path: Path
) -> None:
    f = write_csv(tmp_path / "a.csv", [person("1", "佐藤 一"), person("2", "佐藤 二")])
    assert run_import(cli, f, "--chunk-size", "1").exit_code == 0
    interrupt(inst, 1, 1)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, inst.url, "1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        message = (
            "Error: batch 1 is being imported by another process right now; wait for it to "
            "finish (resv import list shows its progress)"
        )
        for r in (run_import(cli, f, "--chunk-size", "1"), cli("import", "resume", "1")):
            assert (r.exit_code, r.stderr.strip()) == (1, message)
        assert batches(inst)[0][1] == "running"
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(30)
    # the holder has gone (as a killed process's lock goes): resumable at once
    r = cli("import", "resume", "1")
    assert r.exit_code == 0, r
    assert [b[1] for b in batches(inst)] == ["completed"]


# --- D7: --max-rejects keeps and writes the rejects it stopped on ---------------------


def test_max_rejects_abort_keeps_the_rejects_and_writes_the_file(
    inst: Any, cli: Any, tmp_path: Path
) -> None:
    rows = [person(str(i), f"佐藤 {i}", "S99.1.1" if i % 3 == 0 else "S15.3.2") for i in range(12)]
    f = write_csv(tmp_path / "m.csv", rows)
    out = tmp_path / "rejects.csv"
    r = run_import(cli, f, "--max-rejects", "2", "--rejects", str(out))
    assert (r.exit_code, r.stderr.strip().splitlines()) == (
        1,
        [
            f"Wrote 4 reject line(s) of aborted batch 1 to {out}.",
            "Error: m.csv: more than 2 rejected records (--max-rejects); batch 1 aborted, "
            "nothing of it was kept; its rejects: `resv import show 1`",
        ],
    )
    lines = out.read_text(encoding="utf-8-sig").splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == ["1", "4", "7", "10"]
    assert inst.scalar("SELECT count(*) FROM registrants") == 0
    r = cli("import", "show", "1", "--format", "json")
    assert r.exit_code == 0, r
    shown = json.loads(r.stdout)
    text = json.dumps(shown, ensure_ascii=False)
    assert (
        "12 read = 8 imported + 0 updated + 0 unchanged + 0 duplicates + 4 rejected "
        "(aborted: none of its records were kept)" in text
    )
    assert "does NOT add up" not in text
    assert batches(inst) == [(1, "aborted", 12, 8, 0, 0, 0, 4)]


def test_max_rejects_with_on_conflict_update_is_refused(
    inst: Any, cli: Any, tmp_path: Path
) -> None:
    f = write_csv(tmp_path / "m.csv", [person("1", "佐藤 一")])
    r = run_import(cli, f, "--max-rejects", "2", "--on-conflict", "update")
    assert (r.exit_code, r.stderr.strip()) == (
        1,
        "Error: --max-rejects cannot be used with --on-conflict update: an abort could not "
        "undo the updates before it; check the file with --dry-run --max-rejects first",
    )
    assert batches(inst) == []
    # a dry run may combine them: it writes nothing
    r = run_import(cli, f, "--max-rejects", "2", "--on-conflict", "update", "--dry-run")
    assert r.exit_code == 0, r


# --- D12: an error of the file aborts the batch ---------------------------------------


def test_a_file_error_part_way_aborts_the_batch_and_keeps_nothing(
    inst: Any, cli: Any, tmp_path: Path
) -> None:
    f = tmp_path / "q.csv"
    good = [",".join(person(f"E{i}", f"誤り {i}")) for i in range(1, 8)]
    lines = [",".join(HEADER), *good, 'E8,"誤り 8"x,S10.1.1', *good[:3]]
    f.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp932"))
    r = run_import(cli, f, "--chunk-size", "3")
    assert r.exit_code == 1
    assert r.stderr.strip() == (
        "Error: q.csv: record 8 (near line 9): ',' expected after '\"'; nothing after this "
        "point was read; batch 1 aborted, none of its new records were kept"
    )
    assert "誤り" not in r.stderr
    assert inst.scalar("SELECT count(*) FROM registrants") == 0
    assert batches(inst)[0][1] == "aborted"
    finish = inst.rows(
        "SELECT outcome, detail FROM audit_events WHERE action = 'import.batch' ORDER BY seq"
    )[-1]
    assert finish[0] == "failed" and json.loads(finish[1])["aborted"] == "file_error"


# --- D10: --on-conflict update changes only what the file has ---------------------------


def test_on_conflict_update_keeps_fields_the_file_has_no_column_for(
    inst: Any, cli: Any, tmp_path: Path
) -> None:
    f = write_csv(tmp_path / "full.csv", [person("V01", "髙橋 一郎", phone="0476-42-9999")])
    assert run_import(cli, f).exit_code == 0
    short = tmp_path / "short.csv"
    short.write_bytes("登録番号,氏名,生年月日\r\nV01,髙橋 一郎,S15.3.2\r\n".encode("cp932"))
    r = run_import(cli, short, "--on-conflict", "update")
    assert r.exit_code == 0, r
    assert "1 read = 0 imported + 0 updated + 1 unchanged" in r.stderr
    short.write_bytes("登録番号,氏名,生年月日\r\nV01,髙橋 一朗,S15.3.2\r\n".encode("cp932"))
    r = run_import(cli, short, "--on-conflict", "update")
    assert r.exit_code == 0, r
    assert "1 read = 0 imported + 1 updated + 0 unchanged" in r.stderr
    row = registrants(inst)[0]
    assert (row[0], row[2], row[3], str(row[6]), row[9], row[10]) == (
        "V01", "髙橋 一朗", "高橋一朗", "1940-03-02", "0476-42-9999", "0476429999",
    )  # fmt: skip


# --- D4, D5: one reject per column, within the table's widths --------------------------


def test_two_reasons_for_one_column_are_one_reject_line(
    inst: Any, cli: Any, tmp_path: Path
) -> None:
    f = tmp_path / "tel.csv"
    f.write_bytes(
        "登録番号,氏名,電話\r\nT1,電話 一,携帯のみ\r\nT2,電話 二,0476-42-1111\r\n".encode("cp932")
    )
    mapping = tmp_path / "m.toml"
    mapping.write_text(
        '[columns]\nlegacy_no = "登録番号"\nname = "氏名"\nphone = "電話"\n'
        'emergency_phone = "電話"\n',
        encoding="utf-8",
    )
    r = run_import(cli, f, "--mapping", str(mapping))
    assert r.exit_code == 0, r
    assert "2 read = 1 imported + 0 updated + 0 unchanged + 0 duplicates + 1 rejected" in r.stderr
    assert inst.rows("SELECT record_no, column_name, reason, legacy_no FROM import_rejects") == [
        (1, "電話", "phone number has characters other than digits and dashes; emergency "
         "phone number has characters other than digits and dashes", "T1"),
    ]  # fmt: skip


def test_overlong_number_and_heading_are_stored_cut_not_crashing(
    inst: Any, cli: Any, tmp_path: Path
) -> None:
    heading = "生年月日" + "（" + "和暦または西暦" * 15 + "）"
    assert len(heading) > 100
    f = tmp_path / "long.csv"
    f.write_bytes(
        (f"登録番号,氏名,{heading}\r\n" + "L" * 70 + ",長い 番号,S15.3.2\r\n"
         "N2,長い 見出し,昭和99年\r\n").encode("cp932")
    )  # fmt: skip
    mapping = tmp_path / "m.toml"
    mapping.write_text(
        f'[columns]\nlegacy_no = "登録番号"\nname = "氏名"\ndate_of_birth = "{heading}"\n',
        encoding="utf-8",
    )
    r = run_import(cli, f, "--mapping", str(mapping))
    assert r.exit_code == 0, r
    assert "2 read = 0 imported" in r.stderr and "2 rejected (ok)" in r.stderr
    got = inst.rows("SELECT record_no, column_name, legacy_no FROM import_rejects ORDER BY 1")
    assert got == [(1, "登録番号", "L" * 63 + "…"), (2, heading[:100], "N2")]


# --- D6, D9, D8, D14, D15: what a record carries ------------------------------------------


def test_external_characters_are_rejected_not_stored(inst: Any, cli: Any, tmp_path: Path) -> None:
    f = tmp_path / "gaiji.csv"
    head = ",".join(HEADER).encode("cp932")
    # 山<gaiji F040> 太郎: a user-defined character of a legacy system
    rec = b"\x8c\xc2\x90\x6c,G1," + "山".encode("cp932") + b"\xf0\x40 " + "太郎".encode("cp932")
    rec += b",,S15.3.2,,,,,,,"
    f.write_bytes(head + b"\r\n" + rec + b"\r\n")
    r = run_import(cli, f)
    assert r.exit_code == 0, r
    assert "1 read = 0 imported" in r.stderr and "1 rejected (ok)" in r.stderr
    assert inst.rows("SELECT record_no, column_name, reason, legacy_no FROM import_rejects") == [
        (1, "氏名", GAIJI_REASON, "G1")
    ]
    assert inst.scalar("SELECT count(*) FROM registrants") == 0


def test_emergency_extension_kept_and_line_breaks_in_names_folded(
    inst: Any, cli: Any, tmp_path: Path
) -> None:
    row = ["個人", "X1", "改行\r\n太郎", "", "S15.3.2", "", "", "", "改行\n花子",
           "0476-42-1111 内線12", "", ""]  # fmt: skip
    f = write_csv(tmp_path / "x.csv", [row])
    r = run_import(cli, f)
    assert r.exit_code == 0, r
    got = registrants(inst)[0]
    assert (got[2], got[12], got[13]) == ("改行 太郎", "改行 花子", "0476-42-1111 内線12")


@pytest.mark.parametrize("value", ["047642111①", "０４７６４２１１１²", "٠٤٧٦٤٢١١١١"])
def test_phone_digits_are_ascii_digits_only(value: str) -> None:
    with pytest.raises(jpnorm.FieldError) as exc:
        jpnorm.phone(value)
    assert str(exc.value) in (
        "phone number has characters other than digits and dashes",
        "phone number must have 10 or 11 digits starting with 0",
    )


@pytest.mark.parametrize(
    "text",
    ["Ｓ１５．３．２", "ｓ15.3.2", "1940/3/2 0:00", "1940/3/2 0:00:00", "1940/03/02 00:00",
     "1940-03-02T00:00:00", "1940-03-02 00:00:00", "１９４０／３／２　０：００"],
)  # fmt: skip
def test_date_forms_with_full_width_letters_and_a_midnight_time(text: str) -> None:
    assert jpnorm.parse_date(text).isoformat() == "1940-03-02"


def test_a_time_other_than_midnight_is_not_a_date_of_birth() -> None:
    with pytest.raises(jpnorm.FieldError) as exc:
        jpnorm.date_of_birth("1940/3/2 9:30", dt.date(2026, 1, 1))
    assert str(exc.value) == "date of birth is not in a recognised form"


def test_full_width_era_letter_in_an_era_column() -> None:
    assert jpnorm.era_date("Ｈ", "元", "１", "８").isoformat() == "1989-01-08"


# --- D19: one name, two registration numbers, no date of birth: two people --------------


def test_numbered_records_of_one_name_without_a_birth_date_are_two_people(
    inst: Any, cli: Any, tmp_path: Path
) -> None:
    f = write_csv(tmp_path / "n.csv", [person("V05", "齋藤 実", ""), person("V06", "斎藤 実", "")])
    r = run_import(cli, f)
    assert r.exit_code == 0, r
    assert "2 read = 2 imported + 0 updated + 0 unchanged + 0 duplicates" in r.stderr
    r = run_import(cli, f)
    assert r.exit_code == 0, r
    assert "2 read = 0 imported + 0 updated + 2 unchanged + 0 duplicates" in r.stderr
    assert inst.scalar("SELECT count(*) FROM registrants") == 2


def test_a_misaligned_record_with_a_bad_byte_gives_no_number(
    inst: Any, cli: Any, tmp_path: Path
) -> None:
    f = tmp_path / "shift.csv"
    head = "区分,氏名,登録番号,生年月日,住所".encode("cp932")
    # one field too many, before the number: 太郎 sits under 登録番号; and a bad byte
    rec = "個人,山田,太郎,A001,S10.1.1,".encode("cp932") + b"\x81\x20"
    f.write_bytes(head + b"\r\n" + rec + b"\r\n")
    r = run_import(cli, f)
    assert r.exit_code == 0, r
    got = inst.rows("SELECT record_no, legacy_no FROM import_rejects")
    assert got and all(legacy is None for _, legacy in got), got
    assert "太郎" not in json.dumps([list(g) for g in got], ensure_ascii=False)


def test_a_file_error_in_a_dry_run_says_nothing_was_written(
    inst: Any, cli: Any, tmp_path: Path
) -> None:
    f = tmp_path / "q.csv"
    good = [",".join(person(f"E{i}", f"誤り {i}")) for i in range(1, 4)]
    f.write_bytes(
        ("\r\n".join([",".join(HEADER), *good, 'E8,"誤り 8"x,S10.1.1']) + "\r\n").encode("cp932")
    )
    r = run_import(cli, f, "--dry-run", "--chunk-size", "2")
    assert r.exit_code == 1
    message = r.stderr.strip()
    assert message.startswith("Error: q.csv: record 4") and "\n" not in message, message
    assert message.endswith("; dry run (batch 1) stopped, nothing was written"), message
    assert inst.scalar("SELECT count(*) FROM registrants") == 0
    assert batches(inst)[0][1] == "dry_run"
