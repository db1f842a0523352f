"""Every normalisation rule of the legacy importer, and every field reject reason."""

from __future__ import annotations

import datetime as dt
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resv_cli.core import jpnorm, normalize
from resv_cli.core.jpnorm import FieldError

TODAY = dt.date(2026, 11, 29)


# --- names -----------------------------------------------------------------------------


def test_name_stored_as_received_nfc_only() -> None:
    # NFC composes; NFKC would have turned ㈱ into (株) and ① into 1: not for stored names
    assert normalize.nfc_one_line("  ㈱コスモス会 ①  ") == "㈱コスモス会 ①"
    assert normalize.nfc_one_line("か\u3099") == "が"
    assert normalize.nfc_one_line("髙橋　一郎") == "髙橋　一郎"


def test_a_wrapped_cell_is_one_line_but_typed_text_keeps_its_line_breaks() -> None:
    # a line break inside a quoted field of a legacy export wraps the cell
    assert normalize.nfc_one_line(" 髙橋\r\n 一郎 \n\n") == "髙橋 一郎"
    # what a clerk types is stored as typed (resv registrant add / update)
    assert normalize.nfc(" 髙橋\r\n 一郎 \n\n") == "髙橋\r\n 一郎"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("髙橋 一郎", "高橋一郎"),
        ("山﨑　花子", "山崎花子"),
        ("齋藤ﾊﾅ", "斎藤ハナ"),
        ("たなか", "タナカ"),
        ("ＡＢＣ", "abc"),
        ("渡邊・太郎", "渡辺太郎"),
    ],
)
def test_name_key_folds_width_spacing_kana_and_variants(a: str, b: str) -> None:
    assert normalize.name_key(a) == normalize.name_key(b)


def _plain_katakana(text: str) -> str:
    return "".join(
        chr(ord(c) + 0x60) if 0x3041 <= ord(c) <= 0x3096 or c in "ゝゞ" else c for c in text
    )


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x9FFF), max_size=30))
def test_fast_keys_equal_the_plain_definition(text: str) -> None:
    # the translate-table keys (searched first, cached) must fold exactly as the
    # plain per-character definition: NFKC, variants, no separators, katakana
    folded = unicodedata.normalize("NFKC", text)
    plain = _plain_katakana(
        normalize._SEPARATORS.sub("", folded.translate(str.maketrans(normalize.VARIANT_KANJI)))
    )
    assert normalize.name_key(text) == plain.casefold()
    assert normalize.kana_key(text) == _plain_katakana(normalize._SEPARATORS.sub("", folded))


# --- readings --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("ﾀｶﾊｼ ｲﾁﾛｳ", "タカハシ\u3000イチロウ"),
        ("ｶﾞｯｺｳ", "ガッコウ"),
        ("たかはし　いちろう", "タカハシ\u3000イチロウ"),
        ("ヤマザキ", "ヤマザキ"),
        ("ゔぁいおりん", "ヴァイオリン"),
    ],
)
def test_reading_becomes_full_width_katakana(raw: str, stored: str) -> None:
    value, key = jpnorm.reading(raw)
    assert value == stored
    assert key == stored.replace("\u3000", "")


def test_reading_with_kanji_is_rejected() -> None:
    with pytest.raises(FieldError, match="reading must be written in kana"):
        jpnorm.reading("高橋")


# --- dates of birth --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("昭和15年3月2日", dt.date(1940, 3, 2)),
        ("昭和１５年３月２日", dt.date(1940, 3, 2)),
        ("S15.3.2", dt.date(1940, 3, 2)),
        ("s15.03.02", dt.date(1940, 3, 2)),
        ("S15/3/2", dt.date(1940, 3, 2)),
        ("H1.1.8", dt.date(1989, 1, 8)),
        ("平成元年1月8日", dt.date(1989, 1, 8)),
        ("平成元年１月８日", dt.date(1989, 1, 8)),
        ("令和2年5月1日", dt.date(2020, 5, 1)),
        ("R1.5.1", dt.date(2019, 5, 1)),
        ("大正15年12月24日", dt.date(1926, 12, 24)),
        ("昭和元年12月25日", dt.date(1926, 12, 25)),
        ("明治45年7月29日", dt.date(1912, 7, 29)),
        ("M44.1.1", dt.date(1911, 1, 1)),
        ("1940/3/2", dt.date(1940, 3, 2)),
        ("1940-03-02", dt.date(1940, 3, 2)),
        ("19400302", dt.date(1940, 3, 2)),
        ("１９４０／３／２", dt.date(1940, 3, 2)),
        ("1940年3月2日", dt.date(1940, 3, 2)),
        ("1940-03-02 00:00:00", dt.date(1940, 3, 2)),
    ],
)
def test_date_of_birth_forms(raw: str, expected: dt.date) -> None:
    assert jpnorm.date_of_birth(raw, TODAY) == expected


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("S", "15", "3", "2"), dt.date(1940, 3, 2)),
        (("3", "15", "3", "2"), dt.date(1940, 3, 2)),
        (("昭和", "１５", "３", "２"), dt.date(1940, 3, 2)),
        (("平成", "元", "1", "8"), dt.date(1989, 1, 8)),
        (("H", "1", "1", "8"), dt.date(1989, 1, 8)),
    ],
)
def test_era_code_columns(parts: tuple[str, str, str, str], expected: dt.date) -> None:
    assert jpnorm.era_date(*parts) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("昭和64年1月8日", r"date outside its era \(昭和 runs from 1926-12-25 to 1989-01-07\)"),
        ("平成31年5月1日", r"date outside its era \(平成 runs from 1989-01-08 to 2019-04-30\)"),
        ("H1.1.7", "date outside its era"),
        ("大正15年12月25日", "date outside its era"),
        ("明治1年1月1日", "date outside its era"),
        ("1940/2/30", r"impossible date \(no such month or day\)"),
        ("昭和15年13月1日", "impossible date"),
        ("2030/1/1", "date of birth is in the future"),
        ("1850/1/1", "date of birth is before 1868"),
        ("そのうち", "date of birth is not in a recognised form"),
        ("1940/3", "date of birth is not in a recognised form"),
    ],
)
def test_bad_dates_are_rejected_with_reason(raw: str, reason: str) -> None:
    with pytest.raises(FieldError, match=reason):
        jpnorm.date_of_birth(raw, TODAY)


def test_date_reasons_carry_no_date_value() -> None:
    with pytest.raises(FieldError) as exc:
        jpnorm.date_of_birth("1940/2/30", TODAY)
    assert "1940" not in str(exc.value)


def test_unknown_era_code() -> None:
    with pytest.raises(FieldError, match="unknown era"):
        jpnorm.era_date("X", "1", "1", "1")


# --- phones, postal codes, addresses ---------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "stored", "digits", "ext"),
    [
        ("0476-42-1111", "0476-42-1111", "0476421111", None),
        ("０４７６－４２－１１１１", "0476-42-1111", "0476421111", None),
        ("0476ー42ー1111", "0476-42-1111", "0476421111", None),
        ("0476‐42−1111", "0476-42-1111", "0476421111", None),
        ("0476(42)1111", "0476-42-1111", "0476421111", None),
        ("０４７６（４２）１１１１", "0476-42-1111", "0476421111", None),
        ("09012345678", "09012345678", "09012345678", None),
        ("0476-42-1111 内線123", "0476-42-1111", "0476421111", "123"),
        ("0476-42-1111（内線１２）", "0476-42-1111", "0476421111", "12"),
        ("0476-42-1111 ext.5", "0476-42-1111", "0476421111", "5"),
    ],
)
def test_phone_forms(raw: str, stored: str, digits: str, ext: str | None) -> None:
    assert jpnorm.phone(raw) == (stored, digits, ext)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("03-12", "phone number must have 10 or 11 digits starting with 0"),
        ("476421111", "phone number must have 10 or 11 digits starting with 0"),
        ("0476-42-1111 携帯", "phone number has characters other than digits and dashes"),
    ],
)
def test_bad_phones(raw: str, reason: str) -> None:
    with pytest.raises(FieldError, match=reason):
        jpnorm.phone(raw)


@pytest.mark.parametrize(
    "raw",
    ["270-1392", "2701392", "２７０－１３９２", "〒270-1392", "〒 ２７０ー１３９２", "270‐1392"],
)
def test_postal_code_forms(raw: str) -> None:
    assert jpnorm.postal_code(raw) == "270-1392"


@pytest.mark.parametrize("raw", ["12-345", "270-13920", "abc-defg"])
def test_bad_postal_code(raw: str) -> None:
    with pytest.raises(FieldError, match="postal code must have 7 digits"):
        jpnorm.postal_code(raw)


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("印西市大森２５２８ー１", "印西市大森2528-1"),
        ("印西市大森2528－1－3", "印西市大森2528-1-3"),
        ("印西市大森2528‐1", "印西市大森2528-1"),
        ("印西市大森2528−1", "印西市大森2528-1"),
        # dashes next to kana or letters belong to building names and stay
        ("印西市原1-2 ハイツー101", "印西市原1-2 ハイツー101"),
        ("印西市原1ー2 メゾン・ルーブル", "印西市原1-2 メゾン・ルーブル"),
        ("印西市原1 コーポー２", "印西市原1 コーポー2"),
        ("印西市原\n1-2", "印西市原 1-2"),
    ],
)
def test_address_dashes_between_digits_only(raw: str, stored: str) -> None:
    assert jpnorm.address(raw) == stored


# --- kinds -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kind"), [("個人", "individual"), ("団体", "group"), ("2", "group")]
)
def test_kind_values(raw: str, kind: str) -> None:
    assert jpnorm.kind(raw) == kind


def test_bad_kind() -> None:
    with pytest.raises(FieldError, match="区分 must be 個人 or 団体"):
        jpnorm.kind("法人")


_LETTER = {"明治": "M", "大正": "T", "昭和": "S", "平成": "H", "令和": "R"}
_FULL = str.maketrans("0123456789/", "０１２３４５６７８９／")


def _forms(d: dt.date) -> list[str]:
    era = next(e for e, (first, last) in jpnorm.ERAS.items() if first <= d <= (last or TODAY))
    y = d.year - jpnorm.ERAS[era][0].year + 1
    ey = "元" if y == 1 else str(y)
    return [
        f"{d.year}/{d.month}/{d.day}", d.isoformat(), d.strftime("%Y%m%d"),
        f"{d.year}.{d.month}.{d.day}", f"{d.year}年{d.month}月{d.day}日",
        f"{d.isoformat()} 00:00:00", f"{d.year}/{d.month}/{d.day}".translate(_FULL),
        f"{era}{ey}年{d.month}月{d.day}日", f"{era}{y}年{d.month}月{d.day}日".translate(_FULL),
        f"{era} {ey} 年 {d.month} 月 {d.day} 日", f"{_LETTER[era]}{y}.{d.month}.{d.day}",
        f"{_LETTER[era].lower()}{y:02d}.{d.month:02d}.{d.day:02d}",
        f"{_LETTER[era]}{y}-{d.month}-{d.day}", f"{era[0]}{y}/{d.month}/{d.day}",
    ]  # fmt: skip


@given(st.dates(min_value=dt.date(1868, 10, 23), max_value=TODAY))
def test_every_form_of_every_date_parses_back(d: dt.date) -> None:
    # the importer's one-expression parser, over every era and form it accepts
    for text in _forms(d):
        assert jpnorm.date_of_birth(text, TODAY) == d, text


@given(st.dates(min_value=dt.date(1868, 10, 23), max_value=TODAY))
def test_a_date_one_day_outside_its_era_is_rejected(d: dt.date) -> None:
    era = next(e for e, (first, last) in jpnorm.ERAS.items() if first <= d <= (last or TODAY))
    first, last = jpnorm.ERAS[era]
    for outside in (first - dt.timedelta(days=1), (last or TODAY) + dt.timedelta(days=1)):
        if outside.year < first.year or outside > TODAY:
            continue  # not expressible as a year of this era
        y = outside.year - first.year + 1
        with pytest.raises(FieldError, match="date outside its era"):
            jpnorm.date_of_birth(f"{era}{y}年{outside.month}月{outside.day}日", TODAY)
