"""The monthly report as a city office prints and signs it (issue 16, parts 2-4).

Real workbooks of a seeded month (May 2026 at fm-a, ``seeded``) read back with
openpyxl:

* 和暦: the era table at its boundaries and the 元年 rule, the report's title month
  and dates, ``--era western``;
* every code of the Japanese report labelled from the audit vocabulary, none raw;
  the English report keeps the codes;
* the pictures are real spreadsheet objects over the right cells: the heat map's
  colour scale covers exactly the hour x day grid whose numbers are the events per
  hour and day, the off-hours rule covers the hours no facility is open, the
  refusal charts' series point at the cells that hold the counts;
* the 確認結果 drop-down covers the findings column, the sign-off box is there;
* one Japanese font on every cell and chart; from that font's metrics
  (``resv_cli.reports.fonts``: advance widths read from the font file), the column
  widths and row heights show every heading whole, no date cell overflows (Excel
  would print ####), and every SHA-256 prints all 64 characters.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from factories import (
    assign,
    jst_instant,
    make_account,
    make_facility,
    make_org,
    make_registrant,
    record_event,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl.utils import get_column_letter
from sqlalchemy.orm import Session

from resv_cli.audit.vocabulary import CODES
from resv_cli.core import clock, jpnorm, wareki
from resv_cli.core.models import ImportBatch
from resv_cli.reports import fonts

JST = clock.JST
MONTH = "2026-05"

# --- 和暦 ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "text", "short"),
    [
        (dt.date(2019, 4, 30), "平成31年4月30日", "H31.4.30"),
        (dt.date(2019, 5, 1), "令和元年5月1日", "R1.5.1"),
        (dt.date(2019, 12, 31), "令和元年12月31日", "R1.12.31"),
        (dt.date(2020, 1, 1), "令和2年1月1日", "R2.1.1"),
        (dt.date(1989, 1, 7), "昭和64年1月7日", "S64.1.7"),
        (dt.date(1989, 1, 8), "平成元年1月8日", "H1.1.8"),
        (dt.date(1926, 12, 24), "大正15年12月24日", "T15.12.24"),
        (dt.date(1926, 12, 25), "昭和元年12月25日", "S1.12.25"),
        (dt.date(1912, 7, 29), "明治45年7月29日", "M45.7.29"),
        (dt.date(1912, 7, 30), "大正元年7月30日", "T1.7.30"),
        (dt.date(1868, 10, 23), "明治元年10月23日", "M1.10.23"),
        (dt.date(2026, 11, 3), "令和8年11月3日", "R8.11.3"),
    ],
)
def test_era_boundaries_and_the_first_year(day: dt.date, text: str, short: str) -> None:
    assert wareki.date_text(day) == text
    assert wareki.short_text(day) == short
    first_year = "元年" in text
    assert wareki.number_format(day) == (
        '[$-411]ggg"元年"m"月"d"日"' if first_year else '[$-411]ggge"年"m"月"d"日"'
    )


def test_era_months_and_before_meiji() -> None:
    assert wareki.month_text(2026, 11) == "令和8年11月"
    assert wareki.month_text(2019, 5) == "令和元年5月"
    assert wareki.month_text(2019, 4) == "平成31年4月"
    assert wareki.month_text(1989, 1) == "昭和64年1月"  # the month's first day decides
    assert wareki.era_of(dt.date(1868, 10, 22)) is None
    assert wareki.date_text(dt.date(1868, 10, 22)) == "1868-10-22"
    assert wareki.weekday(dt.date(2026, 5, 1)) == "金"


@settings(max_examples=300, deadline=None)
@given(st.dates(min_value=dt.date(1868, 10, 23), max_value=dt.date(2117, 12, 31)))
def test_printed_era_dates_read_back_as_typed_dates(day: dt.date) -> None:
    # what the report prints is what the importer and every date option accept
    assert jpnorm.parse_date(wareki.date_text(day)) == day
    assert jpnorm.parse_date(wareki.short_text(day)) == day


# --- helpers --------------------------------------------------------------------------


_at = jst_instant


def as_jst(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
    return value.astimezone(JST).replace(tzinfo=None, microsecond=0)


class Events:
    """Audit events appended through the real chain at chosen Japan times."""

    def __init__(self, inst: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.inst = inst
        self.mp = monkeypatch

    def __call__(self, jst: str, login: str | None, action: str, **fields: Any) -> int:
        return record_event(self.inst, self.mp, jst, login, action, **fields)


@pytest.fixture
def seeded(installation: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """May 2026 at fm-a: two facilities (09:00-17:00, 09:00-21:00), staff, use at
    night, refusals of every kind, an import with its SHA-256, a dry run, a report."""
    inst = installation
    fm = make_org(inst, "fm-a", term=(dt.date(2026, 4, 1), None))
    make_facility(inst, "fac-a", "senior_welfare_centre", hours=("09:00", "17:00"))
    make_facility(inst, "fac-b", "community_centre", hours=("09:00", "21:00"))
    make_facility(inst, "fac-z", "community_centre", hours=("06:00", "23:00"))  # not fm-a's
    assign(inst, "fac-a", "fm-a", dt.date(2026, 4, 1))
    assign(inst, "fac-b", "fm-a", dt.date(2026, 4, 1))
    make_account(inst, "staff1", "fm-a", facility="fac-a")
    make_account(inst, "staff2", "fm-a", facility="fac-b")
    make_account(inst, "staff3", "fm-a", facility="fac-a")
    make_account(inst, "staff5", "fm-a", facility="fac-b", last_login_at=_at("2026-01-01 10:00"))
    regs = [make_registrant(inst, "fac-a", f"山田{i}郎") for i in range(1, 4)]
    ev = Events(inst, monkeypatch)
    e: dict[str, int] = {}
    e["login"] = ev("2026-05-03 10:00", "staff1", "auth.login")
    for i, r in enumerate(regs):
        e[f"view{i}"] = ev(f"2026-05-03 10:0{i + 1}", "staff1", "registrant.view",
                           resource_type="registrant", resource_id=r, facility_code="fac-a")  # fmt: skip
    e["late"] = ev("2026-05-03 22:30", "staff2", "registrant.view", resource_type="registrant",
                   resource_id=regs[1], facility_code="fac-b")  # fmt: skip
    e["role"] = ev("2026-05-05 13:00", "staff2", "account.grant", outcome="denied",
                   detail={"reason": "role", "role": "operator"})  # fmt: skip
    e["scope"] = ev("2026-05-05 14:00", "staff3", "booking.add", facility_code="fac-b",
                    outcome="denied", detail={"reason": "out_of_scope"})  # fmt: skip
    e["wrong_pw"] = ev("2026-05-06 11:01", "staff1", "auth.login", outcome="failed",
                       resource_type="account", detail={"reason": "wrong_password"})  # fmt: skip
    e["lock"] = ev("2026-05-06 12:00", "staff1", "account.lock", resource_type="account",
                   detail={"minutes": 15, "lock_count": 1})  # fmt: skip
    e["export"] = ev("2026-05-08 15:00", "staff1", "report.export", facility_code="fac-a",
                     detail={"rows": 12, "file": "r.xlsx", "sha256": "ef" * 32})  # fmt: skip
    with Session(inst.engine()) as s, s.begin():
        for kind, name, status, digest, day in (
            ("registrants", "旧台帳.csv", "completed", "ab" * 32, 2),
            ("roster", "名簿_5月.csv", "dry_run", "cd" * 32, 14),
        ):
            s.add(
                ImportBatch(
                    kind=kind,
                    file_name=name,
                    file_sha256=digest,
                    organization_id=fm,
                    status=status,
                    records_read=10,
                    started_at=_at(f"2026-05-{day:02d} 09:30"),
                    finished_at=_at(f"2026-05-{day:02d} 09:31"),
                )
            )
    return {"ev": e, "regs": regs}


def scoped_events(inst: Any, where: str = "1=1") -> list[Any]:
    """The oracle: fm-a's events of May, or events at fm-a's facilities."""
    pg = inst.backend == "postgresql"
    return inst.rows(
        "SELECT seq, occurred_at, login_id, action, facility_code, outcome FROM audit_events"
        " WHERE occurred_at >= :s AND occurred_at < :e"
        " AND (organization_code = 'fm-a' OR facility_code IN ('fac-a', 'fac-b'))"
        f" AND ({where}) ORDER BY seq",
        s=_at("2026-05-01 00:00") if pg else "2026-04-30 15:00:00",
        e=_at("2026-06-01 00:00") if pg else "2026-05-31 15:00:00",
    )


def sheet_rows(ws: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in ws.iter_rows(values_only=True)]


def report(cli: Any, tmp_path: Path, *args: str) -> tuple[Any, Path, Any]:
    import openpyxl

    out = tmp_path / "out" / "report.xlsx"
    out.parent.mkdir(exist_ok=True)
    result = cli("report", "monthly", "--month", MONTH, "--org", "fm-a", "-o", str(out), *args)
    assert result.exit_code == 0, result
    return result, out, openpyxl.load_workbook(out)


def code_labels(*kinds: str) -> dict[str, str]:
    return {code: pair[0] for kind in kinds for code, pair in CODES[kind].items()}


# --- every code translated -------------------------------------------------------------

REPORT_KINDS = (
    "action",
    "outcome",
    "role",
    "account_status",
    "import_kind",
    "import_status",
    "refusal_reason",
    "resource_type",
)


def test_japanese_report_shows_no_raw_code(
    installation: Any, seeded: dict[str, Any], cli: Any, tmp_path: Path
) -> None:
    result, out, wb = report(cli, tmp_path)
    codes = {code for kind in REPORT_KINDS for code in CODES[kind]}
    resource_prefixes = tuple(f"{code}:" for code in CODES["resource_type"])
    nouns = {code.split(".")[0] for code in CODES["action"]}
    seen: list[str] = []
    for ws in wb.worksheets:
        for row in ws.iter_rows(values_only=True):
            for v in row:
                if not isinstance(v, str):
                    continue
                seen.append(v)
                assert v not in codes, (ws.title, v)
                # nor one the vocabulary has yet to name (noun.verb of a known noun)
                code_like = re.fullmatch(r"([a-z_]+)\.[a-z_]+", v)
                assert not (code_like and code_like.group(1) in nouns), (ws.title, v)
                assert not v.startswith(resource_prefixes), (ws.title, v)
                assert "events checked" not in v and "ok:" not in v, (ws.title, v)
    for label in ("範囲外の操作", "利用範囲外", "試行", "名簿", "窓口担当", "有効", "許可", "拒否"):
        assert label in seen, label
    refused = {r[0]: r for r in sheet_rows(wb["拒否・失敗"])[1:]}
    role_denied = seeded["ev"]["role"]
    assert refused[role_denied][5:10] == (
        "アカウント付与", None, None, "拒否", "役割の権限外"
    )  # fmt: skip
    # the messages of the command follow the process's language
    ja = cli("--lang", "ja", "report", "monthly", "--month", "2026-05", "--org", "fm-a",
             "-o", str(tmp_path / "ja.xlsx"))  # fmt: skip
    assert ja.exit_code == 0, ja
    assert "を出力しました" in ja.stderr and "Wrote" not in ja.stderr
    assert re.fullmatch(r"[0-9a-f]{64}  \S+ja\.xlsx\n", ja.stdout)


def test_english_report_keeps_codes_and_western_dates(
    installation: Any, seeded: dict[str, Any], cli: Any, tmp_path: Path
) -> None:
    result, out, wb = report(cli, tmp_path, "--lang", "en")
    activity = sheet_rows(wb["Activity"])
    view = next(r for r in activity if r[0] == seeded["ev"]["view0"])  # staff1, fac-a
    assert (view[4], view[5], view[7]) == (
        "registrant.view", f"registrant:{seeded['regs'][0]}", "allowed"
    )  # fmt: skip
    accounts = {r[1]: r for r in sheet_rows(wb["Accounts"])[1:]}
    assert accounts["staff1"][3] == "operator" and accounts["staff1"][7] == "active"
    cover = {r[0]: r[1] for r in sheet_rows(wb["Summary"]) if r and r[0]}
    assert cover["Month"] == "2026-05"
    assert cover["Period (Japan time)"] == "2026-05-01 – 2026-05-31"
    assert cover["Chain verification"].startswith("intact: ok: ")
    assert wb["Flags"]["C2"].number_format == "yyyy-mm-dd"
    assert "Wrote " in result.stderr


def test_era_western_and_the_title_month(
    installation: Any, seeded: dict[str, Any], cli: Any, tmp_path: Path
) -> None:
    result, out, wb = report(cli, tmp_path, "--era", "western")
    cover = sheet_rows(wb["概要"])
    kv = {r[0]: r[1] for r in cover if r and r[0]}
    assert cover[0][0] == "月次モニタリング報告　2026年5月分"
    assert kv["対象月"] == "2026年5月"
    assert kv["対象期間 (日本時間)"] == "2026-05-01 – 2026-05-31"
    assert wb["要確認事項"]["C2"].number_format == "yyyy-mm-dd"
    # Japanese era: a date cell shown in the era (the value stays a date)
    result, out, wb = report(cli, tmp_path, "--force")
    flags = wb["要確認事項"]
    assert flags["C2"].number_format == '[$-411]ggge"年"m"月"d"日"'
    assert isinstance(flags["C2"].value, dt.datetime)
    dormant = next(r for r in sheet_rows(flags) if r[1] == "休眠アカウント")
    assert "令和8年1月1日" in dormant[5]  # staff5's last login, in the era
    bad = cli("report", "monthly", "--month", "2026-05", "--era", "meiji", "-o",
              str(tmp_path / "x.xlsx"))  # fmt: skip
    assert bad.exit_code == 2


# --- the heat map ------------------------------------------------------------------------


def test_heat_map_covers_the_grid_and_counts_the_events(
    installation: Any, seeded: dict[str, Any], cli: Any, tmp_path: Path
) -> None:
    result, out, wb = report(cli, tmp_path)
    ws = wb["時間帯別の利用"]
    header = [c.value for c in ws[3]]
    assert header[0] == "日付" and header[1:25] == [f"{h}時" for h in range(24)]
    assert header[25:27] == ["計", "うち拒否・失敗"]
    # the oracle: the month's events in scope, by Japan day and hour
    events = scoped_events(installation)
    per_hour = Counter((as_jst(e[1]).day, as_jst(e[1]).hour) for e in events)
    refused = Counter(as_jst(e[1]).day for e in events if e[5] != "allowed")
    for day in range(1, 32):
        row = [c.value for c in ws[3 + day]]
        weekday = wareki.weekday(dt.date(2026, 5, day))
        assert row[0] == f"{day}日({weekday})"
        assert row[1:25] == [per_hour.get((day, h), 0) for h in range(24)], day
        assert row[25] == sum(per_hour.get((day, h), 0) for h in range(24))
        assert row[26] == refused.get(day, 0)
    totals = [c.value for c in ws[35]]
    assert totals[0] == "計" and totals[25] == len(events)
    rules = {str(cf.sqref): cf.rules for cf in ws.conditional_formatting}
    # a real colour scale over exactly the hour x day grid (B4:Y34)
    scale = rules["B4:Y34"]
    assert [r.type for r in scale] == ["colorScale"]
    # fm-a's facilities open 09:00-17:00 and 09:00-21:00: 0時-8時 and 21時-23時 are
    # outside every facility's hours, and any use there gets a red border
    off = rules["B4:J34 W4:Y34"]
    assert [(r.type, r.operator, r.formula) for r in off] == [("cellIs", "greaterThan", ["0"])]
    assert off[0].dxf.border.left.style == "medium" and off[0].dxf.font.b
    assert off[0].priority < scale[0].priority  # first, so LibreOffice shows it too
    assert per_hour[(3, 22)] == 1 and ws["X6"].value == 1  # 3 May 22:30: after closing
    assert ws.page_setup.orientation == "landscape" and ws.page_setup.fitToHeight == 1
    assert ws.print_title_rows == "$3:$3"


# --- the refusals chart ------------------------------------------------------------------


def _cells(wb: Any, ref: str) -> list[Any]:
    """The values a chart reference (``'sheet'!$B$5:$B$9``) points at."""
    sheet, _bang, cells = ref.rpartition("!")
    got = wb[sheet.strip("'")][cells.replace("$", "")]
    if not isinstance(got, tuple):
        return [got.value]
    return [c.value for row in got for c in (row if isinstance(row, tuple) else (row,))]


def test_refusal_charts_point_at_the_counts(
    installation: Any, seeded: dict[str, Any], cli: Any, tmp_path: Path
) -> None:
    from openpyxl.chart import BarChart

    result, out, wb = report(cli, tmp_path)
    ws = wb["拒否の集計"]
    charts = ws._charts
    assert len(charts) == 2 and all(isinstance(c, BarChart) for c in charts)
    refused = scoped_events(
        installation, "outcome IN ('denied', 'failed') OR action = 'account.lock'"
    )
    for chart, which, none in zip(charts, (2, 4), ("(存在しないID)", "(施設なし)"), strict=True):
        assert (chart.type, chart.grouping) == ("bar", "stacked")
        expected: dict[str, list[int]] = {}
        for e in refused:
            name = e[which] if e[which] is not None else none
            kind = 2 if e[3] == "account.lock" else ("denied", "failed").index(e[5])
            expected.setdefault(name, [0, 0, 0])[kind] += 1
        order = sorted(expected, key=lambda k: (-sum(expected[k]), k))
        titles = [_cells(wb, s.tx.strRef.f)[0] for s in chart.series]
        assert titles == ["拒否", "失敗", "ロック"]
        cats = [_cells(wb, (s.cat.strRef or s.cat.numRef).f) for s in chart.series]
        assert cats[0] == order and all(c == cats[0] for c in cats)
        values = [_cells(wb, s.val.numRef.f) for s in chart.series]
        assert [list(v) for v in zip(*values, strict=True)] == [expected[k] for k in order]
        # the chart reads the table: header row, then one row per account/facility
        first = int(re.search(r"\$(\d+):", chart.series[0].val.numRef.f).group(1))
        assert ws.cell(first - 1, 1).value in ("アカウント", "施設")
    cat = charts[1].series[0].cat
    assert "(施設なし)" in _cells(wb, (cat.strRef or cat.numRef).f)  # logins, a lock


# --- the findings drop-down and the sign-off box -------------------------------------


def test_findings_drop_down_and_sign_off_box(
    installation: Any, seeded: dict[str, Any], cli: Any, tmp_path: Path
) -> None:
    result, out, wb = report(cli, tmp_path)
    flags = wb["要確認事項"]
    col = next(c.column_letter for c in flags[1] if c.value == "確認結果 (記入欄)")
    lists = [dv for dv in flags.data_validations.dataValidation if dv.type == "list"]
    assert len(lists) == 1
    dv = lists[0]
    assert str(dv.sqref) == f"{col}2:{col}{flags.max_row}"
    assert dv.formula1 == '"問題なし,照会中,是正を指示,是正済み"' and dv.allow_blank

    cover = wb["概要"]
    row = next(r for r in range(1, 10) if cover.cell(r, 1).value == "確認欄")
    assert [cover.cell(row, c).value for c in range(2, 6)] == ["確認者", "確認日", None, "印"]
    merged = {str(m) for m in cover.merged_cells.ranges}
    assert {f"C{row}:D{row}", f"C{row + 1}:D{row + 1}"} <= merged
    assert cover.row_dimensions[row + 1].height >= 40  # room for a name and a seal
    assert cover.cell(row + 1, 3).value == "令和　　年　　月　　日"
    for r in (row, row + 1):
        for c in range(2, 6):
            border = cover.cell(r, c).border
            assert border.top.style and border.bottom.style, (r, c)
        assert cover.cell(r, 2).border.left.style and cover.cell(r, 5).border.right.style
    assert cover.page_setup.orientation == "portrait" and int(cover.page_setup.paperSize) == 9


# --- fonts, widths and heights ----------------------------------------------------------


def test_one_japanese_font_everywhere(
    installation: Any, seeded: dict[str, Any], cli: Any, tmp_path: Path
) -> None:
    result, out, wb = report(cli, tmp_path)
    with zipfile.ZipFile(out) as z:
        styles = z.read("xl/styles.xml").decode()
        charts = [z.read(n).decode() for n in z.namelist() if n.startswith("xl/charts/")]
    fonts_xml = re.search(r"<fonts[^>]*>(.*)</fonts>", styles, re.S)
    assert fonts_xml is not None
    names = re.findall(r'<name val="([^"]+)"', fonts_xml.group(1))
    assert names and set(names) == {fonts.FONT_NAME}  # the default (font 0) too
    assert charts and all(
        set(re.findall(r'typeface="([^"]+)"', c)) == {fonts.FONT_NAME} for c in charts
    )
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if c.value is not None:
                    assert c.font.name == fonts.FONT_NAME, (ws.title, c.coordinate)


def _merged_width(ws: Any, cell: Any) -> tuple[float, Any]:
    """The width of a cell (its merged range's, whole) and the range, if any."""
    for rng in ws.merged_cells.ranges:
        if cell.coordinate in rng:
            cols = range(rng.min_col, rng.max_col + 1)
            return sum(_width(ws, get_column_letter(c)) for c in cols), rng
    return _width(ws, cell.column_letter), None


def _width(ws: Any, letter: str) -> float:
    dim = ws.column_dimensions.get(letter)
    return dim.width if dim is not None and dim.width else 8.43  # Excel's default


def _lines_shown(ws: Any, row: int, size: float) -> int:
    height = ws.row_dimensions[row].height
    return fonts.lines_shown(height if height else fonts.row_height(1, size), size)


def _overflow_width(ws: Any, cell: Any) -> float:
    """A text that does not wrap may run into the empty cells on its right."""
    width = _width(ws, cell.column_letter)
    col = cell.column + 1
    while col <= ws.max_column and ws.cell(cell.row, col).value is None:
        width += _width(ws, get_column_letter(col))
        col += 1
    return width


def _shown(value: Any, number_format: str) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dt.datetime) and "ggg" in number_format:
        return wareki.date_text(value.date())
    return None


def fit_problems(wb: Any, pages: set[str], tables: set[str]) -> list[str]:
    """Every text of a page sheet and every heading of a table, every era date and every
    SHA-256 anywhere, checked against its column width and row height."""
    problems = []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                text = _shown(c.value, c.number_format)
                if text is None or not text.strip():
                    continue
                is_hash = bool(re.fullmatch(r"[0-9a-f]{64}", text))
                is_date = not isinstance(c.value, str)
                heading = ws.title in pages or (ws.title in tables and c.row == 1)
                if not (heading or is_hash or is_date):
                    continue
                size = c.font.sz or fonts.FONT_SIZE
                width, merged = _merged_width(ws, c)
                if c.alignment.wrap_text:
                    need = fonts.wrapped_lines(text, width, size)
                    shown = _lines_shown(ws, c.row, size)
                    if need > shown:
                        problems.append(
                            f"{ws.title}!{c.coordinate} {text!r}: {need} lines, {shown}"
                        )
                    continue
                room = width if (merged or is_date or is_hash) else _overflow_width(ws, c)
                if fonts.text_pt(text, size) > fonts.capacity_pt(room):
                    problems.append(f"{ws.title}!{c.coordinate} {text!r}: wider than {room}")
    return problems


TABLES = {"アカウント", "利用履歴", "拒否・失敗", "重複確認検索", "取込・出力", "要確認事項"}
PAGES = {"概要", "時間帯別の利用", "拒否の集計"}


def test_no_heading_is_clipped_and_every_hash_prints_whole(
    installation: Any, seeded: dict[str, Any], cli: Any, tmp_path: Path
) -> None:
    result, out, wb = report(cli, tmp_path)
    assert set(wb.sheetnames) == TABLES | PAGES
    assert fit_problems(wb, PAGES, TABLES) == []
    # the headings the issue names wrap, in rows tall enough for them
    accounts = wb["アカウント"]
    for title in ("パスワード経過日数", "当月のロック回数"):
        c = next(c for c in accounts[1] if c.value == title)
        assert c.alignment.wrap_text
        need = fonts.wrapped_lines(title, _width(accounts, c.column_letter))
        assert need >= 2 and _lines_shown(accounts, 1, fonts.FONT_SIZE) >= need
        assert c.alignment.horizontal == "right"  # over its numbers
    # every SHA-256 of the report: the chain head on the cover, files imported and
    # exported (64 characters on two lines of the merged cell / the hash column)
    hashes = [
        c
        for ws in wb.worksheets
        for row in ws.iter_rows()
        for c in row
        if isinstance(c.value, str) and re.fullmatch(r"[0-9a-f]{64}", c.value)
    ]
    where = Counter(c.parent.title for c in hashes)
    assert where["概要"] == 1 and where["取込・出力"] >= 2
    for c in hashes:
        assert c.alignment.wrap_text and _lines_shown(c.parent, c.row, fonts.FONT_SIZE) >= 2
    imports = wb["取込・出力"]
    sha = next(c for c in imports[1] if c.value == "SHA-256")
    # half a hash per line: 32 characters fit, so the 64 make exactly two lines
    assert fonts.wrapped_lines("0" * 64, _width(imports, sha.column_letter)) == 2


def test_the_english_report_fits_too(
    installation: Any, seeded: dict[str, Any], cli: Any, tmp_path: Path
) -> None:
    result, out, wb = report(cli, tmp_path, "--lang", "en")
    tables = {"Accounts", "Activity", "Refused", "Duplicate checks", "Imports and exports", "Flags"}
    pages = {"Summary", "Activity by hour", "Refusals by account"}
    assert fit_problems(wb, pages, tables) == []


def test_metrics_layout_rules() -> None:
    # fixed pitch: full-width 1 em, half-width 1/2 em (digits, Latin, half-width kana)
    assert fonts.text_em("パスワード経過日数") == 9
    assert fonts.text_em("0123456789abcdef") == 8 and fonts.text_em("ｱｲｳ") == 1.5
    # Excel's width unit: the default font's digit in whole pixels (11 pt: 7 px)
    assert fonts.digit_px() == 7 and fonts.capacity_pt(10) == pytest.approx(48.75)
    assert fonts.wrapped_lines("a" * 64, fonts.width_for("0" * 32)) == 2
    assert fonts.wrapped_lines("Password age (days)", 10) == 3
    # 、 and 」 never start a line: the character before them moves down with them
    assert fonts.wrapped_lines("あいうえ、", fonts.width_for("あいうえ")) == 2
    assert fonts.wrapped_lines("line one\nline two", 40) == 2
    assert fonts.lines_shown(fonts.row_height(3)) == 3


def test_metrics_table_is_the_font_files() -> None:
    """The committed advance widths are the installed font's (where fontTools and the
    font are installed: ``apt-get install fonts-morisawa-bizud-gothic``)."""
    ttlib = pytest.importorskip("fontTools.ttLib")
    path = Path("/usr/share/fonts/truetype/bizud-gothic/BIZUDGothic-Regular.ttf")
    if not path.exists():
        found = shutil.which("fc-match")
        if found is None:
            pytest.skip("the font BIZ UDGothic is not installed")
        import subprocess

        path = Path(
            subprocess.run(
                [found, "-f", "%{file}", "BIZ UDGothic"], capture_output=True, text=True
            ).stdout
        )
        if "BIZUDGothic" not in path.name:
            pytest.skip("the font BIZ UDGothic is not installed")
    font = ttlib.TTFont(str(path))
    assert font["head"].unitsPerEm == fonts.UNITS_PER_EM
    assert (font["OS/2"].usWinAscent, font["OS/2"].usWinDescent) == (fonts.ASCENT, fonts.DESCENT)
    generated = fonts.generate(str(path))
    table = "\n".join(f"    (0x{a:04X}, 0x{b:04X})," for a, b in fonts.HALF_WIDTH)
    assert generated == table


# --- make print-check ----------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "print_check.sh"


def test_print_check_says_how_to_install_libreoffice(tmp_path: Path) -> None:
    import subprocess

    # a PATH with the shell's helpers and no soffice
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "mktemp", "rm", "mkdir"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    bash = shutil.which("bash")
    assert bash is not None
    proc = subprocess.run(
        [bash, str(SCRIPT), str(tmp_path / "out")],
        env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 1
    assert "LibreOffice (soffice) is not installed" in proc.stderr
    assert "apt-get install -y libreoffice-calc poppler-utils fonts-morisawa-bizud-gothic" in (
        proc.stderr
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_print_check_prints_the_report(tmp_path: Path) -> None:
    import subprocess

    if not (shutil.which("soffice") or shutil.which("libreoffice")) or not shutil.which("pdftoppm"):
        pytest.skip("LibreOffice or poppler-utils not installed: apt-get install libreoffice-calc")
    fc = subprocess.run(["fc-list", ":", "family"], capture_output=True, text=True)
    if "BIZ UDGothic" not in fc.stdout:
        pytest.skip("the report's font: apt-get install fonts-morisawa-bizud-gothic")
    out = tmp_path / "print"
    proc = subprocess.run(
        ["bash", str(SCRIPT), str(out)], capture_output=True, text=True, cwd=ROOT, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    pictures = sorted(out.glob("report-*.png"))
    assert len(pictures) == len(TABLES | PAGES)
    assert (out / "page-01.png").read_bytes().startswith(b"\x89PNG")
    text = subprocess.run(
        ["pdftotext", "-layout", str(out / "report.pdf"), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert re.search(r"月次モニタリング報告\s+令和8年5月分", text) and "確認欄" in text
    assert "パスワード経過日数" not in text  # wrapped: パスワード / 経過日数, never cut
    assert "パスワード" in text and "経過日数" in text
    # the chain head hash on the cover prints whole, over two lines
    import openpyxl

    cover = openpyxl.load_workbook(out / "report.xlsx")["概要"]
    head = next(r[1] for r in cover.iter_rows(values_only=True) if r[0] == "最終ハッシュ")
    printed = re.sub(r"\s+", "", text)
    assert head in printed
