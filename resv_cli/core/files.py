"""Files resv reads whole (their digests), and the one writer of every file resv creates.

Session file, audit key, rejects, credentials workbooks, reports, archives: each
is written through ``PrivateFile`` (or ``write_private`` for bytes in hand):

1. a temporary file with a random name, ``.<name>.resv-<16 hex>.tmp`` beside the
   target, is created with ``O_CREAT|O_EXCL|O_NOFOLLOW`` and mode 0600 from the
   start (and ``fchmod`` 0600, whatever the umask), and locked (``flock``) for as
   long as this process holds it -- before any work, so an unwritable directory
   fails at once;
2. the data goes into ``.file``; ``finish()`` flushes and fsyncs it and returns its
   SHA-256 (read back from the file itself);
3. ``commit()`` moves it to the target and fsyncs the directory: refused when the
   target is a symbolic link; without ``overwrite`` through ``link(2)``, which
   never replaces a file that appeared meanwhile.

Nothing is ever written at the target name itself, so a kill at any moment leaves
the target either absent (or as it was) or complete.  What a kill can leave is a
temporary file.  Files whose existence must agree with a database transaction
(reports, archives, credentials) are finished *before* the commit, their SHA-256
recorded in that transaction, and renamed *after* it; ``settle_leftovers`` is the
recovery step: a leftover temporary file no live process holds (its lock is free)
is renamed into place when the database recorded its digest (the commit happened)
and removed otherwise (it did not).  ``resv_cli.audit.recovery`` asks the database.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import re
import secrets
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from resv_cli.core.errors import InputError
from resv_cli.core.i18n import _

TEMP_PATTERN = re.compile(r"^\.(?P<name>.+)\.resv-(?P<token>[0-9a-f]{16})(?P<replace>-r)?\.tmp$")
CRASH_ENV = "RESV_TEST_CRASH_AT"


def file_sha256(path: Path) -> str:
    """Return the SHA-256 of a file's bytes (hex), read 1 MiB at a time."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _fd_sha256(fd: int) -> str:
    h = hashlib.sha256()
    offset = 0
    while block := os.pread(fd, 1 << 20, offset):
        h.update(block)
        offset += len(block)
    return h.hexdigest()


def crash_point(name: str) -> None:
    """TEST HOOK: with ``RESV_TEST_CRASH_AT=<name>`` set, die here as if by SIGKILL.

    The crash tests name the dangerous moments of the writer (``<label>.before_commit``:
    the file is complete, the transaction not yet committed; ``<label>.after_commit``:
    committed, not yet renamed).  Nothing else reads this variable.
    """
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def _exists_message(path: Path, force_option: str | None) -> str:
    if force_option:
        return _("{path} already exists; use {option} to replace it").format(
            path=path, option=force_option
        )
    return _("{path} already exists; choose a new file name").format(path=path)


def _symlink_message(path: Path) -> str:
    return _("{path} is a symbolic link; refusing to write through it").format(path=path)


def read_key_file(path: Path, *, what: str, missing: str) -> bytes:
    """The bytes of a key file, which only its owner may read (the audit key ring, the
    data key-encryption key).  ``what`` names the kind of file (translated, e.g.
    ``_("audit key file")``), ``missing`` is the whole message for an absent file
    (with ``{path}``).  Nothing of the file's content ever reaches a message."""
    from resv_cli.core.errors import ResvError

    try:
        if os.name == "posix" and path.stat().st_mode & 0o077:
            raise ResvError(
                _("{what} {path} must be readable by its owner only (chmod 600)").format(
                    what=what, path=path
                )
            )
        return path.read_bytes()
    except FileNotFoundError:
        raise ResvError(missing.format(path=path)) from None


def check_target(path: Path, *, overwrite: bool = False, force_option: str | None = None) -> None:
    """Refuse, before any work, a target that is a symlink, a directory or (unless
    ``overwrite``) an existing file."""
    path = Path(path)
    if path.is_symlink():
        raise InputError(_symlink_message(path))
    if path.is_dir():
        raise InputError(_("{path} is a directory").format(path=path))
    if path.exists() and not overwrite:
        raise InputError(_exists_message(path, force_option))


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return  # the rename happened; a directory we cannot open cannot be synced
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the rename stands
    finally:
        os.close(fd)


def _cannot(path: Path, exc: OSError) -> InputError:
    if exc.errno == errno.ELOOP:
        return InputError(_symlink_message(path))
    return InputError(
        _("cannot write {path!r}: {problem}").format(path=str(path), problem=exc.strerror or exc)
    )


class PrivateFile:
    """A file being written for ``target``: a locked 0600 temporary file beside it.

    ``overwrite`` lets ``commit()`` replace an existing target (never a symlink);
    ``force_option`` names the option that allows it, for the refusal message.
    ``label`` names the writer for the crash test hook.  Use it as a context
    manager: leaving the block without ``commit()`` removes the temporary file.
    """

    def __init__(
        self,
        target: Path,
        *,
        overwrite: bool = False,
        force_option: str | None = None,
        label: str | None = None,
        make_parents: bool = False,
    ) -> None:
        self.target = Path(target)
        self.overwrite = overwrite
        self.force_option = force_option
        self.label = label
        self.sha256: str | None = None
        self.committed = False
        if make_parents:
            self.target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        check_target(self.target, overwrite=overwrite, force_option=force_option)
        name = f".{self.target.name}.resv-{secrets.token_hex(8)}{'-r' if overwrite else ''}.tmp"
        self.temp = self.target.with_name(name)
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(self.temp, flags, 0o600)
        except OSError as exc:
            raise _cannot(self.target, exc) from None
        try:
            os.fchmod(fd, 0o600)  # in case an ACL or odd umask widened it
            fcntl.flock(fd, fcntl.LOCK_EX)
            # a recovery may have taken the fresh file for a dead one before our lock
            if os.stat(self.temp, follow_symlinks=False).st_ino != os.fstat(fd).st_ino:
                raise FileNotFoundError(errno.ENOENT, _("its temporary file was removed"))
        except OSError as exc:
            os.close(fd)
            raise _cannot(self.target, exc) from None
        self.file: BinaryIO = os.fdopen(fd, "w+b")

    def __enter__(self) -> PrivateFile:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.committed:
            self.discard()

    def write(self, data: bytes) -> None:
        self.file.write(data)

    def finish(self) -> str:
        """Flush and fsync the temporary file; return its SHA-256 (hex)."""
        if self.sha256 is None:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.sha256 = _fd_sha256(self.file.fileno())
            if self.label:
                crash_point(f"{self.label}.before_commit")
        return self.sha256

    def commit(self, *, keep_on_failure: bool = False) -> Path:
        """Move the finished file to its target (atomically) and sync the directory.

        With ``keep_on_failure`` (the file is already recorded in the database) a
        refusal keeps the temporary file and names it, rather than removing it.
        """
        self.finish()
        if self.label:
            crash_point(f"{self.label}.after_commit")
        try:
            _move_into_place(
                self.temp, self.target, overwrite=self.overwrite, force_option=self.force_option
            )
        except InputError:
            if not keep_on_failure:
                self.discard()
                raise
            self._close()
            why = (
                _("{path} is a symbolic link; the new file is kept as {temp}")
                if self.target.is_symlink()
                else _("{path} already exists; the new file is kept as {temp}")
            )
            raise InputError(why.format(path=self.target, temp=self.temp)) from None
        except OSError as exc:
            if not keep_on_failure:
                self.discard()
            else:
                self._close()
            raise _cannot(self.target, exc) from None
        self.committed = True
        self._close()  # the lock goes last: the rename is done
        return self.target

    def _close(self) -> None:
        with contextlib.suppress(OSError):
            self.file.close()

    def discard(self) -> None:
        """Remove the temporary file (when it is still ours) and release it."""
        if self.file.closed:
            return
        with contextlib.suppress(OSError):
            if (
                os.stat(self.temp, follow_symlinks=False).st_ino
                == os.fstat(self.file.fileno()).st_ino
            ):
                os.unlink(self.temp)
        self._close()


def _move_into_place(
    temp: Path, target: Path, *, overwrite: bool, force_option: str | None = None
) -> None:
    if target.is_symlink():
        raise InputError(_symlink_message(target))
    if overwrite:
        os.replace(temp, target)  # rename(2) replaces a symlink itself, never follows it
    else:
        try:
            os.link(temp, target, follow_symlinks=False)  # EEXIST if anything is there
        except FileExistsError:
            raise InputError(_exists_message(target, force_option)) from None
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                raise
            # a filesystem without hard links: check, then rename (a narrow race)
            if os.path.lexists(target):
                raise InputError(_exists_message(target, force_option)) from None
            os.rename(temp, target)
        else:
            os.unlink(temp)
    _fsync_dir(target.parent)


def write_private(
    path: Path,
    data: bytes,
    *,
    overwrite: bool = False,
    force_option: str | None = None,
    make_parents: bool = False,
) -> None:
    """Write ``data`` to ``path`` (mode 0600) atomically through ``PrivateFile``.

    Leftovers of an earlier, killed write of the same file are removed first (a
    file written whole from memory is never recorded elsewhere).
    """
    path = Path(path)
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.parent.is_dir():
        settle_leftovers(path.parent, None, target_name=path.name)
    with PrivateFile(path, overwrite=overwrite, force_option=force_option) as f:
        f.write(data)
        f.commit()


# --- recovery of interrupted writes -----------------------------------------------


@dataclass
class Leftover:
    temp: Path
    target: Path
    replace: bool


@dataclass
class Settled:
    """What the recovery did with one leftover: recovered, finished, removed or kept."""

    temp: Path
    target: Path
    outcome: str
    note: str

    @property
    def published(self) -> bool:
        """The target now holds the file an interrupted, committed run wrote."""
        return self.outcome in ("recovered", "finished")


def leftover_temps(directory: Path, target_name: str | None = None) -> list[Leftover]:
    """Temporary files of this writer in ``directory`` (of one target, if named)."""
    found: list[Leftover] = []
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return found
    for name in names:
        m = TEMP_PATTERN.match(name)
        if m is None or (target_name is not None and m["name"] != target_name):
            continue
        found.append(Leftover(directory / name, directory / m["name"], bool(m["replace"])))
    return found


def settle_leftovers(
    directory: Path,
    is_recorded: Callable[[str], bool] | None,
    *,
    target_name: str | None = None,
) -> list[Settled]:
    """Finish or remove temporary files that no live process holds; return what was done.

    ``is_recorded(sha256)`` says whether the database recorded that file (its
    transaction committed): then the rename is finished; otherwise (or with no
    ``is_recorded``) the file is removed.  A file still locked by its writer is
    left alone.  A recorded file whose target exists (and may not be replaced) is
    kept and named.
    """
    notes: list[Settled] = []
    for left in leftover_temps(Path(directory), target_name):
        try:
            fd = os.open(left.temp, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue  # gone meanwhile, or not a regular file of ours
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live writer holds it
            st = os.fstat(fd)
            try:
                same = os.stat(left.temp, follow_symlinks=False).st_ino == st.st_ino
            except FileNotFoundError:
                continue  # its writer renamed it before we locked
            if not same:
                continue
            recorded = is_recorded is not None and is_recorded(_fd_sha256(fd))
            notes.append(_settle(left, st.st_ino, recorded))
        finally:
            os.close(fd)
    return notes


def _settle(left: Leftover, inode: int, recorded: bool) -> Settled:
    temp, target = left.temp, left.target
    if not recorded:
        os.unlink(temp)
        _fsync_dir(temp.parent)
        note = _("removed {temp}, left by an interrupted run that recorded nothing").format(
            temp=temp
        )
        return Settled(temp, target, "removed", note)
    try:
        if os.stat(target, follow_symlinks=False).st_ino == inode:
            os.unlink(temp)  # linked into place already; only the unlink was missed
            _fsync_dir(temp.parent)
            note = _("finished {target}, which an interrupted run had written").format(
                target=target
            )
            return Settled(temp, target, "finished", note)
    except FileNotFoundError:
        pass
    try:
        _move_into_place(temp, target, overwrite=left.replace)
    except (InputError, OSError) as exc:
        note = _(
            "kept {temp}, which the database recorded: {problem}; move it into place by hand"
        ).format(temp=temp, problem=exc)
        return Settled(temp, target, "kept", note)
    note = _("recovered {target} from an interrupted run (recorded in the database)").format(
        target=target
    )
    return Settled(temp, target, "recovered", note)
