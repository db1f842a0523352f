"""Write issued one-time passwords to an xlsx file that only its owner can read.

The workbook goes through the one private-file writer (``resv_cli.core.files``):
a 0600 temporary file beside the target from the first byte, renamed into place
without ever replacing an existing file.  A credentials workbook must exist
exactly when its accounts do, so the ordered form is: ``open_credentials_file``
before the work, ``fill_credentials_file`` inside the transaction (the workbook
is complete and synced; its SHA-256 goes into the audit event of the action that
issued the passwords), then, after the commit, ``.commit()`` renames it.  A kill
in between leaves a temporary file that the next run's recovery (``resv_cli.audit.recovery``)
renames when the database recorded it and removes when it did not.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from resv_cli.accounts.lifecycle import IssuedCredential
from resv_cli.core import clock
from resv_cli.core.errors import InputError
from resv_cli.core.files import PrivateFile, check_target
from resv_cli.core.i18n import N_, _

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from resv_cli.core.context import Actor

# both languages in English; Japanese alone in Japanese (translated when written)
HEADER = (
    N_("ログインID / login ID"),
    N_("氏名 / name"),
    N_("初期パスワード / one-time password"),
    N_("有効期限 (日本時間) / expires (JST)"),
)


def check_credentials_path(path: Path | None) -> None:
    """Refuse, before any work, a credentials file that exists or is not named .xlsx."""
    if path is None:
        return
    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        raise InputError(
            _("{path}: --credentials-out must name a new .xlsx file").format(path=path)
        )
    check_target(path)


def open_credentials_file(path: Path) -> PrivateFile:
    """Reserve the 0600 temporary file of a new credentials workbook (never overwrites)."""
    check_credentials_path(path)
    return PrivateFile(Path(path), label="credentials")


def _save(out: PrivateFile, credentials: Sequence[IssuedCredential]) -> str:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("credentials")
    ws.append([_(h) for h in HEADER])
    for c in credentials:
        if not c.login_id or not c.one_time_password:
            raise ValueError("issued credential without login ID or one-time password")
        expires = clock.shown(c.expires_at) if c.expires_at else ""
        ws.append([c.login_id, c.display_name, c.one_time_password, expires])
    try:
        wb.save(out.file)
        return out.finish()
    except OSError as exc:
        raise InputError(
            _("cannot write {path}: {problem}").format(path=out.target, problem=exc.strerror or exc)
        ) from None


def fill_credentials_file(out: PrivateFile, credentials: Sequence[IssuedCredential]) -> str:
    """Write and sync the workbook into ``out``; return its SHA-256.

    The caller records ``file`` and ``file_sha256`` in the audit event of the
    action that issued the passwords (same transaction), then renames the file
    into place (``out.commit(keep_on_failure=True)``) after the commit, or
    removes it (``out.discard()``) when the transaction fails.
    """
    return _save(out, credentials)


def file_credentials(
    session: Session, actor: Actor | None, out: PrivateFile, credentials: Sequence[IssuedCredential]
) -> str:
    """Fill ``out`` and record it (``account.credentials_file``) in ``session``'s transaction.

    For the commands that issue passwords outside a handover (grant,
    reset-password, import-roster): the event holds the file's name and SHA-256,
    so a kill between the commit and the rename is finished by the recovery step
    (``resv_cli.audit.recovery``) and an unrecorded workbook is removed.
    """
    from resv_cli.audit import chain as audit
    from resv_cli.audit.vocabulary import A

    digest = fill_credentials_file(out, credentials)
    audit.record(
        session,
        actor,
        A.ACCOUNT_CREDENTIALS_FILE,
        resource_type="account",
        detail={
            "file": out.target.name,
            "file_sha256": digest,
            "accounts_issued": len(credentials),
        },
    )
    return digest


def write_credentials_xlsx(path: Path, credentials: Sequence[IssuedCredential]) -> None:
    """Create ``path`` (mode 0600, must not exist) holding each login ID and password.

    Published at once, before the caller's commit: prefer the ordered form
    (``open_credentials_file`` / ``fill_credentials_file``), which no kill can
    leave out of step with the accounts.
    """
    with open_credentials_file(path) as out:
        _save(out, credentials)
        out.commit()
