"""Romaji spellings of a kana name, for refusing a password made of the person's name.

A password policy must refuse ``satou-misaki-2026`` for サトウ ミサキ, and also the
other ways people write the same name in Latin letters: ``sato``, ``satoh``,
``satoo`` (long vowels), ``si``/``shi``, ``tu``/``tsu``, ``ti``/``chi``,
``hu``/``fu``, ``zi``/``ji`` (Kunrei and Hepburn).  So a name becomes a regular
expression over its morae rather than one string.

A small table, written here: kana only (a reading is what the roster gives);
kanji would need a dictionary (pykakasi ships one of several MB) and a reading
is what decides the spelling anyway.  jaconv's ``kana2alphabet`` gives one
Hepburn spelling, none of the variants.
"""

from __future__ import annotations

import re

from resv_cli.core.normalize import to_katakana

# one mora -> its spellings, the Hepburn one first
_MORAE: dict[str, tuple[str, ...]] = {
    "ア": ("a",), "イ": ("i",), "ウ": ("u",), "エ": ("e",), "オ": ("o",),
    "カ": ("ka",), "キ": ("ki",), "ク": ("ku",), "ケ": ("ke",), "コ": ("ko",),
    "サ": ("sa",), "シ": ("shi", "si"), "ス": ("su",), "セ": ("se",), "ソ": ("so",),
    "タ": ("ta",), "チ": ("chi", "ti"), "ツ": ("tsu", "tu"), "テ": ("te",), "ト": ("to",),
    "ナ": ("na",), "ニ": ("ni",), "ヌ": ("nu",), "ネ": ("ne",), "ノ": ("no",),
    "ハ": ("ha",), "ヒ": ("hi",), "フ": ("fu", "hu"), "ヘ": ("he",), "ホ": ("ho",),
    "マ": ("ma",), "ミ": ("mi",), "ム": ("mu",), "メ": ("me",), "モ": ("mo",),
    "ヤ": ("ya",), "ユ": ("yu",), "ヨ": ("yo",),
    "ラ": ("ra",), "リ": ("ri",), "ル": ("ru",), "レ": ("re",), "ロ": ("ro",),
    "ワ": ("wa",), "ヰ": ("i", "wi"), "ヱ": ("e", "we"), "ヲ": ("o", "wo"),
    "ン": ("n", "nn", "m"),
    "ガ": ("ga",), "ギ": ("gi",), "グ": ("gu",), "ゲ": ("ge",), "ゴ": ("go",),
    "ザ": ("za",), "ジ": ("ji", "zi"), "ズ": ("zu",), "ゼ": ("ze",), "ゾ": ("zo",),
    "ダ": ("da",), "ヂ": ("ji", "di", "zi"), "ヅ": ("zu", "du"), "デ": ("de",), "ド": ("do",),
    "バ": ("ba",), "ビ": ("bi",), "ブ": ("bu",), "ベ": ("be",), "ボ": ("bo",),
    "パ": ("pa",), "ピ": ("pi",), "プ": ("pu",), "ペ": ("pe",), "ポ": ("po",),
    "ヴ": ("vu", "bu"),
    "ァ": ("a",), "ィ": ("i",), "ゥ": ("u",), "ェ": ("e",), "ォ": ("o",),
    "ャ": ("ya",), "ュ": ("yu",), "ョ": ("yo",), "ヮ": ("wa",),
    # a consonant and a small ya, yu, yo or vowel
    "キャ": ("kya",), "キュ": ("kyu",), "キョ": ("kyo",),
    "シャ": ("sha", "sya"), "シュ": ("shu", "syu"), "ショ": ("sho", "syo"), "シェ": ("she", "sye"),
    "チャ": ("cha", "tya", "cya"), "チュ": ("chu", "tyu", "cyu"), "チョ": ("cho", "tyo", "cyo"),
    "チェ": ("che", "tye"),
    "ニャ": ("nya",), "ニュ": ("nyu",), "ニョ": ("nyo",),
    "ヒャ": ("hya",), "ヒュ": ("hyu",), "ヒョ": ("hyo",),
    "ミャ": ("mya",), "ミュ": ("myu",), "ミョ": ("myo",),
    "リャ": ("rya",), "リュ": ("ryu",), "リョ": ("ryo",),
    "ギャ": ("gya",), "ギュ": ("gyu",), "ギョ": ("gyo",),
    "ジャ": ("ja", "zya", "jya"), "ジュ": ("ju", "zyu", "jyu"), "ジョ": ("jo", "zyo", "jyo"),
    "ジェ": ("je", "zye"),
    "ヂャ": ("ja", "dya"), "ヂュ": ("ju", "dyu"), "ヂョ": ("jo", "dyo"),
    "ビャ": ("bya",), "ビュ": ("byu",), "ビョ": ("byo",),
    "ピャ": ("pya",), "ピュ": ("pyu",), "ピョ": ("pyo",),
    "ファ": ("fa",), "フィ": ("fi",), "フェ": ("fe",), "フォ": ("fo",),
    "ティ": ("ti",), "ディ": ("di",), "トゥ": ("tu",), "ドゥ": ("du",),
    "ウィ": ("wi",), "ウェ": ("we",), "ウォ": ("wo",),
    "ヴァ": ("va", "ba"), "ヴィ": ("vi", "bi"), "ヴェ": ("ve", "be"), "ヴォ": ("vo", "bo"),
}  # fmt: skip
_SOKUON = "ッ"  # doubles the next consonant (ッチ: tchi or cchi)
_CHOON = "ー"  # lengthens the vowel before it


def _vowel(spelling: str) -> str:
    return spelling[-1] if spelling and spelling[-1] in "aiueo" else ""


def spellings(kana: str) -> tuple[str, str] | None:
    """(the Hepburn spelling, a regular expression of every spelling) of one kana word.

    Long vowels: オウ and オオ may be written ou, oo, oh or o; ウウ uu or u; ー
    the vowel again, h or nothing.  None when the word has a character that is
    not kana (a name written in kanji or Latin letters has no reading here).
    """
    text = to_katakana(kana)
    hepburn: list[str] = []
    pattern: list[str] = []
    i = 0
    last = ""  # the vowel the previous mora ended with
    geminate = False
    while i < len(text):
        pair, ch = text[i : i + 2], text[i]
        if ch == _SOKUON:
            geminate, i = True, i + 1
            continue
        if ch == _CHOON:
            if last:
                hepburn.append(last)
                pattern.append(f"(?:{last}|h)?")
            i += 1
            continue
        if last == "o" and ch in "ウオ":
            hepburn.append("u" if ch == "ウ" else "o")
            pattern.append("(?:u|o|h)?" if ch == "ウ" else "(?:o|h)?")
            i += 1
            continue
        if last == "u" and ch == "ウ":
            hepburn.append("u")
            pattern.append("u?")
            i += 1
            continue
        forms = _MORAE.get(pair) if len(pair) == 2 else None
        step = 2 if forms else 1
        forms = forms or _MORAE.get(ch)
        if forms is None:
            return None
        alts = forms
        if geminate:
            # ッ doubles the next consonant; before ch, Hepburn writes t (matcha)
            alts = tuple(("t" + f if f.startswith("ch") else f[0] + f) for f in forms)
            alts += tuple(("c" + f) for f in forms if f.startswith("ch"))
            geminate = False
        hepburn.append(alts[0])
        pattern.append("(?:" + "|".join(alts) + ")" if len(alts) > 1 else alts[0])
        last = _vowel(forms[0])
        i += step
    return "".join(hepburn), "".join(pattern)


def name_patterns(kana_words: list[str], min_letters: int = 3) -> list[tuple[str, re.Pattern[str]]]:
    """The Hepburn spelling and compiled pattern of each kana word of at least ``min_letters``.

    The shortest spelling (long vowels dropped) decides whether a word is long enough.
    """
    out = []
    for word in kana_words:
        got = spellings(word)
        if got is None:
            continue
        hepburn, pattern = got
        shortest = re.sub(r"\(\?:[^)]*\)\?|u\?", "", pattern)
        shortest = re.sub(r"\(\?:([^|)]*)[^)]*\)", r"\1", shortest)
        if len(shortest) >= min_letters:
            out.append((hepburn, re.compile(pattern)))
    return out
