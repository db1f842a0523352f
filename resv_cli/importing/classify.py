"""Classify valid records: new, unchanged, updated or a duplicate.

Classification of a valid record, in this order (K = keys of earlier records of
this file that were imported, updated or found unchanged; L = the legacy
registration number; P = search key of the name + date of birth, or the group
name; see ``record``):

1. L in K                         -> duplicate within the file
2. L already in the database      -> unchanged, or (different data) per --on-conflict
3. P in K                         -> duplicate within the file
4. P already in the database      -> duplicate of an existing registrant
5. otherwise                      -> imported

A deleted registration (its status column says so) is never imported: after the
L steps (so that ``--on-conflict update`` can record the deletion of a
registrant imported earlier) it is skipped, and its keys do not enter K (a person
deleted and registered again under a new number is imported once).  A deleted
record with a problem comes without R and without rejects: skipped too.

K lives in the database itself (rows of this batch) plus a TEMP table of the keys
of records that matched rows of earlier batches; so memory stays flat whatever
the file size, and a resumed run rebuilds exactly the same K by replaying the
committed prefix of the file without writing.

The reading process (``keyed_records``) also keeps a Bloom filter (``KeyFilter``)
of the facility's stored keys and of every earlier record's keys: a record whose
keys are surely absent needs no database lookup, so on a first import almost
nothing is looked up; a "maybe" is settled by the database, so the
classification stays exact.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from resv_cli.core.i18n import _
from resv_cli.importing.feed import chunks, in_pieces
from resv_cli.importing.normalise import (
    Normaliser,
    fit_legacy,
    merge_rejects,
    row_is_clean,
    undecodable_rejects,
)
from resv_cli.importing.reader import DECODE_ERRORS, Source
from resv_cli.importing.record import (
    CONTENT_IDX,
    DUP_LEGACY,
    DUP_PERSON,
    R_FIELDS,
    Counts,
    legacy_key,
    person_key,
    person_match,
)
from resv_cli.records.migration import RegistrantStore

STATUS = R_FIELDS.index("status")


def _earlier(first: int | None, what: str) -> str:
    """The reason of a duplicate of an earlier record of the file (its number if known)."""
    if first:
        return _("duplicate of an earlier record in this file (record {record}): {what}").format(
            record=first, what=what
        )
    return _("duplicate of an earlier record in this file: {what}").format(what=what)


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


@dataclass
class Classified:
    """What one chunk of records becomes: the rows to write and the counts."""

    counts: Counts
    inserts: list[tuple[Any, ...]]
    updates: list[tuple[Any, ...]]
    rejects: list[tuple[Any, ...]]
    seen: list[str]
    conflict_record: int | None = None


def classify(
    db: RegistrantStore,
    records: list[tuple[Any, ...]],
    on_conflict: str,
    actor_id: int | None,
    now: Any,
    late: set[str] | None = None,
    present: tuple[int, ...] = tuple(range(len(R_FIELDS))),
) -> Classified:
    """Classify one chunk against K and the database (see the module docstring).

    Only records that ``keyed_records`` marked "maybe" (or whose keys are in ``late``,
    the keys of rows others stored during the run) are looked up in the database;
    the others are new or duplicates within this chunk.
    """
    counts = Counts(records_read=len(records))
    batch_id = db.batch_id
    # compared: the content fields the file gives, at their places in a stored row
    compared = [(k, i) for k, i in enumerate(CONTENT_IDX) if i in present]
    lkeys: dict[str, str] = {}
    pkeys: dict[str, tuple[Any, Any, Any]] = {}
    for _no, r, _errs, _legacy, lk, pk, maybe in records:
        if r is None:
            continue
        if not maybe and late:
            maybe = lk in late or pk in late
        if maybe:
            if lk is not None:
                lkeys[lk] = r[1]
            if pk is not None:  # the date of birth by its blind index, as stored
                pkeys[pk] = (r[3], db.dob_tag(r[6]), r[0])
    by_l = db.by_legacy(list(lkeys.values()))
    db_p_this: set[str] = set()
    db_p_other: dict[str, int] = {}
    for name_key, dob_tag, kind, rid, rbatch in db.by_person(list(pkeys.values())):
        db_key = person_key(name_key, dob_tag, kind)
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
    for no, r, errs, bad_legacy, lk, pk, _maybe in records:
        if r is None and not errs:
            counts.skipped += 1
            continue
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
                rejects.append((batch_id, no, DUP_LEGACY, "duplicate",
                                _earlier(first, _("same registration number")),
                                legacy))  # fmt: skip
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
                    rejects.append((batch_id, no, DUP_LEGACY, "duplicate", _(
                        "registration number already in the database (registrant {id}) with "
                        "different data; kept as it was (--on-conflict update replaces it)"
                    ).format(id=hit[0]), legacy))  # fmt: skip
                for k in keys:
                    k_chunk.setdefault(k, no)
                to_seen.extend(keys)
                continue
        if r[STATUS] == "deleted":
            counts.skipped += 1
            continue
        if pk is not None:
            first = k_chunk.get(pk)
            if first is not None or pk in seen or pk in db_p_this:
                counts.duplicates += 1
                rejects.append((batch_id, no, DUP_PERSON, "duplicate",
                                _earlier(first, person_match(r)), legacy))  # fmt: skip
                continue
            other = db_p_other.get(pk)
            if other is not None:
                counts.duplicates += 1
                rejects.append((batch_id, no, DUP_PERSON, "duplicate", _(
                    "already in the database as registrant {id}: {what}"
                ).format(id=other, what=person_match(r)), legacy))  # fmt: skip
                continue
        counts.imported += 1
        inserts.append((fid, *r, *tail))
        if lk is not None:
            k_chunk[lk] = no
        if pk is not None:
            k_chunk[pk] = no
    return Classified(counts, inserts, updates, rejects, to_seen, conflict_record)


# records normalised per piece (by the workers, when there are several)
PIECE_ROWS = 1_000


def normalise_piece(
    nz: Normaliser, header: list[str], encoding: str | None, rows: list[list[str]], bad: bool
) -> list[tuple[Any, list[Any], str | None]]:
    """(R or None, rejects, legacy no of a reject) of each row: a pure function of the rows.

    ``bad``: the decoder has met an undecodable byte (or xlsx an error cell) by the
    end of these rows; then a row holding one (``row_is_clean``) is rejected with
    its columns.
    """
    normalise, legacy_of = nz.normalise, nz.legacy_of
    if not bad:
        return [normalise(row) for row in rows]
    out: list[tuple[Any, list[Any], str | None]] = []
    append = out.append
    for row in rows:
        if not row_is_clean(row):
            append((None, undecodable_rejects(row, header, encoding), legacy_of(row)))
        else:
            append(normalise(row))
    return out


def keyed_records(
    source: Source,
    nz: Normaliser,
    keyf: KeyFilter,
    dob_tag: Callable[[Any], str | None] | None = None,
    workers: int = 1,
) -> Iterator[tuple[Any, ...]]:
    """Yield (record no, R or None, rejects, legacy no of a reject, L key, P key, maybe).

    ``maybe`` is False only when ``keyf`` proves that neither key of the record is
    stored for the facility or belongs to an earlier record of this file: then
    no database lookup is needed for it.  Every valid record's keys are added.
    ``dob_tag``: the date of birth's blind index in P, as stored rows give it
    (``add_stored_keys``); without it, the date itself.  ``workers``: processes
    that normalise pieces of the file (``feed.in_pieces``); the keys, which depend
    on the records before, are made here in the file's order.
    """
    errors_before = source.errors_at_open
    work = functools.partial(normalise_piece, nz, source.header, source.encoding)

    def bad() -> bool:
        return DECODE_ERRORS[0] != errors_before

    no = 0
    pieces = in_pieces(source, work, workers, PIECE_ROWS, source.position, bad)
    for _rows, results, _at in pieces:
        for r, errs, legacy in results:
            no += 1
            if r is None:
                yield no, None, errs, legacy, None, None, False
                continue
            lk = legacy_key(r[1]) if r[1] is not None else None
            # the person key: name and date of birth.  Without a date of birth, the name
            # alone only for a record without a registration number (else a re-run of a
            # ledger that has neither would store its people again); two records with
            # different numbers and one name are two people.  A group's name is its key.
            pk = (
                person_key(r[3], r[6] if dob_tag is None else dob_tag(r[6]), r[0])
                if r[3] and (r[6] is not None or r[1] is None or r[0] == "group")
                else None
            )
            maybe = (lk is not None and lk in keyf) or (pk is not None and pk in keyf)
            if lk is not None:
                keyf.add(lk)
            if pk is not None:
                keyf.add(pk)
            yield no, r, errs, legacy, lk, pk, maybe


def chunk_stream(
    source: Source,
    nz: Normaliser,
    keyf: KeyFilter,
    size: int,
    dob_tag: Callable[[Any], str | None] | None = None,
    workers: int = 1,
) -> Iterator[tuple[list[Any], int]]:
    """The file's keyed records in lists of ``size``, each with the file position after it."""
    return chunks(keyed_records(source, nz, keyf, dob_tag, workers), size, source.position)


def add_stored_keys(keyf: KeyFilter | set[str], rows: Iterable[tuple[Any, Any, Any, Any]]) -> None:
    """Add the keys of stored rows of (legacy_no, name_key, dob_bidx, kind)."""
    add = keyf.add
    for legacy, name_key, dob_tag, kind in rows:
        if legacy is not None:
            add(legacy_key(legacy))
        if name_key:
            add(person_key(name_key, dob_tag, kind))
