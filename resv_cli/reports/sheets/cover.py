"""Cover: period, organisation, facilities, each designated manager's designation term
(with a warning within 90 days of its end) and information security officer, who
generated it and when, the audit chain
head and the result of verifying it, counts per kind of event, flags raised, and a
chart of daily activity.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import TYPE_CHECKING, Any

from resv_cli.audit.vocabulary import OUTCOMES
from resv_cli.core.terms import days_left
from resv_cli.reports.scope import jst_or_none
from resv_cli.reports.sheets.base import Page
from resv_cli.reports.xlsx import CellSanitiser, setup_print

if TYPE_CHECKING:
    from resv_cli.reports.context import ReportContext


class Cover(Page):
    key = "sheet.cover"

    def write(self, ctx: ReportContext, ws: Any) -> None:
        from openpyxl.cell.cell import WriteOnlyCell
        from openpyxl.chart import BarChart, Reference

        L = ctx.L
        styles = ctx.styles
        for col, width in zip("ABCDEF", (38, 20, 12, 12, 12, 3), strict=True):
            ws.column_dimensions[col].width = width
        setup_print(ws, title_rows=None, grid=False)
        clean = CellSanitiser(ws)
        row_no = 0

        def put(*values: Any, style: str | None = None) -> int:
            nonlocal row_no
            cells = []
            for v in values:
                v = clean(v)
                if style and not hasattr(v, "coordinate"):
                    c = WriteOnlyCell(ws, value=v)
                    c.style = styles[style]
                    v = c
                cells.append(v)
            ws.append(cells)
            row_no += 1
            return row_no

        scope = ctx.scope
        org = scope.org
        month = ctx.options.month
        put(f"{L('title')} {month}", style="title")
        put()
        put(L("month"), month)
        put(L("period"), f"{ctx.first.isoformat()} – {ctx.last_day.isoformat()}")
        put(L("organization"), f"{org.code} {org.name}" if org else L("all_orgs"))
        put(
            L("facilities"),
            ", ".join(scope.facility_codes)
            if scope.facility_ids is not None
            else L("all_facilities"),
        )
        # each designated manager in scope: its designation term (with a warning when it
        # ends within 90 days) and its information security officer on the report's day
        for o in ctx.organizations:
            prefix = "" if org is not None else f"{o['code']}: "
            term = f"{o['term_start'] or ''} – {o['term_end'] or ''}"
            days = days_left("designated_manager", o["term_end"], ctx.ref_day)
            if days is not None:
                key = "d.term_ended" if days < 0 else "d.term_ending"
                end = o["term_end"].isoformat()
                term += f" ({L(key, org=o['code'], end=end, days=abs(days))})"
            put(L("term"), prefix + term)
            officer = (
                f"{o['officer']} ({o['officer_since']} {L('since')})"
                if o["officer"] is not None
                else L("officer_none")
            )
            put(L("security_officer"), prefix + officer)
        put(L("generated_at"), jst_or_none(ctx.generated))
        put(L("generated_by"), f"{ctx.actor.login_id} ({ctx.actor.role})")
        chain = ctx.chain
        put(L("chain_head_seq"), chain.head_seq)
        put(L("chain_head_hash"), chain.head_hash)
        verdict = L("chain_ok") if chain.ok else L("chain_bad")
        put(L("chain_result"), f"{verdict}: {chain.message}")
        put(L("setting.bulk"), ctx.bulk_threshold)
        put(L("setting.dormant"), ctx.dormant_days)
        put(L("signoff"), None)
        put()
        put(L("counts"), style="bold")
        counts_row = put(L("action"), *(L(o) for o in OUTCOMES), L("total"), style="header")
        by_action = ctx.agg.by_action
        grand = Counter[str]()
        for action in sorted({a for a, _ in by_action}):
            vals = [by_action.get((action, o), 0) for o in OUTCOMES]
            for o, v in zip(OUTCOMES, vals, strict=True):
                grand[o] += v
            put(action, *vals, sum(vals))
        put(L("total"), *(grand[o] for o in OUTCOMES), sum(grand.values()))
        put()
        put(L("flags"), style="bold")
        put(L("flag"), L("count"), style="header")
        for kind, n in ctx.flag_counts.items():
            put(L(f"flag.{kind}"), n)
        put()
        put(L("daily"), style="bold")
        header_row = put(L("date"), L("allowed"), L("refused"), L("total"), style="header")
        day = ctx.first
        while day < ctx.nxt:
            ok, bad = ctx.agg.daily.get(day, (0, 0))
            put(day, ok, bad, ok + bad)
            day += dt.timedelta(days=1)
        last_row = row_no
        chart = BarChart()
        chart.type = "col"
        chart.grouping = "stacked"
        chart.overlap = 100
        chart.title = L("chart_title")
        chart.y_axis.title = L("count")
        chart.x_axis.title = L("date")
        chart.x_axis.number_format = "d"
        data = Reference(ws, min_col=2, max_col=3, min_row=header_row, max_row=last_row)
        cats = Reference(ws, min_col=1, min_row=header_row + 1, max_row=last_row)
        chart.add_data(data, titles_from_data=True)
        chart.set_categories(cats)
        chart.height = 7
        chart.width = 15
        # beside the counts table: on the first printed page, and one page wide
        ws.add_chart(chart, f"G{counts_row}")
