"""Reading legacy files: encodings, CSV mess, xlsx, bombs, column recognition."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from resv_cli.core.errors import InputError
from resv_cli.importing.mapping import compile_mapping, load_mapping_file
from resv_cli.importing.reader import detect_encoding, has_undecodable, open_source

HEADER = "区分,登録番号,氏名,フリガナ,生年月日"


def write(path: Path, text: str, encoding: str) -> Path:
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize(
    ("encoding", "expected"), [("cp932", "cp932"), ("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig")]
)
def test_encoding_detected_per_file(tmp_path: Path, encoding: str, expected: str) -> None:
    f = write(tmp_path / "a.csv", f"{HEADER}\r\n個人,1,髙橋 﨑子,,\r\n", encoding)
    assert detect_encoding(f) == expected
    src = open_source(f)
    assert src.header == ["区分", "登録番号", "氏名", "フリガナ", "生年月日"]
    assert list(src) == [["個人", "1", "髙橋 﨑子", "", ""]]


def test_cp932_characters_that_shift_jis_cannot_read(tmp_path: Path) -> None:
    text = f"{HEADER}\r\n個人,1,髙﨑①㈱,,\r\n"
    f = write(tmp_path / "a.csv", text, "cp932")
    with pytest.raises(UnicodeDecodeError):
        f.read_bytes().decode("shift_jis")
    assert list(open_source(f))[0][2] == "髙﨑①㈱"


def test_crlf_quotes_quoted_newlines_and_trailing_comma(tmp_path: Path) -> None:
    text = (
        f"{HEADER},\r\n"
        '"個人","0001","山田 太郎","ヤマダ","S15.3.2",\r\n'
        '個人,0002,"佐藤, 花子","サトウ","1940/3/2",\r\n'
        '個人,0003,"鈴木\r\n次郎",スズキ,1940-03-02,\r\n'
    )
    src = open_source(write(tmp_path / "a.csv", text, "cp932"))
    assert src.header == ["区分", "登録番号", "氏名", "フリガナ", "生年月日"]
    rows = list(src)
    # three records although the file has four physical data lines
    assert [r[1] for r in rows] == ["0001", "0002", "0003"]
    assert rows[1][2] == "佐藤, 花子"
    assert rows[2][2] == "鈴木\r\n次郎"
    assert rows[0][-1] == ""  # the trailing empty field is still there; the importer drops it


def test_undecodable_byte_is_marked_not_replaced(tmp_path: Path) -> None:
    good = f"{HEADER}\r\n個人,1,山田,,\r\n".encode("cp932")
    bad = "個人,2,".encode("cp932") + b"\x81\x20" + b",,\r\n"
    f = tmp_path / "a.csv"
    f.write_bytes(good + bad)
    rows = list(open_source(f, "cp932"))
    assert not has_undecodable(rows[0][2])
    assert has_undecodable(rows[1][2])
    assert "\ufffd" not in rows[1][2]


def test_unknown_encoding_option(tmp_path: Path) -> None:
    f = write(tmp_path / "a.csv", f"{HEADER}\r\n", "utf-8")
    with pytest.raises(InputError, match=r"a.csv: unknown encoding 'latin-9'"):
        open_source(f, "latin-9")


def test_empty_file(tmp_path: Path) -> None:
    f = tmp_path / "a.csv"
    f.write_bytes(b"")
    with pytest.raises(InputError, match="a.csv: the file is empty"):
        open_source(f)


def test_unterminated_quote_is_an_error_naming_the_file(tmp_path: Path) -> None:
    f = write(tmp_path / "a.csv", f'{HEADER}\r\n個人,1,"山田,,\r\n', "utf-8")
    with pytest.raises(
        InputError, match=r"a.csv: record 1 \(near line 2\): unexpected end of data"
    ):
        list(open_source(f))


# --- xlsx ------------------------------------------------------------------------------


def test_xlsx_read_back(tmp_path: Path) -> None:
    import datetime as dt

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["区分", "登録番号", "氏名", "生年月日", "電話番号"])
    ws.append(["個人", 1, "髙橋 一郎", dt.datetime(1940, 3, 2), "0476-42-1111"])
    f = tmp_path / "a.xlsx"
    wb.save(f)
    src = open_source(f)
    assert src.kind == "xlsx"
    assert list(src) == [["個人", "1", "髙橋 一郎", "1940-03-02", "0476-42-1111"]]


BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>
<row r="1"><c r="A1" t="inlineStr"><is><t>氏名</t></is></c></row>
<row r="2"><c r="A2" t="inlineStr"><is><t>&lol3;</t></is></c></row></sheetData></worksheet>"""


def test_xlsx_xml_bomb_is_refused(tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append(["氏名"])
    wb.active.append(["x"])
    good = tmp_path / "good.xlsx"
    wb.save(good)
    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bomb, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = BOMB.encode()
            zout.writestr(item, data)
    with pytest.raises(InputError, match=r"bomb.xlsx: refused: EntitiesForbidden"):
        list(open_source(bomb))


def test_xlsx_zip_bomb_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "zip.xlsx"
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/worksheets/sheet1.xml", b"<a>" + b" " * (50 << 20) + b"</a>")
    with pytest.raises(InputError, match=r"zip.xlsx: refused: member .* \(possible zip bomb\)"):
        open_source(f)


def test_not_a_zip_named_xlsx(tmp_path: Path) -> None:
    f = tmp_path / "a.xlsx"
    f.write_bytes(b"hello")
    with pytest.raises(InputError, match="a.xlsx: not a valid xlsx"):
        open_source(f)


# --- columns ---------------------------------------------------------------------------


def test_known_headings_and_variants() -> None:
    header = [
        "利用者番号",
        "姓",
        "名",
        "ﾌﾘｶﾞﾅ",
        "生年月日",
        "〒",
        "住所1",
        "住所2",
        "ＴＥＬ",
        "備考",
    ]
    m = compile_mapping(header)
    row = ["7", "山田", "太郎", "ﾔﾏﾀﾞ", "S15.3.2", "2701392", "印西市1-2", "ハイツ", "0476", "x"]
    assert m.getters["legacy_no"](row) == "7"
    assert m.getters["name"](row) == "山田 太郎"
    assert m.getters["kana"](row) == "ﾔﾏﾀﾞ"
    assert m.getters["address"](row) == "印西市1-2 ハイツ"
    assert m.getters["phone"](row) == "0476"
    assert m.unused == ["備考"]


def test_mapping_file_split_columns(tmp_path: Path) -> None:
    toml = tmp_path / "map.toml"
    toml.write_text(
        """
[columns]
legacy_no = "会員No"
name = ["姓漢字", "名漢字"]
phone = { join = ["市外", "局番", "番号"], sep = "-" }
postal_code = { join = ["〒上", "〒下"] , sep = "-" }
date_of_birth = { era = "元号", year = "年", month = "月", day = "日" }

[values.kind]
"9" = "group"

[options]
ignore = ["備考"]
""",
        encoding="utf-8",
    )
    header = ["会員No", "姓漢字", "名漢字", "市外", "局番", "番号", "〒上", "〒下", "元号",
              "年", "月", "日", "備考"]  # fmt: skip
    m = compile_mapping(header, load_mapping_file(toml))
    row = ["A1", "山田", "太郎", "0476", "42", "1111", "270", "1392", "S", "15", "3", "2", ""]
    assert m.getters["name"](row) == "山田 太郎"
    assert m.getters["phone"](row) == "0476-42-1111"
    assert m.getters["postal_code"](row) == "270-1392"
    assert m.era_getter is not None and m.era_getter(row) == ("S", "15", "3", "2")
    assert m.kind_values == {"9": "group"}
    assert m.unused == []


def test_mapping_names_a_missing_column(tmp_path: Path) -> None:
    toml = tmp_path / "map.toml"
    toml.write_text('[columns]\nname = "氏名漢字"\n', encoding="utf-8")
    with pytest.raises(InputError, match="mapping: columns.name: no column '氏名漢字' in the file"):
        compile_mapping(["名前X"], load_mapping_file(toml))


def test_mapping_unknown_field(tmp_path: Path) -> None:
    toml = tmp_path / "map.toml"
    toml.write_text('[columns]\nshoe_size = "靴"\n', encoding="utf-8")
    with pytest.raises(InputError, match="mapping: unknown field 'shoe_size'"):
        compile_mapping(["靴"], load_mapping_file(toml))


def test_bad_toml(tmp_path: Path) -> None:
    toml = tmp_path / "map.toml"
    toml.write_text("[columns\n", encoding="utf-8")
    with pytest.raises(InputError, match="map.toml: not a valid TOML mapping"):
        load_mapping_file(toml)


def test_no_name_column() -> None:
    with pytest.raises(InputError, match="no name column"):
        compile_mapping(["登録番号", "電話番号"])


def test_guide_mapping_example_compiles(tmp_path: Path) -> None:
    guide = (Path(__file__).resolve().parents[1] / "docs" / "guide-migration.md").read_text("utf-8")
    block = guide.split("```toml\n", 1)[1].split("```", 1)[0]
    toml = tmp_path / "map.toml"
    toml.write_text(block, encoding="utf-8")
    header = ["会員No", "姓漢字", "名漢字", "ｼﾒｲ", "市外局番", "局番", "番号", "〒上3桁", "〒下4桁",
              "元号", "年", "月", "日", "住所", "方書", "区分", "備考", "最終利用日"]  # fmt: skip
    m = compile_mapping(header, load_mapping_file(toml))
    assert m.unused == []
    assert m.sources["kind"] == "区分"
    assert m.kind_values == {"0": "individual", "9": "group"}
    row = ["1", "山田", "太郎", "ﾔﾏﾀﾞ", "0476", "42", "1111", "270", "1392", "S", "15", "3", "2",
           "印西市1-2", "101", "9", "", ""]  # fmt: skip
    assert m.getters["phone"](row) == "0476-42-1111"
    assert m.getters["address"](row) == "印西市1-2 101"
