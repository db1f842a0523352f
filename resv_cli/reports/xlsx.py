"""Safe, printable, constant-memory xlsx writing on top of openpyxl's write-only mode.

* ``CellSanitiser`` makes sure no cell can become a formula or an error value:
  text beginning with ``=``, ``+``, ``-``, ``@``, tab or CR (OWASP's CSV/formula
  injection list), and text equal to an Excel error code such as ``#N/A``, is
  written as an inline *string* cell whose style carries ``quotePrefix`` (Excel's
  leading apostrophe), so neither opening nor editing the cell evaluates it.
  Control characters that XML 1.0 cannot carry are replaced, never fatal.
* ``TableSheet`` is one table on one or more worksheets: header row frozen and
  repeated on every printed page, autofilter, column widths, landscape A4 fitted to
  the page width, and a new sheet ("name (2)", placed right after the table's last
  sheet) when Excel's row limit is reached.

Dates and datetimes get openpyxl's own number formats (``yyyy-mm-dd`` and
``yyyy-mm-dd h:mm:ss``), so a row of plain values needs no per-cell style object.

Write-only worksheets write their XML as rows arrive, so everything that sits before
``sheetData`` in the file (frozen panes, column widths, fit-to-page) is set before the
first row; autofilter and page setup are written at the end.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE, WriteOnlyCell
from openpyxl.styles import Alignment, Font, NamedStyle, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.properties import PageSetupProperties

from resv_cli.core.files import PrivateFile

EXCEL_MAX_ROWS = 1_048_576
# Characters that make a spreadsheet treat text as a formula (OWASP "CSV injection").
FORMULA_TRIGGERS = frozenset("=+-@\t\r")
REPLACEMENT = "\ufffd"
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"


def clean_text(value: str) -> str:
    """Replace characters XML cannot carry (openpyxl would raise on them)."""
    if ILLEGAL_CHARACTERS_RE.search(value):
        return ILLEGAL_CHARACTERS_RE.sub(REPLACEMENT, value)
    return value


def needs_quote(value: str) -> bool:
    """True when ``value`` would be read as a formula or an error value."""
    return bool(value) and (value[0] in FORMULA_TRIGGERS or value.strip() in ERROR_CODES)


class CellSanitiser:
    """Turns Python values into write-only cell values that are always inert."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        # Most strings of a report repeat (login IDs, actions, codes): remember
        # the verdict for short ones so the common path is one dict lookup.
        self._safe: dict[str, str] = {}

    def __call__(self, value: Any) -> Any:
        if type(value) is not str:
            return value
        hit = self._safe.get(value)
        if hit is not None:
            return hit
        text = clean_text(value)
        if needs_quote(text):
            return self.quoted(text)
        if len(text) <= 64 and len(self._safe) < 50_000:
            self._safe[value] = text
        return text

    def quoted(self, text: str) -> Any:
        # openpyxl infers 'f' (formula) or 'e' (error) from the text: force the
        # inline-string type, so the XML holds <is><t>=...</t></is>, never <f>.
        cell = WriteOnlyCell(self.ws, value=text[:32767])
        cell.data_type = "s"
        # quotePrefix lives in the cell's own xf (a named style would not carry it)
        cell.quotePrefix = True
        return cell


def make_styles(wb: Workbook) -> dict[str, NamedStyle]:
    """Named styles shared by every sheet (registered once per workbook)."""
    header = NamedStyle(name="resv_header")
    header.font = Font(bold=True)
    header.fill = PatternFill("solid", fgColor="DDEBF7")
    header.alignment = Alignment(vertical="center", wrap_text=True)
    date = NamedStyle(name="resv_date", number_format=DATE_FORMAT)
    stamp = NamedStyle(name="resv_datetime", number_format=DATETIME_FORMAT)
    title = NamedStyle(name="resv_title")
    title.font = Font(bold=True, size=14)
    bold = NamedStyle(name="resv_bold")
    bold.font = Font(bold=True)
    styles = {
        "header": header,
        "date": date,
        "datetime": stamp,
        "title": title,
        "bold": bold,
    }
    for style in styles.values():
        wb.add_named_style(style)
    return styles


def setup_print(ws: Any, *, title_rows: str | None, grid: bool = True) -> None:
    """Landscape A4, fitted to one page wide, header rows on every page."""
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = "9"  # A4 (Worksheet.PAPERSIZE_A4)
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.print_options.gridLines = grid
    ws.oddFooter.center.text = "&A  &P / &N"
    if title_rows:
        ws.print_title_rows = title_rows


@dataclass
class Column:
    header: str
    width: float


@dataclass
class TableSheet:
    """One table written row by row, split over sheets past ``max_rows``."""

    wb: Workbook
    title: str
    columns: Sequence[Column]
    styles: dict[str, NamedStyle]
    max_rows: int = EXCEL_MAX_ROWS
    sheets: list[Any] = field(default_factory=list)
    rows_written: int = 0
    _rows_in_sheet: int = 0
    _ws: Any = None
    _clean: Any = None

    def __post_init__(self) -> None:
        if self.max_rows < 2:
            raise ValueError("max_rows must leave room for the header and one row")
        self._new_sheet()

    def _new_sheet(self) -> None:
        if self._ws is not None:
            self._finish_sheet()
        n = len(self.sheets) + 1
        name = self.title if n == 1 else f"{self.title} ({n})"
        # a continuation sheet goes right after the previous one, not at the end
        index = self.wb.index(self.sheets[-1]) + 1 if self.sheets else None
        ws = self.wb.create_sheet(title=name[:31], index=index)
        for i, col in enumerate(self.columns, 1):
            ws.column_dimensions[get_column_letter(i)].width = col.width
        ws.freeze_panes = "A2"
        setup_print(ws, title_rows="1:1")
        self._clean = CellSanitiser(ws)
        header = []
        for col in self.columns:
            cell = WriteOnlyCell(ws, value=clean_text(col.header))
            cell.style = self.styles["header"]
            header.append(cell)
        ws.append(header)
        self.sheets.append(ws)
        self._ws = ws
        self._rows_in_sheet = 1

    def _finish_sheet(self) -> None:
        last = get_column_letter(len(self.columns))
        self._ws.auto_filter.ref = f"A1:{last}{max(self._rows_in_sheet, 1)}"

    def append(self, values: Sequence[Any]) -> None:
        if self._rows_in_sheet >= self.max_rows:
            self._new_sheet()
        clean = self._clean
        row = [clean(v) for v in values]
        self._ws.append(row)
        self._rows_in_sheet += 1
        self.rows_written += 1

    def extend(self, rows: Iterable[Sequence[Any]]) -> None:
        for r in rows:
            self.append(r)

    def close(self) -> None:
        self._finish_sheet()


def reserve_private(target: Path, *, overwrite: bool = False) -> PrivateFile:
    """Create the 0600 temporary file beside ``target`` that the workbook goes into.

    Done before any work, so an unwritable directory (or an existing report
    without ``--force``) fails at once; the caller renames it into place
    (``commit``) once the audit event is committed, or removes it (``discard``).
    """
    return PrivateFile(target, overwrite=overwrite, force_option="--force", label="report")


def save_private(wb: Workbook, out: PrivateFile) -> str:
    """Save ``wb`` into the reserved file, flush it to disk, return its SHA-256."""
    wb.save(out.file)
    return out.finish()
