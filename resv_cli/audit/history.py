"""Reading and retaining the audit history: list, show, anchor, verify, archive.

Monitors and administrators only; every read is itself an audit event
(``audit.list``, ``audit.show``, ``audit.anchor``, ``audit.verify``,
``audit.archive``), written in the same transaction as the read.

Archive files (``resv audit archive``) are gzip-compressed JSON lines: line 1
is a header ``{"format": "resv-audit-archive", "version": 2, "first_seq",
"last_seq", "prev_hash", "last_hash", "before", "created_at"}``; every other
line is one event with the twelve canonical fields (``occurred_at`` already in
its canonical text form) and its ``hash``, so the chain can be re-checked from
the file alone and continued into the live table.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import func, select, text

from resv_cli.audit import chain as audit
from resv_cli.audit import vocabulary
from resv_cli.audit.verify import (
    ARCHIVE_FORMAT,
    ARCHIVE_VERSION,
    Anchor,
    VerifyResult,
    chain_head,
    verify_chain,
)
from resv_cli.core import clock
from resv_cli.core.context import require_role
from resv_cli.core.errors import Conflict, InputError, IntegrityCheckFailed, NotFound
from resv_cli.core.files import PrivateFile
from resv_cli.core.i18n import _
from resv_cli.core.models import OUTCOMES, AuditArchive, AuditEvent

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import Table
    from sqlalchemy.orm import Session

    from resv_cli.core.context import Actor

READERS = ("admin", "monitor")
LIST_COLUMNS = (
    "seq",
    "occurred_at",
    "login_id",
    "organization_code",
    "action",
    "resource_type",
    "resource_id",
    "facility_code",
    "outcome",
    "detail",
)


def _event_dict(row: Any) -> dict[str, Any]:
    return {c: getattr(row, c) for c in LIST_COLUMNS}


def list_events(
    session: Session,
    actor: Actor | None,
    *,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    account: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    facility: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Return events matching the filters (dates are Japanese calendar days, inclusive).

    ``action`` is an exact action name, or a prefix ending in ``*``
    (``auth.*``).  Filtering happens in SQL.
    """
    actor = require_role(actor, *READERS, action="audit.list")
    if date_from and date_to and date_to < date_from:
        raise InputError(_("--to is before --from"))
    if outcome is not None and outcome not in OUTCOMES:
        raise InputError(_("--outcome must be one of {known}").format(known=", ".join(OUTCOMES)))
    if limit is not None and limit < 1:
        raise InputError(_("--limit must be at least 1"))
    if action and not vocabulary.matching(action):
        raise InputError(
            _(
                "--action {action!r} names no action: give one of `resv audit actions`, "
                "or a prefix ending in * (auth.*)"
            ).format(action=action)
        )
    t = AuditEvent.__table__
    q = select(*(t.c[c] for c in LIST_COLUMNS)).order_by(t.c.seq)
    filters: dict[str, Any] = {}
    if date_from:
        q = q.where(t.c.occurred_at >= clock.day_start(date_from))
        filters["from"] = date_from.isoformat()
    if date_to:
        q = q.where(t.c.occurred_at < clock.day_start(date_to + dt.timedelta(days=1)))
        filters["to"] = date_to.isoformat()
    if account:
        q = q.where(t.c.login_id == account)
        filters["account"] = account
    if action:
        if action.endswith("*"):
            prefix = action[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            q = q.where(t.c.action.like(prefix + "%", escape="\\"))
        else:
            q = q.where(t.c.action == action)
        filters["action"] = action
    if outcome:
        q = q.where(t.c.outcome == outcome)
        filters["outcome"] = outcome
    if facility:
        q = q.where(t.c.facility_code == facility)
        filters["facility"] = facility
    if limit:
        q = q.limit(limit)
        filters["limit"] = limit
    rows = [_event_dict(r) for r in session.execute(q)]
    audit.record(
        session,
        actor,
        "audit.list",
        resource_type="audit_event",
        detail={**filters, "rows": len(rows)},
    )
    return rows


def show_event(session: Session, actor: Actor | None, seq: int) -> dict[str, Any]:
    """Return one event with all its fields (the detail parsed), as stored."""
    actor = require_role(actor, *READERS, action="audit.show")
    t = AuditEvent.__table__
    row = session.execute(select(t).where(t.c.seq == seq)).first()
    if row is None:
        arch = session.execute(
            select(AuditArchive.file_name).where(
                AuditArchive.first_seq <= seq, AuditArchive.last_seq >= seq
            )
        ).scalar()
        raise NotFound(
            _("no audit event {seq}; it was archived to {file}").format(seq=seq, file=arch)
            if arch
            else _("no audit event {seq}").format(seq=seq)
        )
    audit.record(session, actor, "audit.show", resource_type="audit_event", resource_id=seq)
    out = {c.name: getattr(row, c.name) for c in t.columns}
    try:
        out["detail"] = json.loads(out["detail"])
    except (TypeError, ValueError):
        pass  # shown as stored; verify reports the damage
    return out


def take_anchor(
    session: Session,
    actor: Actor | None,
    *,
    signed_to: PrivateFile | None = None,
    signing_key: Path | None = None,
) -> tuple[int, str]:
    """Record ``audit.anchor`` and return the head it creates (``SEQ``, ``HASH``).

    The anchor is the anchor event itself, so keeping it elsewhere (the
    monthly report, a printed sheet, a signed anchor file) later proves
    nothing after it was cut.  With ``signed_to`` (a ``PrivateFile``) and
    ``signing_key`` the head is also written there, signed with the monitor's
    Ed25519 key (``resv_cli.audit.signed_anchor``); the caller moves the file
    into place once this transaction is committed.
    """
    actor = require_role(actor, *READERS, action="audit.anchor")
    detail: dict[str, Any] = {}
    if signed_to is not None:
        from resv_cli.audit.signed_anchor import load_signing_key

        if signing_key is None:
            raise InputError(_("a signed anchor file needs the monitor's signing key"))
        load_signing_key(signing_key)  # a bad key file is refused before anything is recorded
        detail["file"] = signed_to.target.name
    seq = audit.record(session, actor, "audit.anchor", resource_type="audit_event", detail=detail)
    head_seq, head_hash = chain_head(session)
    if signed_to is not None and signing_key is not None:
        from resv_cli.audit.signed_anchor import sign_anchor

        taken_at = session.execute(
            select(AuditEvent.occurred_at).where(AuditEvent.seq == seq)
        ).scalar_one()
        data, _fingerprint = sign_anchor(
            head_seq, head_hash, audit.format_time(taken_at), actor.login_id, signing_key
        )
        signed_to.write(data)
        signed_to.finish()
    return head_seq, head_hash


def verify_history(
    session: Session,
    actor: Actor | None,
    *,
    anchors: Sequence[str | Anchor] = (),
    archives: Sequence[Path] = (),
) -> VerifyResult:
    """Verify the chain (and any anchors held outside the database) and record the check.

    ``anchors`` are ``SEQ:HASH`` texts or ``Anchor``s read from monthly reports
    and signed anchor files.  A broken chain raises ``IntegrityCheckFailed``
    (exit 8) naming the first bad event; its ``audit.verify`` event (outcome
    ``failed``) is kept by the command session's refusal path.
    """
    actor = require_role(actor, *READERS, action="audit.verify")
    from resv_cli.audit.verify import as_anchor

    parsed = [as_anchor(a) for a in anchors]
    # on the command's own connection: on SQLite a second connection would wait
    # for the write lock this transaction holds (BEGIN IMMEDIATE)
    result = verify_chain(session, anchors=parsed, archives=archives)
    detail: dict[str, Any] = {
        "head_seq": result.head_seq,
        "events_checked": result.events_checked,
        "anchor_seq": max((a.seq for a in parsed), default=None),
        "archives": len(archives),
    }
    if parsed:
        detail["anchors"] = len(parsed)
        detail["anchor_sources"] = sorted({Path(a.source).name for a in parsed})
    if result.incomplete:
        raise InputError(_("cannot verify: {problem}").format(problem=result.message))
    if not result.ok:
        detail["first_bad_seq"] = result.first_bad_seq
        broken = IntegrityCheckFailed(
            _("audit history broken: {problem}").format(problem=result.message),
            action="audit.verify",
            resource_type="audit_event",
            resource_id=result.first_bad_seq,
            outcome="failed",
            detail=detail,
        )
        broken.result = result.as_dict()  # type: ignore[attr-defined]
        raise broken
    audit.record(session, actor, "audit.verify", resource_type="audit_event", detail=detail)
    return result


@dataclass
class ArchiveWritten:
    """An archive whose events are deleted in the open transaction; its file not yet in place."""

    info: dict[str, Any]
    file: PrivateFile

    def publish(self) -> Path:
        """Rename the complete file to its name (after the commit); kept if that fails."""
        return self.file.commit(keep_on_failure=True)

    def discard(self) -> None:
        self.file.discard()


def archive_events(
    session: Session, actor: Actor | None, *, before: dt.date, output: Path
) -> ArchiveWritten:
    """Move events older than ``before`` (a Japanese day) to a gzip file.

    The file is written complete and synced under a temporary name *before* any
    event is deleted; its SHA-256 goes into ``audit_archives`` in the same
    transaction, and the caller renames it (``publish``) only after the commit,
    or removes it (``discard``) when the transaction fails.  A kill between the
    commit and the rename leaves the temporary file, which the recovery step
    (``resv_cli.audit.recovery``) renames since the database recorded it.  Only an
    unbroken chain is archived.  The deletion passes the append-only trigger
    because the range is first recorded in ``audit_archives`` (and, on
    PostgreSQL, because this transaction sets ``resv.audit_archive``).
    """
    actor = require_role(actor, "admin", action="audit.archive")
    if not output.parent.is_dir():
        raise InputError(_("{path} is not a directory").format(path=output.parent))
    if output.exists() and not output.is_symlink():
        raise Conflict(_("{path} already exists; choose a new file name").format(path=output))
    # created now (0600, locked), so an unwritable directory fails before any work
    out = PrivateFile(output, label="archive")
    try:
        return _archive(session, actor, before, output, out)
    except BaseException:
        out.discard()
        raise


def _archive(
    session: Session, actor: Actor, before: dt.date, output: Path, out: PrivateFile
) -> ArchiveWritten:
    t = AuditEvent.__table__
    cutoff = clock.day_start(before)
    first_live = session.execute(select(func.min(t.c.seq))).scalar()
    if first_live is None:
        raise InputError(_("the audit history has no live events to archive"))
    first_kept = session.execute(
        select(func.min(t.c.seq)).where(t.c.occurred_at >= cutoff)
    ).scalar()
    last_seq = (
        session.execute(select(func.max(t.c.seq))).scalar()
        if first_kept is None
        else int(first_kept) - 1
    )
    if last_seq is None or last_seq < first_live:
        raise InputError(
            _("no audit events before {day} to archive").format(day=before.isoformat())
        )
    check = verify_chain(session)
    if not check.ok:
        raise IntegrityCheckFailed(
            _("audit history broken, nothing archived: {problem}").format(problem=check.message),
            action="audit.archive",
            outcome="failed",
            detail={"first_bad_seq": check.first_bad_seq},
        )
    prev_hash = session.execute(select(t.c.prev_hash).where(t.c.seq == first_live)).scalar_one()
    last_hash = session.execute(select(t.c.hash).where(t.c.seq == last_seq)).scalar_one()
    header = {
        "format": ARCHIVE_FORMAT,
        "version": ARCHIVE_VERSION,
        "first_seq": int(first_live),
        "last_seq": int(last_seq),
        "prev_hash": prev_hash,
        "last_hash": last_hash,
        "before": before.isoformat(),
        "created_at": audit.format_time(clock.now()),
    }
    # the key of each event's MAC travels with it (NULL: a version-1 SHA-256 event)
    cols = [t.c[name] for name in audit.ARCHIVED]
    count = 0
    try:
        # GzipFile never closes a file object it was given: the PrivateFile stays open
        with (
            gzip.GzipFile(filename=output.name, mode="wb", compresslevel=6, fileobj=out.file) as gz,
            io.TextIOWrapper(gz, encoding="utf-8", newline="\n") as fh,
        ):
            fh.write(json.dumps(header, ensure_ascii=False, separators=(",", ":")) + "\n")
            stream = session.execute(
                select(*cols).where(t.c.seq <= last_seq).order_by(t.c.seq),
                execution_options={"yield_per": 10_000},
            )
            for row in stream:
                event = dict(row._mapping)
                event["occurred_at"] = audit.canonical_time(event["occurred_at"])
                fh.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")
                count += 1
        digest = out.finish()
    except OSError as exc:
        raise InputError(
            _("cannot write {path}: {problem}").format(path=output, problem=exc.strerror or exc)
        ) from None
    session.add(
        AuditArchive(
            first_seq=int(first_live),
            last_seq=int(last_seq),
            last_hash=last_hash,
            file_name=output.name[:300],
            file_sha256=digest,
            created_at=clock.now(),
        )
    )
    session.flush()
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL resv.audit_archive = 'on'"))
    deleted = conn.execute(
        cast("Table", t).delete().where(t.c.seq >= first_live, t.c.seq <= last_seq)
    ).rowcount
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL resv.audit_archive = 'off'"))
    if deleted != count:
        raise IntegrityCheckFailed(
            _("archived {n} events but {deleted} were deleted; nothing was changed").format(
                n=count, deleted=deleted
            )
        )
    info = {
        "first_seq": int(first_live),
        "last_seq": int(last_seq),
        "events": count,
        "before": before.isoformat(),
        "file_sha256": digest,
    }
    audit.record(
        session,
        actor,
        "audit.archive",
        resource_type="audit_event",
        detail={**info, "file": output.name},
    )
    return ArchiveWritten({**info, "file": str(output)}, out)
