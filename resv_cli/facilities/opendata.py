"""Import of 公共施設一覧 files of the 自治体標準オープンデータセット (``resv facility import``).

Two layouts are read, recognised by their headers:

* the older 推奨データセット layout (24 columns: 都道府県コード又は市区町村コード, NO,
  ..., 名称, 名称_カナ, 名称_通称, POIコード, 住所, 方書, 緯度, 経度, 電話番号, ...,
  利用可能曜日, 開始時間, 終了時間, 利用可能日時特記事項, ...);
* the current 自治体標準オープンデータセット layout (56 columns: 全国地方公共団体コード,
  ID, 地方公共団体名, 名称, 名称_カナ, 名称_英字 or 名称_英語, ..., 所在地_全国地方公共団体コード,
  町字ID, 所在地_連結表記, ..., 開始時間, 終了時間, 利用可能時間特記事項, ...).

Headers are matched after NFKC folding and with a "（必須）" / "(任意)" style suffix
removed.  The encoding is detected per file: a UTF-8 BOM, else strict UTF-8, else
strict cp932 (Shift_JIS as Windows writes it); a file that is none of these is refused.

The local-government code (全国地方公共団体コード, JIS X 0402) is checked with its check
digit: the first five digits are weighted 6, 5, 4, 3, 2, the sum is taken modulo 11
and the check digit is the last digit of 11 minus that remainder (remainder 0 -> 1,
remainder 1 -> 0).  E.g. 13119 -> 6+15+4+3+18 = 46, 46 mod 11 = 2, 11-2 = 9: 131199.

Rows are keyed by (local-government code, ID): importing the same file again updates
those facilities and never creates duplicates.  A row that cannot be trusted is
rejected with its row number (the header is row 1), column and reason, and is not
loaded; the rest of the file is.  A file-level problem (encoding, missing required
column) refuses the whole file and writes nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select

from resv_cli.audit import chain as audit
from resv_cli.core import clock
from resv_cli.core.errors import InputError
from resv_cli.core.i18n import N_, _
from resv_cli.core.models import Facility, FacilityCategory, ImportBatch, ImportReject
from resv_cli.core.normalize import TEXT_MAX, text_problem
from resv_cli.facilities.catalogue import parse_hours

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from resv_cli.core.context import Actor

# canonical key -> header names (after folding) that mean it
ALIASES: dict[str, tuple[str, ...]] = {
    "lg_code": ("全国地方公共団体コード", "都道府県コード又は市区町村コード", "市区町村コード"),
    "id": ("ID", "NO", "No", "番号"),
    "lg_name": ("地方公共団体名", "市区町村名"),
    "name": ("名称",),
    "kana": ("名称_カナ", "名称カナ"),
    "english": ("名称_英字", "名称_英語"),
    "address": ("所在地_連結表記", "住所", "所在地"),
    "building": ("建物名等(方書)", "方書"),
    "latitude": ("緯度",),
    "longitude": ("経度",),
    "phone": ("電話番号",),
    "opens": ("開始時間",),
    "closes": ("終了時間",),
    "hours_note": ("利用可能時間特記事項", "利用可能日時特記事項"),
    "days": ("利用可能曜日",),
    "location_lg_code": ("所在地_全国地方公共団体コード",),
    "town_id": ("町字ID",),
}
REQUIRED = ("lg_code", "id", "name")
# header shown in messages for a canonical key: the file's own spelling is used

_SUFFIX_RE = re.compile(r"[（(](必須|任意|推奨)[)）]$")

# category guessed from the facility's name for new facilities (first match wins)
CATEGORY_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("老人憩の家", "senior_rest_house"),
    ("老人憩いの家", "senior_rest_house"),
    ("老人福祉センター", "senior_welfare_centre"),
    ("福祉作業所", "workshop"),
    ("福祉センター", "welfare_centre"),
    ("児童館", "children_centre"),
    ("児童センター", "children_centre"),
    ("子ども", "children_centre"),
    ("体育館", "sports"),
    ("運動場", "sports"),
    ("プール", "sports"),
    ("グラウンド", "sports"),
    ("野球場", "sports"),
    ("庭球場", "sports"),
    ("スポーツ", "sports"),
    ("武道館", "sports"),
    ("文化会館", "culture_hall"),
    ("文化センター", "culture_hall"),
    ("ホール", "culture_hall"),
    ("公民館", "community_centre"),
    ("集会所", "community_centre"),
    ("地域センター", "community_centre"),
    ("ふれあい館", "community_centre"),
    ("コミュニティ", "community_centre"),
    ("図書館", "library"),
    ("公園", "park"),
    ("小学校", "school"),
    ("中学校", "school"),
    ("高等学校", "school"),
    ("役所", "office"),
    ("支所", "office"),
    ("庁舎", "office"),
)


def check_digit(first5: str) -> int:
    """JIS X 0402 check digit of a five-digit local-government code."""
    total = sum(int(d) * w for d, w in zip(first5, (6, 5, 4, 3, 2), strict=True))
    return (11 - total % 11) % 10


NOT_LG_CODE = N_("{code!r} is not a valid 6-digit local-government code (check digit)")


def valid_lg_code(code: str) -> bool:
    """True for a six-digit local-government code whose check digit is right."""
    return bool(re.fullmatch(r"\d{6}", code)) and check_digit(code[:5]) == int(code[5])


def fold_header(name: str) -> str:
    name = unicodedata.normalize("NFKC", name).strip().strip('"').strip()
    return _SUFFIX_RE.sub("", name).strip()


def decode(data: bytes, file_name: str) -> tuple[str, str]:
    """Return (text, encoding name) for UTF-8 with/without BOM or cp932; refuse others."""
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise InputError(
                _("{file}: starts with a UTF-8 BOM but byte {offset} is not UTF-8").format(
                    file=file_name, offset=exc.start + 3
                )
            ) from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp932"), "cp932"
    except UnicodeDecodeError as exc:
        raise InputError(
            _(
                "{file}: neither UTF-8 nor cp932 (Shift_JIS); undecodable byte at offset {offset}"
            ).format(file=file_name, offset=exc.start)
        ) from None


@dataclass
class ImportReport:
    file: str
    encoding: str
    layout: str
    dry_run: bool
    records_read: int = 0
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    repaired: int = 0
    rejects: list[dict[str, Any]] = field(default_factory=list)
    batch_id: int | None = None

    @property
    def rejected(self) -> int:
        return len({r["row"] for r in self.rejects if r["kind"] == "rejected"})

    def summary(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "encoding": self.encoding,
            "layout": self.layout,
            "dry_run": self.dry_run,
            "records_read": self.records_read,
            "imported": self.imported,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "repaired": self.repaired,
            "rejected": self.rejected,
            "batch_id": self.batch_id,
        }

    def as_dict(self) -> dict[str, Any]:
        return {**self.summary(), "rejects": self.rejects}


@dataclass
class _Row:
    row_no: int
    lg_code: str
    source_id: str
    values: dict[str, Any]
    category: str


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = unicodedata.normalize("NFC", value).strip()
    return value or None


def _time(value: str) -> str | None:
    m = re.fullmatch(r"(\d{1,2}):(\d{2})(?::00)?", unicodedata.normalize("NFKC", value).strip())
    if not m or int(m.group(1)) > 24 or int(m.group(2)) > 59:
        return None
    return f"{int(m.group(1)):02d}:{m.group(2)}"


def _guess_category(name: str, default: str) -> str:
    # a bracketed part names where it is, not what it is: 避難地倉庫（大富小学校）
    name = re.sub(r"[（(][^）)]*[）)]", "", name)
    for word, cat in CATEGORY_KEYWORDS:
        if word in name:
            return cat
    return default


def _parse(
    text: str, file_name: str, default_category: str, repair_shifted: bool, report: ImportReport
) -> list[_Row]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(_("{file}: the file is empty").format(file=file_name)) from None
    folded = [fold_header(h) for h in header]
    col: dict[str, int] = {}
    spelled: dict[str, str] = {}
    for key, names in ALIASES.items():
        for i, h in enumerate(folded):
            if h in names:
                col[key] = i
                spelled[key] = h
                break
    missing = [ALIASES[k][0] for k in REQUIRED if k not in col]
    if missing:
        raise InputError(
            _(
                "{file}: row 1: missing column {missing} "
                "(not a 公共施設一覧 file of the 自治体標準オープンデータセット?)"
            ).format(file=file_name, missing=", ".join(missing))
        )
    current = "town_id" in col or spelled["lg_code"] == ALIASES["lg_code"][0]
    report.layout = "current" if current else "older"

    def reject(row_no: int, key: str | None, reason: str, kind: str = "rejected") -> None:
        report.rejects.append(
            {
                "file": file_name,
                "row": row_no,
                "column": spelled.get(key, key) if key else "",
                "kind": kind,
                "reason": reason,
            }
        )

    rows: list[_Row] = []
    seen: dict[tuple[str, str], int] = {}
    for row_no, raw in enumerate(reader, start=2):
        if not any(v.strip() for v in raw):
            continue  # blank line
        report.records_read += 1
        if len(raw) != len(header):
            reject(
                row_no,
                None,
                _("{n} fields where the header has {header}").format(
                    n=len(raw), header=len(header)
                ),
            )
            continue

        def get(key: str, _raw: list[str] = raw) -> str | None:
            return _clean(_raw[col[key]]) if key in col else None

        # the one input rule: no control character, nothing longer than a note
        unfit = [(k, why) for k, i in col.items() if (why := text_problem(raw[i], TEXT_MAX))]
        if unfit:
            reject(row_no, unfit[0][0], unfit[0][1])
            continue
        bad = False
        lg_code = unicodedata.normalize("NFKC", get("lg_code") or "")
        if not lg_code:
            reject(row_no, "lg_code", _("empty; a 6-digit local-government code is required"))
            bad = True
        elif not valid_lg_code(lg_code):
            reject(row_no, "lg_code", _(NOT_LG_CODE).format(code=lg_code))
            bad = True
        source_id = unicodedata.normalize("NFKC", get("id") or "")
        if not source_id:
            reject(row_no, "id", _("empty; the ID keys re-imports"))
            bad = True
        elif len(source_id) > 64:
            reject(row_no, "id", _("longer than 64 characters"))
            bad = True
        name = get("name")
        if not name:
            reject(row_no, "name", _("empty; every facility needs a name"))
            bad = True
        location_code = unicodedata.normalize("NFKC", get("location_lg_code") or "")
        town_id = unicodedata.normalize("NFKC", get("town_id") or "")
        if location_code and not valid_lg_code(location_code):
            reject(row_no, "location_lg_code", _(NOT_LG_CODE).format(code=location_code))
            bad = True
        shifted = not location_code and bool(town_id) and valid_lg_code(town_id)
        if shifted and not repair_shifted:
            reject(
                row_no,
                "town_id",
                _(
                    "holds the local-government code {code}, not a town-area ID: "
                    "所在地_全国地方公共団体コード is shifted one column right; row not loaded "
                    "(fix the file, or load with --repair-shifted)"
                ).format(code=town_id),
            )
            bad = True
        values: dict[str, Any] = {
            "name": name,
            "kana": get("kana"),
            "address": _join(get("address"), get("building")),
            "phone": get("phone"),
            "latitude": get("latitude"),
            "longitude": get("longitude"),
        }
        for key in ("latitude", "longitude"):
            v = values[key]
            if v is not None:
                try:
                    num = float(unicodedata.normalize("NFKC", v))
                except ValueError:
                    num = None
                limit = 90 if key == "latitude" else 180
                if num is None or not -limit <= num <= limit:
                    not_a = (
                        _("{value!r} is not a latitude")
                        if key == "latitude"
                        else _("{value!r} is not a longitude")
                    )
                    reject(row_no, key, not_a.format(value=v))
                    bad = True
        opens_raw, closes_raw = get("opens"), get("closes")
        note = get("hours_note")
        days = get("days")
        hours: tuple[str, str] | None = None
        if opens_raw or closes_raw:
            o = _time(opens_raw or "")
            c = _time(closes_raw or "")
            if o is None:
                reject(
                    row_no, "opens", _("{value!r} is not a time like 09:00").format(value=opens_raw)
                )
                bad = True
            if c is None:
                reject(
                    row_no,
                    "closes",
                    _("{value!r} is not a time like 17:00").format(value=closes_raw),
                )
                bad = True
            if o and c:
                if c <= o:
                    reject(
                        row_no,
                        "closes",
                        _("closing time {closes} is not after opening {opens}").format(
                            closes=c, opens=o
                        ),
                    )
                    bad = True
                hours = (o, c)
        elif note:
            try:
                hours = parse_hours(note)
            except InputError as exc:
                reject(row_no, "hours_note", str(exc))
                bad = True
        values["opens_at"], values["closes_at"] = hours if hours else (None, None)
        values["hours_note"] = "\n".join(x for x in (days and f"曜日: {days}", note) if x) or None
        if bad:
            continue
        ident = (lg_code, source_id)
        if ident in seen:
            reject(
                row_no,
                "id",
                _("ID {id} already on row {row} of this file").format(
                    id=source_id, row=seen[ident]
                ),
                kind="duplicate",
            )
            continue
        seen[ident] = row_no
        if shifted:
            report.repaired += 1
            reject(
                row_no,
                "town_id",
                _(
                    "local-government code {code} moved back to 所在地_全国地方公共団体コード "
                    "(--repair-shifted); row loaded"
                ).format(code=town_id),
                kind="repaired",
            )
        assert name is not None
        rows.append(
            _Row(row_no, lg_code, source_id, values, _guess_category(name, default_category))
        )
    return rows


def _join(address: str | None, building: str | None) -> str | None:
    if address and building:
        return f"{address} {building}"
    return address or building


def _code_for(lg_code: str, source_id: str) -> str:
    sid = re.sub(r"[^a-z0-9_-]", "-", source_id.lower())
    return f"{lg_code}-{sid}"[:40]


def import_facilities(
    session: Session,
    actor: Actor | None,
    path: Path,
    *,
    dry_run: bool = False,
    default_category: str | None = None,
    repair_shifted: bool = False,
) -> ImportReport:
    """Load a 公共施設一覧 file (admin); with ``dry_run`` check and count but write nothing."""
    from resv_cli.core.context import require_role

    require_role(actor, "admin", action="facility.import")
    default_category = default_category or "other"
    if session.get(FacilityCategory, default_category) is None:
        raise InputError(_("unknown category {code!r}").format(code=default_category))
    data = path.read_bytes()
    text, encoding = decode(data, path.name)
    report = ImportReport(file=path.name, encoding=encoding, layout="", dry_run=dry_run)
    rows = _parse(text, path.name, default_category, repair_shifted, report)

    existing = (
        {
            (f.source_lg_code, f.source_id): f
            for f in session.execute(
                select(Facility).where(Facility.source_lg_code.in_({r.lg_code for r in rows}))
            ).scalars()
        }
        if rows
        else {}
    )
    taken_codes = {c for (c,) in session.execute(select(Facility.code))}
    now = clock.now()
    to_add: list[dict[str, Any]] = []
    for r in rows:
        fac = existing.get((r.lg_code, r.source_id))
        if fac is None:
            code = _code_for(r.lg_code, r.source_id)
            if code in taken_codes:
                report.rejects.append(
                    {
                        "file": path.name,
                        "row": r.row_no,
                        "column": "",
                        "kind": "rejected",
                        "reason": _(
                            "facility code {code} is already used by another facility"
                        ).format(code=code),
                    }
                )
                continue
            taken_codes.add(code)
            report.imported += 1
            to_add.append(
                {
                    "code": code,
                    "category": r.category,
                    "source_lg_code": r.lg_code,
                    "source_id": r.source_id,
                    "created_at": now,
                    "updated_at": now,
                    **r.values,
                }
            )
            continue
        changed = [k for k, v in r.values.items() if getattr(fac, k) != v]
        if changed:
            report.updated += 1
            if not dry_run:
                for k in changed:
                    setattr(fac, k, r.values[k])
                fac.updated_at = now
        else:
            report.unchanged += 1
    report.rejects.sort(key=lambda x: (x["row"], x["column"]))
    if dry_run:
        return report

    if to_add:
        # a bulk INSERT of plain rows: about 5x faster than ORM objects (bench/)
        session.execute(insert(Facility), to_add)
    batch = ImportBatch(
        kind="facilities",
        file_name=path.name,
        file_sha256=hashlib.sha256(data).hexdigest(),
        account_id=actor.account_id if actor else None,
        status="completed",
        options=json.dumps(
            {"category": default_category, "repair_shifted": repair_shifted}, sort_keys=True
        ),
        records_read=report.records_read,
        imported=report.imported,
        updated=report.updated,
        rejected=report.rejected,
        duplicates=sum(1 for x in report.rejects if x["kind"] == "duplicate"),
        unchanged=report.unchanged,
        checkpoint=report.records_read,
        started_at=now,
        finished_at=clock.now(),
    )
    session.add(batch)
    session.flush()
    report.batch_id = batch.id
    stored = {}
    for rej in report.rejects:
        if rej["kind"] == "repaired":
            continue  # loaded rows; the summary counts them
        stored[(rej["row"], rej["column"])] = ImportReject(
            batch_id=batch.id,
            record_no=rej["row"],
            column_name=rej["column"],
            kind=rej["kind"],
            reason=rej["reason"][:300],
        )
    session.add_all(stored.values())
    session.flush()
    audit.record(
        session,
        actor,
        "facility.import",
        resource_type="import_batch",
        resource_id=batch.id,
        detail={
            "file_sha256": batch.file_sha256,
            "encoding": encoding,
            "layout": report.layout,
            "records_read": report.records_read,
            "imported": report.imported,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "rejected": report.rejected,
            "repaired": report.repaired,
        },
    )
    return report
