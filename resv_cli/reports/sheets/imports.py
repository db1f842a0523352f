"""Imports and exports: the month's import batches and export events, by time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from resv_cli.reports.data import result_count
from resv_cli.reports.scope import jst_or_none
from resv_cli.reports.sheets.base import Table

if TYPE_CHECKING:
    from resv_cli.reports.context import ReportContext


class ImportsExports(Table):
    key = "sheet.imports"
    counted_as = "imports_exports"
    columns = (
        ("direction", 8),
        ("time", 20),
        ("login_id", 18),
        ("kind", 16),
        ("file_name", 28),
        ("sha256", 20),
        ("facility_code", 16),
        ("status", 10),
        ("records", 10),
        ("imported", 10),
        ("updated", 10),
        ("rejected", 10),
        ("skipped", 10),
        ("duplicates", 10),
        ("finished", 20),
    )

    def rows(self, ctx: ReportContext) -> Iterator[list[Any]]:
        L = ctx.L
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
                        r.kind,
                        r.file_name,
                        r.file_sha256,
                        code_of.get(r.facility_id) if r.facility_id else None,
                        r.status,
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
                        ev.action,
                        None if file_name is None else str(file_name),
                        None if d.get("sha256") is None else str(d.get("sha256")),
                        ev.facility_code,
                        ev.outcome,
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
        for _, _, row in entries:
            yield row
