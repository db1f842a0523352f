"""resv facility import on the two real published 公共施設一覧 files and variants of them."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# unedited copies of the published files (licences and attribution in the README there)
OPENDATA = ROOT / "tests" / "data" / "opendata"
YAIZU = OPENDATA / "yaizu_222127_public_facility.csv"
ITABASHI = OPENDATA / "itabashi_131199_public_facilities.csv"


def _rows(path: Path) -> list[list[str]]:
    text = path.read_bytes().decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text, newline="")))


def _write(path: Path, rows: list[list[str]], *, encoding="utf-8", newline="\n", bom=False):
    buf = io.StringIO()
    csv.writer(buf, lineterminator=newline, quoting=csv.QUOTE_MINIMAL).writerows(rows)
    data = buf.getvalue().encode(encoding)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def _import(cli, path, *extra):
    result = cli("facility", "import", str(path), *extra, "-f", "json")
    assert result.exit_code == 0, result
    return result, json.loads(result.stdout)


def _count(inst, lg):
    return inst.scalar("SELECT count(*) FROM facilities WHERE source_lg_code = :lg", lg=lg)


@pytest.mark.parametrize(
    "code", ["222127", "131199", "203629", "130001", "011002", "271004", "011011"]
)
def test_check_digit_of_known_codes(code):
    from resv_cli.facilities.opendata import valid_lg_code

    assert valid_lg_code(code)
    wrong = code[:5] + str((int(code[5]) + 1) % 10)
    assert not valid_lg_code(wrong)


def test_yaizu_older_layout_hours_from_free_text(installation, cli):
    _, report = _import(cli, YAIZU)
    assert (report["encoding"], report["layout"]) == ("utf-8", "older")
    assert (report["records_read"], report["imported"], report["rejected"]) == (230, 230, 0)
    assert _count(installation, "222127") == 230
    row = installation.rows(
        "SELECT name, opens_at, closes_at, hours_note, address FROM facilities "
        "WHERE source_lg_code = '222127' AND source_id = '0000010001'"
    )[0]
    assert row[0] == "親子ふれあい広場"
    assert (row[1], row[2]) == ("09:00", "17:00")
    assert row[3].startswith("【開館時間】9:00～17:00")
    assert row[4] == "焼津市本町5-6-1"
    # "【開館時間】24時間" has no range: kept as text, no hours invented
    parking = installation.rows(
        "SELECT opens_at, hours_note FROM facilities WHERE source_id = '0000010002'"
    )[0]
    assert parking[0] is None and parking[1] == "【開館時間】24時間"
    batch = installation.rows("SELECT kind, status, imported FROM import_batches")
    assert [tuple(b) for b in batch] == [("facilities", "completed", 230)]
    assert (
        installation.scalar("SELECT count(*) FROM audit_events WHERE action = 'facility.import'")
        == 1
    )


def test_itabashi_shifted_column_is_reported_not_loaded(installation, cli):
    result, report = _import(cli, ITABASHI)
    assert (report["encoding"], report["layout"]) == ("utf-8-sig", "current")
    assert (report["records_read"], report["imported"], report["rejected"]) == (316, 233, 83)
    rejects = report["rejects"]
    assert len(rejects) == 83
    assert {r["column"] for r in rejects} == {"町字ID"}
    assert {r["file"] for r in rejects} == {ITABASHI.name}
    first = rejects[0]
    assert first["row"] == 2
    assert "holds the local-government code 131199, not a town-area ID" in first["reason"]
    assert any("203629" in r["reason"] for r in rejects)
    # the same facts on stderr, one line each, naming file, row and column
    lines = [ln for ln in result.stderr.splitlines() if "column 町字ID" in ln]
    assert len(lines) == 83
    assert lines[0].startswith(f"{ITABASHI.name}: row 2, column 町字ID: holds the")
    assert _count(installation, "131199") == 233
    stored = installation.rows("SELECT record_no, column_name, kind FROM import_rejects")
    assert len(stored) == 83 and {(r[1], r[2]) for r in stored} == {("町字ID", "rejected")}
    shifted_ids = {r["row"] for r in rejects}
    source = _rows(ITABASHI)
    loaded = {
        r[0]
        for r in installation.rows(
            "SELECT source_id FROM facilities WHERE source_lg_code = '131199'"
        )
    }
    assert loaded == {source[n - 1][1] for n in range(2, 318) if n not in shifted_ids}


def test_repair_shifted_loads_every_row_and_says_so(installation, cli):
    _, report = _import(cli, ITABASHI, "--repair-shifted")
    assert (report["imported"], report["repaired"], report["rejected"]) == (316, 83, 0)
    assert {r["kind"] for r in report["rejects"]} == {"repaired"}
    assert _count(installation, "131199") == 316


def test_reimport_updates_by_id_never_duplicates(installation, cli, tmp_path):
    _import(cli, YAIZU)
    _, again = _import(cli, YAIZU)
    assert (again["imported"], again["updated"], again["unchanged"]) == (0, 0, 230)
    rows = _rows(YAIZU)
    rows[1][4] = "親子ふれあい広場（改称）"
    changed = _write(tmp_path / "yaizu_changed.csv", rows)
    _, third = _import(cli, changed)
    assert (third["imported"], third["updated"], third["unchanged"]) == (0, 1, 229)
    assert _count(installation, "222127") == 230
    assert (
        installation.scalar("SELECT name FROM facilities WHERE source_id = '0000010001'")
        == "親子ふれあい広場（改称）"
    )


def test_dry_run_writes_nothing(installation, cli):
    events = installation.scalar("SELECT count(*) FROM audit_events")
    result, report = _import(cli, ITABASHI, "--dry-run")
    assert report["dry_run"] is True and report["imported"] == 233 and report["rejected"] == 83
    assert "Dry run: nothing was written." not in result.stdout
    assert installation.scalar("SELECT count(*) FROM facilities") == 0
    assert installation.scalar("SELECT count(*) FROM import_batches") == 0
    assert installation.scalar("SELECT count(*) FROM audit_events") == events
    table = cli("facility", "import", str(ITABASHI), "--dry-run")
    assert table.exit_code == 0
    assert "Dry run: nothing was written." in table.stderr


def test_cp932_crlf_variant_reads_the_same(installation, cli, tmp_path):
    variant = _write(tmp_path / "yaizu_sjis.csv", _rows(YAIZU), encoding="cp932", newline="\r\n")
    assert b"\r\n" in variant.read_bytes()
    _, report = _import(cli, variant)
    assert report["encoding"] == "cp932"
    assert (report["imported"], report["rejected"]) == (230, 0)
    names = {r[0] for r in installation.rows("SELECT name FROM facilities")}
    assert "親子ふれあい広場" in names
    # the original UTF-8 file finds the same facilities unchanged
    _, report = _import(cli, YAIZU)
    assert report["unchanged"] == 230


def test_itabashi_cp932_and_bomless_variants(installation, cli, tmp_path):
    rows = _rows(ITABASHI)
    sjis = _write(tmp_path / "ita_sjis.csv", rows, encoding="cp932", newline="\r\n")
    _, report = _import(cli, sjis, "--dry-run")
    assert (report["encoding"], report["imported"], report["rejected"]) == ("cp932", 233, 83)
    plain = _write(tmp_path / "ita_plain.csv", rows)
    _, report = _import(cli, plain, "--dry-run")
    assert (report["encoding"], report["imported"], report["rejected"]) == ("utf-8", 233, 83)


def test_required_suffix_headers(installation, cli, tmp_path):
    rows = _rows(ITABASHI)
    for i, h in enumerate(rows[0]):
        if h in ("全国地方公共団体コード", "ID", "地方公共団体名", "名称", "所在地_連結表記"):
            rows[0][i] = h + "（必須）"
    rows[0][rows[0].index("名称_英字")] = "名称_英語"
    variant = _write(tmp_path / "ita_required.csv", rows, encoding="cp932", newline="\r\n")
    _, report = _import(cli, variant)
    assert (report["layout"], report["imported"], report["rejected"]) == ("current", 233, 83)
    # row 2 (板橋区役所) is a shifted row: not loaded
    assert (
        installation.scalar("SELECT count(*) FROM facilities WHERE source_id = '131199000001'") == 0
    )
    loaded = installation.rows(
        "SELECT name, address FROM facilities WHERE source_lg_code = '131199' ORDER BY source_id"
    )
    assert all(r[0] for r in loaded) and any(
        r[1] and r[1].startswith("東京都板橋区") for r in loaded
    )


def test_messy_hours_columns_and_bad_rows(installation, cli, tmp_path):
    rows = _rows(YAIZU)[:7]
    h = rows[0]
    start, end, code = (
        h.index("開始時間"),
        h.index("終了時間"),
        h.index("都道府県コード又は市区町村コード"),
    )
    rows[1][start], rows[1][end] = "８：３０", "１7:15"
    rows[2][start], rows[2][end] = "9時", "17:00"
    rows[3][code] = "222128"  # wrong check digit
    rows[4] = rows[4][:10]  # a short row
    rows[5][h.index("名称")] = ""
    rows[6][h.index("緯度")] = "北緯34度"
    path = _write(tmp_path / "messy.csv", rows, encoding="cp932", newline="\r\n")
    result, report = _import(cli, path)
    assert report["imported"] == 1
    by_row = {(r["row"], r["column"]): r["reason"] for r in report["rejects"]}
    assert by_row == {
        (3, "開始時間"): "'9時' is not a time like 09:00",
        (4, "都道府県コード又は市区町村コード"): (
            "'222128' is not a valid 6-digit local-government code (check digit)"
        ),
        (5, ""): "10 fields where the header has 24",
        (6, "名称"): "empty; every facility needs a name",
        (7, "緯度"): "'北緯34度' is not a latitude",
    }
    assert installation.rows("SELECT opens_at, closes_at FROM facilities") == [("08:30", "17:15")]
    assert "messy.csv: row 4, column 都道府県コード又は市区町村コード: '222128' is not" in (
        result.stderr
    )


def test_file_level_errors_write_nothing(installation, cli, tmp_path):
    bad = tmp_path / "latin.csv"
    # neither valid UTF-8 nor cp932 (0x85 0x40 is an unassigned Shift_JIS code)
    bad.write_bytes(b"ID,NAME\n\x85\x40\n")
    result = cli("facility", "import", str(bad))
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: latin.csv: neither UTF-8 nor cp932 (Shift_JIS); undecodable byte at offset 8"
    )
    no_name = _write(tmp_path / "no_name.csv", [["全国地方公共団体コード", "ID"], ["131199", "1"]])
    result = cli("facility", "import", str(no_name))
    assert result.exit_code == 1
    assert "Error: no_name.csv: row 1: missing column 名称" in result.stderr
    assert installation.scalar("SELECT count(*) FROM facilities") == 0
    assert installation.scalar("SELECT count(*) FROM import_batches") == 0


def test_any_cell_content_is_loaded_or_rejected_with_row_and_column():
    """Whatever a cell holds, a row is either parsed or reported; nothing crashes."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from resv_cli.facilities.opendata import ImportReport, _parse

    rows = _rows(YAIZU)[:4]
    header = rows[0]
    cells = st.one_of(
        st.text(max_size=12),
        st.sampled_from(["", "９：００", "25:00", "8:30～", "222128", "１３１１９９", "0", "-"]),
    )

    @settings(max_examples=400, deadline=None)
    @given(st.lists(st.tuples(st.integers(1, 3), st.integers(0, len(header) - 1), cells),
                    max_size=6))  # fmt: skip
    def check(edits):
        data = [list(r) for r in rows]
        for r, c, value in edits:
            data[r][c] = value
        buf = io.StringIO()
        # CRLF: the csv module then quotes a cell holding a bare CR or LF (with "\n" as
        # terminator it would write a bare CR unquoted: a line break in any reader)
        csv.writer(buf, lineterminator="\r\n").writerows(data)
        report = ImportReport(file="f.csv", encoding="utf-8", layout="", dry_run=True)
        parsed = _parse(buf.getvalue(), "f.csv", "other", False, report)
        rejected = {x["row"] for x in report.rejects if x["kind"] != "repaired"}
        assert {p.row_no for p in parsed}.isdisjoint(rejected)
        assert {p.row_no for p in parsed} | rejected == {2, 3, 4}
        for x in report.rejects:
            assert x["file"] == "f.csv" and x["row"] in (2, 3, 4) and x["reason"]
        for p in parsed:
            assert p.values["name"]
            if p.values["opens_at"]:
                assert p.values["opens_at"] < p.values["closes_at"]

    check()
