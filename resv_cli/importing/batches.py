"""Import batches: the batch row of a run, the list, one batch, its rejects as a file.

A batch row (``import_batches``) records one run of the importer: its file, its
options, its counts and ``checkpoint`` (the last record committed), and its
status (running, completed, aborted, dry_run).  Its rejects are rows of
``import_rejects`` (no personal data but the legacy registration number).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, insert, text, update

from resv_cli.audit import chain as audit
from resv_cli.core import clock
from resv_cli.core.context import require_role
from resv_cli.core.errors import NotFound
from resv_cli.core.i18n import _
from resv_cli.core.models import ImportBatch
from resv_cli.importing.record import Counts

# --- the batch row of a run ------------------------------------------------------------


def running_batch(conn: Connection, sha: str, facility_id: int) -> tuple[int, str] | None:
    """(id, options) of the newest unfinished batch of this file into this facility."""
    row = conn.execute(
        text(
            "SELECT id, options FROM import_batches WHERE kind = 'registrants' AND "
            "status = 'running' AND file_sha256 = :s AND facility_id = :f "
            "ORDER BY id DESC"
        ),
        {"s": sha, "f": facility_id},
    ).first()
    return None if row is None else (int(row[0]), row[1])


def registrant_batch(engine: Engine, batch_id: int) -> tuple[str, str, str, str] | None:
    """(status, file SHA-256, options, facility code) of a registrant import batch."""
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT b.status, b.file_sha256, b.options, f.code FROM import_batches b "
                "JOIN facilities f ON f.id = b.facility_id WHERE b.id = :i AND b.kind = "
                "'registrants'"
            ),
            {"i": batch_id},
        ).first()
    return None if row is None else (row[0], row[1], row[2], row[3])


def batch_progress(conn: Connection, batch_id: int) -> tuple[str, int, Counts]:
    """(status, checkpoint, counts) of a batch."""
    b = conn.execute(
        text(
            "SELECT checkpoint, records_read, imported, updated, rejected, "
            "duplicates, unchanged, skipped, status FROM import_batches WHERE id = :i"
        ),
        {"i": batch_id},
    ).one()
    return b[8], int(b[0]), Counts(*[int(x) for x in b[1:8]])


def new_batch(
    conn: Connection,
    actor: Any,
    *,
    file_name: str,
    sha: str,
    facility_id: int,
    dry_run: bool,
    options: str,
    started_at: Any,
) -> int:
    """Insert the row of a new batch (running, or dry_run); return its id."""
    return int(
        conn.execute(
            insert(ImportBatch)
            .values(
                kind="registrants",
                file_name=file_name[:300],
                file_sha256=sha,
                facility_id=facility_id,
                organization_id=getattr(actor, "organization_id", None),
                account_id=getattr(actor, "account_id", None),
                status="dry_run" if dry_run else "running",
                options=options,
                records_read=0,
                imported=0,
                updated=0,
                rejected=0,
                duplicates=0,
                unchanged=0,
                skipped=0,
                checkpoint=0,
                started_at=started_at,
            )
            .returning(ImportBatch.id)
        ).scalar_one()
    )


def save_progress(conn: Connection, batch_id: int, c: Counts, checkpoint: int) -> None:
    """Record the counts and the checkpoint (in the transaction of the chunk's rows)."""
    conn.execute(
        text(
            "UPDATE import_batches SET records_read = :r, imported = :i, "
            "updated = :u, rejected = :rj, duplicates = :d, unchanged = :un, "
            "skipped = :sk, checkpoint = :cp WHERE id = :b"
        ),
        {
            "r": c.records_read,
            "i": c.imported,
            "u": c.updated,
            "rj": c.rejected,
            "d": c.duplicates,
            "un": c.unchanged,
            "sk": c.skipped,
            "cp": checkpoint,
            "b": batch_id,
        },
    )


def close_batch(conn: Connection, batch_id: int, status: str, c: Counts) -> None:
    """Record how the batch ended."""
    conn.execute(
        update(ImportBatch)
        .where(ImportBatch.id == batch_id)
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
            skipped=c.skipped,
            finished_at=clock.now(),
        )
    )


def add_spooled_rejects(spool: Any, add_rejects: Any) -> None:
    """Store the rejects a dry run kept in a temporary CSV file, 10,000 at a time."""
    spool.seek(0)
    batch: list[tuple[Any, ...]] = []
    for row in csv.reader(spool):
        batch.append((int(row[0]), int(row[1]), row[2], row[3], row[4], row[5] or None))
        if len(batch) >= 10_000:
            add_rejects(batch)
            batch = []
    add_rejects(batch)


# --- listing and showing -----------------------------------------------------------------


def _sanitize(value: Any) -> Any:
    """Keep a spreadsheet from reading a cell as a formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


REJECT_COLUMNS = ("record_no", "column", "kind", "reason", "legacy_no")


def check_rejects_path(path: Path | None, *, force: bool = False) -> None:
    """Refuse, before the import, a rejects file that exists (without --force) or is a link."""
    if path is not None:
        from resv_cli.core.files import check_target

        check_target(path, overwrite=force, force_option="--force")


def write_rejects_file(engine: Engine, batch_id: int, path: Path, *, force: bool = False) -> int:
    """Write the batch's rejects (no personal data) as CSV (UTF-8 with BOM) or xlsx.

    The file names legacy registration numbers, so only its owner may read it
    (mode 0600, written atomically, never through a symbolic link); an existing
    file is replaced only with ``force``.
    """
    from resv_cli.core.files import write_private

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
    write_private(path, buf.getvalue(), overwrite=force, force_option="--force")
    return n


def list_batches(session: Any, actor: Any) -> list[dict[str, Any]]:
    """Every import batch, oldest first (admin only)."""
    require_role(actor, "admin", action="import.list")
    rows = session.execute(
        text(
            "SELECT b.id, b.kind, f.code AS facility, b.file_name, b.status, b.records_read, "
            "b.imported, b.updated, b.unchanged, b.duplicates, b.rejected, b.skipped, "
            "b.started_at, "
            "a.login_id AS run_by FROM import_batches b LEFT JOIN facilities f ON "
            "f.id = b.facility_id LEFT JOIN accounts a ON a.id = b.account_id ORDER BY b.id"
        )
    )
    return [dict(r._mapping) for r in rows]


def show_batch(
    session: Any, actor: Any, batch_id: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One batch with its reconciliation line and its rejects (admin only)."""
    require_role(actor, "admin", action="import.show")
    row = session.execute(
        text(
            "SELECT b.id, b.kind, f.code AS facility, b.file_name, b.file_sha256, b.status, "
            "a.login_id AS run_by, b.started_at, b.finished_at, b.records_read, b.imported, "
            "b.updated, b.unchanged, b.duplicates, b.rejected, b.skipped, b.checkpoint, "
            "b.options "
            "FROM import_batches b LEFT JOIN facilities f ON f.id = b.facility_id "
            "LEFT JOIN accounts a ON a.id = b.account_id WHERE b.id = :i"
        ),
        {"i": batch_id},
    ).first()
    if row is None:
        raise NotFound(_("no import batch {batch}").format(batch=batch_id))
    rejects = session.execute(
        text(
            "SELECT record_no, column_name AS column, kind, reason, legacy_no FROM "
            "import_rejects WHERE batch_id = :i ORDER BY record_no, id"
        ),
        {"i": batch_id},
    )
    info = dict(row._mapping)
    c = Counts(*(int(info[k]) for k in Counts.__dataclass_fields__))
    line = c.reconciliation() + ("" if c.reconciled else _(" (does NOT add up)"))
    if info.get("status") == "aborted":
        line += _(" (aborted: none of its records were kept)")
    info["reconciliation"] = line
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
