"""A sheet over calamine's memory budget is read in windows of whole rows: same records.

Every workbook is real (saved by openpyxl; where a writer's habit is needed, such as
Excel's shared strings or a namespace prefix, its XML is rewritten here).  A small
window forces many windows on a small sheet; the records must equal a whole read by
calamine and a streaming read by openpyxl, byte for byte.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
import zipfile
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from defusedxml.ElementTree import fromstring

from resv_cli.core.errors import InputError
from resv_cli.importing import reader
from resv_cli.importing.reader import CalamineSource, XlsxSource, calamine_plan, open_source

ROOT = Path(__file__).resolve().parent.parent
TODAY = dt.date(2026, 11, 29)
SHEET = "xl/worksheets/sheet1.xml"
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
WINDOW = 4096  # a few dozen rows a window


def save_xlsx(path: Path, sheets: list[list[list[Any]]]) -> Path:
    from openpyxl import Workbook

    wb = Workbook()
    for i, rows in enumerate(sheets):
        ws = wb.active if i == 0 else wb.create_sheet(f"S{i}")
        for row in rows:
            ws.append(row)
    wb.save(path)
    return path


def rewrite(src: Path, dst: Path, change: dict[str, bytes | None]) -> Path:
    """A copy of the workbook with members replaced (bytes), dropped (None) or added."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            if item.filename in change:
                continue
            zout.writestr(item, zin.read(item.filename))
        for name, data in change.items():
            if data is not None:
                zout.writestr(name, data)
    return dst


def legacy_rows(n: int, seed: int = 5) -> list[list[Any]]:
    sys.path.insert(0, str(ROOT / "bench"))
    import random

    from gen_legacy import HEADER, record

    rng = random.Random(seed)
    rows: list[list[Any]] = [HEADER]
    for i in range(1, n + 1):
        row: list[Any] = record(rng, i, TODAY)
        if 100 <= i < 220:
            row[0] = None  # column A empty for whole windows: their first used column is B
        if i % 37 == 0:
            row[4] = dt.date(1930 + i % 60, 1 + i % 12, 1 + i % 28)  # a real date cell
        if i % 41 == 0:
            row[5] = 2701337  # a number
        rows.append(row)
    return rows


def records(src: reader.Source) -> tuple[list[str], list[list[str]]]:
    try:
        return src.header, list(src)
    finally:
        src.close()


def three_reads(path: Path) -> list[tuple[list[str], list[list[str]]]]:
    return [
        records(CalamineSource(path, window=WINDOW)),
        records(CalamineSource(path)),
        records(XlsxSource(path)),
    ]


def test_windows_give_the_records_of_a_whole_read_and_of_openpyxl(tmp_path: Path) -> None:
    f = save_xlsx(tmp_path / "legacy.xlsx", [legacy_rows(600)])
    windows = list(reader._sheet_windows(f, WINDOW))
    assert len(windows) > 20  # it really was cut
    windowed, whole, streamed = three_reads(f)
    assert windowed == whole == streamed
    assert len(windowed[1]) == 600
    # the windows of rows without column A kept their columns
    assert windowed[1][150][0] == "" and windowed[1][150][1] == f"{151:08d}"


def test_each_window_is_a_workbook_of_whole_rows_near_the_window_size(tmp_path: Path) -> None:
    f = save_xlsx(tmp_path / "legacy.xlsx", [legacy_rows(300)])
    row_bytes = 0
    with zipfile.ZipFile(f) as z:
        sheet = z.read(SHEET)
    for row in sheet.split(b"</row>"):
        row_bytes = max(row_bytes, len(row) - len(row.split(b"<row ")[0]))
    total = 0
    for book in reader._sheet_windows(f, WINDOW):
        with zipfile.ZipFile(book) as z:
            xml = z.read(SHEET)
            assert z.namelist().count(SHEET) == 1
        fromstring(xml)  # well-formed on its own
        body = xml.split(b"<sheetData>")[1].split(b"</sheetData>")[0]
        assert len(body) <= 2 * WINDOW + row_bytes
        assert b"<dimension" not in xml  # the file's own (stale) dimension is not repeated
        total += body.count(b"</row>")
    assert total == sheet.count(b"</row>") == 301


def to_shared_strings(src: Path, dst: Path) -> Path:
    """The workbook as Excel writes it: text cells index a shared-strings part."""
    ET.register_namespace("", MAIN)
    with zipfile.ZipFile(src) as z:
        root = fromstring(z.read(SHEET))
        types = z.read("[Content_Types].xml")
        rels = z.read("xl/_rels/workbook.xml.rels")
    table: dict[str, int] = {}
    for c in root.iter(f"{{{MAIN}}}c"):
        if c.get("t") == "inlineStr":
            text = "".join(c.itertext())
            for child in list(c):
                c.remove(child)
            c.set("t", "s")
            ET.SubElement(c, f"{{{MAIN}}}v").text = str(table.setdefault(text, len(table)))
    sst = ET.Element(f"{{{MAIN}}}sst", count=str(len(table)), uniqueCount=str(len(table)))
    for text in table:
        ET.SubElement(ET.SubElement(sst, f"{{{MAIN}}}si"), f"{{{MAIN}}}t").text = text
    assert table  # the rewrite found text to share
    ct = b"application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
    rel = (
        b'<Relationship Id="rIdSST" Target="sharedStrings.xml" Type="http://schemas.'
        b'openxmlformats.org/officeDocument/2006/relationships/sharedStrings"/>'
    )
    return rewrite(src, dst, {
        SHEET: ET.tostring(root, xml_declaration=True, encoding="UTF-8"),
        "xl/sharedStrings.xml": ET.tostring(sst, xml_declaration=True, encoding="UTF-8"),
        "[Content_Types].xml": types.replace(
            b"</Types>",
            b'<Override PartName="/xl/sharedStrings.xml" ContentType="' + ct + b'"/></Types>',
        ),
        "xl/_rels/workbook.xml.rels": rels.replace(b"</Relationships>", rel + b"</Relationships>"),
    })  # fmt: skip


def test_each_window_carries_only_the_shared_strings_it_uses(tmp_path: Path) -> None:
    inline = save_xlsx(tmp_path / "inline.xlsx", [legacy_rows(400)])
    f = to_shared_strings(inline, tmp_path / "sst.xlsx")
    with zipfile.ZipFile(f) as z:
        sheet = z.read(SHEET)
        total = z.getinfo("xl/sharedStrings.xml").file_size
    assert b't="s"' in sheet and b"inlineStr" not in sheet
    windowed, whole, streamed = three_reads(f)
    assert windowed == whole == streamed == records(CalamineSource(inline))
    # renumbered from 0 in each window, and each window's table is a small part of the whole
    sizes = []
    for book in reader._sheet_windows(f, WINDOW):
        with zipfile.ZipFile(book) as z:
            xml, table = z.read(SHEET), z.read("xl/sharedStrings.xml")
        used = {int(v) for v in re.findall(rb'<c [^>]*t="s"[^>]*><v>(\d+)</v>', xml)}
        assert used == set(range(len(used))) == set(range(table.count(b"<si>")))
        sizes.append(len(table))
    assert len(sizes) > 10 and max(sizes) < total / 5


def test_a_shared_string_cell_in_an_unknown_form_is_refused_not_guessed(
    tmp_path: Path,
) -> None:
    f = to_shared_strings(save_xlsx(tmp_path / "i.xlsx", [legacy_rows(200)]), tmp_path / "s.xlsx")
    with zipfile.ZipFile(f) as z:
        xml = z.read(SHEET)
    cells = re.findall(rb'<c [^>]*t="s"[^>]*><v>\d+</v>', xml)
    odd = rewrite(f, tmp_path / "odd.xlsx", {SHEET: xml.replace(
        cells[900], cells[900].replace(b"<v>", b"<v> "), 1)})  # fmt: skip
    with pytest.raises(InputError, match=r"^odd.xlsx: refused: a shared-string cell in a form"):
        records(CalamineSource(odd, window=WINDOW))
    number = re.search(rb"<v>(\d+)</v>", cells[900])
    assert number is not None
    past = cells[900].replace(number.group(0), b"<v>999999</v>")
    gone = rewrite(f, tmp_path / "gone.xlsx", {SHEET: xml.replace(cells[900], past, 1)})
    with pytest.raises(InputError, match=r"^gone.xlsx: refused: a cell refers to a shared string"):
        records(CalamineSource(gone, window=WINDOW))


def test_shared_strings_that_cannot_be_cut_safely_are_not_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = to_shared_strings(save_xlsx(tmp_path / "i.xlsx", [legacy_rows(200)]), tmp_path / "s.xlsx")
    monkeypatch.setattr(reader, "CALAMINE_BUDGET", reader.calamine_estimate(f) - 1)
    assert calamine_plan(f) == "windows"
    with zipfile.ZipFile(f) as z:
        table = z.read("xl/sharedStrings.xml")
    commented = rewrite(f, tmp_path / "c.xlsx", {
        "xl/sharedStrings.xml": table.replace(b"</si>", b"</si><!-- </si> -->", 1)})  # fmt: skip
    assert calamine_plan(commented) is None
    assert records(open_source(commented)) == records(CalamineSource(f))


def test_only_the_first_sheet_is_read_whichever_member_holds_it(tmp_path: Path) -> None:
    rows = legacy_rows(200)
    f = save_xlsx(tmp_path / "two.xlsx", [rows, [["other"], ["x"]] * 50])
    # the first sheet of the workbook points at sheet2.xml and the second at sheet1.xml
    with zipfile.ZipFile(f) as z:
        one, two = z.read(SHEET), z.read("xl/worksheets/sheet2.xml")
    swapped = rewrite(f, tmp_path / "swapped.xlsx", {SHEET: two, "xl/worksheets/sheet2.xml": one})
    rels = zipfile.ZipFile(swapped).read("xl/_rels/workbook.xml.rels")
    rels = rels.replace(b"sheet1.xml", b"sheetX.xml").replace(b"sheet2.xml", b"sheet1.xml")
    swapped = rewrite(
        swapped,
        tmp_path / "swapped2.xlsx",
        {"xl/_rels/workbook.xml.rels": rels.replace(b"sheetX.xml", b"sheet2.xml")},
    )
    with zipfile.ZipFile(swapped) as z:
        assert reader._first_sheet(z) == "xl/worksheets/sheet2.xml"
    windowed, whole, streamed = three_reads(swapped)
    assert windowed == whole == streamed
    assert windowed[1] == records(CalamineSource(f))[1]


def test_the_plan_windows_a_sheet_over_the_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = save_xlsx(tmp_path / "a.xlsx", [legacy_rows(300)])
    assert calamine_plan(f) == "whole"
    monkeypatch.setattr(reader, "CALAMINE_BUDGET", reader.calamine_estimate(f) - 1)
    monkeypatch.setattr(reader, "CALAMINE_WINDOW", WINDOW)
    assert calamine_plan(f) == "windows"
    src = open_source(f)
    assert isinstance(src, CalamineSource) and src._wb is None  # not read whole
    assert records(src) == records(XlsxSource(f))
    # a window's memory does not grow with the sheet: windows whatever the budget
    monkeypatch.setattr(reader, "CALAMINE_BUDGET", 1)
    assert calamine_plan(f) == "windows"


@pytest.mark.parametrize(
    "quirk",
    ["comment", "cdata", "prefix"],
)
def test_a_sheet_that_cannot_be_cut_safely_is_not_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, quirk: str
) -> None:
    f = save_xlsx(tmp_path / "a.xlsx", [legacy_rows(100)])
    with zipfile.ZipFile(f) as z:
        xml = z.read(SHEET)
    if quirk == "comment":  # a "</row>" inside a comment is not the end of a row
        xml = xml.replace(b"</row>", b"</row><!-- </row><row r='9'> -->", 1)
    elif quirk == "cdata":
        xml = xml.replace(b"<t>", b"<t><![CDATA[</row>]]>", 1)
    else:  # some writers prefix every element: x:sheetData, x:row
        xml = xml.replace(b"<", b"<x:").replace(b"<x:/", b"</x:").replace(b"<x:?", b"<?")
        xml = xml.replace(b'xmlns="', b'xmlns:x="', 1)
    g = rewrite(f, tmp_path / f"{quirk}.xlsx", {SHEET: xml})
    assert calamine_plan(g) == "whole"  # within the budget calamine reads it whole, safely
    monkeypatch.setattr(reader, "CALAMINE_BUDGET", reader.calamine_estimate(g) - 1)
    assert calamine_plan(g) is None
    src = open_source(g)
    assert isinstance(src, XlsxSource)
    assert records(src) == records(CalamineSource(g))
