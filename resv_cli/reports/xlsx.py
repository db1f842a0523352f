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
  sheet) when Excel's row limit is reached.  Headings wrap, with the row height
  their text needs (``fonts``); numeric columns' headings are right-aligned like
  their numbers; a ``wrap`` column (flag details, SHA-256s) wraps and its row is
  made as tall as its text; a ``choices`` column gets a drop-down list.
* ``use_report_font`` makes the report's font (``fonts.FONT_NAME``) the workbook's
  default, so every cell, styled or not, is set in it.

Datetimes get openpyxl's own number format (``yyyy-mm-dd h:mm:ss``), so a row of
plain values needs no per-cell style object; a date (a day, no time) in a report in
the Japanese era is a date cell shown in the era (``wareki.number_format``).

Write-only worksheets write their XML as rows arrive, so everything that sits before
``sheetData`` in the file (frozen panes, column widths, fit-to-page) is set before the
first row; autofilter and page setup are written at the end.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE, WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, NamedStyle, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.utils.indexed_list import IndexedList
from openpyxl.worksheet.properties import PageSetupProperties

from resv_cli.core import wareki
from resv_cli.core.files import PrivateFile
from resv_cli.reports import fonts

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
    """Turns Python values into write-only cell values that are always inert.

    ``era_dates``: a date (no time) becomes a date cell shown in the Japanese era.
    """

    def __init__(self, ws: Any, *, era_dates: bool = False) -> None:
        self.ws = ws
        self.era_dates = era_dates
        # Most strings of a report repeat (login IDs, actions, codes): remember
        # the verdict for short ones so the common path is one dict lookup.
        self._safe: dict[str, str] = {}

    def __call__(self, value: Any) -> Any:
        if type(value) is not str:
            if self.era_dates and type(value) is dt.date:
                cell = WriteOnlyCell(self.ws, value=value)
                cell.number_format = wareki.number_format(value)
                return cell
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


def styled(ws: Any, value: Any, style: NamedStyle) -> Any:
    """``value`` (plain, or a cell from ``CellSanitiser``) as a cell in ``style``.

    A named style replaces the cell's whole format, so a quoted cell's quote prefix
    is set again after it.
    """
    cell = value if hasattr(value, "coordinate") else WriteOnlyCell(ws, value=value)
    quoted = bool(getattr(cell, "quotePrefix", False))
    cell.style = style
    if quoted:
        cell.quotePrefix = True
    return cell


def report_font(**kw: Any) -> Font:
    """The report's font (``fonts.FONT_NAME``); ``charset`` 128 is Shift_JIS, 3 fixed-pitch."""
    return Font(
        name=fonts.FONT_NAME, size=kw.pop("size", fonts.FONT_SIZE), family=3, charset=128, **kw
    )


def use_report_font(wb: Workbook) -> None:
    """Make the report's font the workbook's default (every cell without a font of its own).

    openpyxl keeps the default (Calibri) as font 0 and offers no public setter; a new
    workbook holds no other font yet, so the list is replaced whole.
    """
    font = report_font()
    wb._fonts = IndexedList([font])  # type: ignore[attr-defined]
    for style in wb._named_styles:  # type: ignore[attr-defined]
        if style.name == "Normal":
            style.font = font


THIN = Side(style="thin", color="808080")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)


def make_styles(wb: Workbook) -> dict[str, NamedStyle]:
    """Named styles shared by every sheet (registered once per workbook)."""
    use_report_font(wb)
    header = NamedStyle(name="resv_header")
    header.font = report_font(bold=True)
    header.fill = PatternFill("solid", fgColor="DDEBF7")
    header.alignment = Alignment(vertical="center", wrap_text=True)
    header.border = BOX
    # a numeric column's heading sits over its numbers (right-aligned)
    header_num = NamedStyle(name="resv_header_num")
    header_num.font = report_font(bold=True)
    header_num.fill = PatternFill("solid", fgColor="DDEBF7")
    header_num.alignment = Alignment(horizontal="right", vertical="center", wrap_text=True)
    header_num.border = BOX
    date = NamedStyle(name="resv_date", number_format=DATE_FORMAT)
    date.font = report_font()
    stamp = NamedStyle(name="resv_datetime", number_format=DATETIME_FORMAT)
    stamp.font = report_font()
    title = NamedStyle(name="resv_title")
    title.font = report_font(bold=True, size=14)
    bold = NamedStyle(name="resv_bold")
    bold.font = report_font(bold=True)
    # the cover's labels and values: wrapped, top-aligned, left (a number too)
    label = NamedStyle(name="resv_label")
    label.font = report_font()
    label.alignment = Alignment(vertical="top", wrap_text=True)
    value = NamedStyle(name="resv_value")
    value.font = report_font()
    value.alignment = Alignment(horizontal="left", vertical="top", wrap_text=True)
    # a row of a small table on the cover: its label wraps, label and numbers centred
    # on one line
    row_label = NamedStyle(name="resv_row_label")
    row_label.font = report_font()
    row_label.alignment = Alignment(vertical="center", wrap_text=True)
    row_num = NamedStyle(name="resv_row_num")
    row_num.font = report_font()
    row_num.alignment = Alignment(vertical="center")
    # the sign-off box: bordered, centred, room for a name, a date and a seal
    box = NamedStyle(name="resv_box")
    box.font = report_font()
    box.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    box.border = BOX
    # a bordered cell of a small table drawn on a page without gridlines
    boxed = NamedStyle(name="resv_cell")
    boxed.font = report_font()
    boxed.border = BOX
    styles = {
        "cell": boxed,
        "header": header,
        "header_num": header_num,
        "date": date,
        "datetime": stamp,
        "title": title,
        "bold": bold,
        "label": label,
        "value": value,
        "row_label": row_label,
        "row_num": row_num,
        "box": box,
    }
    for style in styles.values():
        wb.add_named_style(style)
    return styles


def setup_print(
    ws: Any, *, title_rows: str | None, grid: bool = True, portrait: bool = False
) -> None:
    """A4 (landscape unless ``portrait``), fitted to one page wide, header rows on every
    page, the sheet's name and page number in the footer."""
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.page_setup.orientation = "portrait" if portrait else "landscape"
    ws.page_setup.paperSize = "9"  # A4 (Worksheet.PAPERSIZE_A4)
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.print_options.gridLines = grid
    ws.print_options.horizontalCentered = portrait
    ws.oddFooter.center.text = "&A  &P / &N"
    if title_rows:
        ws.print_title_rows = title_rows


@dataclass
class Column:
    header: str
    width: float
    numeric: bool = False  # heading right-aligned over the numbers
    wrap: bool = False  # text wraps; the row grows to show it whole
    choices: tuple[str, ...] = ()  # a drop-down list of these (blank allowed)
    prompt: str = ""  # the drop-down's input message


@dataclass
class TableSheet:
    """One table written row by row, split over sheets past ``max_rows``."""

    wb: Workbook
    title: str
    columns: Sequence[Column]
    styles: dict[str, NamedStyle]
    max_rows: int = EXCEL_MAX_ROWS
    era_dates: bool = False  # dates shown in the Japanese era
    sheets: list[Any] = field(default_factory=list)
    rows_written: int = 0
    _rows_in_sheet: int = 0
    _ws: Any = None
    _clean: Any = None
    _wrapped: tuple[int, ...] = ()
    _top: Any = None

    def __post_init__(self) -> None:
        if self.max_rows < 2:
            raise ValueError("max_rows must leave room for the header and one row")
        self._wrapped = tuple(i for i, c in enumerate(self.columns) if c.wrap)
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
        self._clean = CellSanitiser(ws, era_dates=self.era_dates)
        header = []
        lines = 1
        for col in self.columns:
            cell = WriteOnlyCell(ws, value=clean_text(col.header))
            cell.style = self.styles["header_num" if col.numeric else "header"]
            header.append(cell)
            lines = max(lines, fonts.wrapped_lines(col.header, col.width))
        # a write-only row's height must be known before the row is written
        ws.row_dimensions[1].height = fonts.row_height(lines)
        ws.append(header)
        self.sheets.append(ws)
        self._ws = ws
        self._rows_in_sheet = 1

    def _finish_sheet(self) -> None:
        last = get_column_letter(len(self.columns))
        rows = max(self._rows_in_sheet, 1)
        self._ws.auto_filter.ref = f"A1:{last}{rows}"
        if rows < 2:
            return
        for i, col in enumerate(self.columns, 1):
            if col.choices:
                from openpyxl.worksheet.datavalidation import DataValidation

                letter = get_column_letter(i)
                dv = DataValidation(
                    type="list",
                    # a list written in the rule: quoted, comma-separated
                    formula1='"' + ",".join(col.choices) + '"',
                    allow_blank=True,
                    showInputMessage=bool(col.prompt),
                    prompt=col.prompt or None,
                    promptTitle=col.header[:32],
                    # a finding in the reviewer's own words stays possible
                    showErrorMessage=False,
                )
                dv.add(f"{letter}2:{letter}{rows}")
                self._ws.data_validations.append(dv)

    def append(self, values: Sequence[Any]) -> None:
        if self._rows_in_sheet >= self.max_rows:
            self._new_sheet()
        clean = self._clean
        row = [clean(v) for v in values]
        if self._wrapped:
            row = self._wrap(row, values)
        self._ws.append(row)
        self._rows_in_sheet += 1
        self.rows_written += 1

    def _wrap(self, row: list[Any], values: Sequence[Any]) -> list[Any]:
        """Give a row whose wrapped text needs more than one line its height, its
        cells top-aligned (only tables with ``wrap`` columns, all small)."""
        lines = 1
        for i in self._wrapped:
            v = values[i]
            if isinstance(v, str) and v:
                lines = max(lines, fonts.wrapped_lines(v, self.columns[i].width))
        if lines == 1:
            return row
        self._ws.row_dimensions[self._rows_in_sheet + 1].height = fonts.row_height(lines)
        out: list[Any] = []
        for i, v in enumerate(row):
            if v is None:
                out.append(v)
                continue
            cell = v if hasattr(v, "coordinate") else WriteOnlyCell(self._ws, value=v)
            cell.alignment = Alignment(vertical="top", wrap_text=self.columns[i].wrap)
            out.append(cell)
        return out

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
