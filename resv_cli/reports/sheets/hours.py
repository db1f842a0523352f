"""Activity by hour: an hour x day heat map of the month's events (Japan time).

One row per day of the month (1日(金) ...), one column per hour (0時 .. 23時), each
cell the number of events of the month in scope in that hour (``ctx.agg.hourly``,
counted by the activity sheet's one pass), then the day's total and how many of
them were refused or failed; a total row closes the grid.  This is the daily table:
it has its own sheet, landscape, on one page.

The picture is the spreadsheet's own conditional formatting, so it stays true to the
numbers: a colour scale over the grid (white for none, darker blue for more), and a
second rule that gives a red border and red figures to any use in an hour when
no facility in scope is open (outside the earliest opening and the latest closing
time of the facilities in scope; their headings are shaded too).  Zero is kept as a
number and shown blank (number format), so the grid adds up.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from resv_cli.core import wareki
from resv_cli.reports import fonts
from resv_cli.reports.labels import WEEKDAYS_EN
from resv_cli.reports.sheets.base import Page
from resv_cli.reports.xlsx import BOX, report_font, setup_print

if TYPE_CHECKING:
    from resv_cli.reports.context import ReportContext

HEADER_ROW = 3  # title, note, then the header: the grid starts on row 4
FIRST_HOUR_COL = 2  # B
HOURS = 24
COUNT_FORMAT = "#,##0;-#,##0;"  # zero shows blank
SCALE_LOW, SCALE_HIGH = "FFFFFF", "5B9BD5"
OFF_HOURS_RED = "C00000"
OFF_HOURS_HEADING = "D9D9D9"
SATURDAY, SUNDAY = "0070C0", "C00000"


def open_hours(ctx: ReportContext) -> tuple[int, int, str, str] | None:
    """(opens, closes in minutes, "HH:MM", "HH:MM"): when some facility in scope is open."""
    ids = ctx.scope.facility_ids
    found = [
        f["hours"]
        for f in ctx.data.facilities.values()
        if f["hours"] is not None and (ids is None or f["id"] in ids)
    ]
    if not found:
        return None
    first = min(found, key=lambda h: h[0])
    last = max(found, key=lambda h: h[1])
    return first[0], last[1], first[2], last[3]


def off_hours(hours: tuple[int, int, str, str] | None) -> list[int]:
    """The hours (0-23) wholly outside ``hours``."""
    if hours is None:
        return []
    return [h for h in range(HOURS) if h * 60 + 60 <= hours[0] or h * 60 >= hours[1]]


def runs(values: list[int]) -> list[tuple[int, int]]:
    """Consecutive values as (first, last) pairs: [0, 1, 2, 18, 19] -> [(0, 2), (18, 19)]."""
    out: list[tuple[int, int]] = []
    for v in values:
        if out and out[-1][1] == v - 1:
            out[-1] = (out[-1][0], v)
        else:
            out.append((v, v))
    return out


class Hours(Page):
    key = "sheet.hours"

    def write(self, ctx: ReportContext, ws: Any) -> None:
        from openpyxl.cell.cell import WriteOnlyCell
        from openpyxl.formatting.rule import CellIsRule, ColorScaleRule
        from openpyxl.styles import Border, Font, PatternFill, Side
        from openpyxl.utils import get_column_letter

        L = ctx.L
        styles = ctx.styles
        days = []
        day = ctx.first
        while day < ctx.nxt:
            days.append(day)
            day += dt.timedelta(days=1)
        hourly = ctx.agg.hourly
        daily = ctx.agg.daily
        grid = [hourly.get(d, [0] * HOURS) for d in days]
        biggest = max((max(r) for r in grid), default=0)
        hour_heads = [L("hour", h=h) for h in range(HOURS)]
        hour_width = max(
            5.0, *(fonts.width_for(h) for h in hour_heads), fonts.width_for(f"{biggest:,}")
        )
        widths = [12.0, *([hour_width] * HOURS), 10.0, 12.0]
        for i, w in enumerate(widths, 1):
            ws.column_dimensions[get_column_letter(i)].width = w
        first_letter = get_column_letter(FIRST_HOUR_COL)
        last_hour_letter = get_column_letter(FIRST_HOUR_COL + HOURS - 1)
        top = HEADER_ROW + 1
        bottom = HEADER_ROW + len(days)
        ws.freeze_panes = f"B{top}"
        setup_print(ws, title_rows=f"{HEADER_ROW}:{HEADER_ROW}")
        ws.page_setup.fitToHeight = 1  # the month on one page
        ws.print_options.gridLines = False  # the grid has borders of its own

        def styled(value: Any, style: str | None = None, **attrs: Any) -> Any:
            c = WriteOnlyCell(ws, value=value)
            if style:
                c.style = styles[style]
            for name, v in attrs.items():
                setattr(c, name, v)
            return c

        hours = open_hours(ctx)
        outside = off_hours(hours)
        title = f"{L('hours_title')}　{ctx.month_text()}"
        ws.row_dimensions[1].height = fonts.row_height(1, 14)
        ws.append([styled(title, "title")])
        note = (
            L("hours_note", opens=hours[2], closes=hours[3])
            if hours is not None and outside
            else L("hours_note_none")
        )
        ws.append([note])
        heads: list[Any] = [styled(L("date"), "header")]
        for h, text in enumerate(hour_heads):
            c = styled(text, "header_num")
            if h in outside:
                c.fill = PatternFill("solid", fgColor=OFF_HOURS_HEADING)
            heads.append(c)
        heads += [styled(L("day_total"), "header_num"), styled(L("of_refused"), "header_num")]
        lines = max(
            fonts.wrapped_lines(str(c.value), w) for c, w in zip(heads, widths, strict=True)
        )
        ws.row_dimensions[HEADER_ROW].height = fonts.row_height(lines)
        ws.append(heads)

        totals = [0] * HOURS
        for d, counts in zip(days, grid, strict=True):
            mark = wareki.weekday(d) if L.lang == "ja" else WEEKDAYS_EN[d.weekday()]
            label = styled(L("day", d=d.day, w=mark), "cell")
            if d.weekday() >= 5:
                label.font = report_font(color=SATURDAY if d.weekday() == 5 else SUNDAY)
            ok, bad = daily.get(d, (0, 0))
            row = [label]
            for h, n in enumerate(counts):
                totals[h] += n
                row.append(styled(n, "cell", number_format=COUNT_FORMAT))
            row += [
                styled(ok + bad, "bold", number_format="#,##0", border=BOX),
                styled(bad, "cell", number_format="#,##0"),
            ]
            ws.append(row)
        refused = sum(daily.get(d, (0, 0))[1] for d in days)
        ws.append(
            [
                styled(L("day_total"), "bold", border=BOX),
                *(styled(n, "bold", number_format="#,##0", border=BOX) for n in totals),
                styled(sum(totals), "bold", number_format="#,##0", border=BOX),
                styled(refused, "bold", number_format="#,##0", border=BOX),
            ]
        )

        # the picture: a colour scale over exactly the grid, and red for off-hours use.
        # The off-hours rule comes first (priority 1): Excel shows both rules on a
        # cell, LibreOffice only the first that applies, so there the red one wins.
        if outside:
            red = Side(style="medium", color=OFF_HOURS_RED)
            ref = " ".join(
                f"{get_column_letter(FIRST_HOUR_COL + a)}{top}:"
                f"{get_column_letter(FIRST_HOUR_COL + b)}{bottom}"
                for a, b in runs(outside)
            )
            ws.conditional_formatting.add(
                ref,
                CellIsRule(
                    operator="greaterThan",
                    formula=["0"],
                    font=Font(bold=True, color=OFF_HOURS_RED),
                    border=Border(left=red, right=red, top=red, bottom=red),
                ),
            )
        ws.conditional_formatting.add(
            f"{first_letter}{top}:{last_hour_letter}{bottom}",
            ColorScaleRule(
                start_type="num",
                start_value=0,
                start_color=SCALE_LOW,
                end_type="max",
                end_color=SCALE_HIGH,
            ),
        )
