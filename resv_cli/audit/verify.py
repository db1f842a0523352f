"""Verify the audit hash chain: live table, archive files, and an anchor.

``verify_chain`` re-computes every event's hash from its fields (canonical
form built in SQL, see ``resv_cli.audit.chain``) and checks, in sequence order:

- the sequence numbers are contiguous (a deleted event leaves a gap),
- each event's ``prev_hash`` is the previous event's ``hash``
  (deletion, insertion, reordering),
- each event's ``hash`` is the SHA-256 of its canonical form (any edit),
- the first live event continues the newest archive (or the genesis hash),
- with an anchor ``SEQ:HASH`` taken earlier, the event ``SEQ`` still exists
  with that hash (a cut-off tail, which a chain alone cannot reveal).

It reports the *first* bad event.  Archive files (``resv audit archive``) are
checked in the same pass, before the live table, when given.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resv_cli.audit.chain import FIELDS, GENESIS, NULL_TEXT, SEP, verify_select_sql
from resv_cli.core.files import file_sha256

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine
    from sqlalchemy.orm import Session

ARCHIVE_FORMAT = "resv-audit-archive"
ARCHIVE_VERSION = 1
FETCH = 20_000


@dataclass
class VerifyResult:
    ok: bool
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    message: str = ""
    events_checked: int = 0
    archived_unchecked: tuple[int, int] | None = None  # (first_seq, last_seq)
    incomplete: bool = False  # could not be decided without more archive files
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events_checked": self.events_checked,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "first_bad_seq": self.first_bad_seq,
            "message": self.message,
        }


class _Broken(Exception):
    def __init__(self, seq: int | None, message: str, *, incomplete: bool = False) -> None:
        super().__init__(message)
        self.seq = seq
        self.message = message
        self.incomplete = incomplete


def parse_anchor(text_value: str) -> tuple[int, str]:
    """Parse ``SEQ:HASH`` (as printed by ``resv audit anchor``)."""
    from resv_cli.core.errors import InputError

    seq_text, sep, digest = text_value.strip().partition(":")
    digest = digest.strip().lower()
    if (
        not sep
        or not seq_text.isdigit()
        or len(digest) != 64
        or any(c not in "0123456789abcdef" for c in digest)
    ):
        raise InputError(
            f"--anchor must be SEQ:HASH as printed by `resv audit anchor`, got {text_value!r}"
        )
    return int(seq_text), digest


def _connection(source: Any) -> tuple[Connection, bool]:
    """Return a Connection for an Engine, Session or Connection; True if we opened it."""
    from sqlalchemy import Connection, Engine
    from sqlalchemy.orm import Session

    if isinstance(source, Engine):
        return source.connect(), True
    if isinstance(source, Session):
        return source.connection(), False
    if isinstance(source, Connection):
        return source, False
    raise TypeError(f"verify_chain needs an Engine, Session or Connection, not {type(source)}")


def chain_head(session: Session | Connection) -> tuple[int, str]:
    """Return ``(seq, hash)`` of the newest event (live, else the newest archive).

    ``(0, GENESIS)`` on an empty history.  This is what ``resv audit anchor``
    prints and what the monthly report carries as its anchor.
    """
    from sqlalchemy import text

    row = session.execute(
        text("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
    ).first()
    if row is not None:
        return int(row[0]), str(row[1])
    arch = session.execute(
        text("SELECT last_seq, last_hash FROM audit_archives ORDER BY last_seq DESC LIMIT 1")
    ).first()
    if arch is not None:
        return int(arch[0]), str(arch[1])
    return 0, GENESIS


# --- archives --------------------------------------------------------------------------


@dataclass
class ArchiveFile:
    path: Path
    first_seq: int
    last_seq: int
    prev_hash: str
    last_hash: str
    sha256: str


def read_archive_header(path: Path) -> ArchiveFile:
    from resv_cli.core.errors import InputError

    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            header = json.loads(fh.readline())
    except (OSError, EOFError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a resv audit archive ({type(exc).__name__})") from None
    if not isinstance(header, dict) or header.get("format") != ARCHIVE_FORMAT:
        raise InputError(f"{path}: not a resv audit archive (line 1 is no archive header)")
    if header.get("version") != ARCHIVE_VERSION:
        raise InputError(f"{path}: archive version {header.get('version')} is not supported")
    return ArchiveFile(
        path=path,
        first_seq=int(header["first_seq"]),
        last_seq=int(header["last_seq"]),
        prev_hash=str(header["prev_hash"]),
        last_hash=str(header["last_hash"]),
        sha256=file_sha256(path),
    )


def _archive_rows(path: Path) -> Iterator[tuple[Any, ...]]:
    """Yield event rows (the twelve fields, then hash) from an archive file."""
    lineno = 1
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            fh.readline()  # header
            for lineno, line in enumerate(fh, start=2):
                try:
                    event = json.loads(line)
                    row = (*(event[name] for name in FIELDS), event["hash"])
                except (KeyError, TypeError, ValueError):
                    raise _Broken(None, f"{path}: line {lineno} is not an audit event") from None
                yield row
    except (OSError, EOFError, UnicodeDecodeError):
        raise _Broken(None, f"{path}: the file is damaged after line {lineno}") from None


# --- the check -------------------------------------------------------------------------


class _Walker:
    """Walk events in order, checking seq continuity, links and hashes."""

    def __init__(self, seq: int, digest: str) -> None:
        self.seq = seq
        self.hash = digest
        self.count = 0

    def walk(self, rows: Iterable[tuple[Any, ...]], where: str) -> None:
        sha = hashlib.sha256
        join = SEP.join
        expect_seq = self.seq + 1
        last = self.hash
        count = 0
        for row in rows:
            seq = row[0]
            if seq != expect_seq:
                self.seq, self.hash, self.count = expect_seq - 1, last, self.count + count
                if isinstance(seq, int) and seq > expect_seq:
                    raise _Broken(
                        expect_seq, f"event {expect_seq} is missing{where} (next is {seq})"
                    )
                raise _Broken(seq, f"event {seq} is out of order{where}")
            if row[11] != last:
                raise _Broken(seq, f"event {seq} does not link to event {seq - 1}{where}")
            fields = row[:12]
            canon = join(map(str, fields))
            # well_formed() inlined: this loop runs a million times
            if (
                sha(canon.encode("utf-8")).hexdigest() != row[12]
                or canon.count(SEP) != 11
                or NULL_TEXT in fields
            ):
                raise _Broken(seq, f"event {seq} was altered (hash mismatch){where}")
            last = row[12]
            expect_seq += 1
            count += 1
        self.seq = expect_seq - 1
        self.hash = last
        self.count += count


def _live_rows(conn: Connection) -> Iterator[tuple[Any, Any, Any, Any]]:
    sql = verify_select_sql(conn.dialect.name)
    dbapi = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        # a server-side cursor streams a million rows in constant memory
        cur = dbapi.cursor(name="resv_audit_verify")  # type: ignore[union-attr]
        cur.itersize = FETCH
    else:
        cur = dbapi.cursor()  # type: ignore[union-attr]
    try:
        cur.execute(sql)
        while True:
            batch = cur.fetchmany(FETCH)
            if not batch:
                break
            yield from batch
    finally:
        cur.close()


def verify_chain(
    source: Engine | Session | Connection,
    anchor: tuple[int, str] | str | None = None,
    archives: Sequence[str | Path] = (),
) -> VerifyResult:
    """Re-compute the audit chain; return the first bad event, if any.

    ``source`` is an Engine, Session or Connection (a Session or Connection
    sees its own uncommitted changes).  ``anchor`` is ``(seq, hash)`` or
    ``"SEQ:HASH"``; ``archives`` are archive files written by
    ``resv audit archive``, in any order.
    """
    from sqlalchemy import text

    if isinstance(anchor, str):
        anchor = parse_anchor(anchor)
    conn, opened = _connection(source)
    try:
        if opened and conn.dialect.name == "postgresql":
            conn.begin()  # a named cursor needs a transaction
        records = [
            (int(r[0]), int(r[1]), str(r[2]), str(r[3]))
            for r in conn.execute(
                text(
                    "SELECT first_seq, last_seq, last_hash, file_sha256 FROM audit_archives "
                    "ORDER BY first_seq"
                )
            )
        ]
        files = sorted((read_archive_header(Path(p)) for p in archives), key=lambda a: a.first_seq)
        walker = _Walker(0, GENESIS)
        result = VerifyResult(ok=True, head_seq=0, head_hash=GENESIS)
        anchor_seen: str | None = None
        try:
            # 1. the archive records themselves must form one contiguous prefix
            expect = 1
            for first, last, _h, _s in records:
                if first != expect or last < first:
                    raise _Broken(first, f"archive record {first}..{last} is not contiguous")
                expect = last + 1
            # 2. archive files given: check them in order, against their records
            by_first = {r[0]: r for r in records}
            for af in files:
                if af.first_seq != walker.seq + 1 and walker.count == 0:
                    # older archives not given: start from the record just before
                    before = [r for r in records if r[1] == af.first_seq - 1]
                    if before:
                        walker = _Walker(before[0][1], before[0][2])
                        result.archived_unchecked = (1, before[0][1])
                if af.first_seq != walker.seq + 1:
                    raise _Broken(
                        walker.seq + 1,
                        f"archive {af.path.name} starts at event {af.first_seq}, "
                        f"expected {walker.seq + 1}",
                    )
                rec = by_first.get(af.first_seq)
                if rec is not None and (rec[1] != af.last_seq or rec[3] != af.sha256):
                    raise _Broken(
                        af.first_seq,
                        f"archive {af.path.name} differs from the archive recorded in the "
                        "database (file SHA-256 or range)",
                    )
                walker.walk(_archive_rows(af.path), f" in archive {af.path.name}")
                if walker.seq != af.last_seq or walker.hash != af.last_hash:
                    raise _Broken(
                        walker.seq + 1,
                        f"archive {af.path.name} ends at event {walker.seq}, "
                        f"its header says {af.last_seq}",
                    )
                if anchor and af.first_seq <= anchor[0] <= af.last_seq:
                    anchor_seen = _hash_in_archive(af.path, anchor[0])
            # 3. archived events not given as files: start from the newest record
            if records and walker.seq < records[-1][1]:
                if walker.seq != 0:
                    raise _Broken(
                        walker.seq + 1,
                        f"archives of events {walker.seq + 1}..{records[-1][1]} are missing",
                    )
                result.archived_unchecked = (1, records[-1][1])
                walker = _Walker(records[-1][1], records[-1][2])
            checked_from = walker.seq + 1
            # 4. the live table
            walker.walk(_live_rows(conn), "")
            # 5. the newest archive record must be backed by its audit.archive event
            #    (a forged record could otherwise license deleting a prefix)
            if records:
                _check_newest_archive_event(conn, records[-1])
            if anchor is not None:
                a_seq, a_hash = anchor
                if a_seq > walker.seq:
                    raise _Broken(
                        walker.seq + 1,
                        f"the history ends at event {walker.seq} but anchor {a_seq} was "
                        "taken later: events were cut off the tail",
                    )
                if a_seq >= checked_from and a_seq >= 1:
                    anchor_seen = conn.execute(
                        text("SELECT hash FROM audit_events WHERE seq = :s"), {"s": a_seq}
                    ).scalar()
                elif anchor_seen is None and a_seq >= 1:
                    raise _Broken(
                        None,
                        f"anchor event {a_seq} is archived: give its archive file with --archive",
                        incomplete=True,
                    )
                if a_seq >= 1 and anchor_seen != a_hash:
                    raise _Broken(a_seq, f"event {a_seq} differs from the anchor")
        except _Broken as exc:
            result.ok = False
            result.first_bad_seq = exc.seq
            result.message = exc.message
            result.incomplete = exc.incomplete
        result.head_seq = walker.seq
        result.head_hash = walker.hash
        result.events_checked = walker.count
        if result.ok:
            result.message = f"ok: {walker.count} events checked, head {walker.seq}:{walker.hash}"
            if result.archived_unchecked:
                a, b = result.archived_unchecked
                result.notes.append(
                    f"events {a}..{b} are archived and were not re-checked "
                    "(give the archive files with --archive)"
                )
        return result
    finally:
        if opened:
            conn.close()


def _check_newest_archive_event(conn: Connection, record: tuple[int, int, str, str]) -> None:
    from sqlalchemy import text

    first, last, _last_hash, file_sha = record
    rows = conn.execute(
        text("SELECT seq, detail FROM audit_events WHERE action = 'audit.archive' AND seq > :s"),
        {"s": last},
    )
    for _seq, detail in rows:
        try:
            d = json.loads(detail)
        except ValueError:
            continue
        if (d.get("first_seq"), d.get("last_seq"), d.get("file_sha256")) == (
            first,
            last,
            file_sha,
        ):
            return
    raise _Broken(
        first,
        f"archive record of events {first}..{last} has no matching audit.archive event",
    )


def _hash_in_archive(path: Path, seq: int) -> str | None:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        fh.readline()
        for line in fh:
            event = json.loads(line)
            if event.get("seq") == seq:
                return str(event["hash"])
    return None
