"""Duplicate-check searches: who checked, why, how many matched, and which (masked)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from resv_cli.records.registrants import MASK
from resv_cli.reports.data import MATCH_ID_KEYS, parse_detail, result_count
from resv_cli.reports.scope import jst_or_none
from resv_cli.reports.sheets.base import Col, Table, num

if TYPE_CHECKING:
    from resv_cli.reports.context import ReportContext


class DuplicateChecks(Table):
    key = "sheet.duplicate"
    counted_as = "duplicate_checks"
    columns = (
        num("seq"),
        Col("time", 20),
        Col("login_id", 18),
        Col("facility_code", 16),
        Col("outcome", 10),
        Col("purpose", 30, wrap=True),
        num("results"),
        Col("matched", 36, wrap=True),
    )

    def rows(self, ctx: ReportContext) -> Iterator[list[Any]]:
        checks = []
        wanted: set[int] = set()
        for r in ctx.data.duplicate_checks():
            d = parse_detail(r.detail)
            ids: list[int] = []
            for key in MATCH_ID_KEYS:
                v = d.get(key)
                vals = v if isinstance(v, list) else [v]
                ids += [int(x) for x in vals if isinstance(x, int | str) and str(x).isdigit()]
            if r.resource_type == "registrant" and r.resource_id and r.resource_id.isdigit():
                ids.append(int(r.resource_id))
            ids = sorted(set(ids))
            wanted.update(ids)
            # the reason the user gave ("purpose"); older events kept it under "reason"
            reason = d.get("purpose", d.get("reason"))
            checks.append((r, reason, result_count(d), ids))
        names = ctx.data.masked_names(wanted) if wanted else {}
        outcomes = ctx.code("outcome")
        for r, reason, count, ids in checks:
            matched = ", ".join(f"{i} {names.get(i, MASK)}" for i in ids) or None
            yield [
                r.seq,
                jst_or_none(r.occurred_at),
                r.login_id,
                r.facility_code,
                outcomes.get(r.outcome, r.outcome),
                None if reason is None else str(reason),
                count,
                matched,
            ]
