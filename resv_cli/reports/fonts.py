"""The report's font and the page geometry worked out from its metrics.

Every cell, chart and heading of the monthly report is set in **BIZ UDゴシック**
(BIZ UDGothic, Morisawa's universal-design Gothic), 11 pt:

* it is on the city's PCs: Windows 10 (October 2018 update) and 11 ship it
  (Settings: BIZ UDゴシック / BIZ UDPゴシック), so Excel prints the report with it;
* the same family is free software (SIL OFL 1.1; Debian/Ubuntu package
  ``fonts-morisawa-bizud-gothic``), so LibreOffice prints it the same way here and in
  CI (``make print-check``); fontconfig matches the Japanese name as well as
  "BIZ UDGothic";
* it is fixed-pitch: every full-width character is 1 em, every half-width one ½ em
  (digits, Latin, half-width kana), the same in both builds, so a column sized here
  holds the same text in Excel and in LibreOffice, and a SHA-256 (64 half-width
  characters) is exactly 32 em;
* its Latin and kana share one baseline (the issue's Calibri + fallback made the
  baseline jump mid-line).

The advance widths below were read from the font file with fontTools, not
guessed: ``python -m resv_cli.reports.fonts FILE.ttf`` prints this table again
(Debian's file: /usr/share/fonts/truetype/bizud-gothic/BIZUDGothic-Regular.ttf).
Source: BIZ UDGothic Regular and Bold, version 1.05, Debian
``fonts-morisawa-bizud-gothic`` 1.05-2; unitsPerEm 2048, half-width advance 1024,
full-width 2048, winAscent 1802, winDescent 246; Bold has the same advances.
A character the font lacks is counted full-width (the wider guess).

Column widths follow Excel's definition (ECMA-376 §18.3.1.13): a width of *w* is
*w* times the maximum digit width of the workbook's default font in whole pixels
(96 dpi), 5 pixels of which are cell padding.  ``capacity_pt`` uses that
(rounded down), which is what Excel gives and no more than what LibreOffice gives.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from functools import lru_cache

FONT_NAME = "BIZ UDゴシック"
FONT_NAME_EN = "BIZ UDGothic"  # the family's English name (fontconfig, docs)
FONT_SIZE = 11.0  # points; headings, cells and charts
FONT_PACKAGE = "fonts-morisawa-bizud-gothic"  # Debian/Ubuntu

UNITS_PER_EM = 2048
ASCENT = 1802  # OS/2 winAscent (= hhea ascent)
DESCENT = 246  # OS/2 winDescent
HALF_WIDTH_EM = 0.5

# Code points whose advance is half an em (1024 units); every other one is one em.
HALF_WIDTH: tuple[tuple[int, int], ...] = (
    (0x0020, 0x007E),
    (0x00A0, 0x00A6),
    (0x00A9, 0x00AF),
    (0x00B2, 0x00B3),
    (0x00B5, 0x00B5),
    (0x00B7, 0x00D6),
    (0x00D8, 0x00F6),
    (0x00F8, 0x017F),
    (0x0192, 0x0193),
    (0x01C2, 0x01C2),
    (0x01F8, 0x01F9),
    (0x01FD, 0x01FD),
    (0x0250, 0x025A),
    (0x025C, 0x025C),
    (0x025E, 0x0261),
    (0x0264, 0x0268),
    (0x026C, 0x0273),
    (0x0275, 0x0275),
    (0x0279, 0x027B),
    (0x027D, 0x027E),
    (0x0281, 0x0284),
    (0x0288, 0x028E),
    (0x0290, 0x0292),
    (0x0294, 0x0295),
    (0x0298, 0x0298),
    (0x029D, 0x029D),
    (0x02A1, 0x02A2),
    (0x02C6, 0x02C8),
    (0x02CC, 0x02CC),
    (0x02D0, 0x02D1),
    (0x02D8, 0x02DE),
    (0x02E5, 0x02E9),
    (0x0300, 0x0304),
    (0x0306, 0x0306),
    (0x0308, 0x0308),
    (0x030B, 0x030C),
    (0x030F, 0x030F),
    (0x0318, 0x031A),
    (0x031C, 0x0320),
    (0x0324, 0x0325),
    (0x0329, 0x032A),
    (0x032C, 0x032C),
    (0x032F, 0x0330),
    (0x0334, 0x0334),
    (0x0339, 0x033D),
    (0x0361, 0x0361),
    (0x0384, 0x0385),
    (0x03C2, 0x03C2),
    (0x1E3E, 0x1E3F),
    (0x1F70, 0x1F73),
    (0x2013, 0x2014),
    (0x201A, 0x201A),
    (0x201E, 0x201E),
    (0x2022, 0x2022),
    (0x2039, 0x203A),
    (0x203C, 0x203C),
    (0x203E, 0x203F),
    (0x2042, 0x2042),
    (0x2044, 0x2044),
    (0x2047, 0x2049),
    (0x2074, 0x2074),
    (0x20AC, 0x20AC),
    (0x210F, 0x210F),
    (0x2113, 0x2113),
    (0x2122, 0x2122),
    (0x2127, 0x2127),
    (0x2135, 0x2135),
    (0x2153, 0x2155),
    (0x2194, 0x2194),
    (0x2196, 0x2199),
    (0x21C4, 0x21C4),
    (0x21E6, 0x21E9),
    (0x2205, 0x2205),
    (0x2209, 0x2209),
    (0x2212, 0x2213),
    (0x2226, 0x2226),
    (0x2243, 0x2243),
    (0x2245, 0x2245),
    (0x2248, 0x2248),
    (0x2262, 0x2262),
    (0x2264, 0x2265),
    (0x2276, 0x2277),
    (0x2284, 0x2285),
    (0x228A, 0x228B),
    (0x2295, 0x2297),
    (0x22DA, 0x22DB),
    (0x2305, 0x2306),
    (0x25B1, 0x25B1),
    (0x25B6, 0x25B7),
    (0x25C0, 0x25C1),
    (0x25C9, 0x25CA),
    (0x25D0, 0x25D3),
    (0x25E6, 0x25E6),
    (0x2660, 0x2667),
    (0x2669, 0x2669),
    (0x266B, 0x266C),
    (0x266E, 0x266E),
    (0x2934, 0x2935),
    (0x29FA, 0x29FB),
    (0xFB01, 0xFB02),
    (0xFF61, 0xFF9F),
)
_STARTS = [start for start, _end in HALF_WIDTH]

# Line spacing of a wrapped cell, in ems of its font (the font's ascent + descent is
# exactly 1 em; Excel and LibreOffice add leading), and the cell's top + bottom padding.
LINE_EM = (ASCENT + DESCENT) / UNITS_PER_EM * 1.25
ROW_PADDING_PT = 4.0
PX_PER_PT = 96 / 72
CELL_PADDING_PX = 5

# No line may begin with these (行頭禁則) or end with those (行末禁則): Excel and
# LibreOffice carry the character before over, so a line may hold one less.
_NO_LINE_START = frozenset(
    "、。，．,.・：；:;？！?!ー)）]］}｝〕〉》」』】ゝゞ々ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ"
)
_NO_LINE_END = frozenset("(（[［{｛〔〈《「『【")


def char_em(ch: str) -> float:
    """The advance of one character in ems (½ or 1)."""
    cp = ord(ch)
    if cp < 0x7F:
        return HALF_WIDTH_EM if cp >= 0x20 else 0.0
    i = bisect_right(_STARTS, cp) - 1
    if i >= 0 and cp <= HALF_WIDTH[i][1]:
        return HALF_WIDTH_EM
    return 1.0


@lru_cache(maxsize=4096)
def text_em(text: str) -> float:
    """The width of a line of ``text`` in ems."""
    if text.isascii():
        return HALF_WIDTH_EM * sum(1 for c in text if c >= " ")
    return sum(char_em(c) for c in text)


def text_pt(text: str, size: float = FONT_SIZE) -> float:
    return text_em(text) * size


def digit_px(size: float = FONT_SIZE) -> int:
    """Excel's maximum digit width of the default font, in whole pixels."""
    return math.floor(HALF_WIDTH_EM * size * PX_PER_PT)


def capacity_pt(width: float) -> float:
    """How wide a text may be, in points, in a column of ``width`` (Excel's units)."""
    return (width * digit_px() - CELL_PADDING_PX) / PX_PER_PT


def width_for(text: str, size: float = FONT_SIZE, *, minimum: float = 0) -> float:
    """The narrowest column width (to a half unit) that holds ``text`` on one line."""
    px = text_pt(text, size) * PX_PER_PT + CELL_PADDING_PX
    return max(minimum, math.ceil(px / digit_px() * 2) / 2)


def _pieces(text: str) -> list[str]:
    """``text`` cut where a line may break: at spaces (kept) and around wide characters."""
    out: list[str] = []
    word = ""
    for ch in text:
        wide = char_em(ch) == 1.0
        if ch == " ":
            out.append(word + ch)
            word = ""
        elif wide:
            if word:
                out.append(word)
            out.append(ch)
            word = ""
        else:
            word += ch
    if word:
        out.append(word)
    # keep a character that may not start a line with the piece before it, and one
    # that may not end a line with the piece after it
    joined: list[str] = []
    for piece in out:
        if joined and (piece[0] in _NO_LINE_START or joined[-1][-1] in _NO_LINE_END):
            joined[-1] += piece
        else:
            joined.append(piece)
    return joined


def wrapped_lines(text: str, width: float, size: float = FONT_SIZE) -> int:
    """How many lines ``text`` takes in a wrapping cell of column ``width`` (at least 1).

    Greedy, as Excel and LibreOffice wrap: at spaces and between Japanese
    characters, never before 、。」 and the like; a word longer than the line is cut.
    """
    room = capacity_pt(width)
    if room <= 0:
        raise ValueError(f"column width {width} holds no text")
    text = str(text)
    if "\n" not in text and text_pt(text, size) <= room:
        return 1  # the common case: it fits
    lines = 0
    for paragraph in str(text).split("\n"):
        lines += 1
        used = 0.0
        for piece in _pieces(paragraph):
            word = piece.rstrip(" ")
            if used and used + text_pt(word, size) > room:
                lines += 1
                used = 0.0
            if text_pt(word, size) > room:  # a word wider than the line is cut anywhere
                for ch in word:
                    w = char_em(ch) * size
                    if used and used + w > room:
                        lines += 1
                        used = 0.0
                    used += w
                used += text_pt(piece[len(word) :], size)
            else:
                used += text_pt(piece, size)
    return lines


def row_height(lines: int, size: float = FONT_SIZE) -> float:
    """The row height, in points, that shows ``lines`` lines of text of ``size``."""
    # rounded up to a tenth of a point: never a hair short of the last line
    return math.ceil((lines * size * LINE_EM + ROW_PADDING_PT) * 10) / 10


def lines_shown(height: float, size: float = FONT_SIZE) -> int:
    """How many whole lines of ``size`` a row of ``height`` points shows."""
    return int((height - ROW_PADDING_PT + 0.01) // (size * LINE_EM))


def generate(path: str) -> str:
    """``HALF_WIDTH`` read again from a font file (needs fontTools)."""
    from fontTools.ttLib import TTFont

    font = TTFont(path)
    upm = font["head"].unitsPerEm
    metrics = font["hmtx"].metrics
    ranges: list[list[int]] = []
    for cp, glyph in sorted(font.getBestCmap().items()):
        if metrics[glyph][0] * 2 != upm:
            continue
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    return "\n".join(f"    (0x{a:04X}, 0x{b:04X})," for a, b in ranges)


if __name__ == "__main__":  # pragma: no cover - a maintenance tool
    import sys

    print(generate(sys.argv[1]))
