"""Activity: every event of the month in scope (split over sheets past the row limit).

The one pass over the history: each event is also counted in ``ctx.agg`` for the
flags and the cover.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from resv_cli.reports.scope import to_jst
from resv_cli.reports.sheets.base import Col, Table, num

if TYPE_CHECKING:
    from resv_cli.reports.context import ReportContext


class Activity(Table):
    key = "sheet.activity"
    counted_as = "activity"
    split = True
    columns = (
        num("seq"),
        Col("time", 20),
        Col("login_id", 18),
        Col("org_code", 12),
        Col("action", 26),
        Col("resource", 22),
        Col("facility_code", 16),
        Col("outcome", 10),
    )

    def rows(self, ctx: ReportContext) -> Iterator[list[Any]]:
        observe = ctx.agg.observe
        # what a person reads for the codes (Japanese report; English keeps them)
        actions, outcomes = ctx.code("action"), ctx.code("outcome")
        resources = ctx.code("resource_type")
        for (
            seq,
            occ,
            login,
            orgc,
            action,
            rtype,
            rid,
            fac,
            outcome,
            acc_id,
            search_detail,
        ) in ctx.data.activity():
            when = to_jst(occ)
            if rtype:
                rtype = resources.get(rtype, rtype)
            resource = f"{rtype}:{rid}" if rtype and rid is not None else rtype or rid
            observe(seq, when, login, action, rid, fac, outcome, acc_id, search_detail)
            yield [
                seq,
                when,
                login,
                orgc,
                actions.get(action, action),
                resource,
                fac,
                outcomes.get(outcome, outcome),
            ]
