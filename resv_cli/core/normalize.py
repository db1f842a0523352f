"""Japanese-aware search keys for names and readings.

Names are stored exactly as received (NFC); these *keys* are what searches and
duplicate checks compare.  A key folds what staff type differently for the same
person: character width (ＡＢ/AB, ｶﾅ/カナ), spacing (full- and half-width spaces,
none), kana form (ひらがな/カタカナ) and variant kanji (髙/高, 﨑/崎, 齋/斎 ...).
The key is never shown; NFKC is safe here because the key is not stored as the
name.  (The legacy importer extends this module with dates, phones, addresses.)
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from resv_cli.core.i18n import _

# 異体字: variant -> common form.  Only pairs that registry clerks treat as the
# same person's name when checking duplicates.
VARIANT_KANJI = {
    "髙": "高",
    "﨑": "崎",
    "嵜": "崎",
    "碕": "崎",
    "齋": "斎",
    "齊": "斉",
    "斋": "斎",
    "邊": "辺",
    "邉": "辺",
    "澤": "沢",
    "濱": "浜",
    "濵": "浜",
    "櫻": "桜",
    "廣": "広",
    "國": "国",
    "嶋": "島",
    "嶌": "島",
    "眞": "真",
    "冨": "富",
    "惠": "恵",
    "德": "徳",
    "瀨": "瀬",
    "槇": "槙",
    "桒": "桑",
    "曻": "昇",
    "彌": "弥",
    "藪": "薮",
    "埜": "野",
    "籠": "篭",
    "鷗": "鴎",
    "祐": "祐",
    "禮": "礼",
    "實": "実",
    "壽": "寿",
    "榮": "栄",
    "龍": "竜",
    "淺": "浅",
    "圓": "円",
    "關": "関",
    "萬": "万",
    "驒": "騨",
    "舘": "館",
    "隆": "隆",
    "塚": "塚",
    "﨔": "欅",
    "靍": "鶴",
    "靏": "鶴",
    "鷆": "鷏",
}
# spaces of every width, middle dots and similar separators in names
_SEPARATORS = re.compile(r"[\s\u3000\u30fb\uff65\u00b7・･,，、.．]+")

# translate() looks every character up in a dict: search first (C speed), then
# translate (a name or reading is folded once per record of a legacy import)
_VARIANTS = str.maketrans(VARIANT_KANJI)
_HAS_VARIANT = re.compile("[" + re.escape("".join(VARIANT_KANJI)) + "]")
# hiragana (ゔ and the small forms included) and the iteration marks ゝゞ
_HIRA_TO_KATA = str.maketrans(
    {**{c: c + 0x60 for c in range(0x3041, 0x3097)}, 0x309D: 0x30FD, 0x309E: 0x30FE}
)
_HAS_HIRA = re.compile("[\u3041-\u3096\u309d\u309e]")
_is_normalized = unicodedata.is_normalized


def to_katakana(text: str) -> str:
    """Hiragana to katakana (ゔ and the small forms included)."""
    return text.translate(_HIRA_TO_KATA) if _HAS_HIRA.search(text) else text


# One translate pass does what the keys need after NFKC: separators out, variant
# kanji to their common form, hiragana to katakana (the three sets are disjoint, so
# one table gives what the three steps give in turn).  The separators: what
# ``_SEPARATORS`` matches, its \s being exactly the characters of str.isspace.
# (no space character lies above U+3000: a test checks it, so import stays quick)
SPACE_CHARS = [c for c in range(0x3001) if chr(c).isspace()]
_SEPARATOR_CHARS = SPACE_CHARS + [ord(c) for c in "\u30fb\uff65\u00b7・･,，、.．"]
_KANA_KEY = str.maketrans({**_HIRA_TO_KATA, **dict.fromkeys(_SEPARATOR_CHARS)})
_NAME_KEY = str.maketrans({**_KANA_KEY, **_VARIANTS})


@lru_cache(maxsize=1 << 14)
def name_key(name: str) -> str:
    """Return the folded search key of a person's or group's name."""
    return unicodedata.normalize("NFKC", name).translate(_NAME_KEY).casefold()


def kana_key(kana: str) -> str:
    """Return the folded search key of a reading (フリガナ)."""
    return unicodedata.normalize("NFKC", kana).translate(_KANA_KEY)


def nfc(text: str) -> str:
    """Return text as stored: NFC, outer whitespace trimmed, nothing else changed.

    What a clerk types is kept as typed, line breaks included (see
    ``nfc_one_line`` for a cell of a legacy file).
    """
    if text.isascii() or _is_normalized("NFC", text):
        return text.strip()
    return unicodedata.normalize("NFC", text).strip()


def nfc_one_line(text: str) -> str:
    """Return a file cell as stored: ``nfc``, and line breaks folded into one space.

    A line break inside a quoted field of a legacy export is a wrapped cell, not
    part of the name: its lines are trimmed and joined by one space (blank lines
    dropped), as the importer does for addresses.
    """
    if "\n" in text or "\r" in text:
        text = " ".join(part.strip() for part in text.splitlines() if part.strip())
    return nfc(text)


# --- the input rule -----------------------------------------------------------------
#
# One rule for every text that enters (the counter, the importer, rosters, names of
# organisations and facilities, scope rules and policy files, free-text reasons):
# no control character (a line break only where the field allows one), and no
# value longer than its column.  The reason names the field and the position, never
# the value: it may be written to an error line, a rejects file or the audit history.

# the cap of a text with no length in the schema (a TEXT column): a note, not a file
TEXT_MAX = 2000
# a reason or purpose a person types, kept in an audit event's detail
REASON_MAX = 200
# C0 and C1 controls, DEL, and the Unicode line and paragraph separators; the
# second form lets CR and LF through, for a field that keeps or folds line breaks
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
CONTROL_EXCEPT_LINE_BREAKS = re.compile("[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")


def max_len(column: object) -> int:
    """The most characters a column holds: its ``String(N)`` length, or ``TEXT_MAX``.

    ``column`` is a mapped attribute (``Organization.name``), so a field's limit is
    written once, in the table definition.
    """
    length = getattr(getattr(column, "type", None), "length", None)
    return int(length) if length else TEXT_MAX


def control_problem(value: str, *, line_breaks: bool = False) -> str | None:
    """The first control character of ``value`` by code point and 1-based position, or None.

    CR and LF count as control characters unless ``line_breaks``.
    """
    m = (CONTROL_EXCEPT_LINE_BREAKS if line_breaks else CONTROL).search(value)
    if m is None:
        return None
    return _("control character U+{code:04X} at position {position}").format(
        code=ord(m.group()), position=m.start() + 1
    )


def length_problem(stored: str, max_len: int) -> str | None:
    """Why the value as stored is too long, or None."""
    if len(stored) > max_len:
        return _("longer than {max} characters (got {n})").format(max=max_len, n=len(stored))
    return None


def text_problem(value: str, max_len: int, *, line_breaks: bool = False) -> str | None:
    """Why ``value`` may not enter (control character, too long as stored), or None.

    For importers that reject a row naming its column; ``check_text`` raises it.
    """
    return control_problem(value, line_breaks=line_breaks) or length_problem(nfc(value), max_len)


def check_text(field: str, value: str, *, max_len: int, line_breaks: bool = False) -> str:
    """Return ``value`` as stored (``nfc``) or raise ``InputError`` "FIELD: reason".

    Refused: a control character (CR and LF too unless ``line_breaks``), and more
    than ``max_len`` characters as stored.  The reason names the field and the
    position, never the value.  Line breaks, where allowed, are kept: a caller that
    folds them applies ``nfc_one_line`` to the result.
    """
    reason = text_problem(value, max_len, line_breaks=line_breaks)
    if reason is not None:
        from resv_cli.core.errors import InputError

        raise InputError(f"{field}: {reason}")
    return nfc(value)
