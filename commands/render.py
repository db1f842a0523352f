"""The one way data reaches stdout: ``render(rows, fmt)``.

Tables go through tabulate; CSV through the csv module; JSON is a list of
objects (dates as ISO strings) that pipes into ``jq`` untouched.

Only the table is for people, in their language: its headers are column labels
(``pgettext("column", key)``; every key is marked once in ``commands/columns.py``),
a column of codes shows their labels (``CODE_COLUMNS`` and ``code_label`` of the
audit vocabulary; a command passes ``codes={column: kind}`` where its column holds
another kind, or ``None`` to keep the codes), and an instant is Japan time with its
zone (``clock.shown``).  CSV and JSON keep the keys, the codes and ISO 8601 with
the offset, whatever the language.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from enum import Enum
from typing import Any, TextIO

Codes = Mapping[str, str | None]


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


def _aware(value: dt.datetime) -> dt.datetime:
    # stored instants are UTC; a driver may hand one back without its zone
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return _aware(value).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


class _Shown:
    """What a person reads in a table: column labels, code labels, Japan time."""

    def __init__(self, codes: Codes | None) -> None:
        from resv_cli.audit.vocabulary import CODE_COLUMNS, code_label
        from resv_cli.core import clock, i18n

        self.lang = i18n.language()
        self.kinds: dict[str, str | None] = {**CODE_COLUMNS, **(codes or {})}
        self.code_label = code_label
        self.clock = clock
        self.pgettext = i18n.pgettext

    def header(self, key: str) -> str:
        return self.pgettext("column", key)

    def value(self, key: str, value: Any) -> Any:
        if isinstance(value, dt.datetime):
            return self.clock.shown(_aware(value))
        if isinstance(value, bool):
            return self.code_label("boolean", str(value), self.lang)
        value = _plain(value)
        kind = self.kinds.get(key)
        return self.code_label(kind, value, self.lang) if kind else value


def render(
    rows: Iterable[Mapping[str, Any]],
    fmt: Format | str = Format.table,
    *,
    columns: Sequence[str] | None = None,
    out: TextIO | None = None,
    codes: Codes | None = None,
) -> None:
    """Write rows (mappings) to stdout in the chosen format.

    ``codes``: column -> the vocabulary kind of its codes (``None``: keep them),
    over ``CODE_COLUMNS``; only the table shows labels.
    """
    import sys

    out = out or sys.stdout
    fmt = Format(fmt)
    rows = list(rows)
    cols = list(columns) if columns else (list(rows[0].keys()) if rows else [])
    if fmt is Format.json:
        data = [{k: _plain(v) for k, v in row.items()} for row in rows]
        json.dump([{c: r.get(c) for c in cols} for r in data], out, ensure_ascii=False, indent=2)
        out.write("\n")
    elif fmt is Format.csv:
        data = [{k: _plain(v) for k, v in row.items()} for row in rows]
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(cols)
        for r in data:
            writer.writerow(["" if r.get(c) is None else r.get(c) for c in cols])
        out.write(buf.getvalue())
    else:
        from tabulate import tabulate

        from resv_cli.core.i18n import _

        if not rows:
            out.write(_("(none)") + "\n")
            return
        shown = _Shown(codes)
        out.write(
            tabulate(
                [[shown.value(c, r.get(c)) for c in cols] for r in rows],
                headers=[shown.header(c) for c in cols],
                disable_numparse=True,
            )
        )
        out.write("\n")


def render_record(
    record: Mapping[str, Any], fmt: Format | str = Format.table, *, codes: Codes | None = None
) -> None:
    """Write one record: a two-column key/value table, or one JSON object."""
    import sys

    fmt = Format(fmt)
    if fmt is Format.json:
        data = {k: _plain(v) for k, v in record.items()}
        json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    elif fmt is Format.csv:
        render([record], fmt)
    else:
        from tabulate import tabulate

        shown = _Shown(codes)
        rows = [[shown.header(k), shown.value(k, v)] for k, v in record.items()]
        sys.stdout.write(tabulate(rows, tablefmt="plain") + "\n")
