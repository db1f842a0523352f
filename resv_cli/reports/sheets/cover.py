"""Cover: the page a monitor signs.

Title with the month (令和8年5月分), a sign-off box (確認者 / 確認日 / 印), then
period, organisation, facilities, each designated manager's designation term (with
a warning within 90 days of its end) and information security officer, who
generated it and when, the audit chain head (its SHA-256 whole, on two lines) and
the result of verifying it, the settings the flags use, counts per kind of event
and the flags raised.  A4 portrait, one page wide; the hour x day picture and the
refusals chart have sheets of their own.

Columns: A the labels, B:E (merged) the values, so a value as long as a SHA-256
has room; the counts table uses B..E for its numbers.  Every label and value wraps
and its row is as tall as its text (``fonts``).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from resv_cli.audit.vocabulary import CODES, OUTCOMES
from resv_cli.core import clock, wareki
from resv_cli.core.terms import days_left
from resv_cli.reports import fonts
from resv_cli.reports.sheets.base import Page
from resv_cli.reports.xlsx import CellSanitiser, setup_print, styled

if TYPE_CHECKING:
    from resv_cli.reports.context import ReportContext

WIDTHS = {"A": 30.0, "B": 14.0, "C": 12.0, "D": 12.0, "E": 12.0}
VALUE_WIDTH = WIDTHS["B"] + WIDTHS["C"] + WIDTHS["D"] + WIDTHS["E"]  # the merged B:E
SIGNOFF_HEIGHT = 48.0  # points: room for a handwritten name and a seal (about 17 mm)
# A4 portrait less the default margins (1 in top and bottom): what one page holds
PAGE_HEIGHT_PT = 842 - 144


def chain_line(ctx: ReportContext) -> str:
    """The verification result as the cover prints it (English: as ``audit verify`` says)."""
    L = ctx.L
    chain = ctx.chain
    if L.lang != "ja":
        verdict = L("chain_ok") if chain.ok else L("chain_bad")
        return f"{verdict}: {chain.message}"
    if chain.ok:
        return L("chain.ok_line", n=chain.events_checked)
    reasons = {code: pair[0] for code, pair in CODES.get("verify_reason", {}).items()}
    why = reasons.get(chain.reason or "") or (
        L("chain.incomplete") if chain.reason == "incomplete" else L("chain.broken")
    )
    return L("chain.bad_line", seq=chain.first_bad_seq, why=why)


class Cover(Page):
    key = "sheet.cover"

    def write(self, ctx: ReportContext, ws: Any) -> None:
        from openpyxl.worksheet.cell_range import CellRange

        L = ctx.L
        styles = ctx.styles
        for col, width in WIDTHS.items():
            ws.column_dimensions[col].width = width
        setup_print(ws, title_rows=None, grid=False, portrait=True)
        clean = CellSanitiser(ws, era_dates=ctx.era_dates)
        row_no = 0
        heights: list[float] = []

        def cell(value: Any, style: str | None) -> Any:
            """An inert cell value; styled (a box even when empty)."""
            if style is None or (value is None and style != "box"):
                return clean(value)
            return styled(ws, clean(value), styles[style])

        def put(
            *values: Any,
            style: str | tuple[str | None, ...] | None = None,
            height: float | None = None,
        ) -> int:
            """Write a row: ``style`` for every cell, or one per cell; the row as tall as
            its text needs (column A, or B:E when merged), or ``height``."""
            nonlocal row_no
            row_no += 1
            cell_styles = style if isinstance(style, tuple) else (style,) * len(values)
            if height is None:
                lines = 1
                for v, col, st in zip(values, "ABCDE", cell_styles, strict=False):
                    if isinstance(v, str) and st not in ("title",):
                        lines = max(lines, fonts.wrapped_lines(v, WIDTHS[col]))
                height = fonts.row_height(lines) if lines > 1 else None
            if height is not None:
                ws.row_dimensions[row_no].height = height
            heights.append(height or fonts.row_height(1))
            ws.append([cell(v, st) for v, st in zip(values, cell_styles, strict=True)])
            return row_no

        def merge(ref: str) -> None:
            ws.merged_cells.add(CellRange(ref))

        rows: list[tuple[str, Any]] = []
        scope = ctx.scope
        org = scope.org
        roles = ctx.code("role")
        rows.append((L("month"), ctx.month_text()))
        rows.append((L("period"), f"{ctx.date_text(ctx.first)} – {ctx.date_text(ctx.last_day)}"))
        rows.append((L("organization"), f"{org.code} {org.name}" if org else L("all_orgs")))
        rows.append(
            (
                L("facilities"),
                ", ".join(scope.facility_codes)
                if scope.facility_ids is not None
                else L("all_facilities"),
            )
        )
        # each designated manager in scope: its designation term (with a warning when it
        # ends within 90 days) and its information security officer on the report's day
        for o in ctx.organizations:
            prefix = "" if org is not None else f"{o['code']}: "
            term = (
                f"{ctx.date_text(o['term_start'])} – {ctx.date_text(o['term_end'])}"
                if o["term_start"] or o["term_end"]
                else L("officer_none")
            )
            days = days_left("designated_manager", o["term_end"], ctx.ref_day)
            if days is not None:
                key = "d.term_ended" if days < 0 else "d.term_ending"
                end = ctx.date_text(o["term_end"])
                term += f" ({L(key, org=o['code'], end=end, days=abs(days))})"
            rows.append((L("term"), prefix + term))
            officer = (
                f"{o['officer']} ({ctx.date_text(o['officer_since'])} {L('since')})"
                if o["officer"] is not None
                else L("officer_none")
            )
            rows.append((L("security_officer"), prefix + officer))
        rows.append((L("generated_at"), ctx.stamp_text(ctx.generated)))
        role = roles.get(ctx.actor.role, ctx.actor.role)
        rows.append((L("generated_by"), f"{ctx.actor.login_id} ({role})"))
        chain = ctx.chain
        rows.append((L("chain_head_seq"), chain.head_seq))
        rows.append((L("chain_head_hash"), chain.head_hash))
        rows.append((L("chain_result"), chain_line(ctx)))
        rows.append((L("setting.bulk"), ctx.bulk_threshold))
        rows.append((L("setting.dormant"), ctx.dormant_days))

        # -- title and the sign-off box ------------------------------------------------
        title = f"{L('title')}　{L('title_month', month=ctx.month_text())}"
        put(title, style="title", height=fonts.row_height(1, 14))
        merge("A1:E1")
        put()
        # 確認欄 | 確認者 | 確認日 (C:D) | 印, and the boxes to fill in below
        signoff = (L("signoff"), L("signoff.by"), L("signoff.on"), None, L("signoff.seal"))
        box = put(*signoff, style=("bold", "box", "box", "box", "box"))
        merge(f"C{box}:D{box}")
        blank = L("signoff.blank")
        if blank and ctx.era_dates:
            era = wareki.era_of(ctx.generated.astimezone(clock.JST).date())
            blank = (era[0] if era else "") + blank
        put(None, None, blank or None, None, None, style=(None, "box", "box", "box", "box"),
            height=SIGNOFF_HEIGHT)  # fmt: skip
        merge(f"C{box + 1}:D{box + 1}")
        put()

        # -- what the report covers, and the proof of an unedited history ---------------
        for label, value in rows:
            lines = max(
                fonts.wrapped_lines(label, WIDTHS["A"]),
                fonts.wrapped_lines(str(value), VALUE_WIDTH),
            )
            n = put(label, value, style=("label", "value"), height=fonts.row_height(lines))
            merge(f"B{n}:E{n}")
        put()

        # -- flags raised ----------------------------------------------------------------
        put(L("flags"), style="bold")
        put(L("flag"), L("count"), style=("header", "header_num"))
        for kind, n in ctx.flag_counts.items():
            put(L(f"flag.{kind}"), n, style=("row_label", "row_num"))
        put()

        # -- counts per kind of event ----------------------------------------------------
        put(L("counts"), style="bold")
        heads = (L("action"), *(L(outcome) for outcome in OUTCOMES), L("total"))
        put(*heads, style=("header", *(["header_num"] * (len(heads) - 1))))
        by_action = ctx.agg.by_action
        actions = ctx.code("action")
        grand = Counter[str]()
        numbers = ("row_label", *(["row_num"] * (len(OUTCOMES) + 1)))
        for action in sorted({a for a, _outcome in by_action}):
            vals = [by_action.get((action, outcome), 0) for outcome in OUTCOMES]
            for outcome, v in zip(OUTCOMES, vals, strict=True):
                grand[outcome] += v
            put(actions.get(action, action), *vals, sum(vals), style=numbers)
        totals = [grand[outcome] for outcome in OUTCOMES]
        put(L("total"), *totals, sum(grand.values()), style="bold")
        # one page when it nearly fits (a city-wide month with every kind of event
        # goes on, one page wide)
        if sum(heights) <= PAGE_HEIGHT_PT * 1.3:
            ws.page_setup.fitToHeight = 1
