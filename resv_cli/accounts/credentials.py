"""Write issued one-time passwords to an xlsx file that only its owner can read.

The file is created with ``os.open(..., O_CREAT | O_EXCL, 0o600)`` before a
byte is written, so it is never readable by others, not even for a moment, and
an existing file is never overwritten.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from resv_cli.accounts.lifecycle import IssuedCredential
from resv_cli.core.errors import InputError

HEADER = (
    "ログインID / login ID",
    "氏名 / name",
    "初期パスワード / one-time password",
    "有効期限 (UTC) / expires",
)


def check_credentials_path(path: Path | None) -> None:
    """Refuse, before any work, a credentials file that exists or is not named .xlsx."""
    if path is None:
        return
    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        raise InputError(f"{path}: --credentials-out must name a new .xlsx file")
    if path.exists() or path.is_symlink():
        raise InputError(f"{path} already exists; choose a new file")


def write_credentials_xlsx(path: Path, credentials: Sequence[IssuedCredential]) -> None:
    """Create ``path`` (mode 0600, must not exist) holding each login ID and password."""
    from openpyxl import Workbook

    path = Path(path)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("credentials")
    ws.append(list(HEADER))
    for c in credentials:
        if not c.login_id or not c.one_time_password:
            raise ValueError("issued credential without login ID or one-time password")
        expires = c.expires_at.strftime("%Y-%m-%d %H:%M") if c.expires_at else ""
        ws.append([c.login_id, c.display_name, c.one_time_password, expires])
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InputError(f"{path} already exists; choose a new file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot create: {exc.strerror}") from None
    try:
        os.fchmod(fd, 0o600)  # in case a umask or ACL widened it
        with os.fdopen(fd, "wb") as fh:
            wb.save(fh)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
