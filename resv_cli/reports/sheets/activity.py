"""Activity: every event of the month in scope (split over sheets past the row limit).

The one pass over the history: each event is also counted in ``ctx.agg`` for the
flags and the cover.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from resv_cli.reports.scope import to_jst
from resv_cli.reports.sheets.base import Table

if TYPE_CHECKING:
    from resv_cli.reports.context import ReportContext


class Activity(Table):
    key = "sheet.activity"
    counted_as = "activity"
    split = True
    columns = (
        ("seq", 10),
        ("time", 20),
        ("login_id", 18),
        ("org_code", 12),
        ("action", 26),
        ("resource", 22),
        ("facility_code", 16),
        ("outcome", 10),
    )

    def rows(self, ctx: ReportContext) -> Iterator[list[Any]]:
        observe = ctx.agg.observe
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
            resource = f"{rtype}:{rid}" if rtype and rid is not None else rtype or rid
            observe(seq, when, login, action, rid, fac, outcome, acc_id, search_detail)
            yield [seq, when, login, orgc, action, resource, fac, outcome]
