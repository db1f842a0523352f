"""Japanese-aware normalisers for legacy registrant fields.

Each function takes the raw text of one field and returns the stored form, or
raises ``FieldError`` with a reason fit for the rejects file (never the value
itself: the reason must not carry personal data).

Choices (see docs/guide-migration.md):

* names are stored as received (``resv_cli.core.normalize.nfc_one_line``: NFC,
  outer spaces trimmed, a wrapped cell's line breaks folded); the search key is
  ``resv_cli.core.normalize.name_key`` (width, spacing, kana form, variant kanji);
* readings: half-width ｶﾅ become full-width through the Unicode compatibility
  mapping (stdlib ``unicodedata`` NFKC, which joins ｶﾞ into ガ) -- safe *only*
  here, because a reading must be kana and anything else is rejected; jaconv did
  the same 20x slower (a per-character Python loop).  NFKC is never applied to
  stored names or addresses: it rewrites ㈱, ① and friends;
* dates of birth: a small parser for the Japanese era forms, written here because
  no maintained library both accepts the abbreviations exporters write (S15.3.2,
  H1.1.8, era-code columns) and rejects a date outside its era with a reason;
  the era boundaries are the official ones;
* phones, postal codes, addresses: ``str.translate`` tables and precompiled
  regular expressions; results of the normalisers that see repeated values
  (dates, names, readings) are cached; a plain postal code skips the expression.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from functools import lru_cache

from resv_cli.core.i18n import N_, _
from resv_cli.core.normalize import _HIRA_TO_KATA, SPACE_CHARS


class FieldError(ValueError):
    """A field value that cannot be imported; the message is the reason (as people read it).

    ``reason``: the English reason it was made from, for code that tells reasons
    apart (``exc.reason == NOT_A_DATE``): the message is in the reader's language.
    """

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = message if reason is None else reason


def refuse(reason: str) -> FieldError:
    """The ``FieldError`` of a reason marked ``N_`` (translated only when a value is refused)."""
    return FieldError(_(reason), reason)


# --- character tables ------------------------------------------------------------------

_FW_DIGITS: dict[int, str | int] = {ord("０") + i: ord("0") + i for i in range(10)}
# every dash a clerk or an exporter writes between digits
DASHES = "-－ー‐−–—―‑ｰ─━"
_DIGITS_AND_DASHES = str.maketrans({**_FW_DIGITS, **{ord(c): "-" for c in DASHES}})
_FW_DIGITS_TABLE = str.maketrans(_FW_DIGITS)
_SPACES = re.compile(r"[\s\u3000]+")


_is_normalized = unicodedata.is_normalized


# Private-use characters: what cp932 decodes its user-defined area (外字, bytes
# F040-F9FC) and the bytes FD-FF to.  The real character is lost; such a value is
# rejected rather than stored as a character that no other system can show.
PRIVATE_USE = re.compile("[\ue000-\uf8ff]")


# --- readings --------------------------------------------------------------------------

_KANA_OK = re.compile(r"[\u30a0-\u30ff\u3000 ・]+")


_HALF_KANA = re.compile(r"[\uff61-\uff9f]")
# one pass: hiragana to katakana, every space (what \s matches, and U+3000) to U+3000
_READING = str.maketrans({**_HIRA_TO_KATA, **dict.fromkeys(SPACE_CHARS, 0x3000)})
_SPACE_RUN = re.compile("\u3000{2,}")
_READING_CACHE: dict[str, tuple[str, str] | str] = {}
_CACHE_MAX = 1 << 14
NOT_KANA = N_("reading must be written in kana")


def reading(text: str) -> tuple[str, str]:
    """Return (stored reading in full-width katakana, its search key).

    Half-width ｶﾅ become full-width (ｶﾞ joined into ガ); hiragana becomes katakana.
    """
    got = _READING_CACHE.get(text)
    if got is None:
        got = _reading(text)
        if len(_READING_CACHE) < _CACHE_MAX:
            _READING_CACHE[text] = got
    if isinstance(got, str):
        raise refuse(got)
    return got


def _reading(raw: str) -> tuple[str, str] | str:
    text = raw.strip()
    if _HALF_KANA.search(text):
        # half-width ｶﾅ (U+FF61-FF9F): NFKC maps exactly these to full-width kana,
        # joining ｶﾞ into ガ; anything else NFKC touches is refused below anyway
        text = unicodedata.normalize("NFKC", text)
    elif not _is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    text = text.translate(_READING)
    if "\u3000\u3000" in text:
        text = _SPACE_RUN.sub("\u3000", text)
    if not _KANA_OK.fullmatch(text):
        return NOT_KANA
    # the key drops the separators; in a text of kana only, those are U+3000 and ・
    key = text
    if "\u3000" in key:
        key = key.replace("\u3000", "")
    if "・" in key:
        key = key.replace("・", "")
    return text, key


# --- dates of birth --------------------------------------------------------------------

# (names, first day, last day) -- official boundaries
ERAS: dict[str, tuple[dt.date, dt.date | None]] = {
    "明治": (dt.date(1868, 10, 23), dt.date(1912, 7, 29)),
    "大正": (dt.date(1912, 7, 30), dt.date(1926, 12, 24)),
    "昭和": (dt.date(1926, 12, 25), dt.date(1989, 1, 7)),
    "平成": (dt.date(1989, 1, 8), dt.date(2019, 4, 30)),
    "令和": (dt.date(2019, 5, 1), None),
}
ERA_ALIASES = {
    "明治": "明治", "明": "明治", "M": "明治", "1": "明治",
    "大正": "大正", "大": "大正", "T": "大正", "2": "大正",
    "昭和": "昭和", "昭": "昭和", "S": "昭和", "3": "昭和",
    "平成": "平成", "平": "平成", "H": "平成", "4": "平成",
    "令和": "令和", "令": "令和", "R": "令和", "5": "令和",
    "㍾": "明治", "㍽": "大正", "㍼": "昭和", "㍻": "平成", "㋿": "令和",
}  # fmt: skip
# full-width Latin letters (Ｓ１５．３．２, an era column's Ｈ)
_FW_LETTERS: dict[int, str | int] = {
    **{0xFF21 + i: ord("A") + i for i in range(26)},
    **{0xFF41 + i: ord("a") + i for i in range(26)},
}
# width and dash forms; the ideographic space becomes a space (spaces go after a
# midnight time is removed)
_DATE_TABLE = str.maketrans(
    {**_FW_DIGITS, **_FW_LETTERS, ord("／"): "/", ord("．"): ".", ord("－"): "-", ord("ー"): "-",
     ord("−"): "-", ord("："): ":", 0x3000: " "}
)  # fmt: skip
_ERA_TABLE = str.maketrans({**_FW_DIGITS, **_FW_LETTERS})
# what _DATE_TABLE changes: searched first, as most era dates have ASCII digits
# (a dict-driven translate costs more than the one expression that reads the date)
_DATE_WIDE = re.compile("[" + re.escape("".join(chr(c) for c in _DATE_TABLE)) + "]")
# a midnight time after a date: what Excel writes for a date cell saved as CSV
# ("1940/3/2 0:00"); removed before the spaces are
_MIDNIGHT = re.compile(r"(?: +|T)0?0:00(?::00)?$")
# Every accepted form in one expression (one match per value, the hot path of an
# import): western y/m/d, y-m-d, y.m.d, y年m月d日 and yyyymmdd (a midnight time
# after them, as an xlsx date cell read back as text or Excel's CSV has it, is
# removed first: _MIDNIGHT); and the era forms 昭和15年3月2日 / S15.3.2 / H1-1-8
# with 元 for the first year.  ASCII digits only (after the full-width ones are
# translated): a Unicode \d would take other scripts' digits.
_ANY_DATE = re.compile(
    r"(\d{4})(?:[/.-](\d{1,2})[/.-](\d{1,2})|年(\d{1,2})月(\d{1,2})日?|(\d{2})(\d{2}))"
    r"|(明治|大正|昭和|平成|令和|[明大昭平令MTSHR㍾㍽㍼㍻㋿])\s*(元|\d{1,2})\s*"
    r"(?:年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日?|[./-](\d{1,2})[./-](\d{1,2}))",
    re.IGNORECASE | re.ASCII,
)


def _make(year: int, month: int, day: int) -> dt.date:
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise refuse(N_("impossible date (no such month or day)")) from None


# What every date option and file column accepts, for people (messages, help, docs).
DATE_FORMS = "2017-04-01, 2017/4/1, 20170401, 2017年4月1日, 平成29年4月1日, H29.4.1"
NOT_A_DATE = N_("not a date in a recognised form")
NOT_A_BIRTH_DATE = N_("date of birth is not in a recognised form")


def date_reason(exc: FieldError) -> str:
    """The reason a date was refused, for people: the accepted forms, or why it cannot be."""
    if exc.reason == NOT_A_DATE:
        return _("not a date like {forms}").format(forms=DATE_FORMS)
    return str(exc)


@lru_cache(maxsize=1 << 12)  # the importer memoises per raw text itself
def parse_date(text: str) -> dt.date:
    """A date in any form the city's files and staff write: western or era (和暦).

    ``DATE_FORMS`` lists examples; full-width digits, 元 for an era's first year and
    a midnight time after the date (Excel's CSV) are accepted.  Raises
    ``FieldError`` with the reason (the importer's reject reason for a birth date).
    """
    s = text.strip()
    if not s.isascii() and _DATE_WIDE.search(s):
        s = s.translate(_DATE_TABLE).strip()
    if ":" in s:
        s = _MIDNIGHT.sub("", s)
    if " " in s:
        s = s.replace(" ", "")
    m = _ANY_DATE.fullmatch(s)
    if m is None:
        raise refuse(NOT_A_DATE)
    y, m1, d1, m2, d2, m3, d3, era, ey, em1, ed1, em2, ed2 = m.groups()
    if y is not None:
        if m1 is not None:
            return _make(int(y), int(m1), int(d1))
        if m2 is not None:
            return _make(int(y), int(m2), int(d2))
        return _make(int(y), int(m3), int(d3))
    name = ERA_ALIASES[era.upper()]
    year = 1 if ey == "元" else int(ey)
    if em1 is not None:
        return _in_era(name, year, int(em1), int(ed1))
    return _in_era(name, year, int(em2), int(ed2))


def era_date(era_text: str, year_text: str, month_text: str, day_text: str) -> dt.date:
    """Build a date from era, year of the era (元 = 1), month and day; check the era."""
    era = ERA_ALIASES.get(era_text.strip().translate(_ERA_TABLE).upper())
    if era is None:
        raise refuse(N_("unknown era"))
    try:
        year_text = year_text.strip().translate(_FW_DIGITS_TABLE)
        year = 1 if year_text in ("元", "1") else int(year_text)
        month = int(month_text.strip().translate(_FW_DIGITS_TABLE))
        day = int(day_text.strip().translate(_FW_DIGITS_TABLE))
    except ValueError:
        raise refuse(NOT_A_BIRTH_DATE) from None
    return _in_era(era, year, month, day)


def _in_era(era: str, year: int, month: int, day: int) -> dt.date:
    first, last = ERAS[era]
    if year < 1:
        reason = N_("date outside its era ({era} has no year {year})")
        raise FieldError(_(reason).format(era=era, year=year), reason)
    value = _make(first.year + year - 1, month, day)
    if value < first or (last is not None and value > last):
        reason = N_("date outside its era ({era} runs from {first} to {last})")
        raise FieldError(
            _(reason).format(
                era=era, first=first.isoformat(), last=last.isoformat() if last else _("today")
            ),
            reason,
        )
    return value


def date_of_birth(raw: str | tuple[str, str, str, str] | dt.date, today: dt.date) -> dt.date:
    """A date of birth in any form (one text, an era's four columns, or a date).

    Rejects what no person can have been born on: a future date, or before 1868.
    """
    try:
        if isinstance(raw, dt.date):
            value = raw
        else:
            value = era_date(*raw) if isinstance(raw, tuple) else parse_date(raw)
    except FieldError as exc:
        if exc.reason == NOT_A_DATE:
            raise refuse(NOT_A_BIRTH_DATE) from None
        raise
    if value > today:
        raise refuse(N_("date of birth is in the future"))
    if value.year < 1868:
        raise refuse(N_("date of birth is before 1868"))
    return value


# --- postal codes and phones -----------------------------------------------------------

_POSTAL = re.compile(r"〒?\s*(\d{3})-?(\d{4})", re.ASCII)


def postal_code(text: str) -> str:
    """Return ``NNN-NNNN`` from any width and dash form (〒 accepted)."""
    s = text.strip()
    # the two plain forms, without the expression
    if s.isascii() and s.isdigit():
        if len(s) == 7:
            return f"{s[:3]}-{s[3:]}"
    elif len(s) == 8 and s[3] == "-" and s.isascii() and (s[:3] + s[4:]).isdigit():
        return s
    m = _POSTAL.fullmatch(s if s.isascii() else s.translate(_DIGITS_AND_DASHES))
    if not m:
        raise refuse(N_("postal code must have 7 digits"))
    return f"{m.group(1)}-{m.group(2)}"


# ASCII digits only: str.isdigit() and a Unicode \d also take ①, ² and other scripts' digits
_EXTENSION = re.compile(r"(?:内線|内|ext\.?|EXT\.?|x)\s*[:：]?\s*(\d{1,6})\s*\)?\s*$", re.ASCII)
_PHONE_CHARS = re.compile(r"[\d\-() ]+", re.ASCII)
_PHONE_SEPS = re.compile(r"[-() ]+")
_NON_DIGITS = re.compile(r"\D+", re.ASCII)
_PHONE_SIMPLE = re.compile(r"0\d{0,4}-\d{1,4}-\d{3,4}", re.ASCII)
PHONE_CHARACTERS = N_("phone number has characters other than digits and dashes")
PHONE_DIGITS = N_("phone number must have 10 or 11 digits starting with 0")
_PHONE_TABLE = str.maketrans({**_FW_DIGITS, **{ord(c): "-" for c in DASHES}, ord("（"): "(",
                              ord("）"): ")", 0x3000: " "})  # fmt: skip


def digits_of(text: str) -> str:
    """The digits 0-9 of a text, full-width ones folded: a phone's search key."""
    return _NON_DIGITS.sub("", text.translate(_FW_DIGITS_TABLE))


def phone(text: str) -> tuple[str, str, str | None]:
    """Return (phone as stored, its digits, extension) from any width and dash form."""
    s = text.strip()
    if not s.isascii():
        s = s.translate(_PHONE_TABLE)
    ext = None
    if s.isdigit() and s.isascii():
        digits = stored = s
    elif _PHONE_SIMPLE.fullmatch(s):
        stored, digits = s, s.replace("-", "")
    else:
        m = _EXTENSION.search(s)
        if m:
            ext = m.group(1)
            s = s[: m.start()].rstrip(" ,(")
        if not _PHONE_CHARS.fullmatch(s):
            raise refuse(PHONE_CHARACTERS)
        digits = _NON_DIGITS.sub("", s)
        stored = "-".join(p for p in _PHONE_SEPS.split(s) if p)
    if not (len(digits) in (10, 11) and digits[0] == "0"):
        raise refuse(PHONE_DIGITS)
    return stored, digits, ext


# --- addresses -------------------------------------------------------------------------

_HAS_FW_DIGIT = re.compile("[０-９]")
_ADDRESS_DASH = re.compile(rf"(?<=\d)\s*[{re.escape(DASHES)}]\s*(?=\d)")
_HAS_DASH = re.compile(rf"[{re.escape(DASHES)}]")


def address(text: str) -> str:
    """Return the address: NFC, ASCII digits, ``-`` for any dash *between digits* only.

    A dash next to a letter or kana (ハイツー, コーポ・サンシャイン) is part of a
    building name and stays as written.
    """
    s = text.strip()
    if "\n" in s or "\r" in s:
        s = " ".join(part.strip() for part in s.splitlines() if part.strip())
    if not s.isascii():
        if not _is_normalized("NFC", s):
            s = unicodedata.normalize("NFC", s)
        if _HAS_FW_DIGIT.search(s):
            s = s.translate(_FW_DIGITS_TABLE)
    if _HAS_DASH.search(s):
        s = _ADDRESS_DASH.sub("-", s)
    return s


# --- kinds -----------------------------------------------------------------------------

KIND_REASON = N_("区分 must be 個人 or 団体")
KIND_VALUES = {
    "個人": "individual", "個": "individual", "individual": "individual", "1": "individual",
    "団体": "group", "団": "group", "group": "group", "2": "group",
}  # fmt: skip


def kind(text: str) -> str:
    value = KIND_VALUES.get(text.strip().lower())
    if value is None:
        raise refuse(KIND_REASON)
    return value
