"""Imports and exports: the month's import batches and export events, by time.

A file's SHA-256 prints whole: its column holds 32 of the 64 characters per line and
the row is two lines tall (``xlsx.TableSheet`` wraps it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from resv_cli.reports.data import result_count
from resv_cli.reports.fonts import width_for
from resv_cli.reports.scope import jst_or_none
from resv_cli.reports.sheets.base import Col, Table, num

# half a SHA-256 per line
HASH_WIDTH = width_for("0" * 32)

if TYPE_CHECKING:
    from resv_cli.reports.context import ReportContext


class ImportsExports(Table):
    key = "sheet.imports"
    counted_as = "imports_exports"
    columns = (
        Col("direction", 8),
        Col("time", 20),
        Col("login_id", 18),
        Col("kind", 22),
        Col("file_name", 28, wrap=True),
        Col("sha256", HASH_WIDTH, wrap=True),
        Col("facility_code", 16),
        Col("status", 10),
        num("records"),
        num("imported"),
        num("updated"),
        num("rejected"),
        num("skipped", 12),
        num("duplicates"),
        Col("finished", 20),
    )

    def rows(self, ctx: ReportContext) -> Iterator[list[Any]]:
        L = ctx.L
        kinds, statuses = ctx.code("import_kind"), ctx.code("import_status")
        actions, outcomes = ctx.code("action"), ctx.code("outcome")
        code_of = ctx.data.facility_code_by_id
        # (time, 0 import / 1 export, row): an import before an export of the same second
        entries: list[tuple[dt.datetime, int, list[Any]]] = []
        for r in ctx.data.import_batches():
            when = jst_or_none(r.started_at)
            assert when is not None
            entries.append(
                (
                    when,
                    0,
                    [
                        L("import"),
                        when,
                        r.login_id,
                        kinds.get(r.kind, r.kind),
                        r.file_name,
                        r.file_sha256,
                        code_of.get(r.facility_id) if r.facility_id else None,
                        statuses.get(r.status, r.status),
                        r.records_read,
                        r.imported,
                        r.updated,
                        r.rejected,
                        r.skipped,
                        r.duplicates,
                        jst_or_none(r.finished_at),
                    ],
                )
            )
        for ev, d in ctx.data.exports():
            rows = d.get("rows")
            if isinstance(rows, dict):
                rows = sum(v for v in rows.values() if isinstance(v, int))
            elif not isinstance(rows, int) or isinstance(rows, bool):
                rows = result_count(d)
            file_name = d.get("file")
            when = jst_or_none(ev.occurred_at)
            assert when is not None
            entries.append(
                (
                    when,
                    1,
                    [
                        L("export"),
                        when,
                        ev.login_id,
                        actions.get(ev.action, ev.action),
                        None if file_name is None else str(file_name),
                        None if d.get("sha256") is None else str(d.get("sha256")),
                        ev.facility_code,
                        outcomes.get(ev.outcome, ev.outcome),
                        rows,
                        None,
                        None,
                        None,
                        None,
                        None,
                        None,
                    ],
                )
            )
        entries.sort(key=lambda e: (e[0], e[1]))
        for _when, _order, row in entries:
            yield row
