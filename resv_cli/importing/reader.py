"""Stream the records of a legacy export (CSV or xlsx) in constant memory.

* CSV: the bytes are decoded incrementally (cp932, UTF-8 with or without BOM,
  detected per file) and parsed by the stdlib ``csv`` module, which handles CRLF,
  quoted fields and quoted newlines.  An undecodable byte is never silently
  replaced: the decoder marks it (``surrogateescape``) and the record that holds
  it is rejected with its number and column.
* xlsx: python-calamine (Rust; about 10x faster than openpyxl).  calamine holds
  the whole sheet in memory, so the choice is made before reading, from the
  sheet's inflated size in the archive (``CALAMINE_BUDGET``): a sheet that fits is
  read whole; a larger one is cut into windows of whole rows, each read by
  calamine as a workbook of its own (``calamine_plan``); openpyxl in read-only
  mode (streaming) reads what calamine must not (below).  Archives whose members
  inflate suspiciously (zip bombs) are refused before either reader sees them.
  openpyxl parses through ``defusedxml`` when it is installed (a dependency of
  resv); we refuse to open a workbook if that protection is off.  calamine does
  not expand XML entities and reads an error cell as empty: a workbook holding a
  DTD or an error cell anywhere goes to openpyxl, whose guards refuse the first
  and mark the second.  The sheet's ``<dimension>`` is not
  trusted (some writers leave a stale one, which would drop rows), and a cell
  holding an Excel error (``#N/A`` ...) is passed on marked like an undecodable
  byte, so the record is rejected rather than imported with the error as data.

Records are numbered from 1 (the first record after the header), counting
records, not physical lines.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from resv_cli.core.errors import InputError
from resv_cli.core.i18n import _

SAMPLE_BYTES = 1 << 20
# zip members: refuse inflation beyond this ratio (legitimate sheets compress ~5-15x)
MAX_ZIP_RATIO = 100
MAX_ZIP_MEMBER = 2 << 30
csv.field_size_limit(1 << 20)

ENCODINGS = {"cp932": "cp932", "utf-8": "utf-8", "utf8": "utf-8", "auto": "auto"}


def detect_encoding(path: Path) -> str:
    """Return ``utf-8-sig``, ``utf-8`` or ``cp932`` for a CSV file (never ``shift_jis``)."""
    with path.open("rb") as f:
        sample = f.read(SAMPLE_BYTES)
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=len(sample) < SAMPLE_BYTES)
    except UnicodeDecodeError:
        return "cp932"
    return "utf-8"


# Undecodable bytes become lone surrogates (as with ``surrogateescape``) and are
# counted, so the per-record check runs only once a file has shown one.
_escape = codecs.lookup_error("surrogateescape")
DECODE_ERRORS = [0]


def _mark(exc: UnicodeError) -> tuple[str, int]:
    DECODE_ERRORS[0] += 1
    text, end = _escape(exc)  # type: ignore[arg-type]
    return str(text), end


codecs.register_error("resv-mark", _mark)


# An xlsx cell holding an Excel error value reaches the importer as this lone
# surrogate followed by the error code.  Decoding never yields it (surrogate
# escapes are U+DC80-U+DCFF), and an XML text cannot hold a surrogate at all.
_EXCEL_ERROR = "\udc00"
EXCEL_ERROR_CODES = frozenset(
    {"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA",
     "#SPILL!", "#CALC!", "#FIELD!", "#BLOCKED!", "#CONNECT!", "#BUSY!", "#UNKNOWN!"}
)  # fmt: skip


def has_undecodable(value: str) -> bool:
    """True for a value holding an undecodable byte or an Excel error value."""
    return any("\udc00" <= ch <= "\udcff" for ch in value)


def undecodable_reason(value: str, encoding: str | None) -> str:
    """The reject reason for a value that ``has_undecodable``."""
    if value.startswith(_EXCEL_ERROR):
        code = value[len(_EXCEL_ERROR) :]
        # the cell's text is only shown when it is a known code: a crafted file
        # could put anything in an error-typed cell
        if code in EXCEL_ERROR_CODES:
            return _("cell holds an Excel error value ({code})").format(code=code)
        return _("cell holds an Excel error value")
    return _("undecodable byte (not valid {encoding})").format(encoding=encoding)


def _excel_error(value: Any) -> str:
    DECODE_ERRORS[0] += 1  # so the importer's per-record check runs
    return _EXCEL_ERROR + str(value or "")


class Source:
    """The records of one file: ``header``, ``encoding``, iterate for rows of strings."""

    kind: str
    header: list[str]
    encoding: str | None
    errors_at_open: int = 0

    def __iter__(self) -> Iterator[list[str]]:  # pragma: no cover - interface
        raise NotImplementedError

    def position(self) -> int:
        return 0

    def close(self) -> None:
        pass


class CsvSource(Source):
    kind = "csv"

    def __init__(self, path: Path, encoding: str = "auto") -> None:
        enc = ENCODINGS.get(encoding.lower())
        if enc is None:
            raise InputError(
                _("{file}: unknown encoding {encoding!r} (use auto, cp932, utf-8)").format(
                    file=path.name, encoding=encoding
                )
            )
        if enc == "auto":
            enc = detect_encoding(path)
        elif enc == "utf-8":
            with path.open("rb") as f:
                if f.read(3) == codecs.BOM_UTF8:
                    enc = "utf-8-sig"
        self.encoding = enc
        self.path = path
        self.errors_at_open = DECODE_ERRORS[0]
        self._raw = path.open("rb")
        self._text = io.TextIOWrapper(self._raw, encoding=enc, errors="resv-mark", newline="")
        self._reader = csv.reader(self._text, strict=True)
        try:
            header = next(self._reader)
        except StopIteration:
            raise InputError(_("{file}: the file is empty").format(file=path.name)) from None
        except csv.Error as exc:
            raise InputError(
                _("{file}: header: {problem}").format(file=path.name, problem=exc)
            ) from None
        while header and not header[-1].strip():
            header.pop()  # the trailing comma many exporters write
        if not header:
            raise InputError(
                _("{file}: the first line holds no column names").format(file=path.name)
            )
        if any(has_undecodable(h) for h in header):
            raise InputError(
                _("{file}: header: bytes that are not valid {encoding}").format(
                    file=path.name, encoding=enc
                )
            )
        self.header = [h.strip() for h in header]

    def __iter__(self) -> Iterator[list[str]]:
        reader = self._reader
        records = 0  # numbered as the importer numbers them: blank lines are skipped
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                # an unterminated quote etc.: the rest of the file cannot be trusted
                raise InputError(
                    _(
                        "{file}: record {record} (near line {line}): {problem}; "
                        "nothing after this point was read"
                    ).format(
                        file=self.path.name, record=records + 1, line=reader.line_num, problem=exc
                    )
                ) from None
            if row:
                records += 1
                yield row

    def position(self) -> int:
        return self._raw.tell()

    def close(self) -> None:
        self._raw.close()


def check_zip(path: Path) -> None:
    """Refuse an xlsx whose members would inflate like a zip bomb."""
    try:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                if info.file_size > MAX_ZIP_MEMBER or (
                    info.file_size > (1 << 20)
                    and info.file_size > MAX_ZIP_RATIO * max(info.compress_size, 1)
                ):
                    raise InputError(
                        _(
                            "{file}: refused: member {member} inflates {ratio}x (possible zip bomb)"
                        ).format(
                            file=path.name,
                            member=info.filename,
                            ratio=info.file_size // max(info.compress_size, 1),
                        )
                    )
    except zipfile.BadZipFile:
        raise InputError(_("{file}: not a valid xlsx (zip) file").format(file=path.name)) from None


def _root_cause(exc: BaseException) -> str:
    """The innermost exception, on one line (defusedxml's reason, not openpyxl's wrapper)."""
    while exc.__cause__ or exc.__context__:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    text = " ".join(str(exc).split())[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _refused(path: Path, exc: BaseException) -> str:
    return _("{file}: refused: {cause}").format(file=path.name, cause=_root_cause(exc))


def _sheet_empty(path: Path) -> str:
    return _("{file}: the sheet is empty").format(file=path.name)


def _no_column_names(path: Path) -> str:
    return _("{file}: the first row holds no column names").format(file=path.name)


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class XlsxSource(Source):
    kind = "xlsx"
    encoding = None

    def __init__(self, path: Path) -> None:
        import openpyxl

        self.errors_at_open = DECODE_ERRORS[0]
        if not openpyxl.DEFUSEDXML:
            raise InputError(
                _(
                    "{file}: refused: openpyxl is not using defusedxml "
                    "(OPENPYXL_DEFUSEDXML is off or defusedxml is missing)"
                ).format(file=path.name)
            )
        check_zip(path)
        self.path = path
        try:
            self._wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # defusedxml raises on entities, DTDs, bombs
            raise InputError(_refused(path, exc)) from None
        ws = self._wb.worksheets[0]
        # read-only mode stops at the sheet's <dimension>, which some writers leave
        # stale (rows silently dropped); openpyxl's remedy is to forget it
        ws.reset_dimensions()
        # cells, not values: an error value is only told from text by its data type
        self._rows = self._guard(ws.iter_rows())
        try:
            first = next(self._rows)
        except StopIteration:
            raise InputError(_sheet_empty(path)) from None
        header = [_cell_text(c.value).strip() for c in first]
        while header and not header[-1]:
            header.pop()
        if not header:
            raise InputError(_no_column_names(path))
        self.header = header

    def _guard(self, rows: Iterator[Any]) -> Iterator[Any]:
        try:
            yield from rows
        except InputError:
            raise
        except Exception as exc:
            raise InputError(_refused(self.path, exc)) from None

    def __iter__(self) -> Iterator[list[str]]:
        width = len(self.header)
        for cells in self._rows:
            row = [
                _cell_text(c.value) if c.data_type != "e" else _excel_error(c.value) for c in cells
            ]
            if any(row):
                if len(row) < width:
                    # without a dimension a row ends at its last non-empty cell
                    row.extend([""] * (width - len(row)))
                yield row

    def close(self) -> None:
        self._wb.close()


# What calamine may hold of a workbook.  It reads the whole sheet into memory: measured
# on the bench's 200,000-row, 12-column file (sheet XML 142 MB with inline strings),
# a bare calamine read peaks at 225 MB RSS, about 1.5x the sheet's and shared strings'
# inflated XML.  The import's whole process tree must stay under 200 MB (the writing
# process peaks near 100 MB, the reader's interpreter takes about 40), so calamine
# gets at most CALAMINE_BUDGET by that estimate; a larger sheet is read in windows
# (below) or streamed by openpyxl.
CALAMINE_BUDGET = 48 << 20
CALAMINE_PER_XML_BYTE = 1.6
# A sheet over the budget is read in windows of about this much of its XML (whole rows):
# measured on that file, 1 MiB windows read it in about the CPU time of a whole read
# (3.7-4.7 s against 4.3 s, noisy) at 36 MB peak RSS instead of 226 (4 MiB: 85 MB;
# 0.5 MiB: 28 MB but up to 5.0 s).  Each window is a workbook of its own; where the
# workbook has a shared-strings table (Excel's habit; openpyxl writes inline strings),
# a window carries only the strings its cells use, renumbered (``_window_strings``).
# The table itself is held whole, as raw XML: any reader must hold it (openpyxl holds
# it as Python strings, which take more), since cells refer to it by index.
CALAMINE_WINDOW = 1 << 20
_XML_MARKERS = (b"<!DOCTYPE", b"<!ENTITY")
_ERROR_CELL = b't="e"'
# where ``</row>`` may be other than the end of a row: the sheet is not cut there
_NOT_CUT = (b"<!--", b"<![CDATA[")
_SHEET_DATA = b"<sheetData>"
_STRINGS = "sharedStrings.xml"
_SI = re.compile(rb"<si>.*?</si>|<si/>", re.S)
# a shared-string cell: its value is an index into the table (quotes either way)
_SST_CELL = re.compile(rb"""(<c\b[^>]*?\bt=["']s["'][^>]*(?<!/)>)<v>(\d+)</v>""")
_SST_OPEN = re.compile(rb"""<c\b[^>]*?\bt=["']s["'][^>]*(?<!/)>""")
_SST_COUNTS = re.compile(rb"""\s(?:count|uniqueCount)=["']\d+["']""")
_DIMENSION = re.compile(rb"<dimension\b[^>]*/>")
_PROLOG = re.compile(rb"<[?!][^>]*>")  # the XML declaration (no DTD: calamine_plan)
_ROOT = re.compile(rb"<([A-Za-z_][\w.:-]*)[\s>/]")
_NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def _first_sheet(z: zipfile.ZipFile) -> str | None:
    """The archive member of the workbook's first sheet (the one every reader reads)."""
    from defusedxml.ElementTree import fromstring

    try:
        book = fromstring(z.read("xl/workbook.xml"))
        rels = fromstring(z.read("xl/_rels/workbook.xml.rels"))
    except Exception:  # an unusual layout: the caller reads the sheet whole or by openpyxl
        return None
    sheet = book.find(f"{{{_NS_MAIN}}}sheets/{{{_NS_MAIN}}}sheet")
    rid = sheet.get(f"{{{_NS_REL}}}id") if sheet is not None else None
    for rel in rels:
        if rel.get("Id") == rid:
            target = rel.get("Target") or ""
            return target.lstrip("/") if target.startswith("/") else f"xl/{target}"
    return None


def _estimate(infos: list[zipfile.ZipInfo]) -> int:
    sheets = [i.file_size for i in infos if i.filename.startswith("xl/worksheets/")]
    strings = sum(i.file_size for i in infos if i.filename.endswith(_STRINGS))
    return int(CALAMINE_PER_XML_BYTE * (max(sheets, default=0) + strings))


def calamine_estimate(path: Path) -> int:
    """The memory calamine would take for the largest sheet, from the archive's directory."""
    with zipfile.ZipFile(path) as z:
        return _estimate(z.infolist())


def calamine_plan(path: Path, budget: int | None = None) -> str | None:
    """How calamine may read the workbook: ``"whole"``, ``"windows"``, or None (openpyxl).

    None when any XML member holds a DTD or the sheet an error cell (only openpyxl
    guards against those).  Within the budget by ``calamine_estimate``: whole.  Else
    in windows, if the first sheet and the shared strings can be cut safely (a plain
    ``<sheetData>`` and ``<si>``, no comment or CDATA section where ``</row>`` or
    ``</si>`` could hide): a window's memory does not grow with the sheet, and the
    table of strings, held whole, is held by openpyxl too.  One streaming pass over
    the XML members (inflated in blocks, never whole) decides, before anything is read.
    """
    budget = CALAMINE_BUDGET if budget is None else budget
    with zipfile.ZipFile(path) as z:
        whole = _estimate(z.infolist()) <= budget
        first = _first_sheet(z)
        cuttable = first is not None
        for info in z.infolist():
            if not info.filename.endswith((".xml", ".rels")):
                continue
            sheet = info.filename.startswith("xl/worksheets/")
            markers = _XML_MARKERS + ((_ERROR_CELL,) if sheet else ())
            cut = info.filename == first or info.filename.endswith(_STRINGS)
            seen = False  # <sheetData> in the sheet, <si> or <si/> in the strings
            tail = b""
            with z.open(info) as f:
                while block := f.read(1 << 20):
                    data = tail + block
                    if any(m in data for m in markers):
                        return None
                    if cut:
                        seen = seen or any(m in data for m in (_SHEET_DATA, b"<si>", b"<si/>"))
                        if any(m in data for m in _NOT_CUT):
                            cuttable = False
                    tail = data[-16:]
            if cut and not seen:
                cuttable = False
    if whole:
        return "whole"
    return "windows" if cuttable else None


def calamine_fits(path: Path, budget: int | None = None) -> bool:
    """Whether calamine may read the workbook (whole or in windows; ``calamine_plan``)."""
    return calamine_plan(path, budget) is not None


def _sheet_windows(path: Path, window: int) -> Iterator[io.BytesIO]:
    """The first sheet as workbooks of whole rows (zip archives, stored), in order.

    Each holds the workbook's own parts (styles for dates...), the shared strings
    its rows use (``_StringTable``) and, as its first sheet, the sheet's head up to
    ``<sheetData>``, the next rows cut after a ``</row>``, and the closing tags.
    ``calamine_plan`` has checked that ``</row>`` can only end a row in this sheet
    (and ``</si>`` a string in the table).  The stale ``<dimension>`` is dropped.
    """
    with zipfile.ZipFile(path) as z:
        part = _first_sheet(z)
        assert part is not None  # calamine_plan
        parts = {
            i.filename: z.read(i)
            for i in z.infolist()
            if i.filename.endswith((".xml", ".rels"))
            and not i.filename.startswith("xl/worksheets/")
        }
        strings = next((name for name in parts if name.endswith(_STRINGS)), None)
        table = _StringTable(path, parts.pop(strings)) if strings is not None else None
        head: bytes | None = None
        close = b""
        buf = b""
        with z.open(part) as f:
            while True:
                block = f.read(window)
                buf += block
                if head is None:
                    at = buf.find(_SHEET_DATA)
                    if at < 0:
                        if not block:
                            return
                        continue
                    at += len(_SHEET_DATA)
                    head = _DIMENSION.sub(b"", buf[:at], count=1)
                    root = _ROOT.search(_PROLOG.sub(b"", head))
                    close = b"</sheetData></" + (root.group(1) if root else b"worksheet") + b">"
                    buf = buf[at:]
                if block:
                    cut = buf.rfind(b"</row>")
                    if cut < 0:
                        continue
                    rows, buf = buf[: cut + 6], buf[cut + 6 :]
                else:
                    end = buf.find(b"</sheetData>")
                    rows = buf[:end] if end >= 0 else buf
                out = io.BytesIO()
                with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as book:
                    for name, data in parts.items():
                        book.writestr(name, data)
                    if table is not None:
                        rows, used = table.window(rows)
                        book.writestr(strings, used)
                    book.writestr(part, head + rows + close)
                out.seek(0)
                yield out
                if not block:
                    return


class _StringTable:
    """A workbook's shared strings, held as their raw XML, handed out per window.

    A window's shared-string cells are renumbered to a table of only the strings
    they use (``window``), so calamine reads a small table per window instead of the
    whole one each time.  Every shared-string cell of a window must have the form
    ``<c ... t="s"><v>N</v></c>`` that every writer uses; any other form, or an index
    past the table, refuses the file rather than risk a wrong string.
    """

    def __init__(self, path: Path, xml: bytes) -> None:
        import array

        self.path, self.xml = path, xml
        self.starts, self.ends = array.array("q"), array.array("q")
        for m in _SI.finditer(xml):
            self.starts.append(m.start())
            self.ends.append(m.end())
        first = self.starts[0] if self.starts else xml.rfind(b"</sst>")
        self.head = _SST_COUNTS.sub(b"", xml[:first])

    def _refused(self, why: str) -> InputError:
        return InputError(_("{file}: refused: {cause}").format(file=self.path.name, cause=why))

    def window(self, rows: bytes) -> tuple[bytes, bytes]:
        """The window's rows renumbered, and the table of the strings they use."""
        used: dict[int, int] = {}
        size = len(self.starts)

        def renumber(m: re.Match[bytes]) -> bytes:
            old = int(m.group(2))
            new = used.get(old)
            if new is None:
                if old >= size:
                    raise self._refused(_("a cell refers to a shared string that is not there"))
                new = used[old] = len(used)
            return b"%s<v>%d</v>" % (m.group(1), new)

        out, n = _SST_CELL.subn(renumber, rows)
        if n != len(_SST_OPEN.findall(rows)):
            raise self._refused(_("a shared-string cell in a form this reader does not know"))
        xml, starts, ends = self.xml, self.starts, self.ends
        table = b"".join(xml[starts[i] : ends[i]] for i in used)
        return out, self.head + table + b"</sst>"


class CalamineSource(Source):
    """The first sheet of an xlsx read by python-calamine (see ``calamine_fits``)."""

    kind = "xlsx"
    encoding = None

    def __init__(self, path: Path, window: int | None = None) -> None:
        from python_calamine import CalamineWorkbook

        self.errors_at_open = DECODE_ERRORS[0]
        self.path = path
        self._wb: Any = None
        if window is not None:  # in windows of whole rows (calamine_plan)
            self._rows = self._guard(self._windows(window))
        else:
            try:
                self._wb = CalamineWorkbook.from_path(str(path))
                sheet = self._wb.get_sheet_by_index(0)
            except Exception as exc:
                raise InputError(_refused(path, exc)) from None
            self._rows = self._guard(self._padded(sheet, iter(sheet.iter_rows())))
        try:
            first = next(self._rows)
        except StopIteration:
            raise InputError(_sheet_empty(path)) from None
        header = [_cell_text(v).strip() for v in first]
        while header and not header[-1]:
            header.pop()
        if not header:
            raise InputError(_no_column_names(path))
        self.header = header

    @staticmethod
    def _padded(sheet: Any, rows: Iterator[Any]) -> Iterator[Any]:
        # columns are numbered from the sheet's first used column: the columns before
        # it are put back (openpyxl's rows start at A)
        start = sheet.start
        pad = [""] * (start[1] if start else 0)
        if not pad:
            return rows
        return (pad + row for row in rows)

    def _windows(self, window: int) -> Iterator[Any]:
        from python_calamine import CalamineWorkbook

        for book in _sheet_windows(self.path, window):
            wb = CalamineWorkbook.from_filelike(book)
            try:
                sheet = wb.get_sheet_by_index(0)
                # from the window's first row (a window's row numbers go on from the last)
                yield from self._padded(sheet, iter(sheet.to_python(skip_empty_area=True)))
            finally:
                wb.close()

    def _guard(self, rows: Iterator[Any]) -> Iterator[Any]:
        try:
            yield from rows
        except InputError:
            raise
        except Exception as exc:
            raise InputError(_refused(self.path, exc)) from None

    def __iter__(self) -> Iterator[list[str]]:
        width = len(self.header)
        cell = _cell_text
        for values in self._rows:
            row = [v if v.__class__ is str else cell(v) for v in values]
            if any(row):
                # as openpyxl gives a row: up to its last value, at least the header's width
                # (a window of rows is only as wide as its own widest row)
                n = len(row)
                if n < width:
                    row.extend([""] * (width - n))
                else:
                    while n > width and not row[n - 1]:
                        n -= 1
                    del row[n:]
                yield row

    def close(self) -> None:
        if self._wb is not None:
            self._wb.close()
        self._rows.close()


def open_xlsx(path: Path, reader: str = "auto") -> Source:
    """The first sheet as ``calamine_plan`` says (``reader`` forces calamine whole or openpyxl)."""
    check_zip(path)
    plan = calamine_plan(path) if reader == "auto" else None
    if reader == "calamine" or plan == "whole":
        return CalamineSource(path)
    if plan == "windows":
        return CalamineSource(path, window=CALAMINE_WINDOW)
    return XlsxSource(path)


def open_source(path: Path, encoding: str = "auto") -> Source:
    """Open a legacy export by its content (xlsx is a zip; anything else is CSV)."""
    if not path.is_file():
        raise InputError(_("{file}: no such file").format(file=path))
    with path.open("rb") as f:
        magic = f.read(4)
    if magic == b"PK\x03\x04":
        return open_xlsx(path)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        raise InputError(_("{file}: not a valid xlsx (zip) file").format(file=path.name))
    return CsvSource(path, encoding)
