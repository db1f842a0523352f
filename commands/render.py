"""The one way data reaches stdout: ``render(rows, fmt)``.

Tables go through tabulate; CSV through the csv module; JSON is a list of
objects (dates as ISO strings) that pipes into ``jq`` untouched.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from enum import Enum
from typing import Any, TextIO


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def render(
    rows: Iterable[Mapping[str, Any]],
    fmt: Format | str = Format.table,
    *,
    columns: Sequence[str] | None = None,
    out: TextIO | None = None,
) -> None:
    """Write rows (mappings) to stdout in the chosen format."""
    import sys

    out = out or sys.stdout
    fmt = Format(fmt)
    data = [{k: _plain(v) for k, v in row.items()} for row in rows]
    cols = list(columns) if columns else (list(data[0].keys()) if data else [])
    if fmt is Format.json:
        json.dump([{c: r.get(c) for c in cols} for r in data], out, ensure_ascii=False, indent=2)
        out.write("\n")
    elif fmt is Format.csv:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(cols)
        for r in data:
            writer.writerow(["" if r.get(c) is None else r.get(c) for c in cols])
        out.write(buf.getvalue())
    else:
        from tabulate import tabulate

        if not data:
            out.write("(none)\n")
            return
        out.write(
            tabulate([[r.get(c) for c in cols] for r in data], headers=cols, disable_numparse=True)
        )
        out.write("\n")


def render_record(record: Mapping[str, Any], fmt: Format | str = Format.table) -> None:
    """Write one record: a two-column key/value table, or one JSON object."""
    import sys

    fmt = Format(fmt)
    data = {k: _plain(v) for k, v in record.items()}
    if fmt is Format.json:
        json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    elif fmt is Format.csv:
        render([data], fmt)
    else:
        from tabulate import tabulate

        sys.stdout.write(tabulate([[k, v] for k, v in data.items()], tablefmt="plain") + "\n")
