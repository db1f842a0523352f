"""The legacy import's reads and writes of the registrants table (DBAPI level).

``RegistrantStore`` is what ``resv_cli.importing`` stores a legacy file's records
with: it asks for a ``MIGRATION`` grant of the facility (the access layer's
``require_migration``), then works on one import connection, SQLite or PostgreSQL.

Hot path: no ORM.  SQLite gets ``executemany`` on the DBAPI cursor (the import
connection checks the chunk's three foreign keys once per chunk instead of once
per row: ``references_checked_per_chunk``); PostgreSQL gets psycopg's ``COPY`` (no
conflict handling is needed in SQL: the importer has classified every row against
the database in the same transaction).

Rows that others store for the facility during an import are read back each
chunk (``rows_since_mark``); every writer of a facility's registrants holds
``resv_cli.core.db.lock_facility_registrants`` while inserting, which makes that
exact on PostgreSQL as on SQLite.

A record (R) is clear in memory; the store seals it on the way in
(``resv_cli.core.fieldcrypt``): each chunk's rows get their ids first
(``allocate_ids``), then every sealed field is encrypted with its row's id, in one
pass over the chunk, and the phone and date of birth get their blind indexes.  The
date of birth of the duplicate keys is its blind index (``dob_bidx``), so finding
a person needs no decryption; ``by_legacy`` opens the stored content of the rows it
returns, to compare it with the file's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from resv_cli.access.enforce import MIGRATION, Grant
from resv_cli.core import fieldcrypt
from resv_cli.core.errors import Conflict
from resv_cli.core.i18n import _

if TYPE_CHECKING:
    from sqlalchemy import Connection

# R: a normalised legacy record, the registrants columns it gives, in this order
R_FIELDS = (
    "kind", "legacy_no", "name", "name_key", "kana", "kana_key", "date_of_birth",
    "postal_code", "address", "phone", "phone_digits", "phone_extension",
    "emergency_name", "emergency_phone", "representative_name",
    "card_valid_from", "card_valid_until", "status", "status_since", "status_reason",
)  # fmt: skip
# the fields of R that are a record's content (the keys derived from them are not):
# a stored row equals a record when these are equal
CONTENT_IDX = (0, 2, 4, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19)
CONTENT_COLS = tuple(R_FIELDS[i] for i in CONTENT_IDX)
# the date columns of R: ISO text in R on both databases
DATE_COLS = ("date_of_birth", "card_valid_from", "card_valid_until", "status_since")
# R as stored: the sealed fields in their columns, the phone's digits and the date of
# birth as blind indexes (the date also in clear, or sealed: fieldcrypt.FieldKeys.stored)
STORED_R = (
    "kind", "legacy_no", "name", "name_key", "kana", "kana_key",
    "date_of_birth", fieldcrypt.DOB_SEALED, fieldcrypt.DOB_TAG, "postal_code",
    "address_enc", "phone_enc", fieldcrypt.PHONE_TAG, "phone_extension_enc",
    "emergency_name_enc", "emergency_phone_enc", "representative_name",
    "card_valid_from", "card_valid_until", "status", "status_since", "status_reason",
)  # fmt: skip
# an inserted row: the facility, its id, R as stored, then the batch, the account, the times
INSERT_COLS = (
    ("facility_id", "id") + STORED_R + ("import_batch_id", "created_by", "created_at", "updated_at")
)
# the stored columns ``by_legacy`` reads to give a row's content (CONTENT_COLS) back
_CONTENT_STORED = tuple(
    dict.fromkeys(
        c
        for f in CONTENT_COLS
        for c in (
            (fieldcrypt.SEALED[f],)
            if f in fieldcrypt.SEALED
            else (f, fieldcrypt.DOB_SEALED)
            if f == fieldcrypt.DOB
            else (f,)
        )
    )
)

# (legacy_no, name_key, dob_bidx, kind) of a stored registrant: the date by its blind index
KeyRow = tuple[Any, Any, Any, Any]


class RegistrantStore:
    """The import's operations on one facility's registrants, on one connection."""

    def __init__(self, conn: Connection, grant: Grant, facility_id: int, batch_id: int) -> None:
        grant.expect(MIGRATION, facility_id=facility_id)
        self.conn = conn
        self.sqlite = conn.dialect.name == "sqlite"
        self.facility_id = facility_id
        self.batch_id = batch_id
        self.seen_count = 0
        self.mark = 0  # the highest registrant id looked at
        self.ph = "?" if self.sqlite else "%s"
        self.keys: fieldcrypt.FieldKeys | None = None

    def load_keys(self) -> fieldcrypt.FieldKeys:
        """The field keys, for this transaction (a chunk's): call it after its lock.

        Taken again each chunk, as a writer (``fieldcrypt.load``): a rotation that
        starts during a long import waits for the chunk, and the next chunk seals
        under the new key.
        """
        self.keys = fieldcrypt.load(self.conn, for_writing=True)
        return self.keys

    def dob_tag(self, dob: Any) -> str | None:
        """The blind index of a date of birth (ISO text or None), as ``dob_bidx`` holds it."""
        assert self.keys is not None, "load_keys() first"
        return self.keys.dob_tag(dob)

    @property
    def raw(self) -> Any:
        return self.conn.connection.dbapi_connection

    # --- the facility's stored keys ------------------------------------------------

    def max_id(self) -> int:
        """The highest registrant id now (of any facility)."""
        cur = self.raw.cursor()
        cur.execute("SELECT max(id) FROM registrants")
        return int(cur.fetchone()[0] or 0)

    def key_rows(self, upto: int) -> Iterator[list[KeyRow]]:
        """The key columns of every registrant of the facility up to id ``upto``, in lists."""
        cur = self.raw.cursor()
        cur.execute(
            "SELECT legacy_no, name_key, dob_bidx, kind FROM registrants "
            f"WHERE facility_id = {self.ph} AND id <= {self.ph}",
            [self.facility_id, upto],
        )
        while rows := cur.fetchmany(10_000):
            yield rows

    def rows_since_mark(self) -> list[KeyRow]:
        """The key columns of rows stored for the facility since ``mark``; moves ``mark``.

        The importer's filter holds the facility's keys as they were when the
        import began; rows that others store during the run are caught here.  Exact
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
            "SELECT id, legacy_no, name_key, dob_bidx, kind FROM registrants "
            f"WHERE id > {self.ph} AND {fac} = {self.ph}"
        )
        if self.sqlite:
            cur.execute(sql, [self.mark, self.facility_id])
        else:
            # never a prepared statement: its generic plan cannot know that ``mark``
            # is near the end of the table and may read all of it
            cur.execute(sql, [self.mark, self.facility_id], prepare=False)
        out: list[KeyRow] = []
        for rid, legacy, name_key, dob, kind in cur.fetchall():
            out.append((legacy, name_key, dob, kind))
            self.mark = max(self.mark, rid)
        return out

    def mark_own(self) -> None:
        """Move ``mark`` past the rows this chunk inserted."""
        self.mark = max(self.mark, self.max_id())

    # --- look-ups ------------------------------------------------------------------

    def _in(self, column: str, values: list[Any]) -> tuple[str, list[Any]]:
        if self.sqlite:
            return f"{column} IN (SELECT value FROM json_each(?))", [json.dumps(values)]
        return f"{column} = ANY(%s)", [values]

    def by_legacy(self, values: list[str]) -> dict[str, tuple[Any, ...]]:
        """legacy_no -> (id, import_batch_id, *CONTENT_COLS) of the facility's rows.

        The content opened (the sealed fields decrypted), dates as the ISO text the
        normaliser produces, so that stored == current compares.
        """
        if not values:
            return {}
        assert self.keys is not None, "load_keys() first"
        cond, params = self._in("legacy_no", values)
        cur = self.raw.cursor()
        cur.execute(
            f"SELECT legacy_no, id, import_batch_id, {', '.join(_CONTENT_STORED)} "
            f"FROM registrants WHERE facility_id = {self.ph} AND {cond}",
            [self.facility_id, *params],
        )
        opened = self.keys.opened
        out = {}
        for r in cur.fetchall():
            row = dict(zip(_CONTENT_STORED, r[3:], strict=True))
            content = opened(r[1], row, CONTENT_COLS)
            for c in DATE_COLS:
                if content[c] is not None and not isinstance(content[c], str):
                    content[c] = content[c].isoformat()
            out[r[0]] = (r[1], r[2], *(content[c] for c in CONTENT_COLS))
        return out

    def by_person(self, keys: list[tuple[str, Any, str]]) -> list[tuple[Any, ...]]:
        """Rows matching (name key, the date of birth's blind index or None, kind) triples.

        Each: (name_key, dob_bidx, kind, id, import_batch_id).
        """
        if not keys:
            return []
        cur = self.raw.cursor()
        if self.sqlite:
            cur.execute(
                "SELECT r.name_key, r.dob_bidx, r.kind, r.id, r.import_batch_id "
                "FROM json_each(?) j CROSS JOIN registrants r WHERE r.facility_id = ? "
                "AND r.name_key = json_extract(j.value, '$[0]') "
                # unary + keeps the planner on (facility_id, name_key): the index on
                # dob_bidx alone makes an unknown date (IS NULL) scan every
                # registrant without one, so a large import grew quadratically
                "AND +r.dob_bidx IS json_extract(j.value, '$[1]') "
                "AND +r.kind = json_extract(j.value, '$[2]')",
                [json.dumps(keys), self.facility_id],
            )
        else:
            cur.execute(
                "SELECT r.name_key, r.dob_bidx, r.kind, r.id, r.import_batch_id "
                "FROM unnest(%s::text[], %s::text[], %s::text[]) AS j(k, d, kind) "
                "JOIN registrants r ON r.facility_id = %s AND r.name_key = j.k "
                "AND r.dob_bidx IS NOT DISTINCT FROM j.d AND r.kind = j.kind",
                [
                    [k[0] for k in keys],
                    [k[1] for k in keys],
                    [k[2] for k in keys],
                    self.facility_id,
                ],
            )
        return list(cur.fetchall())

    # --- the keys of this run that matched earlier batches (a TEMP table) -----------

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

    # --- writes --------------------------------------------------------------------

    @contextmanager
    def references_checked_per_chunk(self) -> Iterator[None]:
        """SQLite: turn the per-row foreign key check off on this connection, and back on.

        ``check_references`` checks the chunk's three instead, in its transaction.
        """
        if not self.sqlite:
            yield
            return
        self.raw.execute("PRAGMA foreign_keys = OFF")
        try:
            yield
        finally:
            # the pragma is ignored inside a transaction: an error may have left one
            # open (a dry run's outer one, a chunk's)
            if self.conn.in_transaction():
                self.conn.rollback()
            self.raw.execute("PRAGMA foreign_keys = ON")

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
                _(
                    "import batch {id}: its facility, batch or account no longer "
                    "exists; the chunk was not written"
                ).format(id=self.batch_id)
            )

    def sealed_rows(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """(facility, *R, batch, account, created, updated) rows as ``INSERT_COLS`` rows.

        Ids first, then one pass sealing every field with its row's id.
        """
        keys = self.keys
        assert keys is not None, "load_keys() first"
        seal, dob_tag, phone_tag = keys.sealer(), keys.dob_tag, keys.phone_tag
        sealed_dob = keys.encrypt_dob
        i = {f: 1 + R_FIELDS.index(f) for f in R_FIELDS}  # positions in a row (after facility)
        head = tuple(i[f] for f in ("kind", "legacy_no", "name", "name_key", "kana", "kana_key"))
        dob_i, postal_i, digits_i = i["date_of_birth"], i["postal_code"], i["phone_digits"]
        sealed_i = tuple((i[f], f) for f in ("address", "phone"))
        more_i = tuple((i[f], f) for f in ("phone_extension", "emergency_name", "emergency_phone"))
        tail = tuple(range(i["representative_name"], len(rows[0])))
        out = []
        for rid, row in zip(fieldcrypt.allocate_ids(self.conn, len(rows)), rows, strict=True):
            dob = row[dob_i]
            if dob is not None and sealed_dob:
                dob_cols: tuple[Any, ...] = (None, seal(rid, "date_of_birth", dob))
            else:
                dob_cols = (dob, None)
            out.append((
                row[0], rid, *(row[k] for k in head), *dob_cols, dob_tag(dob), row[postal_i],
                *(None if row[k] is None else seal(rid, f, row[k]) for k, f in sealed_i),
                phone_tag(row[digits_i]),
                *(None if row[k] is None else seal(rid, f, row[k]) for k, f in more_i),
                *(row[k] for k in tail),
            ))  # fmt: skip
        return out

    def insert(self, rows: list[tuple[Any, ...]]) -> None:
        """Insert rows of (facility, *R, batch, account, created, updated), sealed."""
        if not rows:
            return
        rows = self.sealed_rows(rows)
        cur = self.raw.cursor()
        if self.sqlite or self._under_rls():
            # PostgreSQL refuses COPY into a table whose row-level security applies to
            # this role (the runtime role after `db rls apply`): INSERT, checked per row
            cols = ", ".join(INSERT_COLS)
            marks = ", ".join(("?" if self.sqlite else "%s",) * len(INSERT_COLS))
            cur.executemany(f"INSERT INTO registrants ({cols}) VALUES ({marks})", rows)
        else:
            with cur.copy(f"COPY registrants ({', '.join(INSERT_COLS)}) FROM STDIN") as cp:
                write = cp.write_row
                for r in rows:
                    write(r)

    def _under_rls(self) -> bool:
        if not hasattr(self, "_rls"):
            from resv_cli.access import rls

            self._rls = rls.copy_refused(self.conn)
        return self._rls

    def update(self, rows: list[tuple[Any, ...]], present: tuple[int, ...]) -> None:
        """rows: (the fields of R at ``present``..., updated_at, id); sealed on the way."""
        if not rows:
            return
        assert self.keys is not None, "load_keys() first"
        names = tuple(R_FIELDS[i] for i in present)
        stored = [
            self.keys.stored(row[-1], dict(zip(names, row[:-2], strict=True))) for row in rows
        ]
        cols = tuple(stored[0])
        sets = ", ".join(f"{c} = {self.ph}" for c in (*cols, "updated_at"))
        self.raw.cursor().executemany(
            f"UPDATE registrants SET {sets} WHERE id = {self.ph}",
            [(*(st[c] for c in cols), r[-2], r[-1]) for st, r in zip(stored, rows, strict=True)],
        )

    def delete_batch(self) -> None:
        """Remove every row this batch inserted (an aborted batch keeps none)."""
        self.conn.execute(
            text("DELETE FROM registrants WHERE import_batch_id = :b"), {"b": self.batch_id}
        )

    def add_rejects(self, rows: list[tuple[Any, ...]]) -> None:
        """rows: (batch_id, record_no, column_name, kind, reason, legacy_no)"""
        if not rows:
            return
        ph = self.ph
        self.raw.cursor().executemany(
            "INSERT INTO import_rejects (batch_id, record_no, column_name, kind, reason, "
            f"legacy_no) VALUES ({ph}, {ph}, {ph}, {ph}, {ph}, {ph})",
            rows,
        )
