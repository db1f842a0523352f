"""Import legacy registrant records: read, normalise, validate, de-duplicate, insert.

The run (``_Run``) and its entry points, ``import_registrants`` and
``resume_import``; what a record becomes is decided in ``normalise`` (its fields
and rejects) and ``classify`` (new, unchanged, updated or a duplicate), and
``resv_cli.records.migration.RegistrantStore`` reads and writes the facility's
registrants, under a migration grant of the access layer.

The pipeline streams the file in pieces of up to ``PIECE`` records and commits
every ``chunk_size`` records (``DEFAULT_CHUNK``: 10,000).  Each commit inserts the
registrants, records the rejects and moves the batch's ``checkpoint`` (the last
record number committed) in one transaction: a killed import is finished by
``resume_import`` with nothing lost or doubled.

Two processes (``resv_cli.importing.feed``): a forked reader decodes, parses and
normalises the file and sends chunks through a pipe; this process classifies and
writes them, one chunk behind.  The reader's Bloom filter of keys
(``classify.KeyFilter``) is loaded with the facility's stored keys before it
forks; rows that others store for the facility during the run are read back each
chunk (``RegistrantStore.rows_since_mark``), under ``lock_facility_registrants``.
"""

from __future__ import annotations

import csv
import functools
import itertools
import json
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from resv_cli.access.enforce import Grant, require_migration
from resv_cli.audit import chain as audit
from resv_cli.core import clock, fieldcrypt
from resv_cli.core.context import require_role
from resv_cli.core.db import BatchRunLock, lock_facility_registrants
from resv_cli.core.errors import Conflict, InputError, NotFound, ResvError
from resv_cli.core.files import file_sha256
from resv_cli.core.i18n import _
from resv_cli.core.lookup import facility_id_by_code
from resv_cli.importing import batches
from resv_cli.importing.classify import KeyFilter, add_stored_keys, chunk_stream, classify
from resv_cli.importing.feed import ChunkFeed, ReaderDied, default_workers
from resv_cli.importing.mapping import compile_mapping, load_mapping_file
from resv_cli.importing.normalise import build_normaliser
from resv_cli.importing.reader import open_source
from resv_cli.importing.record import Counts
from resv_cli.records.migration import RegistrantStore

# records per committed checkpoint.  Measured (bench/bench_import.py, 2 vCPUs):
# 50,000 on SQLite was not faster than 10,000 (125 s against 114 s for 1,000,000
# records; its 16 MiB page cache spills within a larger transaction), and a short
# transaction keeps the facility lock, which a clerk registering at the counter
# waits for, short on both databases.
DEFAULT_CHUNK = 10_000
# records per piece the reader sends: what either process holds at a time.  Measured
# (100,000 records, SQLite): 10,000 peaked at 202 MB PSS for the two processes, 2,500 at
# 163 MB, in the same time within the machine's noise
PIECE = 2_500
MAX_WORKERS = 64
ON_CONFLICT = ("skip", "update", "fail")
# the audit action of a batch, and of the migration grant that allows it
AUDIT_ACTION = "import.batch"


@dataclass
class ImportOptions:
    kind: str | None = None  # default kind when the file has no 区分 column
    mapping: str | None = None
    encoding: str = "auto"
    dry_run: bool = False
    on_conflict: str = "skip"
    max_rejects: int | None = None
    chunk_size: int | None = None  # records per checkpoint; None: DEFAULT_CHUNK
    # processes that normalise the records (feed.in_pieces); None: feed.default_workers.
    # The records are the same with any number, so a batch does not keep it
    workers: int | None = None


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
            {"item": "skipped", "count": c.skipped},
        ]


class _Run:
    """One run of the importer over one file.

    ``prepare`` (checks, the grant), ``start`` (the batch row), ``run`` (the
    chunks), ``finish`` (the batch's end and its audit event).
    """

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
            raise InputError(
                _("--on-conflict must be one of {choices}").format(choices=", ".join(ON_CONFLICT))
            )
        if opts.max_rejects is not None and opts.on_conflict == "update" and not opts.dry_run:
            raise InputError(
                _(
                    "--max-rejects cannot be used with --on-conflict update: an abort could not "
                    "undo the updates before it; check the file with --dry-run --max-rejects first"
                )
            )
        if opts.kind not in (None, "individual", "group"):
            raise InputError(_("--kind must be individual or group"))
        if not self.path.is_file():
            raise InputError(_("{file}: no such file").format(file=self.path))
        self.sha = file_sha256(self.path)
        self.source = open_source(self.path, opts.encoding)
        spec = load_mapping_file(Path(opts.mapping)) if opts.mapping else None
        self.mapping = compile_mapping(self.source.header, spec)
        with self.engine.connect() as conn:
            self.facility_id = facility_id_by_code(conn, self.facility_code)
        today = clock.today()
        self.grant: Grant = require_migration(
            self.actor, self.facility_id, today, audit_action=AUDIT_ACTION
        )
        self.sqlite = self.engine.dialect.name == "sqlite"
        self.chunk_size: int = opts.chunk_size or DEFAULT_CHUNK
        self.normaliser = build_normaliser(self.mapping, self.source.header, opts.kind, today)
        self.present = self.normaliser.present

    def _store(self, conn: Connection) -> RegistrantStore:
        return RegistrantStore(conn, self.grant, self.facility_id, self.batch_id)

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
                _(
                    "batch {batch} is being imported by another process right now; wait for "
                    "it to finish (resv import list shows its progress)"
                ).format(batch=batch_id)
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
            names = ", ".join(_("mapping file") if k == "mapping_sha256" else
                              _("encoding") if k == "encoding_used" else k.replace("_", "-")
                              for k in differ)  # fmt: skip
            raise Conflict(
                _(
                    "{file}: batch {batch} of this file is unfinished and was started "
                    "with another {names}; finish it with `resv import resume {batch}` (it "
                    "keeps its own options) before importing the file with new ones"
                ).format(file=self.path.name, batch=batch_id, names=names)
            )

    def start(self, resume_batch: int | None = None) -> None:
        now = clock.now()
        self.resumed_from = 0
        self.counts = Counts()
        with self.engine.begin() as conn:
            if resume_batch is None and not self.opts.dry_run:
                running = batches.running_batch(conn, self.sha, self.facility_id)
                if running is not None:
                    self._check_same_options(*running)
                    resume_batch = running[0]
            if resume_batch is not None:
                self._lock(resume_batch)
                status, checkpoint, counts = batches.batch_progress(conn, resume_batch)
                if status != "running":  # it ended between the look-up and the lock
                    self.release_lock()
                    raise Conflict(
                        _("batch {batch} is {status} now; run the command again").format(
                            batch=resume_batch, status=_status(status)
                        )
                    )
                self.batch_id = resume_batch
                self.resumed_from = checkpoint
                self.counts = counts
                event = "resume"
            else:
                self.batch_id = batches.new_batch(
                    conn,
                    self.actor,
                    file_name=self.path.name,
                    sha=self.sha,
                    facility_id=self.facility_id,
                    dry_run=self.opts.dry_run,
                    options=self.options_json(),
                    started_at=now,
                )
                if not self.opts.dry_run:
                    self._lock(self.batch_id)  # before anyone else can see the batch
                event = "start"
            self._audit(conn, {"event": event, **self.audit_detail(self.counts, "running")})

    def _audit(self, conn: Connection, detail: dict[str, Any], outcome: str = "allowed") -> None:
        """Record an event of the batch, in the transaction of ``conn``."""
        from sqlalchemy.orm import Session

        with Session(bind=conn) as s:
            audit.record(
                s,
                self.actor,
                AUDIT_ACTION,
                resource_type="import_batch",
                resource_id=self.batch_id,
                facility_code=self.facility_code,
                outcome=outcome,
                detail=detail,
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
            store = self._store(conn)
            mark = store.max_id()
            for rows in store.key_rows(upto=mark):
                add_stored_keys(keyf, rows)
            # the blind-index key, unwrapped here: the reader computes the dates' tags
            keys = fieldcrypt.load(conn)
            keys.dob_tag("2000-01-01")
        feed = ChunkFeed(
            functools.partial(
                chunk_stream,
                self.source,
                self.normaliser,
                keyf,
                min(PIECE, self.chunk_size),
                keys.dob_tag,
                opts.workers or default_workers(),
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
            db = self._store(conn)
            db.mark = mark
            with db.references_checked_per_chunk():
                return self._chunks(conn, db, stream, spool, now_v, actor_id, total)

    def _chunks(
        self,
        conn: Connection,
        db: RegistrantStore,
        stream: Any,
        spool: Any,
        now_v: Any,
        actor_id: Any,
        total: int,
    ) -> ImportResult:
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
                db.load_keys()
                add_stored_keys(late, db.rows_since_mark())
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
                db.load_keys()
            add_stored_keys(late, db.rows_since_mark())
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
            batches.save_progress(conn, self.batch_id, self.counts, checkpoint)
        tx.commit()
        if self.progress is not None:
            self.progress(position, total)

    def finish(self, spool: Any, conflict: int | None, aborted_reason: str | None) -> ImportResult:
        status = "dry_run" if self.opts.dry_run else "completed"
        if aborted_reason:
            status = "aborted" if not self.opts.dry_run else "dry_run"
        c = self.counts
        with self.engine.begin() as conn:
            db = self._store(conn)
            if aborted_reason and not self.opts.dry_run:
                # inserted rows of this batch go; nothing half-imported remains
                db.delete_batch()
            if self.abort_rejects:
                if spool is not None:
                    csv.writer(spool).writerows(self.abort_rejects)
                else:
                    db.add_rejects(self.abort_rejects)
            if spool is not None:
                batches.add_spooled_rejects(spool, db.add_rejects)
                spool.close()
            batches.close_batch(conn, self.batch_id, status, c)
            detail = self.audit_detail(c, status)
            detail["event"] = "finish"
            if aborted_reason:
                detail["aborted"] = aborted_reason
            self._audit(conn, detail, "failed" if aborted_reason else "allowed")
        if aborted_reason == "conflict":
            raise _with_batch(Conflict(_(
                "{file}: record {record}: registration number already in the "
                "database with different data (--on-conflict fail); batch {batch} "
                "aborted, nothing of it was kept"
            ).format(file=self.path.name, record=conflict, batch=self.batch_id)),
                self.batch_id)  # fmt: skip
        if aborted_reason == "max_rejects":
            raise _with_batch(InputError(_(
                "{file}: more than {max} rejected records "
                "(--max-rejects); batch {batch} aborted, nothing of it was kept; "
                "its rejects: `resv import show {batch}`"
            ).format(file=self.path.name, max=self.opts.max_rejects, batch=self.batch_id)),
                self.batch_id)  # fmt: skip
        if aborted_reason == "file_error":
            assert self.file_error is not None
            if self.opts.dry_run:
                outcome = _("dry run (batch {batch}) stopped, nothing was written").format(
                    batch=self.batch_id
                )
            else:
                outcome = _("batch {batch} aborted, none of its new records were kept").format(
                    batch=self.batch_id
                )
                if c.updated:
                    # an update replaced data that is kept nowhere: it cannot be undone
                    outcome += _(" (the {n} stored records it updated keep the new data)").format(
                        n=c.updated
                    )
            raise _with_batch(
                InputError(
                    # the problem is a sentence of its own in some languages (。): one stop
                    _("{problem}; {outcome}").format(
                        problem=str(self.file_error).rstrip("。"), outcome=outcome
                    )
                ),
                self.batch_id,
            )
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


def _status(code: str) -> str:
    """A batch status as a person reads it (the code in English)."""
    from resv_cli.audit.vocabulary import code_label
    from resv_cli.core.i18n import language

    return str(code_label("import_status", code, language()))


def _with_batch(exc: ResvError, batch_id: int) -> ResvError:
    """Name the aborted batch on its error (the command writes its rejects file)."""
    exc.batch_id = batch_id  # type: ignore[attr-defined]
    return exc


def require_importer(actor: Any) -> Any:
    """Refuse a non-administrator before the file is read, as the migration grant would.

    The grant names the facility, so ``_Run.prepare`` asks for it once the
    facility is known; its refusal is the same (``require_role``'s).  The
    command calls this first inside its audited session, so a refusal is recorded.
    """
    return require_role(actor, "admin", action=AUDIT_ACTION)


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
    require_importer(actor)
    opts = opts or ImportOptions()
    if opts.chunk_size is not None and opts.chunk_size < 1:
        raise InputError(_("chunk size must be positive"))
    check_workers(opts.workers)
    run = _Run(engine, actor, path, facility_code, opts, progress)
    run.prepare()
    try:
        run.start()
        return run.run()
    finally:
        run.release_lock()


def check_workers(workers: int | None) -> None:
    if workers is not None and not 1 <= workers <= MAX_WORKERS:
        raise InputError(_("workers must be between 1 and {most}").format(most=MAX_WORKERS))


def resume_import(
    engine: Engine,
    actor: Any,
    batch_id: int,
    path: Path | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> ImportResult:
    """Finish an interrupted batch from its checkpoint (same file, same options)."""
    require_importer(actor)
    check_workers(workers)
    row = batches.registrant_batch(engine, batch_id)
    if row is None:
        raise NotFound(_("no registrant import batch {batch}").format(batch=batch_id))
    status, sha, options_text, facility_code = row
    if status != "running":
        raise Conflict(
            _("batch {batch} is {status}; only a running batch can be resumed").format(
                batch=batch_id, status=_status(status)
            )
        )
    o = json.loads(options_text)
    path = path or Path(o["path"])
    if not path.is_file():
        raise InputError(
            _("{file}: no such file (give the file: resv import resume {batch} FILE)").format(
                file=path, batch=batch_id
            )
        )
    if file_sha256(path) != sha:
        raise InputError(
            _("{file}: this is not the file of batch {batch} (SHA-256 differs)").format(
                file=path.name, batch=batch_id
            )
        )
    if o.get("mapping") and file_sha256(Path(o["mapping"])) != o.get("mapping_sha256"):
        raise InputError(
            _("batch {batch}: the mapping file changed since the batch started").format(
                batch=batch_id
            )
        )
    opts = ImportOptions(
        kind=o["kind"],
        mapping=o["mapping"],
        encoding=o["encoding_used"] or o["encoding"],
        on_conflict=o["on_conflict"],
        max_rejects=o["max_rejects"],
        chunk_size=int(o["chunk_size"]),
        workers=workers,
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
