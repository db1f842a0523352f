"""Import legacy registrant records: read, normalise, validate, de-duplicate, insert.

The pipeline streams the file in pieces of up to ``PIECE`` records and commits
every ``chunk_size`` records (``DEFAULT_CHUNK``: 10,000).  Each commit inserts the
registrants, records the rejects and moves the batch's ``checkpoint`` (the last
record number committed) in one transaction: a killed import is finished by
``resume_import`` with nothing lost or doubled.

Classification of a valid record, in this order (K = keys of earlier records of
this file that were imported, updated or found unchanged; L = the legacy
registration number; P = search key of the name + date of birth, or the group
name):

1. L in K                         -> duplicate within the file
2. L already in the database      -> unchanged, or (different data) per --on-conflict
3. P in K                         -> duplicate within the file
4. P already in the database      -> duplicate of an existing registrant
5. otherwise                      -> imported

K lives in the database itself (rows of this batch) plus a TEMP table of the keys
of records that matched rows of earlier batches; so memory stays flat whatever
the file size, and a resumed run rebuilds exactly the same K by replaying the
committed prefix of the file without writing.

Two processes (``resv_cli.importing.feed``): a forked reader decodes, parses and
normalises the file and sends chunks through a pipe; this process classifies and
writes them, one chunk behind.  The reader also keeps a Bloom filter
(``KeyFilter``) of the facility's stored keys and of every earlier record's keys:
a record whose keys are surely absent needs no database lookup, so on a first
import almost nothing is looked up; a "maybe" is settled by the database, so the
classification stays exact.  Rows that others store for the facility during the
run are read back each chunk (``_Db.late_keys``); every writer of a facility's
registrants holds ``lock_facility_registrants`` while inserting, which makes that
exact on PostgreSQL as on SQLite.

Hot path: no ORM.  SQLite gets ``executemany`` on the DBAPI cursor (the import
connection checks the chunk's three foreign keys once per chunk instead of once
per row); PostgreSQL gets psycopg's ``COPY`` (no conflict handling is needed in
SQL: every row has been classified against the database in the same
transaction).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import hashlib
import itertools
import json
import tempfile
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, insert, text, update

from resv_cli.audit import chain as audit
from resv_cli.core import clock
from resv_cli.core.db import BatchRunLock, lock_facility_registrants
from resv_cli.core.errors import Conflict, InputError, NotFound, ResvError
from resv_cli.importing import jpnorm
from resv_cli.importing.feed import ChunkFeed, ReaderDied, chunks
from resv_cli.importing.mapping import LABELS, Mapping, compile_mapping, load_mapping_file
from resv_cli.importing.reader import Source, has_undecodable, open_source, undecodable_reason

# records per committed checkpoint.  Measured (bench/bench_import.py, 2 vCPUs):
# 50,000 on SQLite was not faster than 10,000 (125 s against 114 s for 1,000,000
# records; its 16 MiB page cache spills within a larger transaction), and a short
# transaction keeps the facility lock, which a clerk registering at the counter
# waits for, short on both databases.
DEFAULT_CHUNK = 10_000
# records per piece the reader sends: what either process holds at a time
PIECE = 10_000
ON_CONFLICT = ("skip", "update", "fail")

# R: the normalised record, in this order
R_FIELDS = (
    "kind", "legacy_no", "name", "name_key", "kana", "kana_key", "date_of_birth",
    "postal_code", "address", "phone", "phone_digits", "phone_extension",
    "emergency_name", "emergency_phone", "representative_name",
)  # fmt: skip
CONTENT_IDX = (0, 2, 4, 6, 7, 8, 9, 11, 12, 13, 14)
CONTENT_COLS = tuple(R_FIELDS[i] for i in CONTENT_IDX)
INSERT_COLS = (
    ("facility_id",) + R_FIELDS + ("import_batch_id", "created_by", "created_at", "updated_at")
)
MAX_LEN = {"legacy_no": 64, "name": 200, "kana": 200, "address": 300, "emergency_name": 200,
           "representative_name": 200}  # fmt: skip
_DUP_L = "登録番号"
GAIJI_REASON = (
    "contains an external character (外字) with no standard code; write it with a standard "
    "character"
)
_DUP_P = "氏名+生年月日"


@dataclass
class Counts:
    records_read: int = 0
    imported: int = 0
    updated: int = 0
    rejected: int = 0
    duplicates: int = 0
    unchanged: int = 0

    def add(self, other: Counts) -> None:
        for k in self.__dataclass_fields__:
            setattr(self, k, getattr(self, k) + getattr(other, k))

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @property
    def reconciled(self) -> bool:
        return self.records_read == (
            self.imported + self.updated + self.rejected + self.duplicates + self.unchanged
        )


@dataclass
class ImportOptions:
    kind: str | None = None  # default kind when the file has no 区分 column
    mapping: str | None = None
    encoding: str = "auto"
    dry_run: bool = False
    on_conflict: str = "skip"
    max_rejects: int | None = None
    chunk_size: int | None = None  # records per checkpoint; None: DEFAULT_CHUNK


@dataclass
class ImportResult:
    batch_id: int
    status: str
    file_name: str
    file_sha256: str
    encoding: str | None
    counts: Counts
    resumed_from: int = 0
    unused_columns: list[str] = field(default_factory=list)

    def summary_rows(self) -> list[dict[str, Any]]:
        c = self.counts
        return [
            {"item": "records read", "count": c.records_read},
            {"item": "imported", "count": c.imported},
            {"item": "updated", "count": c.updated},
            {"item": "unchanged", "count": c.unchanged},
            {"item": "duplicates", "count": c.duplicates},
            {"item": "rejected", "count": c.rejected},
        ]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


# --- normalisation of one record -----------------------------------------------------

Reject = tuple[str, str]  # (column label, reason)


def build_normaliser(
    m: Mapping, header: list[str], default_kind: str | None, today: dt.date, sqlite: bool
) -> Callable[[list[str]], tuple[tuple[Any, ...] | None, list[Reject], str | None]]:
    """Compile the per-record function: raw strings -> (R or None, rejects)."""
    g = m.getters
    width = len(header)
    get_kind = g.get("kind")
    get_legacy = g.get("legacy_no")
    get_name = g.get("name")
    get_group = g.get("group_name")
    get_kana = g.get("kana")
    get_dob = g.get("date_of_birth")
    get_era = m.era_getter
    get_postal = g.get("postal_code")
    get_address = g.get("address")
    get_phone = g.get("phone")
    get_em_name = g.get("emergency_name")
    get_em_phone = g.get("emergency_phone")
    get_rep = g.get("representative_name")
    label = m.label
    kind_values = {**jpnorm.KIND_VALUES, **m.kind_values}
    nfc, name_key, reading = jpnorm.nfc, jpnorm.name_key, jpnorm.reading
    postal_code, address, phone = jpnorm.postal_code, jpnorm.address, jpnorm.phone
    FieldError = jpnorm.FieldError
    private_use = jpnorm.PRIVATE_USE.search
    dob_cache: dict[Any, Any] = {}
    # the text fields stored as written, checked for private-use characters (外字)
    stored_as_written = ("legacy_no", "name", "group_name", "kana", "address", "emergency_name",
                         "representative_name")  # fmt: skip
    text_fields = [(f, g[f]) for f in stored_as_written if f in g]

    def dob_of(raw: Any) -> Any:
        try:
            return dob_cache[raw]
        except KeyError:
            pass
        try:
            d = jpnorm.era_date(*raw) if isinstance(raw, tuple) else jpnorm._parse_date(raw)
            if d > today:
                raise FieldError("date of birth is in the future")
            if d.year < 1868:
                raise FieldError("date of birth is before 1868")
            # ISO text on both databases: SQLite stores it so, PostgreSQL's COPY
            # and parameters read it into the date column
            value: Any = d.isoformat()
        except FieldError as exc:
            value = exc
        if len(dob_cache) < 20_000:
            dob_cache[raw] = value
        return value

    def normalise(row: list[str]) -> tuple[tuple[Any, ...] | None, list[Reject], str | None]:
        rejects: list[Reject] = []
        if len(row) != width:
            if len(row) > width and not any(v.strip() for v in row[width:]):
                del row[width:]  # trailing comma(s)
            else:
                n = len(row)
                while n > width and not row[n - 1].strip():
                    n -= 1
                # no registration number: the fields do not line up with the header,
                # so the one under its heading may be anything (a name, say)
                return None, [("", f"record has {n} fields, the header has {width}")], None
        if private_use("\x00".join(row)):
            for f, get in text_fields:
                if private_use(get(row)):
                    rejects.append((label(f), GAIJI_REASON))
        # kind
        if get_kind is not None and (raw := get_kind(row).strip()):
            kind = kind_values.get(raw.lower())
            if kind is None:
                rejects.append((label("kind"), "区分 must be 個人 or 団体"))
                kind = "individual"
        elif default_kind is not None:
            kind = default_kind
        else:
            kind = "group" if get_group is not None and get_name is None else "individual"
        # legacy number (width folded; kept otherwise as written)
        legacy = get_legacy(row).strip() if get_legacy is not None else ""
        if legacy and not legacy.isascii():
            legacy = unicodedata.normalize("NFKC", legacy).strip()
        if len(legacy) > 64:
            rejects.append((label("legacy_no"), "registration number longer than 64 characters"))
        # names
        person = get_name(row) if get_name is not None else ""
        rep = nfc(get_rep(row)) if get_rep is not None else ""
        if kind == "group":
            group = get_group(row) if get_group is not None else ""
            name = nfc(group) if group.strip() else nfc(person)
            name_label = label("group_name") if group.strip() else label("name")
            if not rep and group.strip() and person.strip():
                rep = nfc(person)
        else:
            name = nfc(person)
            name_label = label("name")
        if not name:
            rejects.append((name_label, "name is empty"))
            nkey = ""
        elif len(name) > 200:
            rejects.append((name_label, "name longer than 200 characters"))
            nkey = ""
        else:
            nkey = name_key(name)
        kana = kkey = None
        if get_kana is not None and (raw := get_kana(row).strip()):
            try:
                kana, kkey = reading(raw)
            except FieldError as exc:
                rejects.append((label("kana"), str(exc)))
            else:
                if len(kana) > 200:
                    rejects.append((label("kana"), "reading longer than 200 characters"))
        # date of birth
        dob = None
        if get_era is not None:
            parts = get_era(row)
            if any(p.strip() for p in parts):
                dob = dob_of(tuple(parts))
        elif get_dob is not None and (raw := get_dob(row).strip()):
            dob = dob_of(raw)
        if isinstance(dob, FieldError):
            rejects.append((label("date_of_birth"), str(dob)))
            dob = None
        # postal code, address, phones
        postal = None
        if get_postal is not None and (raw := get_postal(row).strip()):
            try:
                postal = postal_code(raw)
            except FieldError as exc:
                rejects.append((label("postal_code"), str(exc)))
        addr = None
        if get_address is not None and (raw := get_address(row).strip()):
            addr = address(raw)
            if len(addr) > 300:
                rejects.append((label("address"), "address longer than 300 characters"))
        tel = digits = ext = None
        if get_phone is not None and (raw := get_phone(row).strip()):
            try:
                tel, digits, ext = phone(raw)
            except FieldError as exc:
                rejects.append((label("phone"), str(exc)))
        em_name = em_tel = None
        if get_em_name is not None and (raw := get_em_name(row).strip()):
            em_name = nfc(raw)
            if len(em_name) > 200:
                rejects.append(
                    (label("emergency_name"), "emergency contact name longer than 200 characters")
                )
        if get_em_phone is not None and (raw := get_em_phone(row).strip()):
            try:
                em_tel, _, em_ext = phone(raw)
                if em_ext:  # no column of its own: kept with the number, as written
                    em_tel = f"{em_tel} 内線{em_ext}"
            except FieldError as exc:
                rejects.append(
                    (label("emergency_phone"), str(exc).replace("phone", "emergency phone"))
                )
        if len(rep) > 200:
            rejects.append(
                (label("representative_name") if get_rep is not None and get_rep(row).strip()
                 else label("name"), "representative name longer than 200 characters")
            )  # fmt: skip
        if rejects:
            return None, rejects, legacy or None
        return (
            kind, legacy or None, name, nkey, kana, kkey, dob, postal, addr, tel, digits, ext,
            em_name, em_tel, rep or None,
        ), rejects, None  # fmt: skip

    def legacy_of(row: list[str]) -> str | None:
        if len(row) > width and any(v.strip() for v in row[width:]):
            return None  # the fields do not line up: the value may be a name
        try:
            value = get_legacy(row).strip() if get_legacy is not None else ""
        except IndexError:
            return None
        return value if value and not has_undecodable(value) else None

    normalise.legacy_of = legacy_of  # type: ignore[attr-defined]
    # the fields of R this file gives (indices): --on-conflict update compares and
    # replaces only these; a field the file has no column for keeps its stored value
    has = {
        0: get_kind is not None or default_kind is not None,
        1: True,
        2: get_name is not None or get_group is not None,
        4: get_kana is not None,
        6: get_dob is not None or get_era is not None,
        7: get_postal is not None,
        8: get_address is not None,
        9: get_phone is not None,
        12: get_em_name is not None,
        13: get_em_phone is not None,
        14: get_rep is not None or (get_group is not None and get_name is not None),
    }
    with_keys = {2: (3,), 4: (5,), 9: (10, 11)}  # a field and what is derived from it
    normalise.present = tuple(sorted(  # type: ignore[attr-defined]
        j for i, given in has.items() if given for j in (i, *with_keys.get(i, ()))
    ))  # fmt: skip
    return normalise


def merge_rejects(rejects: list[Reject]) -> list[Reject]:
    """One reject per column label (the rejects table has one row per record and column).

    Two reasons can share a label: two headings of one name, one column mapped to
    two fields, or two checks of one field.  Labels and reasons are cut to the
    table's widths (a heading can be any length).
    """
    merged: dict[str, str] = {}
    for col, reason in rejects:
        col = col[:100]
        merged[col] = f"{merged[col]}; {reason}" if col in merged else reason
    return [(col, reason if len(reason) <= 300 else reason[:299] + "…")
            for col, reason in merged.items()]  # fmt: skip


def fit_legacy(value: str | None) -> str | None:
    """A registration number as the rejects table can hold it (64 characters)."""
    if value is None or len(value) <= 64:
        return value
    return value[:63] + "…"


def undecodable_rejects(row: list[str], header: list[str], encoding: str | None) -> list[Reject]:
    out = []
    for i, v in enumerate(row):
        if has_undecodable(v):
            col = header[i] if i < len(header) else f"column {i + 1}"
            out.append((col, undecodable_reason(v, encoding)))
    return out


# --- database side -------------------------------------------------------------------


class _Db:
    """DBAPI-level operations of one import connection (SQLite or PostgreSQL)."""

    def __init__(self, conn: Connection, facility_id: int, batch_id: int) -> None:
        self.conn = conn
        self.sqlite = conn.dialect.name == "sqlite"
        self.facility_id = facility_id
        self.batch_id = batch_id
        self.seen_count = 0
        self.ph = "?" if self.sqlite else "%s"

    @property
    def raw(self) -> Any:
        return self.conn.connection.dbapi_connection

    def create_seen(self) -> None:
        if self.sqlite:
            # a larger page cache for this connection (seven indexes grow at once),
            # within the importer's memory budget (both processes: < 200 MB)
            self.conn.exec_driver_sql("PRAGMA cache_size = -16384")
            self.conn.exec_driver_sql(
                "CREATE TEMP TABLE IF NOT EXISTS resv_import_seen (k TEXT PRIMARY KEY)"
            )
            self.conn.exec_driver_sql("DELETE FROM resv_import_seen")
        else:
            self.conn.exec_driver_sql(
                "CREATE TEMP TABLE IF NOT EXISTS resv_import_seen (k TEXT PRIMARY KEY)"
            )
            self.conn.exec_driver_sql("TRUNCATE resv_import_seen")
        self.seen_count = 0

    mark = 0  # the highest registrant id looked at

    def late_keys(self, late: set[str]) -> None:
        """Add to ``late`` the keys of rows stored for the facility since ``mark``.

        The reader's filter holds the facility's keys as they were when the import
        began; rows that others store during the run are caught here.  Exact
        because every writer of a facility's registrants holds
        ``lock_facility_registrants`` while it inserts (SQLite: the write lock of
        BEGIN IMMEDIATE; PostgreSQL: an advisory lock): a row that is not yet
        visible here can only get its id after this chunk commits, above ``mark``.
        """
        cur = self.raw.cursor()
        # a range of the primary key, never the facility's index: that would read
        # every row the import has stored so far, each chunk (quadratic)
        fac = "+facility_id" if self.sqlite else "facility_id + 0"
        sql = (
            "SELECT id, legacy_no, name_key, date_of_birth, kind FROM registrants "
            f"WHERE id > {self.ph} AND {fac} = {self.ph}"
        )
        if self.sqlite:
            cur.execute(sql, [self.mark, self.facility_id])
        else:
            # never a prepared statement: its generic plan cannot know that ``mark``
            # is near the end of the table and may read all of it
            cur.execute(sql, [self.mark, self.facility_id], prepare=False)
        for rid, legacy, name_key, dob, kind in cur.fetchall():
            if legacy is not None:
                late.add(_lkey(legacy))
            if name_key:
                late.add(_db_pkey(name_key, dob, kind))
            self.mark = max(self.mark, rid)

    def mark_own(self) -> None:
        """Move ``mark`` past the rows this chunk inserted."""
        cur = self.raw.cursor()
        cur.execute("SELECT max(id) FROM registrants")
        self.mark = max(self.mark, cur.fetchone()[0] or 0)

    def check_references(self, actor_id: int | None) -> None:
        """SQLite: the foreign keys of the chunk's rows, once per chunk.

        Every row of a chunk carries the same facility, batch and account, so the
        import connection turns SQLite's per-row check off and checks the three
        here, in the chunk's transaction (which holds the write lock: nothing can
        remove them before it commits).
        """
        if not self.sqlite:
            return
        cur = self.raw.cursor()
        cur.execute(
            "SELECT (SELECT count(*) FROM facilities WHERE id = ?), "
            "(SELECT count(*) FROM import_batches WHERE id = ?), "
            "(SELECT count(*) FROM accounts WHERE id = ?) + (? IS NULL)",
            [self.facility_id, self.batch_id, actor_id, actor_id],
        )
        if cur.fetchone() != (1, 1, 1):
            raise Conflict(
                f"import batch {self.batch_id}: its facility, batch or account no longer "
                "exists; the chunk was not written"
            )

    def load_keys(self, keyf: KeyFilter) -> int:
        """Add the duplicate keys of every registrant of the facility to ``keyf``.

        Returns the highest registrant id at that moment (the start of ``mark``).
        """
        cur = self.raw.cursor()
        cur.execute("SELECT max(id) FROM registrants")
        top = cur.fetchone()[0] or 0
        cur.execute(
            "SELECT legacy_no, name_key, date_of_birth, kind FROM registrants "
            f"WHERE facility_id = {self.ph} AND id <= {self.ph}",
            [self.facility_id, top],
        )
        add = keyf.add
        while rows := cur.fetchmany(10_000):
            for legacy, name_key, dob, kind in rows:
                if legacy is not None:
                    add(_lkey(legacy))
                if name_key:
                    add(_db_pkey(name_key, dob, kind))
        return int(top)

    def _in(self, column: str, values: list[Any]) -> tuple[str, list[Any]]:
        if self.sqlite:
            return f"{column} IN (SELECT value FROM json_each(?))", [json.dumps(values)]
        return f"{column} = ANY(%s)", [values]

    def by_legacy(self, values: list[str]) -> dict[str, tuple[Any, ...]]:
        if not values:
            return {}
        cond, params = self._in("legacy_no", values)
        cur = self.raw.cursor()
        cur.execute(
            f"SELECT legacy_no, id, import_batch_id, {', '.join(CONTENT_COLS)} "
            f"FROM registrants WHERE facility_id = {self.ph} AND {cond}",
            [self.facility_id, *params],
        )
        if self.sqlite:
            return {r[0]: tuple(r[1:]) for r in cur.fetchall()}
        # dates as the ISO text the normaliser produces, so stored == current compares
        dob = 2 + CONTENT_COLS.index("date_of_birth")
        return {
            r[0]: tuple(
                v.isoformat() if i == dob and v is not None else v for i, v in enumerate(r[1:])
            )
            for r in cur.fetchall()
        }

    def by_person(self, keys: list[tuple[str, Any, str]]) -> list[tuple[Any, ...]]:
        """Rows matching (name key, date of birth or None, kind) triples."""
        if not keys:
            return []
        cur = self.raw.cursor()
        if self.sqlite:
            cur.execute(
                "SELECT r.name_key, r.date_of_birth, r.kind, r.id, r.import_batch_id "
                "FROM json_each(?) j CROSS JOIN registrants r WHERE r.facility_id = ? "
                "AND r.name_key = json_extract(j.value, '$[0]') "
                # unary + keeps the planner on (facility_id, name_key): the index on
                # date_of_birth alone makes an unknown date (IS NULL) scan every
                # registrant without one, so a large import grew quadratically
                "AND +r.date_of_birth IS json_extract(j.value, '$[1]') "
                "AND +r.kind = json_extract(j.value, '$[2]')",
                [json.dumps(keys), self.facility_id],
            )
        else:
            cur.execute(
                "SELECT r.name_key, r.date_of_birth, r.kind, r.id, r.import_batch_id "
                "FROM unnest(%s::text[], %s::date[], %s::text[]) AS j(k, d, kind) "
                "JOIN registrants r ON r.facility_id = %s AND r.name_key = j.k "
                "AND r.date_of_birth IS NOT DISTINCT FROM j.d AND r.kind = j.kind",
                [
                    [k[0] for k in keys],
                    [k[1] for k in keys],
                    [k[2] for k in keys],
                    self.facility_id,
                ],
            )
        return list(cur.fetchall())

    def seen_hits(self, keys: list[str]) -> set[str]:
        if not self.seen_count or not keys:
            return set()
        cond, params = self._in("k", keys)
        cur = self.raw.cursor()
        cur.execute(f"SELECT k FROM resv_import_seen WHERE {cond}", params)
        return {r[0] for r in cur.fetchall()}

    def add_seen(self, keys: list[str]) -> None:
        if not keys:
            return
        cur = self.raw.cursor()
        sql = f"INSERT INTO resv_import_seen (k) VALUES ({self.ph}) ON CONFLICT DO NOTHING"
        cur.executemany(sql, [(k,) for k in keys])
        self.seen_count += len(keys)

    def insert(self, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        cur = self.raw.cursor()
        if self.sqlite:
            cols = ", ".join(INSERT_COLS)
            marks = ", ".join("?" * len(INSERT_COLS))
            cur.executemany(f"INSERT INTO registrants ({cols}) VALUES ({marks})", rows)
        else:
            with cur.copy(f"COPY registrants ({', '.join(INSERT_COLS)}) FROM STDIN") as cp:
                write = cp.write_row
                for r in rows:
                    write(r)

    def update(self, rows: list[tuple[Any, ...]], present: tuple[int, ...]) -> None:
        """rows: (the fields of R at ``present``..., updated_at, id)"""
        if not rows:
            return
        cols = tuple(R_FIELDS[i] for i in present) + ("updated_at",)
        sets = ", ".join(f"{c} = {self.ph}" for c in cols)
        self.raw.cursor().executemany(f"UPDATE registrants SET {sets} WHERE id = {self.ph}", rows)

    def add_rejects(self, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        ph = self.ph
        self.raw.cursor().executemany(
            "INSERT INTO import_rejects (batch_id, record_no, column_name, kind, reason, "
            f"legacy_no) VALUES ({ph}, {ph}, {ph}, {ph}, {ph}, {ph})",
            rows,
        )


class KeyFilter:
    """A Bloom filter over duplicate keys: "surely absent" or "maybe present".

    It holds the keys of the facility's stored registrants (loaded once) and every
    key added to K during the run, so on a first import almost no record needs a
    database lookup; a "maybe" is settled by the database as before, so the
    classification is exact.  8 MiB, two probes from one 64-bit hash: about
    0.7% false "maybe" at three million keys.
    """

    BITS = 1 << 26
    _MASK = BITS - 1

    def __init__(self) -> None:
        self.bits = bytearray(self.BITS >> 3)

    def add(self, key: str) -> None:
        h = hash(key)
        b, m = self.bits, self._MASK
        i = h & m
        b[i >> 3] |= 1 << (i & 7)
        i = (h >> 32) & m
        b[i >> 3] |= 1 << (i & 7)

    def __contains__(self, key: object) -> bool:
        h = hash(key)
        b, m = self.bits, self._MASK
        i = h & m
        if not (b[i >> 3] >> (i & 7)) & 1:
            return False
        i = (h >> 32) & m
        return bool((b[i >> 3] >> (i & 7)) & 1)


def _lkey(legacy: str) -> str:
    return "L\x1f" + legacy


def _db_pkey(name_key: str, dob: Any, kind: str) -> str:
    return f"{kind}\x1f{name_key}\x1f{'' if dob is None else dob}"


def _what(r: tuple[Any, ...]) -> str:
    if r[0] == "group":
        return "same group name"
    return "same name and date of birth" if r[6] is not None else "same name, no date of birth"


@dataclass
class _Chunk:
    counts: Counts
    inserts: list[tuple[Any, ...]]
    updates: list[tuple[Any, ...]]
    rejects: list[tuple[Any, ...]]
    seen: list[str]
    conflict_record: int | None = None


def classify(
    db: _Db,
    records: list[tuple[Any, ...]],
    on_conflict: str,
    actor_id: int | None,
    now: Any,
    late: set[str] | None = None,
    present: tuple[int, ...] = tuple(range(len(R_FIELDS))),
) -> _Chunk:
    """Classify one chunk against K and the database (see the module docstring).

    Only records that ``_records`` marked "maybe" (or whose keys are in ``late``,
    the keys of rows others stored during the run) are looked up in the database;
    the others are new or duplicates within this chunk.
    """
    counts = Counts(records_read=len(records))
    batch_id = db.batch_id
    # compared: the content fields the file gives, at their places in a stored row
    compared = [(k, i) for k, i in enumerate(CONTENT_IDX) if i in present]
    lkeys: dict[str, str] = {}
    pkeys: dict[str, tuple[Any, Any, Any]] = {}
    for _, r, _, _, lk, pk, maybe in records:
        if r is None:
            continue
        if not maybe and late:
            maybe = lk in late or pk in late
        if maybe:
            if lk is not None:
                lkeys[lk] = r[1]
            if pk is not None:
                pkeys[pk] = (r[3], r[6], r[0])
    by_l = db.by_legacy(list(lkeys.values()))
    db_p_this: set[str] = set()
    db_p_other: dict[str, int] = {}
    for name_key, dob, kind, rid, rbatch in db.by_person(list(pkeys.values())):
        db_key = _db_pkey(name_key, dob, kind)
        if rbatch == batch_id:
            db_p_this.add(db_key)
        else:
            db_p_other.setdefault(db_key, rid)
    seen = db.seen_hits([*lkeys, *pkeys])
    fid = db.facility_id
    k_chunk: dict[str, int] = {}
    inserts: list[tuple[Any, ...]] = []
    updates: list[tuple[Any, ...]] = []
    rejects: list[tuple[Any, ...]] = []
    to_seen: list[str] = []
    conflict_record = None
    tail = (batch_id, actor_id, now, now)
    for no, r, errs, bad_legacy, lk, pk, _ in records:
        if r is None:
            counts.rejected += 1
            if len(errs) > 1 or (errs and (len(errs[0][0]) > 100 or len(errs[0][1]) > 300)):
                errs = merge_rejects(errs)
            bad_legacy = fit_legacy(bad_legacy)
            for col, reason in errs:
                rejects.append((batch_id, no, col, "rejected", reason, bad_legacy))
            continue
        legacy = r[1]
        if lk is not None:
            first = k_chunk.get(lk)
            if (
                first is not None
                or lk in seen
                or ((hit := by_l.get(legacy)) is not None and hit[1] == batch_id)
            ):
                counts.duplicates += 1
                where = f" (record {first})" if first else ""
                rejects.append((batch_id, no, _DUP_L, "duplicate",
                                f"duplicate of an earlier record in this file{where}: "
                                "same registration number", legacy))  # fmt: skip
                continue
            hit = by_l.get(legacy)
            if hit is not None:
                keys = [lk] + ([pk] if pk else [])
                if all(hit[2 + k] == r[i] for k, i in compared):
                    counts.unchanged += 1
                elif on_conflict == "update":
                    counts.updated += 1
                    updates.append((*[r[i] for i in present], now, hit[0]))
                elif on_conflict == "fail":
                    conflict_record = no
                    break
                else:
                    counts.duplicates += 1
                    rejects.append((batch_id, no, _DUP_L, "duplicate",
                                    f"registration number already in the database (registrant "
                                    f"{hit[0]}) with different data; kept as it was "
                                    "(--on-conflict update replaces it)", legacy))  # fmt: skip
                for k in keys:
                    k_chunk.setdefault(k, no)
                to_seen.extend(keys)
                continue
        if pk is not None:
            first = k_chunk.get(pk)
            if first is not None or pk in seen or pk in db_p_this:
                counts.duplicates += 1
                where = f" (record {first})" if first else ""
                what = _what(r)
                rejects.append((batch_id, no, _DUP_P, "duplicate",
                                f"duplicate of an earlier record in this file{where}: {what}",
                                legacy))  # fmt: skip
                continue
            other = db_p_other.get(pk)
            if other is not None:
                counts.duplicates += 1
                what = _what(r)
                rejects.append((batch_id, no, _DUP_P, "duplicate",
                                f"already in the database as registrant {other}: {what}",
                                legacy))  # fmt: skip
                continue
        counts.imported += 1
        inserts.append((fid, *r, *tail))
        if lk is not None:
            k_chunk[lk] = no
        if pk is not None:
            k_chunk[pk] = no
    return _Chunk(counts, inserts, updates, rejects, to_seen, conflict_record)


# --- the run -------------------------------------------------------------------------


def _sanitize(value: Any) -> Any:
    """Keep a spreadsheet from reading a cell as a formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


REJECT_COLUMNS = ("record_no", "column", "kind", "reason", "legacy_no")


def write_rejects_file(engine: Engine, batch_id: int, path: Path) -> int:
    """Write the batch's rejects (no personal data) as CSV (UTF-8 with BOM) or xlsx.

    The file names legacy registration numbers, so only its owner may read it
    (mode 0600, written atomically).
    """
    import io

    from resv_cli.core.config import write_private

    buf = io.BytesIO()
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT record_no, column_name, kind, reason, legacy_no FROM import_rejects "
                "WHERE batch_id = :b ORDER BY record_no, id"
            ),
            {"b": batch_id},
        )
        n = 0
        if path.suffix.lower() == ".xlsx":
            from openpyxl import Workbook

            wb = Workbook(write_only=True)
            ws = wb.create_sheet("rejects")
            ws.append(["レコード番号", "列", "種別", "理由", "登録番号"])
            for row in rows:
                ws.append([_sanitize(v) for v in row])
                n += 1
            wb.save(buf)
        else:
            text_buf = io.TextIOWrapper(buf, encoding="utf-8-sig", newline="")
            w = csv.writer(text_buf)
            w.writerow(REJECT_COLUMNS)
            for row in rows:
                w.writerow([_sanitize(v) for v in row])
                n += 1
            text_buf.flush()
            text_buf.detach()
    write_private(path, buf.getvalue())
    return n


def _records(
    source: Source,
    normalise: Callable[[list[str]], tuple[tuple[Any, ...] | None, list[Reject], str | None]],
    keyf: KeyFilter,
) -> Iterator[tuple[Any, ...]]:
    """Yield (record no, R or None, rejects, legacy no of a reject, L key, P key, maybe).

    ``maybe`` is False only when ``keyf`` proves that neither key of the record is
    stored for the facility or belongs to an earlier record of this file: then
    no database lookup is needed for it.  Every valid record's keys are added.
    """
    header, enc = source.header, source.encoding
    from resv_cli.importing.reader import DECODE_ERRORS

    errors_before = source.errors_at_open
    no = 0
    for row in source:
        no += 1
        if DECODE_ERRORS[0] != errors_before and not row_is_clean(row):
            legacy = normalise.legacy_of(row)  # type: ignore[attr-defined]
            yield no, None, undecodable_rejects(row, header, enc), legacy, None, None, False
            continue
        r, errs, legacy = normalise(row)
        if r is None:
            yield no, None, errs, legacy, None, None, False
            continue
        lk = _lkey(r[1]) if r[1] is not None else None
        # the person key: name and date of birth.  Without a date of birth, the name
        # alone only for a record without a registration number (else a re-run of a
        # ledger that has neither would store its people again); two records with
        # different numbers and one name are two people.  A group's name is its key.
        pk = (
            _db_pkey(r[3], r[6], r[0])
            if r[3] and (r[6] is not None or r[1] is None or r[0] == "group")
            else None
        )
        maybe = (lk is not None and lk in keyf) or (pk is not None and pk in keyf)
        if lk is not None:
            keyf.add(lk)
        if pk is not None:
            keyf.add(pk)
        yield no, r, errs, legacy, lk, pk, maybe


def _chunk_stream(
    source: Source, normalise: Any, keyf: KeyFilter, size: int
) -> Iterator[tuple[list[Any], int]]:
    return chunks(_records(source, normalise, keyf), size, source.position)


def row_is_clean(row: list[str]) -> bool:
    # surrogate escapes only appear for undecodable bytes; the common case is ASCII
    # or text whose UTF-8 re-encoding succeeds (surrogates cannot be encoded)
    for v in row:
        if not v.isascii():
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                return False
    return True


class _Run:
    def __init__(
        self,
        engine: Engine,
        actor: Any,
        path: Path,
        facility_code: str,
        opts: ImportOptions,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        self.engine = engine
        self.actor = actor
        self.path = path
        self.facility_code = facility_code
        self.opts = opts
        self.progress = progress

    def prepare(self) -> None:
        opts = self.opts
        if opts.on_conflict not in ON_CONFLICT:
            raise InputError(f"--on-conflict must be one of {', '.join(ON_CONFLICT)}")
        if opts.max_rejects is not None and opts.on_conflict == "update" and not opts.dry_run:
            raise InputError(
                "--max-rejects cannot be used with --on-conflict update: an abort could not "
                "undo the updates before it; check the file with --dry-run --max-rejects first"
            )
        if opts.kind not in (None, "individual", "group"):
            raise InputError("--kind must be individual or group")
        if not self.path.is_file():
            raise InputError(f"{self.path}: no such file")
        self.sha = file_sha256(self.path)
        self.source = open_source(self.path, opts.encoding)
        spec = load_mapping_file(Path(opts.mapping)) if opts.mapping else None
        self.mapping = compile_mapping(self.source.header, spec)
        with self.engine.connect() as conn:
            row = conn.execute(
                text("SELECT id FROM facilities WHERE code = :c"), {"c": self.facility_code}
            ).first()
        if row is None:
            raise NotFound(f"no facility {self.facility_code!r}")
        self.facility_id = int(row[0])
        self.sqlite = self.engine.dialect.name == "sqlite"
        self.chunk_size: int = opts.chunk_size or DEFAULT_CHUNK
        self.normalise = build_normaliser(
            self.mapping, self.source.header, opts.kind, clock.today(), self.sqlite
        )
        self.present: tuple[int, ...] = self.normalise.present  # type: ignore[attr-defined]

    def options_json(self) -> str:
        o = self.opts
        return json.dumps(
            {
                "path": str(self.path.resolve()),
                "kind": o.kind,
                "mapping": str(Path(o.mapping).resolve()) if o.mapping else None,
                "mapping_sha256": file_sha256(Path(o.mapping)) if o.mapping else None,
                "encoding": o.encoding,
                "encoding_used": self.source.encoding,
                "on_conflict": o.on_conflict,
                "max_rejects": o.max_rejects,
                "chunk_size": self.chunk_size,
            },
            sort_keys=True,
            ensure_ascii=False,
        )

    def audit_detail(self, counts: Counts, status: str) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "file_sha256": self.sha,
            "status": status,
            "dry_run": self.opts.dry_run,
            **counts.as_dict(),
        }

    _run_lock: BatchRunLock | None = None
    abort_rejects: list[tuple[Any, ...]] | None = None  # of the checkpoint that hit the cap
    file_error: InputError | None = None

    def _lock(self, batch_id: int) -> None:
        lock = BatchRunLock(self.engine, batch_id)
        if not lock.acquire():
            raise Conflict(
                f"batch {batch_id} is being imported by another process right now; wait for "
                "it to finish (resv import list shows its progress)"
            )
        self._run_lock = lock

    def release_lock(self) -> None:
        if self._run_lock is not None:
            self._run_lock.release()
            self._run_lock = None

    # the options that decide what a record becomes: a batch is finished with its own
    _DECIDING = ("kind", "mapping_sha256", "on_conflict", "max_rejects", "encoding_used")

    def _check_same_options(self, batch_id: int, stored_text: str) -> None:
        """Refuse to finish an unfinished batch of this file with other options.

        Its first records were imported with its own options; the rest must be too
        (`resv import resume` uses them).
        """
        stored = json.loads(stored_text)
        current = json.loads(self.options_json())
        differ = [k for k in self._DECIDING if stored.get(k) != current.get(k)]
        if differ:
            names = ", ".join("mapping file" if k == "mapping_sha256" else
                              "encoding" if k == "encoding_used" else k.replace("_", "-")
                              for k in differ)  # fmt: skip
            raise Conflict(
                f"{self.path.name}: batch {batch_id} of this file is unfinished and was started "
                f"with another {names}; finish it with `resv import resume {batch_id}` (it "
                "keeps its own options) before importing the file with new ones"
            )

    def start(self, resume_batch: int | None = None) -> None:
        from sqlalchemy.orm import Session

        now = clock.now()
        self.resumed_from = 0
        self.counts = Counts()
        with self.engine.begin() as conn:
            if resume_batch is None and not self.opts.dry_run:
                row = conn.execute(
                    text(
                        "SELECT id, options FROM import_batches WHERE kind = 'registrants' AND "
                        "status = 'running' AND file_sha256 = :s AND facility_id = :f "
                        "ORDER BY id DESC"
                    ),
                    {"s": self.sha, "f": self.facility_id},
                ).first()
                if row is not None:
                    self._check_same_options(int(row[0]), row[1])
                resume_batch = int(row[0]) if row else None
            if resume_batch is not None:
                self._lock(resume_batch)
                b = conn.execute(
                    text(
                        "SELECT checkpoint, records_read, imported, updated, rejected, "
                        "duplicates, unchanged, status FROM import_batches WHERE id = :i"
                    ),
                    {"i": resume_batch},
                ).one()
                if b[7] != "running":  # it ended between the look-up and the lock
                    self.release_lock()
                    raise Conflict(f"batch {resume_batch} is {b[7]} now; run the command again")
                self.batch_id = resume_batch
                self.resumed_from = int(b[0])
                self.counts = Counts(*[int(x) for x in b[1:7]])
                event = "resume"
            else:
                from resv_cli.core.models import ImportBatch

                self.batch_id = int(
                    conn.execute(
                        insert(ImportBatch)
                        .values(
                            kind="registrants",
                            file_name=self.path.name[:300],
                            file_sha256=self.sha,
                            facility_id=self.facility_id,
                            organization_id=getattr(self.actor, "organization_id", None),
                            account_id=getattr(self.actor, "account_id", None),
                            status="dry_run" if self.opts.dry_run else "running",
                            options=self.options_json(),
                            records_read=0,
                            imported=0,
                            updated=0,
                            rejected=0,
                            duplicates=0,
                            unchanged=0,
                            checkpoint=0,
                            started_at=now,
                        )
                        .returning(ImportBatch.id)
                    ).scalar_one()
                )
                if not self.opts.dry_run:
                    self._lock(self.batch_id)  # before anyone else can see the batch
                event = "start"
            with Session(bind=conn) as s:
                audit.record(
                    s,
                    self.actor,
                    "import.batch",
                    resource_type="import_batch",
                    resource_id=self.batch_id,
                    facility_code=self.facility_code,
                    detail={"event": event, **self.audit_detail(self.counts, "running")},
                )
                s.flush()

    def run(self) -> ImportResult:
        opts = self.opts
        now = clock.now()
        # text once, not a timestamp to format per row (PostgreSQL reads the ISO form)
        now_v = now.strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else now.isoformat()
        actor_id = getattr(self.actor, "account_id", None)
        total = self.path.stat().st_size
        spool = tempfile.TemporaryFile("w+", encoding="utf-8", newline="") if opts.dry_run else None
        # the keys of the facility's stored rows, loaded before the reader forks (it
        # inherits them) and before this process opens its import connection
        keyf = KeyFilter()
        with self.engine.connect() as conn:
            mark = _Db(conn, self.facility_id, self.batch_id).load_keys(keyf)
        feed = ChunkFeed(
            functools.partial(
                _chunk_stream, self.source, self.normalise, keyf, min(PIECE, self.chunk_size)
            )
        )
        del keyf  # the feed holds it; once the reader forks, only the reader does
        feed.start()
        try:
            return self._run(feed, spool, now_v, actor_id, total, mark)
        finally:
            feed.close()
            self.source.close()
            self.release_lock()

    def _run(
        self, feed: ChunkFeed, spool: Any, now_v: Any, actor_id: Any, total: int, mark: int
    ) -> ImportResult:
        stream = iter(feed)
        with self.engine.connect() as conn:
            db = _Db(conn, self.facility_id, self.batch_id)
            db.mark = mark
            if db.sqlite:
                db.raw.execute("PRAGMA foreign_keys = OFF")  # checked per chunk instead
            try:
                return self._chunks(conn, db, stream, spool, now_v, actor_id, total)
            finally:
                if db.sqlite:
                    # the pragma is ignored inside a transaction: an error may have
                    # left one open (a dry run's outer one, a chunk's)
                    if conn.in_transaction():
                        conn.rollback()
                    db.raw.execute("PRAGMA foreign_keys = ON")

    def _chunks(
        self, conn: Connection, db: _Db, stream: Any, spool: Any, now_v: Any, actor_id: Any,
        total: int,
    ) -> ImportResult:  # fmt: skip
        opts = self.opts
        conflict: int | None = None
        aborted_reason: str | None = None
        late: set[str] = set()
        outer = conn.begin() if opts.dry_run else None
        if outer is None:
            with conn.begin():
                db.create_seen()
        else:
            db.create_seen()
        # replay the committed prefix to rebuild K (nothing is written)
        skip = self.resumed_from
        pending: list[tuple[list[Any], int]] = []
        while skip > 0:
            got = next(stream, None)
            if got is None:
                break
            part = got[0]
            if len(part) > skip:
                pending.append((part[skip:], got[1]))
                part = part[:skip]
            skip -= len(part)
            with conn.begin():
                lock_facility_registrants(conn, db.facility_id)
                db.late_keys(late)
                c = classify(db, part, opts.on_conflict, actor_id, now_v, late, self.present)
                db.add_seen(c.seen)
        checkpoint = self.resumed_from
        tx: Any = None
        in_tx = 0
        position = 0
        file_error: list[InputError] = []

        def pieces() -> Iterator[tuple[list[Any], int]]:
            # an error of the file (a broken quote at record 8) ends the pieces; the
            # batch is then aborted like any other, instead of staying "running"
            # with the checkpoints before it (a corrected file is another file)
            try:
                yield from itertools.chain(pending, stream)
            except ReaderDied:
                raise  # not the file's fault: the batch stays resumable
            except InputError as exc:
                file_error.append(exc)

        for part, position in pieces():
            if tx is None:
                tx = conn.begin() if outer is None else conn.begin_nested()
                lock_facility_registrants(conn, db.facility_id)
            db.late_keys(late)
            c = classify(db, part, opts.on_conflict, actor_id, now_v, late, self.present)
            if c.conflict_record is not None:
                tx.rollback()
                conflict = c.conflict_record
                aborted_reason = "conflict"
                break
            new_counts = Counts(**self.counts.as_dict())
            new_counts.add(c.counts)
            self.counts = new_counts
            if opts.max_rejects is not None and new_counts.rejected > opts.max_rejects:
                tx.rollback()
                # its rejects are what the user must fix: kept (the rows go)
                self.abort_rejects = c.rejects
                aborted_reason = "max_rejects"
                break
            db.insert(c.inserts)
            db.update(c.updates, self.present)
            db.add_seen(c.seen)
            db.check_references(actor_id)
            db.mark_own()
            checkpoint = part[-1][0]
            if spool is not None:
                csv.writer(spool).writerows(c.rejects)
            else:
                db.add_rejects(c.rejects)
            in_tx += len(part)
            del part, c  # before the next piece arrives: one in memory at a time
            if in_tx >= self.chunk_size:
                self._commit(conn, tx, spool, checkpoint, position, total)
                tx, in_tx = None, 0
        else:
            if file_error:
                if tx is not None:
                    tx.rollback()
                aborted_reason = "file_error"
                self.file_error = file_error[0]
            elif tx is not None:
                self._commit(conn, tx, spool, checkpoint, position, total)
        if outer is not None:
            outer.rollback()
        return self.finish(spool, conflict, aborted_reason)

    def _commit(
        self, conn: Connection, tx: Any, spool: Any, checkpoint: int, position: int, total: int
    ) -> None:
        """Record the counts and the checkpoint with the rows, commit, report progress."""
        if spool is None:
            c = self.counts
            conn.execute(
                text(
                    "UPDATE import_batches SET records_read = :r, imported = :i, "
                    "updated = :u, rejected = :rj, duplicates = :d, unchanged = :un, "
                    "checkpoint = :cp WHERE id = :b"
                ),
                {
                    "r": c.records_read,
                    "i": c.imported,
                    "u": c.updated,
                    "rj": c.rejected,
                    "d": c.duplicates,
                    "un": c.unchanged,
                    "cp": checkpoint,
                    "b": self.batch_id,
                },
            )
        tx.commit()
        if self.progress is not None:
            self.progress(position, total)

    def finish(self, spool: Any, conflict: int | None, aborted_reason: str | None) -> ImportResult:
        from sqlalchemy.orm import Session

        status = "dry_run" if self.opts.dry_run else "completed"
        if aborted_reason:
            status = "aborted" if not self.opts.dry_run else "dry_run"
        c = self.counts
        with self.engine.begin() as conn:
            if aborted_reason and not self.opts.dry_run:
                # inserted rows of this batch go; nothing half-imported remains
                conn.execute(
                    text("DELETE FROM registrants WHERE import_batch_id = :b"),
                    {"b": self.batch_id},
                )
            if self.abort_rejects:
                if spool is not None:
                    csv.writer(spool).writerows(self.abort_rejects)
                else:
                    _Db(conn, self.facility_id, self.batch_id).add_rejects(self.abort_rejects)
            if spool is not None:
                spool.seek(0)
                db = _Db(conn, self.facility_id, self.batch_id)
                batch: list[tuple[Any, ...]] = []
                for row in csv.reader(spool):
                    batch.append((int(row[0]), int(row[1]), row[2], row[3], row[4], row[5] or None))
                    if len(batch) >= 10_000:
                        db.add_rejects(batch)
                        batch = []
                db.add_rejects(batch)
                spool.close()
            from resv_cli.core.models import ImportBatch

            conn.execute(
                update(ImportBatch)
                .where(ImportBatch.id == self.batch_id)
                .values(
                    status=status,
                    # what the records were found to be (an aborted batch keeps none
                    # of its imports: its status says so), so that the counts add up
                    records_read=c.records_read,
                    imported=c.imported,
                    updated=c.updated,
                    rejected=c.rejected,
                    duplicates=c.duplicates,
                    unchanged=c.unchanged,
                    finished_at=clock.now(),
                )
            )
            with Session(bind=conn) as s:
                detail = self.audit_detail(c, status)
                detail["event"] = "finish"
                if aborted_reason:
                    detail["aborted"] = aborted_reason
                audit.record(
                    s,
                    self.actor,
                    "import.batch",
                    resource_type="import_batch",
                    resource_id=self.batch_id,
                    facility_code=self.facility_code,
                    outcome="failed" if aborted_reason else "allowed",
                    detail=detail,
                )
                s.flush()
        if aborted_reason == "conflict":
            raise _with_batch(Conflict(
                f"{self.path.name}: record {conflict}: registration number already in the "
                f"database with different data (--on-conflict fail); batch {self.batch_id} "
                "aborted, nothing of it was kept"
            ), self.batch_id)  # fmt: skip
        if aborted_reason == "max_rejects":
            raise _with_batch(InputError(
                f"{self.path.name}: more than {self.opts.max_rejects} rejected records "
                f"(--max-rejects); batch {self.batch_id} aborted, nothing of it was kept; "
                f"its rejects: `resv import show {self.batch_id}`"
            ), self.batch_id)  # fmt: skip
        if aborted_reason == "file_error":
            assert self.file_error is not None
            if self.opts.dry_run:
                outcome = f"dry run (batch {self.batch_id}) stopped, nothing was written"
            else:
                outcome = f"batch {self.batch_id} aborted, none of its new records were kept"
                if c.updated:
                    # an update replaced data that is kept nowhere: it cannot be undone
                    outcome += f" (the {c.updated} stored records it updated keep the new data)"
            raise _with_batch(InputError(f"{self.file_error}; {outcome}"), self.batch_id)
        return ImportResult(
            batch_id=self.batch_id,
            status=status,
            file_name=self.path.name,
            file_sha256=self.sha,
            encoding=self.source.encoding,
            counts=c,
            resumed_from=self.resumed_from,
            unused_columns=self.mapping.unused,
        )


def _with_batch(exc: ResvError, batch_id: int) -> ResvError:
    """Name the aborted batch on its error (the command writes its rejects file)."""
    exc.batch_id = batch_id  # type: ignore[attr-defined]
    return exc


def _require(actor: Any, action: str = "import.batch") -> None:
    from resv_cli.core.context import require_role

    require_role(actor, "admin", action=action)


def import_registrants(
    engine: Engine,
    actor: Any,
    path: Path,
    facility_code: str,
    opts: ImportOptions | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Import (or, with ``dry_run``, check) a legacy registrant file into a facility.

    Re-running the same file resumes an unfinished batch of it, or (when the last
    one completed) runs a new batch that finds every record unchanged.
    """
    _require(actor)
    opts = opts or ImportOptions()
    if opts.chunk_size is not None and opts.chunk_size < 1:
        raise InputError("chunk size must be positive")
    run = _Run(engine, actor, path, facility_code, opts, progress)
    run.prepare()
    try:
        run.start()
        return run.run()
    finally:
        run.release_lock()


def resume_import(
    engine: Engine,
    actor: Any,
    batch_id: int,
    path: Path | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Finish an interrupted batch from its checkpoint (same file, same options)."""
    _require(actor)
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT b.status, b.file_sha256, b.options, f.code FROM import_batches b "
                "JOIN facilities f ON f.id = b.facility_id WHERE b.id = :i AND b.kind = "
                "'registrants'"
            ),
            {"i": batch_id},
        ).first()
    if row is None:
        raise NotFound(f"no registrant import batch {batch_id}")
    status, sha, options_text, facility_code = row
    if status != "running":
        raise Conflict(f"batch {batch_id} is {status}; only a running batch can be resumed")
    o = json.loads(options_text)
    path = path or Path(o["path"])
    if not path.is_file():
        raise InputError(
            f"{path}: no such file (give the file: resv import resume {batch_id} FILE)"
        )
    if file_sha256(path) != sha:
        raise InputError(f"{path.name}: this is not the file of batch {batch_id} (SHA-256 differs)")
    if o.get("mapping") and file_sha256(Path(o["mapping"])) != o.get("mapping_sha256"):
        raise InputError(f"batch {batch_id}: the mapping file changed since the batch started")
    opts = ImportOptions(
        kind=o["kind"],
        mapping=o["mapping"],
        encoding=o["encoding_used"] or o["encoding"],
        on_conflict=o["on_conflict"],
        max_rejects=o["max_rejects"],
        chunk_size=int(o["chunk_size"]),
    )
    if opts.encoding == "utf-8-sig":
        opts.encoding = "utf-8"
    run = _Run(engine, actor, path, facility_code, opts, progress)
    run.prepare()
    try:
        run.start(resume_batch=batch_id)
        return run.run()
    finally:
        run.release_lock()


def list_batches(session: Any, actor: Any) -> list[dict[str, Any]]:
    """Every import batch, oldest first (admin only)."""
    _require(actor, "import.list")
    rows = session.execute(
        text(
            "SELECT b.id, b.kind, f.code AS facility, b.file_name, b.status, b.records_read, "
            "b.imported, b.updated, b.unchanged, b.duplicates, b.rejected, b.started_at, "
            "a.login_id AS run_by FROM import_batches b LEFT JOIN facilities f ON "
            "f.id = b.facility_id LEFT JOIN accounts a ON a.id = b.account_id ORDER BY b.id"
        )
    )
    return [dict(r._mapping) for r in rows]


def show_batch(
    session: Any, actor: Any, batch_id: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One batch with its reconciliation line and its rejects (admin only)."""
    _require(actor, "import.show")
    row = session.execute(
        text(
            "SELECT b.id, b.kind, f.code AS facility, b.file_name, b.file_sha256, b.status, "
            "a.login_id AS run_by, b.started_at, b.finished_at, b.records_read, b.imported, "
            "b.updated, b.unchanged, b.duplicates, b.rejected, b.checkpoint, b.options "
            "FROM import_batches b LEFT JOIN facilities f ON f.id = b.facility_id "
            "LEFT JOIN accounts a ON a.id = b.account_id WHERE b.id = :i"
        ),
        {"i": batch_id},
    ).first()
    if row is None:
        raise NotFound(f"no import batch {batch_id}")
    rejects = session.execute(
        text(
            "SELECT record_no, column_name AS column, kind, reason, legacy_no FROM "
            "import_rejects WHERE batch_id = :i ORDER BY record_no, id"
        ),
        {"i": batch_id},
    )
    info = dict(row._mapping)
    c = Counts(*(int(info[k]) for k in Counts.__dataclass_fields__))
    info["reconciliation"] = (
        f"{c.records_read} read = {c.imported} imported + {c.updated} updated + "
        f"{c.unchanged} unchanged + {c.duplicates} duplicates + {c.rejected} rejected"
        + ("" if c.reconciled else " (does NOT add up)")
        + (" (aborted: none of its records were kept)" if info.get("status") == "aborted" else "")
    )
    listed = [dict(r._mapping) for r in rejects]
    # the rejects carry legacy registration numbers, which identify people in the old
    # system: who looked at them is recorded
    audit.record(
        session,
        actor,
        "import.show",
        resource_type="import_batch",
        resource_id=batch_id,
        facility_code=info.get("facility"),
        detail={"rejects": len(listed)},
    )
    return info, listed


__all__ = [
    "ImportOptions",
    "ImportResult",
    "import_registrants",
    "resume_import",
    "list_batches",
    "show_batch",
    "write_rejects_file",
    "LABELS",
    "ResvError",
]
