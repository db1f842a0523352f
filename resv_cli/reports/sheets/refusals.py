"""Refusals by account and by facility: two small tables, each with a bar chart.

The counts are the refused sheet's rows (``ctx.refusals``, filled as that sheet is
written): denied and failed events and account locks, per login ID (an unknown ID
as such) and per facility of the event (``(施設なし)`` for logins and other
facility-less events).  Each table lists every account or facility, the most
refused first; its chart (openpyxl ``BarChart``, horizontal, stacked by kind) shows
the first ``TOP`` rows of it, so the picture and the figures are the same cells.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from resv_cli.reports import fonts
from resv_cli.reports.sheets.base import Page
from resv_cli.reports.xlsx import CellSanitiser, setup_print, styled

if TYPE_CHECKING:
    from resv_cli.reports.context import ReportContext

TOP = 15  # bars per chart
KINDS = ("denied", "failed", "lock")  # the columns after the name, then the total
WIDTHS = (24.0, 10.0, 10.0, 10.0, 10.0)
CHART_COLUMN = "G"
CHART_ROWS = 18  # rows between the two charts' anchors (a chart is 7.5 cm, about 15 rows)
COLOURS = ("C00000", "ED7D31", "7F7F7F")  # denied, failed, locks


def rich_text(size: float, bold: bool = False) -> Any:
    """Chart text in the report's font (axes, legend)."""
    from openpyxl.chart.text import RichText
    from openpyxl.drawing.text import CharacterProperties, Font, Paragraph, ParagraphProperties

    face = Font(typeface=fonts.FONT_NAME)
    props = CharacterProperties(latin=face, ea=face, sz=int(size * 100), b=bold)
    return RichText(p=[Paragraph(pPr=ParagraphProperties(defRPr=props), endParaRPr=props)])


def chart_title(text: str) -> Any:
    """A chart title in the report's font."""
    from openpyxl.chart.text import RichText, Text
    from openpyxl.chart.title import Title
    from openpyxl.drawing.text import (
        CharacterProperties,
        Font,
        Paragraph,
        ParagraphProperties,
        RegularTextRun,
    )

    face = Font(typeface=fonts.FONT_NAME)
    props = CharacterProperties(latin=face, ea=face, sz=1200, b=True)
    para = Paragraph(pPr=ParagraphProperties(defRPr=props), r=[RegularTextRun(rPr=props, t=text)])
    return Title(tx=Text(rich=RichText(p=[para])), overlay=False)


def bar_chart(ws: Any, title: str, header_row: int, bars: int) -> Any:
    """A horizontal stacked bar chart of the table under ``header_row`` (first ``bars`` rows)."""
    from openpyxl.chart import BarChart, Reference

    chart = BarChart()
    chart.type = "bar"
    chart.grouping = "stacked"
    chart.overlap = 100
    chart.gapWidth = 60
    chart.title = chart_title(title)
    data = Reference(ws, min_col=2, max_col=1 + len(KINDS), min_row=header_row,
                     max_row=header_row + bars)  # fmt: skip
    cats = Reference(ws, min_col=1, min_row=header_row + 1, max_row=header_row + bars)
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(cats)
    for series, colour in zip(chart.series, COLOURS, strict=True):
        series.graphicalProperties.solidFill = colour
        series.graphicalProperties.line.solidFill = colour
    # the most refused on top, the axes shown (openpyxl 3.1 hides them by default)
    chart.x_axis.scaling.orientation = "maxMin"
    chart.y_axis.crosses = "max"  # the count axis below the bars, not above
    chart.x_axis.delete = False
    chart.y_axis.delete = False
    chart.y_axis.majorGridlines = None
    chart.x_axis.txPr = rich_text(9)
    chart.y_axis.txPr = rich_text(9)
    chart.legend.position = "b"
    chart.legend.txPr = rich_text(9)
    chart.height = 7.5  # cm
    chart.width = 16
    return chart


def tally(ctx: ReportContext, which: int, none_label: str) -> list[tuple[str, list[int]]]:
    """[(name, [denied, failed, locks])], the most refused first, by account (0) or facility (1)."""
    sums: dict[str, list[int]] = defaultdict(lambda: [0] * len(KINDS))
    for key, n in ctx.refusals.items():
        name = key[which] if key[which] is not None else none_label
        sums[str(name)][KINDS.index(key[2])] += n
    return sorted(sums.items(), key=lambda kv: (-sum(kv[1]), kv[0]))


class Refusals(Page):
    key = "sheet.refusals"

    def write(self, ctx: ReportContext, ws: Any) -> None:
        from openpyxl.utils import get_column_letter

        L = ctx.L
        styles = ctx.styles
        for i, w in enumerate(WIDTHS, 1):
            ws.column_dimensions[get_column_letter(i)].width = w
        setup_print(ws, title_rows=None, grid=False)
        clean = CellSanitiser(ws)
        row_no = 0

        def cell(value: Any, style: str) -> Any:
            return styled(ws, value, styles[style])

        def append(values: list[Any], height: float | None = None) -> int:
            nonlocal row_no
            row_no += 1
            if height is not None:
                ws.row_dimensions[row_no].height = height
            ws.append(values)
            return row_no

        title = f"{L('refusals_title')}　{ctx.month_text()}"
        append([cell(title, "title")], fonts.row_height(1, 14))
        if not ctx.refusals:
            append([L("no_refusals")])
            return
        anchors = []
        for which, (heading, first, none_label, chart_key) in enumerate(
            (
                (L("by_account"), L("account"), L("unknown_id"), "chart_accounts"),
                (L("by_facility"), L("facility_code"), L("no_facility"), "chart_facilities"),
            )
        ):
            append([])
            append([cell(heading, "bold")])
            heads = [first, L("denied"), L("failed"), L("locks"), L("total")]
            lines = max(fonts.wrapped_lines(h, w) for h, w in zip(heads, WIDTHS, strict=True))
            header_row = append(
                [cell(h, "header" if i == 0 else "header_num") for i, h in enumerate(heads)],
                fonts.row_height(lines),
            )
            rows = tally(ctx, which, none_label)
            for name, counts in rows:
                cells = [clean(name), *counts, sum(counts)]
                append([cell(v, "cell") for v in cells])
            bars = min(TOP, len(rows))
            chart = bar_chart(ws, L(chart_key, n=bars), header_row, bars)
            anchors.append((chart, header_row))
        # the charts beside the tables, one under the other
        for i, (chart, _header_row) in enumerate(anchors):
            ws.add_chart(chart, f"{CHART_COLUMN}{3 + i * CHART_ROWS}")
