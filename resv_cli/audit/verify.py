"""Verify the audit hash chain: live table, archive files, and an anchor.

``verify_chain`` re-computes every event's hash from its fields (canonical
form built in SQL, see ``resv_cli.audit.chain``) and checks, in sequence order:

- the sequence numbers are contiguous (a deleted event leaves a gap),
- each event's ``prev_hash`` is the previous event's ``hash``
  (deletion, insertion, reordering),
- each event's ``hash`` is the HMAC-SHA-256 of its canonical form under the
  audit key the key file says is in force for it (chain version 2), or, for an
  event written before the switch-over to the keyed chain, its SHA-256
  (version 1): any edit, and any re-computation by someone without the key,
- no event after the keyed chain starts is unkeyed (a "downgrade"),
- the first live event continues the newest archive (or the genesis hash),
- with anchors ``SEQ:HASH`` taken earlier (``resv audit anchor``, a monthly
  report's cover, a signed anchor file), each event ``SEQ`` still exists with
  that hash (a cut-off tail, which a chain alone cannot reveal).

The key ring is read from the key file (``resv_cli.audit.keys``); without it,
keyed events cannot be checked and verification stops as incomplete.

It reports the *first* bad event.  Archive files (``resv audit archive``) are
checked in the same pass, before the live table, when given.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resv_cli.audit import keys
from resv_cli.audit.chain import FIELDS, GENESIS, NULL_TEXT, SEP, verify_select_sql
from resv_cli.core.files import file_sha256
from resv_cli.core.i18n import N_, _

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine
    from sqlalchemy.orm import Session

ARCHIVE_FORMAT = "resv-audit-archive"
ARCHIVE_VERSION = 2  # 2: events carry key_id (the keyed chain)
ARCHIVE_VERSIONS_READ = (1, 2)
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
    reason: str | None = None  # a stable code when not ok (see _Broken.REASONS)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events_checked": self.events_checked,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "first_bad_seq": self.first_bad_seq,
            "reason": self.reason,
            "message": self.message,
        }


class _Broken(Exception):
    # stable codes for scripts (JSON ``reason``), from the message's one wording
    REASONS = (
        ("cut off the tail", "tail_cut"),
        ("differs from the anchor", "anchor_mismatch"),
        ("was altered", "altered"),
        ("is missing", "missing"),
        ("out of order", "out_of_order"),
        ("does not link", "unlinked"),
        ("archive", "archive"),
    )

    def __init__(
        self, bad_seq: int | None, template: str, /, *, incomplete: bool = False, **values: Any
    ) -> None:
        """``template``: the English message marked ``N_``, formatted with ``values``; the
        code is read from the English words, the message is in the reader's language."""
        message = _(template).format(**values)
        super().__init__(message)
        self.seq = bad_seq
        self.message = message
        self.incomplete = incomplete
        english = template.format(**values)
        self.reason = (
            "incomplete"
            if incomplete
            else next((code for words, code in self.REASONS if words in english), "broken")
        )


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
            _("--anchor must be SEQ:HASH as printed by `resv audit anchor`, got {text!r}").format(
                text=text_value
            )
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
        raise InputError(
            _("{path}: not a resv audit archive ({problem})").format(
                path=path, problem=type(exc).__name__
            )
        ) from None
    if not isinstance(header, dict) or header.get("format") != ARCHIVE_FORMAT:
        raise InputError(
            _("{path}: not a resv audit archive (line 1 is no archive header)").format(path=path)
        )
    if header.get("version") not in ARCHIVE_VERSIONS_READ:
        raise InputError(
            _("{path}: archive version {version} is not supported").format(
                path=path, version=header.get("version")
            )
        )
    return ArchiveFile(
        path=path,
        first_seq=int(header["first_seq"]),
        last_seq=int(header["last_seq"]),
        prev_hash=str(header["prev_hash"]),
        last_hash=str(header["last_hash"]),
        sha256=file_sha256(path),
    )


def _archive_rows(path: Path) -> Iterator[tuple[Any, ...]]:
    """Yield event rows (the twelve fields, key_id, hash) from an archive file."""
    lineno = 1
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            fh.readline()  # header
            for lineno, line in enumerate(fh, start=2):
                try:
                    event = json.loads(line)
                    row = (*(event[name] for name in FIELDS), event.get("key_id"), event["hash"])
                except (KeyError, TypeError, ValueError):
                    raise _Broken(
                        None,
                        N_("{path}: line {line} is not an audit event"),
                        path=path,
                        line=lineno,
                    ) from None
                yield row
    except (OSError, EOFError, UnicodeDecodeError):
        raise _Broken(
            None, N_("{path}: the file is damaged after line {line}"), path=path, line=lineno
        ) from None


# --- the check -------------------------------------------------------------------------


ALTERED = N_("event {seq} was altered (hash mismatch){where}")


class _Walker:
    """Walk events in order, checking seq continuity, links, keys and MACs."""

    def __init__(self, seq: int, digest: str, ring: keys.KeyRing | None = None) -> None:
        self.seq = seq
        self.hash = digest
        self.count = 0
        self.ring = ring
        self.keyed_seen = False
        self.lost: dict[str, list[int]] = {}  # key id -> [first, last] seq unverifiable

    def restart(self, seq: int, digest: str) -> _Walker:
        fresh = _Walker(seq, digest, self.ring)
        fresh.keyed_seen = self.keyed_seen
        return fresh

    def _key(self, seq: int, kid: str, where: str) -> keys.AuditKey:
        ring = self.ring
        if ring is None:
            raise _Broken(
                None,
                N_(
                    "event {seq} is keyed and the audit key file {path} is missing: "
                    "verify where the key file is (city IT or the monitor's copy)"
                ),
                incomplete=True,
                seq=seq,
                path=keys.key_file(),
            )
        expected = ring.in_force(seq)
        if expected is not None:
            if expected.id != kid:
                raise _Broken(
                    seq,
                    N_(
                        "event {seq} was altered (chained under key {key}, the key file says "
                        "{expected}){where}"
                    ),
                    seq=seq,
                    key=kid,
                    expected=expected.id,
                    where=where,
                )
            return expected
        if ring.keyed_from is not None:
            raise _Broken(
                seq,
                N_(
                    "event {seq} was altered (keyed before the keyed chain starts at event "
                    "{first}){where}"
                ),
                seq=seq,
                first=ring.keyed_from,
                where=where,
            )
        key = ring.by_id(kid)
        if key is None:
            raise _Broken(
                None,
                N_(
                    "event {seq} is chained under key {key}, which the key file {path} does "
                    "not hold: use the installation's current key file"
                ),
                incomplete=True,
                seq=seq,
                key=kid,
                path=ring.path,
            )
        return key

    def walk(self, rows: Iterable[tuple[Any, ...]], where: str) -> None:
        sha = hashlib.sha256
        mac = hmac.digest
        join = SEP.join
        ring = self.ring
        keyed_from = ring.keyed_from if ring is not None else None
        expect_seq = self.seq + 1
        last = self.hash
        count = 0
        # the key in force for the current range of seqs, looked up once per range
        cur_id: str | None = None
        cur_key: bytes | None = None
        cur_from = cur_until = 0
        keyed_seen = self.keyed_seen
        for row in rows:
            seq = row[0]
            if seq != expect_seq:
                self.seq, self.hash, self.count = expect_seq - 1, last, self.count + count
                if isinstance(seq, int) and seq > expect_seq:
                    raise _Broken(
                        expect_seq,
                        N_("event {seq} is missing{where} (next is {next})"),
                        seq=expect_seq,
                        where=where,
                        next=seq,
                    )
                raise _Broken(seq, N_("event {seq} is out of order{where}"), seq=seq, where=where)
            if row[11] != last:
                raise _Broken(
                    seq,
                    N_("event {seq} does not link to event {previous}{where}"),
                    seq=seq,
                    previous=seq - 1,
                    where=where,
                )
            fields = row[:12]
            canon = join(map(str, fields))
            # well_formed() inlined: this loop runs a million times
            if canon.count(SEP) != 11 or NULL_TEXT in fields:
                raise _Broken(seq, ALTERED, seq=seq, where=where)
            kid = row[12]
            if kid is None:
                if keyed_seen or (keyed_from is not None and seq >= keyed_from):
                    raise _Broken(
                        seq,
                        N_("event {seq} was altered (not keyed, inside the keyed chain){where}"),
                        seq=seq,
                        where=where,
                    )
                if sha(canon.encode("utf-8")).hexdigest() != row[13]:
                    raise _Broken(seq, ALTERED, seq=seq, where=where)
            else:
                keyed_seen = True
                if kid != cur_id or not cur_from <= seq < cur_until:
                    key = self._key(seq, kid, where)
                    cur_id, cur_key = kid, (None if key.secret is None else key.mac_key)
                    cur_from, cur_until = seq, _range_end(ring, key, seq)
                if cur_key is None:
                    span = self.lost.setdefault(kid, [seq, seq])
                    span[1] = seq  # a lost key: continuity only
                elif mac(cur_key, (canon + SEP + kid).encode("utf-8"), "sha256").hex() != row[13]:
                    raise _Broken(seq, ALTERED, seq=seq, where=where)
            last = row[13]
            expect_seq += 1
            count += 1
        self.seq = expect_seq - 1
        self.hash = last
        self.count += count
        self.keyed_seen = keyed_seen


def _range_end(ring: keys.KeyRing | None, key: keys.AuditKey, seq: int) -> float:
    """The first seq after ``seq`` at which another key takes over (inf if none)."""
    if ring is None or key.chain_from is None:
        return float("inf")
    later = [k.chain_from for k in ring.keys if k.chain_from is not None and k.chain_from > seq]
    return min(later) if later else float("inf")


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


@dataclass(frozen=True)
class Anchor:
    """A head recorded outside the database: event ``seq`` had ``hash`` then."""

    seq: int
    hash: str
    source: str = "--anchor"


def as_anchor(value: Anchor | tuple[int, str] | str) -> Anchor:
    if isinstance(value, Anchor):
        return value
    if isinstance(value, str):
        seq, digest = parse_anchor(value)
        return Anchor(seq, digest)
    return Anchor(int(value[0]), str(value[1]))


def verify_chain(
    source: Engine | Session | Connection,
    anchor: Anchor | tuple[int, str] | str | None = None,
    archives: Sequence[str | Path] = (),
    *,
    anchors: Sequence[Anchor | tuple[int, str] | str] = (),
    ring: keys.KeyRing | None | bool = True,
) -> VerifyResult:
    """Re-compute the audit chain; return the first bad event, if any.

    ``source`` is an Engine, Session or Connection (a Session or Connection
    sees its own uncommitted changes).  ``anchor``/``anchors`` are heads kept
    outside the database (``Anchor``, ``(seq, hash)`` or ``"SEQ:HASH"``);
    ``archives`` are archive files written by ``resv audit archive``, in any
    order.  ``ring`` is the audit key ring; by default it is read from the key
    file (``None``: no key file, keyed events make the result incomplete).
    """
    from sqlalchemy import text

    wanted = [as_anchor(a) for a in ([anchor] if anchor is not None else []) + list(anchors)]
    key_ring = keys.load_optional() if ring is True else (ring or None)
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
        walker = _Walker(0, GENESIS, key_ring)
        result = VerifyResult(ok=True, head_seq=0, head_hash=GENESIS)
        seen: dict[int, str | None] = {}  # anchor seq -> hash found in an archive file
        try:
            # 1. the archive records themselves must form one contiguous prefix
            expect = 1
            for first, last, _h, _s in records:
                if first != expect or last < first:
                    raise _Broken(
                        first,
                        N_("archive record {first}..{last} is not contiguous"),
                        first=first,
                        last=last,
                    )
                expect = last + 1
            # 2. archive files given: check them in order, against their records
            by_first = {r[0]: r for r in records}
            for af in files:
                if af.first_seq != walker.seq + 1 and walker.count == 0:
                    # older archives not given: start from the record just before
                    before = [r for r in records if r[1] == af.first_seq - 1]
                    if before:
                        walker = walker.restart(before[0][1], before[0][2])
                        result.archived_unchecked = (1, before[0][1])
                if af.first_seq != walker.seq + 1:
                    raise _Broken(
                        walker.seq + 1,
                        N_("archive {name} starts at event {first}, expected {expected}"),
                        name=af.path.name,
                        first=af.first_seq,
                        expected=walker.seq + 1,
                    )
                rec = by_first.get(af.first_seq)
                if rec is not None and (rec[1] != af.last_seq or rec[3] != af.sha256):
                    raise _Broken(
                        af.first_seq,
                        N_(
                            "archive {name} differs from the archive recorded in the "
                            "database (file SHA-256 or range)"
                        ),
                        name=af.path.name,
                    )
                where = _(" in archive {name}").format(name=af.path.name)
                walker.walk(_archive_rows(af.path), where)
                if walker.seq != af.last_seq or walker.hash != af.last_hash:
                    raise _Broken(
                        walker.seq + 1,
                        N_("archive {name} ends at event {last}, its header says {expected}"),
                        name=af.path.name,
                        last=walker.seq,
                        expected=af.last_seq,
                    )
                inside = [a.seq for a in wanted if af.first_seq <= a.seq <= af.last_seq]
                if inside:
                    seen.update(_hashes_in_archive(af.path, set(inside)))
            # 3. archived events not given as files: start from the newest record
            if records and walker.seq < records[-1][1]:
                if walker.seq != 0:
                    raise _Broken(
                        walker.seq + 1,
                        N_("archives of events {first}..{last} are missing"),
                        first=walker.seq + 1,
                        last=records[-1][1],
                    )
                result.archived_unchecked = (1, records[-1][1])
                walker = walker.restart(records[-1][1], records[-1][2])
            checked_from = walker.seq + 1
            # 4. the live table
            walker.walk(_live_rows(conn), "")
            # 5. the newest archive record must be backed by its audit.archive event
            #    (a forged record could otherwise license deleting a prefix)
            if records:
                _check_newest_archive_event(conn, records[-1])
            # 6. the anchors: the latest first, so a cut tail is named as such
            for a in sorted(wanted, key=lambda x: -x.seq):
                _check_anchor(conn, a, walker.seq, checked_from, seen)
        except _Broken as exc:
            result.ok = False
            result.first_bad_seq = exc.seq
            result.message = exc.message
            result.incomplete = exc.incomplete
            result.reason = exc.reason
        result.head_seq = walker.seq
        result.head_hash = walker.hash
        result.events_checked = walker.count
        if result.ok:
            result.message = _("ok: {n} events checked, head {seq}:{hash}").format(
                n=walker.count, seq=walker.seq, hash=walker.hash
            )
            if wanted:
                result.message += _(", {n} anchor(s) matched").format(n=len(wanted))
            if result.archived_unchecked:
                a, b = result.archived_unchecked
                result.notes.append(
                    _(
                        "events {first}..{last} are archived and were not re-checked "
                        "(give the archive files with --archive)"
                    ).format(first=a, last=b)
                )
            for kid, (first, last) in walker.lost.items():
                result.notes.append(
                    _(
                        "events {first}..{last} are chained under the lost key {key}: "
                        "their order and links were checked, their content could not be"
                    ).format(first=first, last=last, key=kid)
                )
            if not walker.keyed_seen and walker.count:
                result.notes.append(
                    _(
                        "the history is not keyed yet: run `resv audit key upgrade` "
                        "(city IT guide, 'The audit key')"
                    )
                )
        return result
    finally:
        if opened:
            conn.close()


def _check_anchor(
    conn: Connection, a: Anchor, head: int, checked_from: int, seen: dict[int, str | None]
) -> None:
    from sqlalchemy import text

    origin = "" if a.source == "--anchor" else _(" (anchor from {source})").format(source=a.source)
    if a.seq > head:
        raise _Broken(
            head + 1,
            N_(
                "the history ends at event {head} but anchor {seq} was taken later: "
                "events were cut off the tail{origin}"
            ),
            head=head,
            seq=a.seq,
            origin=origin,
        )
    if a.seq < 1:
        return
    if a.seq >= checked_from:
        found = conn.execute(
            text("SELECT hash FROM audit_events WHERE seq = :s"), {"s": a.seq}
        ).scalar()
    elif a.seq in seen:
        found = seen[a.seq]
    else:
        raise _Broken(
            None,
            N_("anchor event {seq} ({source}) is archived: give its archive file with --archive"),
            incomplete=True,
            seq=a.seq,
            source=a.source,
        )
    if found != a.hash:
        raise _Broken(
            a.seq, N_("event {seq} differs from the anchor{origin}"), seq=a.seq, origin=origin
        )


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
        N_("archive record of events {first}..{last} has no matching audit.archive event"),
        first=first,
        last=last,
    )


def _hashes_in_archive(path: Path, seqs: set[int]) -> dict[int, str | None]:
    found: dict[int, str | None] = dict.fromkeys(seqs)
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        fh.readline()
        for line in fh:
            event = json.loads(line)
            if event.get("seq") in seqs:
                found[event["seq"]] = str(event["hash"])
    return found
