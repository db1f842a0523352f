"""Both xlsx readers (python-calamine and openpyxl) give the same records; the guards hold.

Every workbook is real (saved by openpyxl, its XML rewritten where a quirk is needed).
"""

from __future__ import annotations

import datetime as dt
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from resv_cli.core.errors import InputError
from resv_cli.importing import reader
from resv_cli.importing.mapping import compile_mapping
from resv_cli.importing.normalise import build_normaliser
from resv_cli.importing.reader import CalamineSource, XlsxSource, calamine_fits, open_source

ROOT = Path(__file__).resolve().parent.parent
TODAY = dt.date(2026, 11, 29)
SHEET = "xl/worksheets/sheet1.xml"


def save_xlsx(path: Path, rows: list[list[Any]], *, at: str | None = None) -> Path:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    if at is None:
        for row in rows:
            ws.append(row)
    else:  # the table starts at a cell other than A1
        from openpyxl.utils.cell import column_index_from_string, coordinate_from_string

        col, first = coordinate_from_string(at)
        c0 = column_index_from_string(col)
        for i, row in enumerate(rows):
            for j, v in enumerate(row):
                ws.cell(first + i, c0 + j, v)
    wb.save(path)
    return path


def legacy_rows(n: int) -> list[list[Any]]:
    sys.path.insert(0, str(ROOT / "bench"))
    import random

    from gen_legacy import HEADER, record

    rng = random.Random(5)
    return [HEADER] + [record(rng, i, TODAY) for i in range(1, n + 1)]


def both(path: Path) -> tuple[list[Any], list[Any]]:
    """(header, rows, records) of each reader."""
    out = []
    for cls in (CalamineSource, XlsxSource):
        src = cls(path)
        rows = list(src)
        nz = build_normaliser(compile_mapping(src.header), src.header, None, TODAY)
        out.append((src.header, rows, [nz.normalise(list(r)) for r in rows]))
        src.close()
    return out[0], out[1]


WORKBOOKS = {
    "legacy": legacy_rows(300),
    "types": [
        ["区分", "登録番号", "氏名", "生年月日", "電話番号", "郵便番号", "備考"],
        ["個人", 1, "髙橋 一郎", dt.datetime(1940, 3, 2), "0476-42-1111", 2701337, 2.5],
        ["団体", 2.0, "㈱コスモス会 ①", dt.date(1989, 1, 8), 476421111, "270-1337", True],
        [None, None, None, None, None, None, None],
        [
            "個人",
            "003",
            " 山﨑\u3000花子 ",
            "昭和15年3月2日",
            "０４７６－４２－１１１１",
            None,
            "a\nb",
        ],
        ["個人", "004", "渡邊 太郎", dt.datetime(1950, 1, 2, 13, 30), None, None, None],
    ],
}


@pytest.mark.parametrize("name", sorted(WORKBOOKS))
def test_calamine_and_openpyxl_give_the_same_records(tmp_path: Path, name: str) -> None:
    f = save_xlsx(tmp_path / f"{name}.xlsx", WORKBOOKS[name])
    calamine, openpyxl = both(f)
    assert calamine == openpyxl
    assert len(calamine[1]) == len(WORKBOOKS[name]) - 1 - (name == "types")  # blank row
    assert calamine_fits(f)


def test_a_table_not_at_a1_is_refused_alike(tmp_path: Path) -> None:
    f = save_xlsx(tmp_path / "c3.xlsx", WORKBOOKS["types"], at="C3")
    for cls in (CalamineSource, XlsxSource):
        with pytest.raises(InputError, match="the first row holds no column names"):
            cls(f)


def test_a_table_starting_in_column_c_keeps_its_columns(tmp_path: Path) -> None:
    f = save_xlsx(tmp_path / "c1.xlsx", WORKBOOKS["types"], at="C1")
    calamine, openpyxl = both(f)
    assert calamine == openpyxl
    assert calamine[0][:3] == ["", "", "区分"]


def test_the_importer_picks_calamine_within_the_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = save_xlsx(tmp_path / "a.xlsx", WORKBOOKS["legacy"])
    assert isinstance(open_source(f), CalamineSource)
    # a sheet estimated over the budget is read by calamine in windows of rows
    # (tests/test_import_xlsx_windows.py), not whole
    monkeypatch.setattr(reader, "CALAMINE_BUDGET", reader.calamine_estimate(f) - 1)
    assert calamine_fits(f)
    src = open_source(f)
    assert isinstance(src, CalamineSource) and src._wb is None


def test_an_error_cell_sends_the_workbook_to_openpyxl_which_marks_it(tmp_path: Path) -> None:
    # calamine reads an error cell as empty: the record would lose the mark
    f = save_xlsx(tmp_path / "e.xlsx", [["登録番号", "氏名"], ["E1", "#N/A"]])
    with zipfile.ZipFile(f) as z:
        assert b't="e"' in z.read(SHEET)
    assert not calamine_fits(f)
    src = open_source(f)
    assert isinstance(src, XlsxSource)
    assert reader.has_undecodable(list(src)[0][1])


def test_a_dtd_sends_the_workbook_to_openpyxl_which_refuses_it(tmp_path: Path) -> None:
    good = save_xlsx(tmp_path / "good.xlsx", [["氏名"], ["x"]])
    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bomb, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == SHEET:
                data = data.replace(
                    b"<worksheet", b'<!DOCTYPE x [<!ENTITY a "aaaa">]><worksheet', 1
                )
            zout.writestr(item, data)
    assert not calamine_fits(bomb)
    with pytest.raises(InputError, match=r"bomb.xlsx: refused: EntitiesForbidden"):
        list(open_source(bomb))


def test_a_zip_bomb_is_refused_before_either_reader(tmp_path: Path) -> None:
    f = tmp_path / "zip.xlsx"
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr(SHEET, b"<a>" + b" " * (50 << 20) + b"</a>")
    with pytest.raises(InputError, match=r"zip.xlsx: refused: member .* \(possible zip bomb\)"):
        reader.open_xlsx(f, reader="calamine")
