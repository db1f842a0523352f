"""Reading real-world files: xlsx dimensions and error cells, heading precedence,
mapping value types, the record number of a CSV syntax error.

Every file here is real: cp932 CSV written as bytes, xlsx saved by openpyxl and, where
a writer's quirk is needed, its sheet XML rewritten with zipfile.
"""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path
from typing import Any

import pytest

from resv_cli.importing.reader import has_undecodable, open_source, undecodable_reason
from tests import factories

SHEET = "xl/worksheets/sheet1.xml"


@pytest.fixture
def inst(installation: Any) -> Any:
    factories.make_facility(installation, "chuo-rojin", category="senior_welfare_centre")
    return installation


def run_import(cli: Any, path: Path, *args: str) -> Any:
    return cli("import", "registrants", str(path), "--facility", "chuo-rojin", *args)


def write_cp932(path: Path, lines: list[str]) -> Path:
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp932"))
    return path


def save_xlsx(path: Path, rows: list[list[Any]]) -> Path:
    from openpyxl import Workbook

    wb = Workbook()
    for row in rows:
        wb.active.append(row)
    wb.save(path)
    return path


def rewrite_sheet(path: Path, old: bytes, new: bytes) -> None:
    """Replace ``old`` by ``new`` in the first sheet's XML, keeping every other member."""
    with zipfile.ZipFile(path) as z:
        members = [(info, z.read(info)) for info in z.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for info, data in members:
            if info.filename == SHEET:
                assert old in data, data
                data = data.replace(old, new)
            z.writestr(info, data)


def rejects_of(out: Path) -> list[dict[str, str]]:
    with out.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


# --- D2: a stale or missing <dimension> in an xlsx ------------------------------------

SHORT_ROWS = [
    ["登録番号", "氏名", "フリガナ", "電話番号"],
    ["D1", "短行 一", "タンギョウ イチ", "0476-42-1111"],
    ["D2", "短行 二", "タンギョウ ニ", None],  # rows that end in empty cells
    ["D3", "短行 三", None, None],
]


@pytest.mark.parametrize(
    ("label", "dimension"),
    [("stale", b'<dimension ref="A1:D2"/>'), ("only A1", b'<dimension ref="A1"/>'), ("none", b"")],
)
def test_xlsx_dimension_is_not_trusted(tmp_path: Path, label: str, dimension: bytes) -> None:
    f = save_xlsx(tmp_path / "legacy.xlsx", SHORT_ROWS)
    rewrite_sheet(f, b'<dimension ref="A1:D4" />', dimension)
    src = open_source(f)
    assert src.header == SHORT_ROWS[0]
    # every row is read, and short rows are padded to the header's width
    assert list(src) == [
        ["D1", "短行 一", "タンギョウ イチ", "0476-42-1111"],
        ["D2", "短行 二", "タンギョウ ニ", ""],
        ["D3", "短行 三", "", ""],
    ]
    src.close()


@pytest.mark.parametrize("dimension", [b'<dimension ref="A1:D2"/>', b""])
def test_cli_imports_every_row_of_an_xlsx_with_a_wrong_dimension(
    inst: Any, cli: Any, tmp_path: Path, dimension: bytes
) -> None:
    f = save_xlsx(tmp_path / "legacy.xlsx", SHORT_ROWS)
    rewrite_sheet(f, b'<dimension ref="A1:D4" />', dimension)
    r = run_import(cli, f)
    assert r.exit_code == 0, r
    assert (
        "Reconciliation: 3 read = 3 imported + 0 updated + 0 unchanged + 0 duplicates "
        "+ 0 rejected (ok)"
    ) in r.stderr
    got = inst.clear_rows("SELECT legacy_no, phone FROM registrants ORDER BY legacy_no")
    assert [tuple(g) for g in got] == [("D1", "0476-42-1111"), ("D2", None), ("D3", None)]


# --- D13: Excel error values ------------------------------------------------------------


def test_xlsx_error_cells_are_marked_and_text_is_not(tmp_path: Path) -> None:
    f = save_xlsx(
        tmp_path / "legacy.xlsx",
        [
            ["登録番号", "氏名", "電話番号"],
            ["E1", "#N/A", "0476-42-1111"],
            ["E2", "誤り 二", "#REF!"],
        ],
    )
    # the usual case: a formula whose cached result is an error
    rewrite_sheet(
        f, b'<c r="C3" t="e"><v>#REF!</v></c>', b'<c r="C3" t="e"><f>A1/0</f><v>#REF!</v></c>'
    )
    # a text cell that merely reads "#N/A" stays text
    rewrite_sheet(f, b"<t>E2</t>", b"<t>#N/A</t>")
    rows = list(open_source(f))
    assert has_undecodable(rows[0][1]) and not has_undecodable(rows[0][2])
    assert undecodable_reason(rows[0][1], None) == "cell holds an Excel error value (#N/A)"
    assert has_undecodable(rows[1][2])
    assert undecodable_reason(rows[1][2], None) == "cell holds an Excel error value (#REF!)"
    assert rows[1][0] == "#N/A" and not has_undecodable(rows[1][0])


def test_reason_names_only_known_error_codes_and_keeps_the_byte_reason(tmp_path: Path) -> None:
    f = save_xlsx(tmp_path / "legacy.xlsx", [["登録番号", "氏名"], ["E1", "#DIV/0!"]])
    # an error-typed cell holding anything else: its text is not shown
    rewrite_sheet(f, b"<v>#DIV/0!</v>", "<v>山田 太郎</v>".encode())
    value = list(open_source(f))[0][1]
    assert undecodable_reason(value, None) == "cell holds an Excel error value"
    assert undecodable_reason("\udc81\udc20", "cp932") == "undecodable byte (not valid cp932)"


ERROR_ROWS = [
    ["登録番号", "氏名", "電話番号"],
    ["X1", "良い 一", "0476-42-1111"],
    ["X2", "#N/A", "0476-42-1112"],
    ["X3", "良い 三", "#VALUE!"],
]


def test_cli_rejects_a_record_holding_an_excel_error(inst: Any, cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "rejects.csv"
    r = run_import(cli, save_xlsx(tmp_path / "legacy.xlsx", ERROR_ROWS), "--rejects", str(out))
    assert r.exit_code == 0, r
    assert (
        "Reconciliation: 3 read = 1 imported + 0 updated + 0 unchanged + 0 duplicates "
        "+ 2 rejected (ok)"
    ) in r.stderr
    assert [tuple(g) for g in inst.rows("SELECT legacy_no, name FROM registrants")] == [
        ("X1", "良い 一")
    ]
    got = rejects_of(out)
    assert [(g["record_no"], g["column"], g["kind"], g["legacy_no"]) for g in got] == [
        ("2", "氏名", "rejected", "X2"),
        ("3", "電話番号", "rejected", "X3"),
    ]


def test_cli_reject_reason_names_the_excel_error(inst: Any, cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "rejects.csv"
    r = run_import(cli, save_xlsx(tmp_path / "legacy.xlsx", ERROR_ROWS), "--rejects", str(out))
    assert r.exit_code == 0, r
    assert [(g["column"], g["reason"]) for g in rejects_of(out)] == [
        ("氏名", "cell holds an Excel error value (#N/A)"),
        ("電話番号", "cell holds an Excel error value (#VALUE!)"),
    ]


# --- D3: the most specific heading wins, whatever the column order ---------------------


@pytest.mark.parametrize(
    ("header", "record", "column", "expected", "not_imported"),
    [
        ("番号,登録番号,氏名,生年月日", "1,A-0091,前田 一,S5.5.5", "legacy_no", "A-0091", "番号"),
        ("ID,会員番号,氏名,生年月日", "7,M-0007,前田 二,S5.5.6", "legacy_no", "M-0007", "ID"),
        (
            "登録番号,氏名,連絡先,電話番号",
            "A1,前田 三,自宅,0476-42-1111",
            "phone",
            "0476-42-1111",
            "連絡先",
        ),
    ],
)
def test_cli_most_specific_heading_wins(
    inst: Any,
    cli: Any,
    tmp_path: Path,
    header: str,
    record: str,
    column: str,
    expected: str,
    not_imported: str,
) -> None:
    f = write_cp932(tmp_path / "order.csv", [header, record])
    r = run_import(cli, f)
    assert r.exit_code == 0, r
    assert "1 read = 1 imported" in r.stderr
    assert f"Columns not imported: {not_imported}\n" in r.stderr
    assert inst.clear_rows(f"SELECT {column} FROM registrants") == [(expected,)]


# --- D16: mapping files with values of the wrong type ----------------------------------

MAPPING_TYPE_ERRORS = [
    ('[values]\nkind = ["0"]\n', "values.kind must be a table ([values.kind]), not a list"),
    ("columns = 3\n", "columns must be a table ([columns]), not an integer"),
    (
        '[columns]\nphone = { join = "市外局番" }\n',
        "columns.phone.join must be a list of column names, not a string",
    ),
    (
        '[columns]\nphone = { join = ["市外局番", 3] }\n',
        "columns.phone.join: entry 2 must be a column name in quotes, not an integer",
    ),
    (
        '[columns]\nphone = { join = ["市外局番"], sep = 1 }\n',
        "columns.phone.sep must be a string, not an integer",
    ),
    ('[options]\nignore = "備考"\n', "options.ignore must be a list of column names, not a string"),
    ('[options]\nignored = ["備考"]\n', "unknown option(s) ignored (only ignore and empty)"),
    (
        "[columns]\nlegacy_no = 5\n",
        'columns.legacy_no must be a column name, a list of columns, { join = [...], sep = "-" } '
        "or { era, year, month, day }, not an integer",
    ),
    ("[columns]\nname = []\n", "columns.name: the list of columns is empty"),
]


@pytest.mark.parametrize(("toml", "message"), MAPPING_TYPE_ERRORS)
def test_cli_mapping_type_mistakes_name_the_file_and_key(
    inst: Any, cli: Any, tmp_path: Path, toml: str, message: str
) -> None:
    mapping = tmp_path / "map.toml"
    mapping.write_text(toml, encoding="utf-8")
    f = write_cp932(tmp_path / "a.csv", ["登録番号,氏名,市外局番,備考", "A1,山田 太郎,0476,"])
    r = run_import(cli, f, "--mapping", str(mapping))
    assert r.exit_code == 1, r
    assert r.stderr == f"Error: map.toml: {message}\n"
    assert inst.scalar("SELECT count(*) FROM import_batches") == 0


def test_cli_mapping_with_an_empty_ignore_list_is_fine(inst: Any, cli: Any, tmp_path: Path) -> None:
    mapping = tmp_path / "map.toml"
    mapping.write_text("[options]\nignore = []\n", encoding="utf-8")
    f = write_cp932(tmp_path / "a.csv", ["登録番号,氏名", "A1,山田 太郎"])
    r = run_import(cli, f, "--mapping", str(mapping))
    assert r.exit_code == 0 and "1 read = 1 imported" in r.stderr, r


# --- D12: a CSV syntax error names the record -------------------------------------------


def test_cli_csv_syntax_error_names_the_record_not_the_line(
    inst: Any, cli: Any, tmp_path: Path
) -> None:
    lines = ["登録番号,氏名,住所"]
    lines += [f"E00{i},誤り {i},印西市" for i in range(1, 3)]
    lines += ['E003,誤り 3,"印西市\r\n大森"']  # record 3 spans two physical lines
    lines += [f"E00{i},誤り {i},印西市" for i in range(4, 8)]
    lines += ['E008,"誤り 8"x,印西市', "E009,誤り 9,印西市"]
    f = write_cp932(tmp_path / "bad.csv", lines)
    r = run_import(cli, f)
    assert r.exit_code == 1, r
    # the reader names the record; the importer adds what happened to the batch
    assert r.stderr == (
        "Error: bad.csv: record 8 (near line 10): ',' expected after '\"'; "
        "nothing after this point was read; batch 1 aborted, none of its new records were kept\n"
    )
