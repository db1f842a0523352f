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
_VARIANT_TABLE = str.maketrans(VARIANT_KANJI)
# spaces of every width, middle dots and similar separators in names
_SEPARATORS = re.compile(r"[\s\u3000\u30fb\uff65\u00b7・･,，、.．]+")
_HIRAGANA_START, _HIRAGANA_END = 0x3041, 0x3096


def to_katakana(text: str) -> str:
    """Hiragana to katakana (ゔ and the small forms included)."""
    return "".join(
        chr(ord(c) + 0x60) if _HIRAGANA_START <= ord(c) <= _HIRAGANA_END or c in "ゝゞ" else c
        for c in text
    )


def name_key(name: str) -> str:
    """Return the folded search key of a person's or group's name."""
    text = unicodedata.normalize("NFKC", name).translate(_VARIANT_TABLE)
    text = _SEPARATORS.sub("", text)
    return to_katakana(text).casefold()


def kana_key(kana: str) -> str:
    """Return the folded search key of a reading (フリガナ)."""
    text = unicodedata.normalize("NFKC", kana)
    text = _SEPARATORS.sub("", text)
    return to_katakana(text)


def nfc(text: str) -> str:
    """Return text as stored: NFC, outer whitespace trimmed, nothing else changed."""
    return unicodedata.normalize("NFC", text).strip()
