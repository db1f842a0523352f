"""Dates in the Japanese era (和暦) as a city document writes them: 令和8年11月3日.

The era boundaries are the ones the whole project reads 和暦 input with
(``resv_cli.core.jpnorm.ERAS``: 明治..令和, official first and last days), so what
is typed and what is printed agree.  The first year of an era is 元年 (令和元年5月1日,
平成元年1月8日); the day before a new era still belongs to the old one
(2019-04-30 is 平成31年4月30日, 1989-01-07 is 昭和64年1月7日).

No library: the two maintained candidates (japanera, jpdatetime) carry the whole
list of historical eras and their own boundaries (a second table that could
disagree with the one input is parsed with), and one installs a top-level ``test``
package; five modern eras and the 元年 rule are a few lines.

Spreadsheets: ``number_format`` gives the Excel/LibreOffice format that shows a
real date cell in the era (``[$-411]ggge"年"m"月"d"日"``; for a first year the era
name with a literal 元年, which both programs print, where their own ``e`` would
print 1).
"""

from __future__ import annotations

import datetime as dt

from resv_cli.core.jpnorm import ERAS

ABBREVIATIONS = {"明治": "M", "大正": "T", "昭和": "S", "平成": "H", "令和": "R"}
# (name, first day), latest first
_ERAS = sorted(((name, first) for name, (first, _last) in ERAS.items()), key=lambda e: e[1])[::-1]
WEEKDAYS = "月火水木金土日"

_NUMBER_FORMAT = '[$-411]ggge"年"m"月"d"日"'
_NUMBER_FORMAT_FIRST = '[$-411]ggg"元年"m"月"d"日"'


def era_of(day: dt.date) -> tuple[str, int] | None:
    """(era name, year of the era) of ``day``; None before 明治 (1868-10-23)."""
    if isinstance(day, dt.datetime):
        day = day.date()
    for name, first in _ERAS:
        if day >= first:
            return name, day.year - first.year + 1
    return None


def year_text(year: int) -> str:
    """``元年`` for the first year of an era, else ``8年``."""
    return "元年" if year == 1 else f"{year}年"


def date_text(day: dt.date) -> str:
    """``令和8年11月3日`` (a date before 明治: ``1860-01-01``)."""
    era = era_of(day)
    if era is None:
        return day.isoformat()
    name, year = era
    return f"{name}{year_text(year)}{day.month}月{day.day}日"


def month_text(year: int, month: int) -> str:
    """``令和8年11月``: the era of the month's first day (``2019-05``: 令和元年5月)."""
    era = era_of(dt.date(year, month, 1))
    if era is None:
        return f"{year}-{month:02d}"
    name, era_year = era
    return f"{name}{year_text(era_year)}{month}月"


def short_text(day: dt.date) -> str:
    """The short form of forms and English text: ``R8.11.3`` (first year ``R1``)."""
    era = era_of(day)
    if era is None:
        return day.isoformat()
    return f"{ABBREVIATIONS[era[0]]}{era[1]}.{day.month}.{day.day}"


def number_format(day: dt.date) -> str:
    """The cell format that prints ``day`` in the era in Excel and LibreOffice."""
    era = era_of(day)
    if era is not None and era[1] == 1:
        return _NUMBER_FORMAT_FIRST
    return _NUMBER_FORMAT


def weekday(day: dt.date) -> str:
    """``金``: the day of the week as a Japanese calendar prints it."""
    return WEEKDAYS[day.weekday()]
