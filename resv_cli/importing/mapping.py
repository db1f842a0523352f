"""Which column of a legacy file feeds which registrant field.

Without a mapping file, the usual Japanese headings are recognised (区分,
登録番号, 氏名 or 姓+名, フリガナ, 生年月日, 郵便番号, 住所, 電話番号, 緊急連絡先氏名,
緊急連絡先電話番号, 団体名, 代表者氏名 and common variants).  A TOML mapping file
handles anything else, including values split over several columns::

    [columns]
    legacy_no = "会員No"
    name = ["姓漢字", "名漢字"]                            # joined with a space
    phone = { join = ["市外局番", "局番", "番号"], sep = "-" }
    postal_code = { join = ["〒上3桁", "〒下4桁"], sep = "-" }
    date_of_birth = { era = "元号", year = "年", month = "月", day = "日" }

    status = "会員状態"                                    # 登録状態: active, suspended, deleted
    card_valid_until = "カード有効期限"                     # 有効期限 (card_valid_from too)

    [values.kind]            # legacy codes of the 区分 column
    "0" = "individual"
    "9" = "group"

    [values.status]          # legacy codes of the status column (有効, 停止, 削除... are known)
    "A" = "active"
    "S" = "suspended"
    "X" = "deleted"          # a deleted registration is not imported: counted as skipped

    [options]
    ignore = ["備考"]         # columns read but not imported, silently
    empty = ["なし", "未設定", "-"]   # cells that mean "none": read as empty, in every column

The compiled form is a list of getters over a record's list of strings; building
it once keeps the per-record work to index lookups.
"""

from __future__ import annotations

import tomllib
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any, NoReturn

from resv_cli.core.errors import InputError
from resv_cli.core.i18n import N_, _
from resv_cli.core.jpnorm import DASHES
from resv_cli.records import fields

FIELDS = (
    "kind",
    "legacy_no",
    "name",
    "kana",
    "date_of_birth",
    "postal_code",
    "address",
    "phone",
    "emergency_name",
    "emergency_phone",
    "group_name",
    "representative_name",
    "status",
    "status_since",
    "status_reason",
    "card_valid_from",
    "card_valid_until",
)
# Japanese labels for messages and the rejects file
LABELS = {
    "kind": "区分",
    "legacy_no": "登録番号",
    "name": "氏名",
    "kana": "フリガナ",
    "date_of_birth": "生年月日",
    "postal_code": "郵便番号",
    "address": "住所",
    "phone": "電話番号",
    "emergency_name": "緊急連絡先氏名",
    "emergency_phone": "緊急連絡先電話番号",
    "group_name": "団体名",
    "representative_name": "代表者氏名",
    "status": "登録状態",
    "status_since": "状態変更日",
    "status_reason": "状態変更理由",
    "card_valid_from": "有効開始日",
    "card_valid_until": "有効期限",
}

_ALIASES: dict[str, list[str]] = {
    "kind": ["区分", "登録区分", "種別", "個人団体", "個人団体区分", "個人/団体", "利用者区分"],
    "legacy_no": [
        "登録番号", "利用者番号", "会員番号", "登録者番号", "利用者ID", "登録NO", "登録NO.",
        "利用者NO", "ID", "カード番号", "番号",
    ],
    "name": ["氏名", "名前", "利用者名", "利用者氏名", "氏名漢字", "漢字氏名", "登録者氏名"],
    "surname": ["姓", "氏", "姓漢字"],
    "given_name": ["名", "名漢字"],
    "kana": [
        "フリガナ", "ふりがな", "カナ", "カナ氏名", "氏名カナ", "氏名フリガナ", "ヨミ", "よみがな",
        "シメイ", "フリガナ氏名",
    ],
    "kana_surname": ["セイ", "姓カナ", "姓フリガナ"],
    "kana_given": ["メイ", "名カナ", "名フリガナ"],
    "date_of_birth": ["生年月日", "誕生日", "生年月日和暦", "生年月日西暦"],
    "postal_code": ["郵便番号", "〒", "郵便", "郵便番号7桁"],
    "address": ["住所", "住所1", "所在地", "現住所"],
    "address_2": ["住所2", "方書", "建物名", "住所2建物名"],
    "phone": ["電話番号", "電話", "TEL", "自宅電話番号", "連絡先電話番号", "電話番号1", "連絡先"],
    "emergency_name": ["緊急連絡先氏名", "緊急連絡先名", "緊急連絡先", "緊急連絡先氏名漢字"],
    "emergency_phone": ["緊急連絡先電話番号", "緊急連絡先電話", "緊急連絡先TEL", "緊急電話番号"],
    "group_name": ["団体名", "団体名称", "団体名漢字"],
    "representative_name": ["代表者氏名", "代表者名", "代表者"],
    "status": ["登録状態", "状態", "利用状態", "会員状態", "ステータス", "登録ステータス"],
    "status_since": ["状態変更日", "異動日", "停止日", "削除日", "抹消日"],
    "status_reason": ["状態変更理由", "異動理由", "停止理由", "削除理由", "抹消理由"],
    "card_valid_from": ["有効開始日", "有効期間開始日", "有効期間開始", "有効期間自"],
    "card_valid_until": [
        "有効期限", "有効期限日", "カード有効期限", "有効期間終了日", "有効期間終了", "有効期間至",
    ],
}  # fmt: skip
# Each list runs from the most specific heading to the most generic: when several
# headings of a file match one field, the earliest in its list wins (登録番号 over
# 番号, 会員番号 over ID, 電話番号 over 連絡先), whatever the column order.
_JOIN_SEP = {"name": " ", "kana": " ", "address": " ", "phone": "-", "postal_code": "-"}


def heading_key(text: str) -> str:
    """Fold a heading for matching: NFKC, no spaces or brackets, upper case."""
    s = unicodedata.normalize("NFKC", text)
    for ch in " \u3000()（）[]【】「」_・":
        s = s.replace(ch, "")
    return s.upper()


# folded heading -> (field, rank of the alias in its list)
_ALIAS_INDEX = {heading_key(a): (f, rank) for f, names in _ALIASES.items()
                for rank, a in enumerate(names)}  # fmt: skip

Getter = Callable[[list[str]], Any]


@dataclass
class Mapping:
    """The compiled mapping: a getter per field, plus what the summary reports."""

    getters: dict[str, Getter] = field(default_factory=dict)
    era_getter: Getter | None = None  # date of birth as (era, year, month, day)
    sources: dict[str, str] = field(default_factory=dict)  # field -> column label(s)
    kind_values: dict[str, str] = field(default_factory=dict)
    status_values: dict[str, str] = field(default_factory=dict)  # folded code -> status
    # cells read as empty ([options] empty), with their width variants
    empty_values: frozenset[str] = frozenset()
    unused: list[str] = field(default_factory=list)

    def label(self, name: str) -> str:
        return self.sources.get(name) or LABELS.get(name, name)


def _joiner(indexes: list[int], sep: str) -> Getter:
    def get(row: list[str]) -> str:
        return sep.join(p for p in (row[i].strip() for i in indexes) if p)

    return get


def _index(header_index: dict[str, int], column: Any, where: str) -> int:
    if not isinstance(column, str):
        raise InputError(_("mapping: {key} must name a column").format(key=where))
    i = header_index.get(column.strip())
    if i is None:
        i = header_index.get(heading_key(column))
    if i is None:
        raise InputError(
            _("mapping: {key}: no column {column!r} in the file").format(key=where, column=column)
        )
    return i


_TO_FULL_WIDTH = str.maketrans({chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)})


def empty_variants(words: list[str]) -> frozenset[str]:
    """The cells that read as empty: each word trimmed, in half and full width."""
    out: set[str] = set()
    for w in words:
        w = w.strip()
        folded = unicodedata.normalize("NFKC", w)
        out.update((w, folded, folded.translate(_TO_FULL_WIDTH)))
        if "-" in folded:  # the dashes a ledger writes for "none"
            out.update(folded.replace("-", d) for d in DASHES)
    return frozenset(v for v in out if v)


def load_mapping_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(_("{file}: no such mapping file").format(file=path)) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(
            _("{file}: not a valid TOML mapping: {problem}").format(file=path.name, problem=exc)
        ) from None
    unknown = set(data) - {"columns", "values", "options"}
    if unknown:
        raise InputError(
            _("{file}: unknown section(s): {names}").format(
                file=path.name, names=", ".join(sorted(unknown))
            )
        )
    _check_types(path.name, data)
    return data


def _kind_of(value: Any) -> str:
    return _(_TOML_KINDS.get(type(value), N_("a date or time")))


_TOML_KINDS = {str: N_("a string"), int: N_("an integer"), float: N_("a number"),
               bool: N_("true or false"), list: N_("a list"), dict: N_("a table")}  # fmt: skip
_DATE_PARTS = ("era", "year", "month", "day")


def _check_types(name: str, data: dict[str, Any]) -> None:
    """Refuse values of the wrong TOML type, naming the file and the key.

    Without this, a string where a list belongs is iterated one character at a
    time, and a list where a table belongs fails deep inside with no key named.
    """

    def fail(message: str, **values: Any) -> NoReturn:
        """Refuse with ``message`` (English, translated here) formatted with ``values``."""
        raise InputError(
            _("{file}: {problem}").format(file=name, problem=_(message).format(**values))
        )

    def table(key: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            fail(N_("{key} must be a table ([{key}]), not {kind}"), key=key, kind=_kind_of(value))
        return value

    def column_list(key: str, value: Any, may_be_empty: bool = False) -> None:
        if not isinstance(value, list):
            fail(
                N_("{key} must be a list of column names, not {kind}"),
                key=key,
                kind=_kind_of(value),
            )
        if not value and not may_be_empty:
            fail(N_("{key}: the list of columns is empty"), key=key)
        for n, c in enumerate(value, 1):
            if not isinstance(c, str):
                fail(
                    N_("{key}: entry {n} must be a column name in quotes, not {kind}"),
                    key=key,
                    n=n,
                    kind=_kind_of(c),
                )

    for field_name, value in table("columns", data.get("columns", {})).items():
        key = f"columns.{field_name}"
        if isinstance(value, list):
            column_list(key, value)
        elif isinstance(value, dict) and "join" in value:
            column_list(f"{key}.join", value["join"])
            if not isinstance(value.get("sep", ""), str):
                fail(
                    N_("{key}.sep must be a string, not {kind}"),
                    key=key,
                    kind=_kind_of(value["sep"]),
                )
            if extra := set(value) - {"join", "sep"}:
                fail(
                    N_("{key}: unknown key(s) {names} (use join and sep)"),
                    key=key,
                    names=", ".join(sorted(extra)),
                )
        elif isinstance(value, dict) and "era" in value:
            for part in _DATE_PARTS:
                if part in value and not isinstance(value[part], str):
                    fail(
                        N_("{key}.{part} must be a column name in quotes, not {kind}"),
                        key=key,
                        part=part,
                        kind=_kind_of(value[part]),
                    )
            if extra := set(value) - set(_DATE_PARTS):
                fail(
                    N_("{key}: unknown key(s) {names} (use era, year, month, day)"),
                    key=key,
                    names=", ".join(sorted(extra)),
                )
        elif not isinstance(value, str):
            fail(
                N_(
                    "{key} must be a column name, a list of columns, "
                    '{{ join = [...], sep = "-" }} or {{ era, year, month, day }}, not {kind}'
                ),
                key=key,
                kind=_kind_of(value),
            )
    values = table("values", data.get("values", {}))
    if extra := set(values) - {"kind", "status"}:
        fail(
            N_("unknown value table(s) {names} (only [values.kind] and [values.status])"),
            names=", ".join(sorted(extra)),
        )
    table("values.kind", values.get("kind", {}))
    for code, value in table("values.status", values.get("status", {})).items():
        if value not in fields.STATUSES:
            fail(N_("values.status.{code} must be active, suspended or deleted"), code=code)
    options = table("options", data.get("options", {}))
    if extra := set(options) - {"ignore", "empty"}:
        fail(
            N_("unknown option(s) {names} (only ignore and empty)"),
            names=", ".join(sorted(extra)),
        )
    if "ignore" in options:
        column_list("options.ignore", options["ignore"], may_be_empty=True)
    if "empty" in options:
        empty = options["empty"]
        if not isinstance(empty, list) or not all(isinstance(v, str) for v in empty):
            fail(N_('options.empty must be a list of texts in quotes, e.g. ["なし", "-"]'))
        if any(not v.strip() for v in empty):
            fail(N_("options.empty: an entry is blank (blank cells are empty already)"))


def compile_mapping(header: list[str], spec: dict[str, Any] | None = None) -> Mapping:
    """Match the header against the mapping file (if any) and the known headings."""
    spec = spec or {}
    header_index: dict[str, int] = {}
    for i, h in enumerate(header):
        header_index.setdefault(h, i)
        header_index.setdefault(heading_key(h), i)
    m = Mapping()
    used: set[int] = set()
    columns = spec.get("columns", {})
    for name, value in columns.items():
        if name not in FIELDS:
            raise InputError(
                _("mapping: unknown field {name!r} (fields: {fields})").format(
                    name=name, fields=", ".join(FIELDS)
                )
            )
        where = f"columns.{name}"
        if isinstance(value, str):
            i = _index(header_index, value, where)
            used.add(i)
            m.getters[name] = itemgetter(i)
            m.sources[name] = header[i]
        elif isinstance(value, list):
            idx = [_index(header_index, c, where) for c in value]
            used.update(idx)
            m.getters[name] = _joiner(idx, _JOIN_SEP.get(name, ""))
            m.sources[name] = "+".join(header[i] for i in idx)
        elif isinstance(value, dict) and "join" in value:
            idx = [_index(header_index, c, where) for c in value["join"]]
            used.update(idx)
            m.getters[name] = _joiner(idx, str(value.get("sep", _JOIN_SEP.get(name, ""))))
            m.sources[name] = "+".join(header[i] for i in idx)
        elif isinstance(value, dict) and name == "date_of_birth" and "era" in value:
            parts = [_index(header_index, value.get(k), f"{where}.{k}") for k in
                     ("era", "year", "month", "day")]  # fmt: skip
            used.update(parts)
            m.era_getter = itemgetter(*parts)
            m.sources[name] = "+".join(header[i] for i in parts)
        else:
            raise InputError(
                _(
                    "mapping: {key} must be a column name, a list of columns, "
                    '{{ join = [...], sep = "-" }} or {{ era, year, month, day }}'
                ).format(key=where)
            )
    # headings recognised without a mapping file, for fields not mapped explicitly
    found: dict[str, int] = {}
    found_rank: dict[str, int] = {}
    for i, h in enumerate(header):
        hit = _ALIAS_INDEX.get(heading_key(h))
        if hit is None or i in used:
            continue
        f, rank = hit
        if f not in found or rank < found_rank[f]:  # a tie keeps the leftmost column
            found[f], found_rank[f] = i, rank
    mapped = set(m.getters) | ({"date_of_birth"} if m.era_getter else set())

    def take(fname: str, parts: list[str]) -> None:
        if fname in mapped or not all(p in found for p in parts):
            return
        idx = [found[p] for p in parts]
        used.update(idx)
        m.getters[fname] = (
            itemgetter(idx[0]) if len(idx) == 1 else _joiner(idx, _JOIN_SEP.get(fname, ""))
        )
        m.sources[fname] = "+".join(header[i] for i in idx)
        mapped.add(fname)

    if "address" not in mapped and "address" in found and "address_2" in found:
        take("address", ["address", "address_2"])
    for fname in FIELDS:
        take(fname, [fname])
    take("name", ["surname", "given_name"])
    take("kana", ["kana_surname", "kana_given"])
    kind_values = spec.get("values", {}).get("kind", {})
    for k, v in kind_values.items():
        if v not in ("individual", "group"):
            raise InputError(
                _("mapping: values.kind.{code} must be individual or group").format(code=k)
            )
    m.kind_values = {str(k).strip().lower(): v for k, v in kind_values.items()}
    status_values = spec.get("values", {}).get("status", {})
    for k, v in status_values.items():
        if v not in fields.STATUSES:
            raise InputError(
                _("mapping: values.status.{code} must be active, suspended or deleted").format(
                    code=k
                )
            )
    m.status_values = {fields.status_word(str(k)): v for k, v in status_values.items()}
    m.empty_values = empty_variants(spec.get("options", {}).get("empty", []))
    ignore = {heading_key(c) for c in spec.get("options", {}).get("ignore", [])}
    m.unused = [h for i, h in enumerate(header) if i not in used and heading_key(h) not in ignore]
    if "name" not in m.getters and "group_name" not in m.getters:
        raise InputError(
            _("no name column: expected 氏名 (or 姓 and 名) or 団体名; map it with --mapping")
        )
    return m
