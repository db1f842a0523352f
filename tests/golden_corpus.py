"""The golden corpus of the normaliser: tricky cases, random field values, random records.

``python -m tests.golden_corpus --write`` records what the normaliser gives today
(``tests/data/golden/``); ``tests/test_normalise_golden.py`` recomputes it and
compares.  Recorded with the code before the normaliser was made faster (issue
17), so a faster normaliser must store every record byte for byte as before.

What is recorded:

* ``normalise-cases.jsonl.gz``: every field rule (the counter's validator and the
  importer's) on hand-picked tricky values, in full (a diff names the value);
* ``normalise-sha256.json``: SHA-256 of the outputs of seeded random values of
  every rule, of a seeded random 100,000-record legacy file from
  ``bench/gen_legacy.py`` read and normalised as the importer does (per block of
  10,000 records, so a failure names the block), of 20,000 records with fields
  swapped for tricky values, and of the same through a mapping file (era
  columns, status codes, card validity, words for "none");
* ``normalise-records-sample.jsonl.gz``: every 100th of those records in full.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import random
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "data" / "golden"
TODAY = dt.date(2026, 11, 29)
RECORDS = 100_000
BLOCK = 10_000
SEED = 17

# --- tricky values ------------------------------------------------------------------------

NAMES = [
    "", " ", "　", "髙橋 一郎", "髙橋　一郎", " 山﨑\u3000花子 ", "齋藤ﾊﾅ", "たなか", "ＡＢＣ", "渡邊・太郎",
    "㈱コスモス会 ①", "か\u3099", "ｶﾞｯｺｳ", " 髙橋\r\n 一郎 \n\n", "a\rb", "\n\n", "x" * 200, "x" * 201,
    "あ" * 201, "Ⅲ世", "ﾊﾟﾋﾟﾌﾟ", "ゔぁいおりん", "O'Brien, John", "佐々木 ゝゞ", "𠮷野家", "\ue000子",
    "a\x00b", "a\tb", "a\u2028b", "ＡＢ　ｃｄ", "濵田・ｶﾂｵ", "鷗外", "嶋﨑", "Straße", "ﬁ", "ẞ", "İ",
    "・", "．", "、", "ー", "－", "1２３", "①②", "㍻", "\x7f", "\x85x", "e\u0301", "ㇰ", "ヷ", "𛀁",
]  # fmt: skip
READINGS = [
    "", "ﾀｶﾊｼ ｲﾁﾛｳ", "ｶﾞｯｺｳ", "たかはし　いちろう", "ヤマザキ", "ゔぁいおりん", "髙橋", "タカハシ・イチロウ",
    "ﾀｶﾊｼ　ｲﾁﾛｳ", " ヤマダ  タロウ ", "やまだ\tたろう", "ア" * 100, "ア" * 101, "ｱ" * 101, "ABC", "ＡＢＣ",
    "ゝゞヽヾ", "ヵヶ", "ｰ", "ｯ", "ﾟ", "ﾞ", "ア゙", "か\u3099", "ァ", "ㇰ", "ヷヸヹヺ", "ー", "・・", "、",
    "ｲﾁﾛｳ\u3000", "\u3000\u3000", "ﾊﾞﾋﾞﾌﾞﾍﾞﾎﾞ", "ﾊﾟ", "ｳﾞ", "ﾜﾞ", "\uff61", "\uff64", "\uff9f\uff9e",
]  # fmt: skip
DATES = [
    "", "昭和15年3月2日", "昭和１５年３月２日", "S15.3.2", "s15.3.2", "H1.1.8", "平成元年1月8日",
    "平成元年１月８日", "令和元年5月1日", "R1.5.1", "令和8年11月29日", "令和8年11月30日", "大正15年12月24日",
    "大正15年12月25日", "昭和元年12月25日", "昭和元年12月24日", "昭和64年1月7日", "昭和64年1月8日",
    "平成31年4月30日", "平成31年5月1日", "明治1年10月23日", "明治元年10月22日", "M45.7.29", "M45.7.30",
    "T1.7.30", "1940/3/2", "1940-03-02", "19400302", "1940.3.2", "1940年3月2日", "1940年3月2", "１９４０／３／２",
    "１９４０－０３－０２", "1940/3/2 0:00", "1940/3/2 00:00:00", "1940-03-02T00:00", "1940-03-02T00:00:00",
    "1940/3/2 12:00", "1940/3/2　0:00", "  1940/3/2  ", "1940/2/30", "1940/13/1", "1940/0/1", "1867/12/31",
    "1868/1/1", "2026/11/29", "2026/11/30", "2027/1/1", "S64.1.8", "H31.5.1", "H0.1.1", "S0.1.1", "H99.1.1",
    "S15-3-2", "S15/3/2", "Ｓ１５．３．２", "ｓ15.3.2", "Ｈ元.1.8", "H元.1.8", "昭15年3月2日", "㍼15年3月2日",
    "㍻元年1月8日", "㋿1.5.1", "昭和 15 年 3 月 2 日", "昭和15年 3月 2日", "昭和15年3月2", "昭和15年03月02日",
    "昭和015年3月2日", "X15.3.2", "15.3.2", "1940/3", "194003", "1940030", "194003021", "S15.3", "なし",
    "未設定", "-", "不明", "1940/3/2/", "1940//3/2", "1940/3/2日", "1940年3月2日生", "昭和十五年三月二日",
    "٣/٣/١٩٤٠", "１９４０年３月２日", "1940ー03ー02", "1940−03−02", "1940：03", "0:00", "T", " T0:00",
    "1940/3/2T0:00", "1940/3/20:00", "1940/3/2 0:00:00:00", "1940/03/02 00:00", "2000/2/29", "1900/2/29",
    "平成12年2月29日", "平成13年2月29日", "明治33年2月29日", "R8.11.29", "R8.11.30", "s64.1.7", "h1.1.8",
    "m1.10.23", "t15.12.24", "r1.5.1", "Ｒ１．５．１", "ｒ1.5.1", "１９４０年３月２日", "\u3000昭和15年3月2日",
]  # fmt: skip
ERA_PARTS = [
    ("昭和", "15", "3", "2"), ("S", "15", "3", "2"), ("3", "15", "3", "2"), ("平成", "元", "1", "8"),
    ("H", "1", "1", "8"), ("４", "１", "１", "８"), ("Ｈ", "元", "１", "８"), ("昭和", "64", "1", "8"),
    ("X", "1", "1", "1"), ("令和", "8", "11", "30"), ("明治", "0", "1", "1"), ("大正", "15", "2", "30"),
    ("S", "a", "1", "1"), ("S", "15", "", "2"), (" s ", " 15 ", " 3 ", " 2 "), ("㍼", "15", "3", "2"),
    ("", "", "", ""), ("昭", "1", "12", "25"), ("5", "1", "5", "1"), ("1", "1", "10", "23"),
]  # fmt: skip
POSTALS = [
    "", "270-1337", "2701337", "２７０－１３３７", "〒270-1337", "〒 270-1337", "〒２７０１３３７", "270ー1337",
    "270‐1337", "270−1337", "270–1337", "270ｰ1337", "12-345", "270-13370", "270 1337", "〒", "ABC-DEFG",
    "２７０１３３７", "270--1337", " 270-1337 ", "٢٧٠-١٣٣٧", "270-1337号", "〒270‑1337",
]  # fmt: skip
PHONES = [
    "", "0476-12-3456", "０４７６－１２－３４５６", "09012345678", "080ー1234ー5678", "0476(12)3456 内線12",
    "070‐1234‐5678", "03-12", "0476-12-3456 内線 123", "0476-12-3456 ext.45", "0476-12-3456 EXT 45",
    "0476-12-3456 x9", "0476-12-3456（内線123）", "(0476)12-3456", "０４７６（１２）３４５６", "047612345",
    "123456789012", "1476123456", "0476-12-3456 内線", "0476-12-3456 内1234567", "0476 12 3456",
    "0476　12　3456", "tel:0476-12-3456", "０９０１２３４５６７８", "②0476123456", "0476-12-3456,内線12",
    "0476-12-3456 内線:12", "0476-12-3456 内線：12", "+81-476-12-3456", "0476--12--3456", "0-1-2345",
    "01234-5-678", "03-1234-5678 ", " 03-1234-5678", "0312345678x", "0476-12-3456 (内線 12)", "03—1234—5678",
]  # fmt: skip
ADDRESSES = [
    "", "印西市大森2364-2", "印西市大森２３６４－２", "印西市大森2364ー2", "印西市大森2364 － 2",
    "印西市大森2364‐2 ハイツー", "印西市大森2364−2 コーポ・サンシャイン", "印西市大森2364－2\n101号室",
    "印西市\r\n大森 2364-2\r\n\r\n", "ハイツー１２３", "ハイツ－1", "1ー2ー3", "１ー２ー３", "a-b", "1 - 2",
    "A" * 300, "A" * 301, "か\u3099", "①-②", "1—2", "1―2", "1─2", "1━2", "1‑2", "1ｰ2", "1-", "-2",
    "1 -  2 ー 3", "大森２３６４番地の２", "e\u0301", "1\u30002",
]  # fmt: skip
KINDS = ["", "個人", "個", "individual", "1", "団体", "団", "group", "2", "INDIVIDUAL", " 団体 ", "3",
         "法人", "Group", "１", "２"]  # fmt: skip
STATUSES = ["", "有効", "active", "ACTIVE", "停止", "利用停止", "削除", "削除済み", "抹消", "ｱｸﾃｨﾌﾞ",
            "有 効", "Ａｃｔｉｖｅ", "X", "deleted", "suspended", "休止"]  # fmt: skip
CONTROL = [
    "",
    "abc",
    "a\x00b",
    "a\nb",
    "a\r\nb",
    "a\tb",
    "\x7f",
    "\x9f",
    "\u2028",
    "\u2029",
    "ok\x1b",
]
GAIJI = ["", "abc", "\ue000", "a\uf8ffb", "\uf900", "髙"]


def rules() -> dict[str, Callable[[Any], Any]]:
    """Every rule of the one validator (``fields``) and the text normalisers under it."""
    from resv_cli.core import jpnorm, normalize
    from resv_cli.records import fields

    return {
        "normalize.nfc": normalize.nfc,
        "normalize.nfc_one_line": normalize.nfc_one_line,
        "normalize.name_key": normalize.name_key,
        "normalize.kana_key": normalize.kana_key,
        "normalize.to_katakana": normalize.to_katakana,
        "normalize.text_problem": lambda v: normalize.text_problem(v, 50),
        "normalize.control_problem": normalize.control_problem,
        "fields.name": fields.name,
        "fields.reading": fields.reading,
        "fields.emergency_name": fields.emergency_name,
        "fields.representative_name": fields.representative_name,
        "fields.status_reason": fields.status_reason,
        "jpnorm.parse_date": jpnorm.parse_date,
        "fields.date_of_birth": lambda v: fields.date_of_birth(v, TODAY),
        "fields.card_valid_from": fields.card_valid_from,
        "fields.status_since": lambda v: fields.status_since(v, TODAY),
        "jpnorm.era_date": lambda v: jpnorm.era_date(*v),
        "fields.postal_code": fields.postal_code,
        "fields.phone": fields.phone,
        "fields.emergency_phone": fields.emergency_phone,
        "jpnorm.digits_of": jpnorm.digits_of,
        "fields.address": fields.address,
        "fields.kind": fields.kind,
        "fields.status": fields.status,
        "fields.control_characters": fields.control_characters,
        "fields.external_characters": fields.external_characters,
    }


def _inputs() -> dict[str, list[Any]]:
    texts = NAMES + READINGS
    return {
        "normalize.nfc": texts,
        "normalize.nfc_one_line": texts + ADDRESSES,
        "normalize.name_key": texts,
        "normalize.kana_key": texts,
        "normalize.to_katakana": texts,
        "normalize.text_problem": texts + CONTROL,
        "normalize.control_problem": CONTROL + NAMES,
        "fields.name": NAMES,
        "fields.reading": READINGS + NAMES,
        "fields.emergency_name": NAMES,
        "fields.representative_name": NAMES,
        "fields.status_reason": NAMES,
        "jpnorm.parse_date": DATES,
        "fields.date_of_birth": DATES + [list(p) for p in ERA_PARTS],
        "fields.card_valid_from": DATES,
        "fields.status_since": DATES,
        "jpnorm.era_date": [list(p) for p in ERA_PARTS],
        "fields.postal_code": POSTALS,
        "fields.phone": PHONES,
        "fields.emergency_phone": PHONES,
        "jpnorm.digits_of": PHONES + POSTALS,
        "fields.address": ADDRESSES,
        "fields.kind": KINDS,
        "fields.status": STATUSES,
        "fields.control_characters": CONTROL,
        "fields.external_characters": GAIJI,
    }


def encode(value: Any) -> Any:
    """A result as JSON: dates as ISO text, tuples as lists."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [encode(v) for v in value]
    return value


def apply(rule: Callable[[Any], Any], value: Any) -> Any:
    """The rule's result, or its error as ``{"error": [type, message]}``."""
    arg = tuple(value) if isinstance(value, list) and len(value) == 4 else value
    try:
        return encode(rule(arg))
    except Exception as exc:  # noqa: BLE001 - the error is the recorded outcome
        return {"error": [type(exc).__name__, str(exc)]}


def line(*parts: Any) -> str:
    return json.dumps(list(parts), ensure_ascii=False)


def case_lines() -> Iterator[str]:
    """The tricky values of every rule, with what each gives."""
    ruleset = rules()
    for name, values in _inputs().items():
        rule = ruleset[name]
        for v in values:
            yield line(name, v, apply(rule, v))


# --- random values of every rule ------------------------------------------------------------

_PIECES = {
    "digit": list("0123456789０１２３４５６７８９"),
    "dash": list("-－ー‐−–—―‑ｰ─━"),
    "sep": list("/.．／年月日 　:：T"),
    "era": [
        "明治",
        "大正",
        "昭和",
        "平成",
        "令和",
        "明",
        "大",
        "昭",
        "平",
        "令",
        "M",
        "T",
        "S",
        "H",
        "R",
        "m",
        "s",
        "h",
        "Ｓ",
        "Ｈ",
        "ｓ",
        "㍾",
        "㍽",
        "㍼",
        "㍻",
        "㋿",
        "元",
        "X",
    ],  # fmt: skip
    "kana": list("あいうかがぱゃっゝゞアイウカガパャッヽヾｱｲｶﾞﾊﾟｯｬｰﾞﾟ・･"),
    "kanji": list("髙高﨑崎齋斎邊辺澤濱田中一郎花子㈱①Ⅲ𠮷"),
    "latin": list("AaBbＡａｂ'ß,，、.．"),
    "space": [" ", "　", "\t", "\n", "\r\n"],
    "phone": ["内線", "内", "ext.", "EXT", "x", "(", ")", "（", "）", "〒", "+81"],
    "odd": ["\x00", "\x7f", "\ue000", "\u2028", "e\u0301", "か\u3099", "٣", "²", "ﬁ"],
}
_WEIGHTS = {
    "date": {"digit": 8, "dash": 1, "sep": 3, "era": 2, "space": 1, "odd": 0.1, "kanji": 0.1},
    "phone": {"digit": 10, "dash": 2, "phone": 1, "space": 1, "sep": 0.3, "odd": 0.1},
    "text": {"kana": 4, "kanji": 4, "latin": 2, "space": 1, "dash": 1, "digit": 1, "odd": 0.3},
}


def _random_text(rng: random.Random, flavour: str) -> str:
    kinds, weights = zip(*_WEIGHTS[flavour].items(), strict=True)
    n = rng.randrange(0, 16)
    return "".join(rng.choice(_PIECES[k]) for k in rng.choices(kinds, weights, k=n))


def _random_date(rng: random.Random) -> str:
    """A date-like text: mostly well formed, often a little off."""
    y, m, d = rng.randrange(1, 100), rng.randrange(0, 14), rng.randrange(0, 33)
    era = rng.choice(_PIECES["era"])
    year = rng.randrange(1860, 2030)
    form = rng.randrange(8)
    if form == 0:
        s = f"{era}{y}年{m}月{d}日"
    elif form == 1:
        s = f"{era}{y}{rng.choice('./-')}{m}{rng.choice('./-')}{d}"
    elif form == 2:
        s = f"{year}{rng.choice('/.-')}{m}{rng.choice('/.-')}{d}"
    elif form == 3:
        s = f"{year}{m:02d}{d:02d}"
    elif form == 4:
        s = f"{year}年{m}月{d}日"
    elif form == 5:
        s = f"{year}-{m:02d}-{d:02d}" + rng.choice([" 0:00", "T00:00:00", " 00:00", " 1:00", ""])
    elif form == 6:
        s = f"{era}{'元' if rng.random() < 0.3 else y:}年{m}月{d}日"
    else:
        return _random_text(rng, "date")
    if rng.random() < 0.3:
        s = s.translate(str.maketrans("0123456789/.-", "０１２３４５６７８９／．－"))
    if rng.random() < 0.2:
        i = rng.randrange(len(s) + 1)
        s = s[:i] + rng.choice(_PIECES[rng.choice(list(_PIECES))]) + s[i:]
    if rng.random() < 0.1:
        s = rng.choice(["", " ", "　"]) + s + rng.choice(["", " ", "　", "\n"])
    return s


def random_lines(seed: int = SEED, per_rule: int = 4000) -> Iterator[str]:
    """Seeded random values of every rule, with what each gives."""
    ruleset = rules()
    flavour = {
        "date": ("parse_date", "date_of_birth", "card_valid_from", "status_since"),
        "phone": ("phone", "postal_code", "digits_of"),
    }
    for name, rule in ruleset.items():
        rng = random.Random(f"{seed}:{name}")
        for _ in range(per_rule):
            if name == "jpnorm.era_date":
                v: Any = [rng.choice(_PIECES["era"] + ["1", "3", "４"]), str(rng.randrange(0, 70)),
                          str(rng.randrange(0, 14)), str(rng.randrange(0, 33))]  # fmt: skip
            elif any(name.endswith(k) for k in flavour["date"]):
                v = _random_date(rng)
            elif any(name.endswith(k) for k in flavour["phone"]):
                v = _random_text(rng, "phone")
            elif name in ("fields.kind", "fields.status"):
                v = rng.choice(KINDS + STATUSES) + rng.choice(["", " ", "x"])
            else:
                v = _random_text(rng, "text")
            yield line(name, v, apply(rule, v))


# --- records --------------------------------------------------------------------------------

MAPPING = {
    "columns": {
        "date_of_birth": {"era": "元号", "year": "年", "month": "月", "day": "日"},
        "status": "会員状態",
        "status_since": "状態変更日",
        "status_reason": "状態変更理由",
        "card_valid_from": "有効開始日",
        "card_valid_until": "有効期限",
        "phone": {"join": ["市外局番", "局番", "番号"], "sep": "-"},
    },
    "values": {
        "kind": {"0": "individual", "9": "group"},
        "status": {"A": "active", "X": "deleted"},
    },
    "options": {"empty": ["なし", "未設定", "-"]},
}
MAPPED_HEADER = ["区分", "登録番号", "氏名", "フリガナ", "元号", "年", "月", "日", "郵便番号", "住所",
                 "市外局番", "局番", "番号", "緊急連絡先氏名", "緊急連絡先電話番号", "団体名", "代表者氏名",
                 "会員状態", "状態変更日", "状態変更理由", "有効開始日", "有効期限"]  # fmt: skip


def _record_line(rec: tuple[Any, ...]) -> str:
    no, r, errs, legacy, lk, pk, _maybe = rec  # maybe: a Bloom filter answer, hash-seeded
    return line(no, r, errs, legacy, lk, pk)


def file_records(work: Path, records: int = RECORDS, seed: int = SEED) -> Iterator[str]:
    """A seeded random legacy file (bench/gen_legacy.py), read and normalised as imported."""
    sys.path.insert(0, str(ROOT / "bench"))
    from gen_legacy import generate

    from resv_cli.importing.classify import KeyFilter, keyed_records
    from resv_cli.importing.mapping import compile_mapping
    from resv_cli.importing.normalise import build_normaliser
    from resv_cli.importing.reader import open_source

    path = work / "golden.csv"
    generate(str(path), records, "cp932", seed=seed, today=TODAY)
    source = open_source(path)
    try:
        nz = build_normaliser(compile_mapping(source.header), source.header, None, TODAY)
        for rec in keyed_records(source, nz, KeyFilter()):
            yield _record_line(rec)
    finally:
        source.close()


def _tricky_value(rng: random.Random, column: str) -> str:
    pools = {
        "区分": KINDS, "氏名": NAMES, "フリガナ": READINGS, "生年月日": DATES, "郵便番号": POSTALS,
        "住所": ADDRESSES, "電話番号": PHONES, "緊急連絡先氏名": NAMES, "緊急連絡先電話番号": PHONES,
        "団体名": NAMES, "代表者氏名": NAMES + ["x" * 201], "登録番号": ["", "１２３", "A" * 65, "00000001"],
        "会員状態": STATUSES + ["A", "X", "なし"], "状態変更日": DATES, "状態変更理由": NAMES,
        "有効開始日": DATES, "有効期限": DATES, "元号": ["昭和", "S", "3", "H", "X", "", "なし"],
        "年": ["15", "元", "64", "", "a"], "月": ["3", "1", "13", ""], "日": ["2", "8", "30", ""],
        "市外局番": ["0476", "090", "", "０４７６"], "局番": ["12", "1234", ""],
        "番号": ["3456", "5678", "", "－"],
    }  # fmt: skip
    pool = pools.get(column, NAMES)
    return rng.choice(pool) if rng.random() < 0.8 else _random_text(rng, "text")


def mutated_records(count: int = 20_000, seed: int = SEED) -> Iterator[str]:
    """Records of gen_legacy with fields swapped for tricky values, normalised directly.

    Then the same number through ``MAPPING`` (era columns, status, card validity,
    words for "none", joined phone columns).
    """
    sys.path.insert(0, str(ROOT / "bench"))
    from gen_legacy import HEADER, record

    from resv_cli.importing.mapping import compile_mapping
    from resv_cli.importing.normalise import build_normaliser

    for header, spec in ((HEADER, None), (MAPPED_HEADER, MAPPING)):
        rng = random.Random(f"{seed}:{len(header)}")
        m = compile_mapping(header, spec)
        for default_kind in (None, "group"):
            nz = build_normaliser(m, header, default_kind, TODAY)
            for i in range(count // 2):
                base = record(rng, i, TODAY)
                row = [base[j] if j < len(base) and header is HEADER else "" for j in
                       range(len(header))]  # fmt: skip
                for j, col in enumerate(header):
                    if header is not HEADER or rng.random() < 0.25:
                        row[j] = _tricky_value(rng, col)
                if rng.random() < 0.02:
                    row.append(rng.choice(["", " ", "x"]))  # a field past the header
                if rng.random() < 0.01:
                    row.pop()
                r, errs, legacy = nz.normalise(list(row))
                yield line(i, r, errs, legacy, nz.legacy_of(list(row)))


# --- recording and checking -----------------------------------------------------------------


def digests(records: int = RECORDS) -> tuple[dict[str, Any], list[str]]:
    """The SHA-256 of every part of the corpus, and every 100th file record in full."""
    out: dict[str, Any] = {}
    h = hashlib.sha256()
    for ln in random_lines():
        h.update(ln.encode() + b"\n")
    out["random_values"] = h.hexdigest()
    h = hashlib.sha256()
    for ln in mutated_records():
        h.update(ln.encode() + b"\n")
    out["mutated_records"] = h.hexdigest()
    sample: list[str] = []
    blocks: list[str] = []
    whole = hashlib.sha256()
    block = hashlib.sha256()
    with tempfile.TemporaryDirectory() as tmp:
        for n, ln in enumerate(file_records(Path(tmp), records), 1):
            data = ln.encode() + b"\n"
            whole.update(data)
            block.update(data)
            if n % 100 == 0:
                sample.append(ln)
            if n % BLOCK == 0:
                blocks.append(block.hexdigest())
                block = hashlib.sha256()
    out["records"] = records
    out["file_records"] = whole.hexdigest()
    out["file_record_blocks"] = blocks
    return out, sample


def write() -> None:
    GOLDEN.mkdir(parents=True, exist_ok=True)
    with gzip.open(GOLDEN / "normalise-cases.jsonl.gz", "wt", encoding="utf-8") as f:
        f.writelines(ln + "\n" for ln in case_lines())
    out, sample = digests()
    with gzip.open(GOLDEN / "normalise-records-sample.jsonl.gz", "wt", encoding="utf-8") as f:
        f.writelines(ln + "\n" for ln in sample)
    (GOLDEN / "normalise-sha256.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        raise SystemExit("usage: python -m tests.golden_corpus --write")
    write()
