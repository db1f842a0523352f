"""Finish or remove files that a killed run of resv left half-published.

Reports, audit archives and credentials workbooks are complete and synced
*before* the transaction that records them commits, and renamed into place
*after* it (``resv_cli.core.files``).  A kill between the two leaves a temporary
file ``.<name>.resv-<random>.tmp`` beside the target.  Before such a command
writes into a directory, ``recover_files`` settles every leftover there that no
live process holds: the database recorded its SHA-256 (``audit_archives``, or
the ``file_sha256`` or ``sha256`` of an event that published a file)
-> the commit happened, so the rename is finished; not recorded -> the
transaction never committed, so the file is removed.  Reads only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from resv_cli.audit.vocabulary import A
from resv_cli.core.files import Settled, settle_leftovers
from resv_cli.core.models import AuditArchive, AuditEvent

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

# the events whose detail carries the SHA-256 of a file they published (the
# credentials workbook: in the handover's event, or account.credentials_file)
FILE_ACTIONS = (
    A.AUDIT_ARCHIVE,
    A.REPORT_EXPORT,
    A.HANDOVER_APPLY,
    A.ACCOUNT_CREDENTIALS_FILE,
)


def file_recorded(session: Session, sha256: str) -> bool:
    """True when the database recorded a published file with this SHA-256."""
    if session.execute(
        select(AuditArchive.id).where(AuditArchive.file_sha256 == sha256).limit(1)
    ).first():
        return True
    t = AuditEvent.__table__
    hit = session.execute(
        select(t.c.seq)
        .where(t.c.action.in_(FILE_ACTIONS), t.c.detail.like(f'%"{sha256}"%'))
        .limit(1)
    ).first()
    return hit is not None


def recover_files(session: Session, directory: Path) -> list[Settled]:
    """Settle the leftovers of interrupted writes in ``directory``; say what was done."""
    return settle_leftovers(Path(directory), lambda sha: file_recorded(session, sha))
