"""Reading a roster file (利用者名簿) as managers send it: one row per person.

``read_roster`` reads an xlsx or CSV (cp932 or UTF-8, with or without BOM): a title
block and submission date may stand above the header row (found by its column
names), blank rows are skipped and a closing 以上 or 合計 row ends the table.  The
columns: 氏名, フリガナ, 所属施設 (facility code or name; several separated by 、 ,
・ / or ／), 雇用形態 (正規 / 非正規 and the usual words: パート, アルバイト, 嘱託, 派遣
...) and 役割 (operator / 職員, monitor / 閲覧, admin), plus an optional 職員番号.
Every cell goes through the input rule; row numbers in messages are the
spreadsheet's rows.  Planning and applying a roster is ``roster.py``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resv_cli.core.errors import InputError
from resv_cli.core.i18n import _
from resv_cli.core.models import Facility, RosterEntry
from resv_cli.core.normalize import control_problem, kana_key, length_problem, max_len, name_key

# the header row's names for each column (compared after NFKC, without spaces, case-folded)
COLUMNS = {
    "name": ("氏名", "名前", "name"),
    "kana": ("フリガナ", "ふりがな", "カナ", "氏名フリガナ", "kana"),
    "facility": ("所属施設", "所属", "勤務施設", "勤務先", "facility"),
    "employment": ("雇用形態", "雇用区分", "employment_type"),
    "role": ("役割", "権限", "role"),
    "staff_no": ("職員番号", "社員番号", "staff_no"),
}
REQUIRED = ("name", "kana", "facility", "employment", "role")
# the header is looked for in the first rows (a title block and a submission date above it)
HEADER_SEARCH_ROWS = 30
# a row that closes the table: 以上 (the customary end of a Japanese list) or a total
CLOSING_RE = re.compile(r"^(以上|合計|総計|計)(\s|$|[:：\d])")
# several places of work in one 所属施設 cell (the first is the primary one); ・ only
# splits a cell that does not name a facility as a whole (names may hold a ・)
FACILITY_SEPARATORS = re.compile(r"[、,，/／]")
FACILITY_DOT = re.compile(r"[・･]")
# the longest cell of each column as stored (the input rule): the roster entry's
# columns; a facility is named by code or name (several: the cell is longer); the
# staff number keys the person
PERSON_KEY_MAX = max_len(RosterEntry.person_key)
MAX_LEN = {
    "name": max_len(RosterEntry.full_name),
    "kana": max_len(RosterEntry.kana),
    "facility": 4 * max_len(Facility.name),
    "employment": max_len(RosterEntry.employment_type),
    "role": max_len(RosterEntry.role),
    "staff_no": PERSON_KEY_MAX - len("no:"),
}
# employment types as managers write them (after NFKC, without spaces): パート and
# ｱﾙﾊﾞｲﾄ alike; everything not regular staff is non_regular
EMPLOYMENT = {
    **dict.fromkeys(
        ("正規", "正社員", "正職員", "常勤", "常勤職員", "regular"),
        "regular",
    ),
    **dict.fromkeys(
        (
            "非正規", "契約", "契約社員", "契約職員", "パート", "パートタイマー", "パートタイム",
            "パート職員", "アルバイト", "バイト", "嘱託", "嘱託職員", "嘱託社員", "派遣",
            "派遣社員", "派遣職員", "臨時", "臨時職員", "非常勤", "非常勤職員",
            "会計年度任用職員", "non_regular", "non-regular",
        ),
        "non_regular",
    ),
}  # fmt: skip
ROLE_ALIASES = {
    "operator": "operator",
    "職員": "operator",
    "窓口": "operator",
    "monitor": "monitor",
    "閲覧": "monitor",
    "admin": "admin",
    "管理者": "admin",
}


class RowProblems(InputError):
    """Several bad rows: the message is the first; ``problems`` lists them all."""

    def __init__(self, problems: list[str], what: str = "changed") -> None:
        first = problems[0]
        if len(problems) > 1:
            more = (
                _(" (and {n} more problems; nothing was imported)")
                if what == "imported"
                else _(" (and {n} more problems; nothing was changed)")
            )
            first += more.format(n=len(problems) - 1)
        super().__init__(first)
        self.problems = problems


@dataclass
class RosterRow:
    """One person on the roster as read from the file (names as given, NFKC-trimmed)."""

    file: str
    row: int
    full_name: str
    kana: str
    facility: str
    employment_type: str
    role: str
    staff_no: str | None = None
    file_sha256: str = field(default="", repr=False)

    @property
    def person_key(self) -> str:
        if self.staff_no:
            return f"no:{self.staff_no}"
        return f"nk:{name_key(self.full_name)}|{kana_key(self.kana)}"


def _clean(value: str) -> str:
    import unicodedata

    return " ".join(unicodedata.normalize("NFKC", value).replace("\u3000", " ").split())


def _folded(value: str) -> str:
    """A header name or a word (雇用形態, 役割) as compared: NFKC, no spaces, case-folded."""
    return "".join(_clean(value).split()).casefold()


_HEADER_NAMES = {key: {_folded(n) for n in names} for key, names in COLUMNS.items()}


def _rows_of(path: Path) -> tuple[str | None, Iterator[tuple[int, list[str]]], Any]:
    """(encoding, (spreadsheet row number, cells) for every row, blank ones too, close).

    CSV: cp932 or UTF-8 (with or without BOM), a row per record; xlsx: the first
    sheet through defusedxml, with the reader's zip-bomb and error-cell guards.
    """
    import csv
    import io

    from resv_cli.importing import reader

    if not path.is_file():
        raise InputError(_("{path}: no such file").format(path=path))
    with path.open("rb") as f:
        magic = f.read(4)
    name = path.name
    if magic == b"PK\x03\x04":
        import openpyxl

        if not openpyxl.DEFUSEDXML:
            raise InputError(
                _("{file}: refused: openpyxl is not using defusedxml").format(file=name)
            )
        reader.check_zip(path)
        try:
            wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # defusedxml raises on entities, DTDs, bombs
            raise _refused(name, exc) from None
        ws = wb.worksheets[0]
        ws.reset_dimensions()  # a stale <dimension> would drop rows

        def xlsx_rows() -> Iterator[tuple[int, list[str]]]:
            try:
                # read-only iteration yields the missing (empty) rows too: n is the row
                for n, cells in enumerate(ws.iter_rows(), start=1):
                    yield (
                        n,
                        [
                            reader._cell_text(c.value)
                            if c.data_type != "e"
                            else reader._excel_error(c.value)
                            for c in cells
                        ],
                    )
            except InputError:
                raise
            except Exception as exc:
                raise _refused(name, exc) from None

        return None, xlsx_rows(), wb.close
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        raise InputError(_("{file}: not a valid xlsx (zip) file").format(file=name))
    enc = reader.detect_encoding(path)
    raw = path.open("rb")
    # undecodable bytes are marked, never replaced (the reader's error handler)
    text = io.TextIOWrapper(raw, encoding=enc, errors="resv-mark", newline="")

    def csv_rows() -> Iterator[tuple[int, list[str]]]:
        rows = csv.reader(text, strict=True)
        n = 0
        while True:
            try:
                cells = next(rows)
            except StopIteration:
                return
            except csv.Error as exc:
                raise InputError(
                    _("{file}: row {row}: {problem}; nothing after this point was read").format(
                        file=name, row=n + 1, problem=exc
                    )
                ) from None
            n += 1
            yield n, cells

    return enc, csv_rows(), raw.close


def _refused(name: str, exc: Exception) -> InputError:
    from resv_cli.importing import reader

    return InputError(
        _("{file}: refused: {problem}").format(file=name, problem=reader._root_cause(exc))
    )


def _find_header(fname: str, rows: Iterator[tuple[int, list[str]]]) -> tuple[int, dict[str, int]]:
    """The header row (found by its column names below any title block) and the columns."""
    best: tuple[int, dict[str, int], list[str]] | None = None
    for n, cells in rows:
        if n > HEADER_SEARCH_ROWS:
            break
        folded = [_folded(c) for c in cells]
        index: dict[str, int] = {}
        for key, names in _HEADER_NAMES.items():
            for i, h in enumerate(folded):
                if h in names:
                    index[key] = i
                    break
        if all(k in index for k in REQUIRED):
            return n, index
        if index and (best is None or len(index) > len(best[1])):
            best = (n, index, cells)
        elif best is None and any(folded):
            best = (n, index, cells)
    if best is None:
        raise InputError(_("{file}: the roster is empty").format(file=fname))
    n, index, cells = best
    missing = [COLUMNS[k][0] for k in REQUIRED if k not in index]
    found = ", ".join(c.strip() for c in cells if c.strip())
    raise InputError(
        _("{file}: row {row}: missing column(s) {missing} (found: {found})").format(
            file=fname, row=n, missing=", ".join(missing), found=found
        )
    )


def _cell_problem(fname: str, row: int, column: str, problem: str) -> str:
    return _("{file}: row {row}, column {column}: {problem}").format(
        file=fname, row=row, column=column, problem=problem
    )


def read_roster(path: Path) -> list[RosterRow]:
    """Read and check every row; raise one ``InputError`` listing each bad row and column.

    The roster as managers send it: a title block and a submission date may stand
    above the header row, which is found by its column names; blank rows are
    skipped and a closing 以上 or 合計 row ends the table.  Row numbers are the
    spreadsheet's.
    """
    from resv_cli.importing.reader import _EXCEL_ERROR, has_undecodable, undecodable_reason

    path = Path(path)
    fname = path.name
    encoding, source, close = _rows_of(path)
    try:
        header_row, index = _find_header(fname, source)
        rows: list[RosterRow] = []
        problems: list[str] = []
        closed_at: int | None = None
        for n, raw in source:

            def cell(key: str, raw: list[str] = raw) -> str:
                i = index.get(key)
                return raw[i] if i is not None and i < len(raw) else ""

            if not any(c.strip() for c in raw):
                continue
            first = next(_clean(c) for c in raw if c.strip())
            if closed_at is None and CLOSING_RE.match(first):
                closed_at = n
                continue
            if closed_at is not None:
                if all(cell(k).strip() for k in ("name", "facility", "employment")):
                    problems.append(
                        _(
                            "{file}: row {row}: a staff row after the closing row {closing} "
                            "({text!r}); move it above, or remove the closing row"
                        ).format(file=fname, row=n, closing=closed_at, text=first[:10])
                    )
                continue
            bad = [k for k in index if has_undecodable(cell(k))]
            if bad:
                value = cell(bad[0])
                reason = (  # an xlsx error cell, or bytes
                    undecodable_reason(value, encoding)
                    if value.startswith(_EXCEL_ERROR)
                    else _("bytes that are not valid {encoding}").format(encoding=encoding)
                )
                problems.append(_cell_problem(fname, n, COLUMNS[bad[0]][0], reason))
                continue
            # the input rule: no control character (a wrapped cell's line break is
            # folded by _clean), no cell longer than its column; never the value
            row_problems = []
            for k in index:
                if (why := control_problem(cell(k), line_breaks=True)) is not None:
                    row_problems.append(_cell_problem(fname, n, COLUMNS[k][0], why))
            if row_problems:
                problems.extend(row_problems)
                continue
            values = {k: _clean(cell(k)) for k in COLUMNS}
            for k in index:
                if (why := length_problem(values[k], MAX_LEN[k])) is not None:
                    row_problems.append(_cell_problem(fname, n, COLUMNS[k][0], why))
            for key in REQUIRED:
                if not values[key]:
                    row_problems.append(_cell_problem(fname, n, COLUMNS[key][0], _("empty")))
            emp = EMPLOYMENT.get(_folded(values["employment"]))
            if values["employment"] and emp is None:
                row_problems.append(
                    _(
                        "{file}: row {row}, column 雇用形態: must be 正規 (正社員, 常勤) or 非正規 "
                        "(契約, パート, アルバイト, 嘱託, 派遣, 臨時, 非常勤) (got {value!r})"
                    ).format(file=fname, row=n, value=values["employment"])
                )
            role = ROLE_ALIASES.get(_folded(values["role"]))
            if values["role"] and role is None:
                row_problems.append(
                    _(
                        "{file}: row {row}, column 役割: must be operator (職員), monitor (閲覧) "
                        "or admin (got {value!r})"
                    ).format(file=fname, row=n, value=values["role"])
                )
            if row_problems:
                problems.extend(row_problems)
                continue
            assert emp is not None and role is not None
            row = RosterRow(
                file=fname,
                row=n,
                full_name=values["name"],
                kana=values["kana"],
                facility=values["facility"],
                employment_type=emp,
                role=role,
                staff_no=values["staff_no"] or None,
            )
            if len(row.person_key) > PERSON_KEY_MAX:
                problems.append(
                    _(
                        "{file}: row {row}, column 氏名+フリガナ: together longer than "
                        "{n} characters; give a 職員番号 instead"
                    ).format(file=fname, row=n, n=PERSON_KEY_MAX - len("nk:|"))
                )
                continue
            rows.append(row)
    finally:
        close()
    seen: dict[str, int] = {}
    for r in rows:
        if r.person_key in seen:
            col = "職員番号" if r.staff_no else "氏名"
            problems.append(
                _cell_problem(
                    fname,
                    r.row,
                    col,
                    _("the same person as row {row}").format(row=seen[r.person_key]),
                )
            )
        else:
            seen[r.person_key] = r.row
    if problems:
        raise RowProblems(problems)
    if not rows:
        raise InputError(
            _("{file}: the roster has no rows below its header (row {row})").format(
                file=fname, row=header_row
            )
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    for r in rows:
        r.file_sha256 = digest
    return rows
