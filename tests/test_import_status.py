"""The importer and registration status (issue 15 part 6): [values.status], card validity,
sentinels read as empty ([options] empty), deleted registrations skipped and reconciled.

Real cp932 files, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from tests import factories

HEADER = ["登録番号", "氏名", "フリガナ", "生年月日", "電話番号", "会員状態", "有効期限", "備考"]
ROWS = [
    ["0001", "髙橋 一郎", "ﾀｶﾊｼ ｲﾁﾛｳ", "昭和15年3月2日", "0476-42-1111", "A", "令和2年3月31日", ""],
    ["0002", "山﨑 花子", "ヤマザキ ハナコ", "S20.1.2", "なし", "停止", "なし", "－"],
    ["0003", "佐藤 次郎", "サトウ ジロウ", "1950-05-05", "-", "X", "2020-03-31", ""],
    ["0004", "鈴木 三郎", "スズキ サブロウ", "未設定", "0476-42-4444", "抹消", "", ""],
    # a deleted registration with a bad phone: skipped, not rejected
    ["0005", "田中 四郎", "タナカ シロウ", "1951-01-01", "12345", "削除", "", ""],
    ["0006", "伊藤 五郎", "イトウ ゴロウ", "1952-02-02", "", "不明", "", ""],
    ["0007", "加藤 六郎", "カトウ ロクロウ", "1953-03-03", "", "", "2020-13-01", ""],
]  # fmt: skip
MAPPING = """\
[columns]
status = "会員状態"
card_valid_until = "有効期限"

[values.status]
"A" = "active"
"X" = "deleted"

[options]
ignore = ["備考"]
empty = ["なし", "未設定", "-"]
"""
BAD_DATE = "impossible date (no such month or day)"


@pytest.fixture
def inst(installation: Any) -> Any:
    factories.make_facility(installation, "chuo-rojin", category="senior_welfare_centre")
    return installation


def write(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    lines = [",".join(r) for r in [header, *rows]]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp932"))
    return path


def mapping(tmp_path: Path, text: str = MAPPING) -> Path:
    p = tmp_path / "map.toml"
    p.write_text(text, encoding="utf-8")
    return p


def stored(inst: Any) -> list[tuple[Any, ...]]:
    return [
        (r[0], r[1], r[2], None if r[3] is None else str(r[3]), r[4])
        for r in inst.clear_rows(
            "SELECT legacy_no, status, phone, card_valid_until, date_of_birth IS NULL "
            "FROM registrants ORDER BY legacy_no"
        )
    ]


def test_statuses_sentinels_and_skipped_deleted_registrations(inst, cli, tmp_path):
    src = write(tmp_path / "legacy.csv", ROWS)
    rej = tmp_path / "rejects.csv"
    r = cli("import", "registrants", str(src), "--facility", "chuo-rojin", "--mapping",
            str(mapping(tmp_path)), "--rejects", str(rej), "-f", "json")  # fmt: skip
    assert r.exit_code == 0, r
    summary = {row["item"]: row["count"] for row in json.loads(r.stdout)}
    assert summary == {
        "records read": 7, "imported": 2, "updated": 0, "unchanged": 0, "duplicates": 0,
        "rejected": 2, "skipped": 3,
    }  # fmt: skip
    assert (
        "Reconciliation: 7 read = 2 imported + 0 updated + 0 unchanged + 0 duplicates + "
        "2 rejected + 3 skipped (ok)" in r.stderr
    )
    assert stored(inst) == [
        ("0001", "active", "0476-42-1111", "2020-03-31", 0),
        ("0002", "suspended", None, None, 0),  # なし: no phone, no validity recorded
    ]
    rejects = list(csv.reader(rej.read_text(encoding="utf-8-sig").splitlines()))
    assert rejects[1:] == [
        ["6", "会員状態", "rejected", "status must be active (有効), suspended (停止) or deleted "
         "(削除); map the file's code in [values.status]", "0006"],
        ["7", "有効期限", "rejected", f"card valid until: {BAD_DATE}", "0007"],
    ]  # fmt: skip
    info = json.loads(cli("import", "show", "1", "-f", "json").stdout)
    assert info["skipped"] == 3
    assert info["reconciliation"] == (
        "7 read = 2 imported + 0 updated + 0 unchanged + 0 duplicates + 2 rejected + 3 skipped"
    )
    finish = inst.rows(
        "SELECT detail FROM audit_events WHERE action = 'import.batch' ORDER BY seq"
    )[-1][0]
    assert json.loads(finish)["skipped"] == 3


def test_a_later_deletion_is_recorded_only_with_on_conflict_update(inst, cli, tmp_path):
    m = str(mapping(tmp_path))
    first = write(tmp_path / "v1.csv", [ROWS[0]])
    assert cli("import", "registrants", str(first), "--facility", "chuo-rojin",
               "--mapping", m).exit_code == 0  # fmt: skip
    deleted = [ROWS[0][:5] + ["X", "令和2年3月31日", ""]]
    later = write(tmp_path / "v2.csv", deleted)
    r = cli("import", "registrants", str(later), "--facility", "chuo-rojin", "--mapping", m)
    assert r.exit_code == 0, r
    assert "1 read = 0 imported + 0 updated + 0 unchanged + 1 duplicates + 0 rejected (ok)" in (
        r.stderr
    )
    r = cli("import", "registrants", str(later), "--facility", "chuo-rojin", "--mapping", m,
            "--on-conflict", "update")  # fmt: skip
    assert "1 read = 0 imported + 1 updated + 0 unchanged" in r.stderr
    assert [s[:2] for s in stored(inst)] == [("0001", "deleted")]
    r = cli("import", "registrants", str(later), "--facility", "chuo-rojin", "--mapping", m)
    assert "1 read = 0 imported + 0 updated + 1 unchanged" in r.stderr


def test_deleted_then_registered_again_is_imported_once(inst, cli, tmp_path):
    rows = [
        ["0010", "髙橋 一郎", "", "1940-03-02", "", "削除", "", ""],
        ["0011", "高橋 一郎", "", "1940-03-02", "", "有効", "", ""],
        ["0012", "髙橋 一郎", "", "1940-03-02", "", "抹消", "", ""],
    ]
    src = write(tmp_path / "again.csv", rows)
    r = cli("import", "registrants", str(src), "--facility", "chuo-rojin", "--mapping",
            str(mapping(tmp_path)))  # fmt: skip
    assert r.exit_code == 0, r
    assert (
        "3 read = 1 imported + 0 updated + 0 unchanged + 0 duplicates + 0 rejected + 2 skipped "
        "(ok)" in r.stderr
    )
    assert [s[:2] for s in stored(inst)] == [("0011", "active")]


def test_known_headings_and_words_without_a_mapping_file(inst, cli, tmp_path):
    header = ["登録番号", "氏名", "生年月日", "登録状態", "有効開始日", "有効期限"]
    rows = [
        ["0001", "髙橋 一郎", "1940-03-02", "有効", "H31.4.1", "R3.3.31"],
        ["0002", "山﨑 花子", "1941-03-02", "利用停止", "", ""],
        ["0003", "佐藤 次郎", "1942-03-02", "抹消", "", ""],
        ["0004", "鈴木 三郎", "1943-03-02", "", "2021-04-01", "2021-03-31"],
        ["0005", "田中 四郎", "1944-03-02", "", "", "なし"],
    ]
    src = write(tmp_path / "plain.csv", rows, header)
    rej = tmp_path / "rejects.csv"
    r = cli("import", "registrants", str(src), "--facility", "chuo-rojin", "--rejects", str(rej))
    assert r.exit_code == 0, r
    assert "5 read = 2 imported + 0 updated + 0 unchanged + 0 duplicates + 2 rejected + 1 " in (
        r.stderr
    )
    assert "Columns not imported" not in r.stderr
    assert inst.rows(
        "SELECT legacy_no, status, card_valid_from, card_valid_until FROM registrants "
        "ORDER BY legacy_no"
    ) == [
        ("0001", "active", *_dates(inst, "2019-04-01", "2021-03-31")),
        ("0002", "suspended", None, None),
    ]
    rejects = list(csv.reader(rej.read_text(encoding="utf-8-sig").splitlines()))
    assert [r[:4] for r in rejects[1:]] == [
        ["4", "有効期限", "rejected", "card validity ends before it starts"],
        ["5", "有効期限", "rejected", "card valid until: not a date like 2017-04-01, 2017/4/1, "
         "20170401, 2017年4月1日, 平成29年4月1日, H29.4.1; a word for none (なし, 未設定) goes "
         "in [options] empty of the mapping file"],
    ]  # fmt: skip


def _dates(inst: Any, *iso: str) -> tuple[Any, ...]:
    import datetime as dt

    if inst.backend == "postgresql":
        return tuple(dt.date.fromisoformat(d) for d in iso)
    return iso


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[values.status]\n"9" = "gone"\n',
            "map.toml: values.status.9 must be active, suspended or deleted",
        ),
        (
            '[values.state]\n"9" = "deleted"\n',
            "map.toml: unknown value table(s) state (only [values.kind] and [values.status])",
        ),
        (
            '[options]\nempty = "なし"\n',
            'map.toml: options.empty must be a list of texts in quotes, e.g. ["なし", "-"]',
        ),
        (
            '[options]\nempty = [" "]\n',
            "map.toml: options.empty: an entry is blank (blank cells are empty already)",
        ),
        ("[options]\nblank = []\n", "map.toml: unknown option(s) blank (only ignore and empty)"),
    ],
)
def test_mapping_file_mistakes_are_named(inst, cli, tmp_path, text, message):
    src = write(tmp_path / "legacy.csv", ROWS[:1])
    r = cli("import", "registrants", str(src), "--facility", "chuo-rojin", "--mapping",
            str(mapping(tmp_path, text)), "--dry-run")  # fmt: skip
    assert (r.exit_code, r.stderr) == (1, f"Error: {message}\n")


def test_full_width_sentinels_and_a_dry_run(inst, cli, tmp_path):
    rows = [["0001", "髙橋 一郎", "", "1940-03-02", "－", "", "ー", ""]]
    src = write(tmp_path / "fw.csv", rows)
    text = MAPPING.replace('"-"]', '"-", "ー"]')
    r = cli("import", "registrants", str(src), "--facility", "chuo-rojin", "--mapping",
            str(mapping(tmp_path, text)), "--dry-run")  # fmt: skip
    assert r.exit_code == 0, r
    assert "1 read = 1 imported + 0 updated" in r.stderr
    assert inst.scalar("SELECT count(*) FROM registrants") == 0
