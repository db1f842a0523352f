"""The one private-file writer (resv_cli.core.files): 0600 from the first byte, never
through a symlink, never a partial file at the target, and the recovery of a kill
between the database commit and the rename."""

from __future__ import annotations

import fcntl
import gzip
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from factories import make_facility
from legacy_files import run_import, write_csv

from resv_cli.core.errors import InputError
from resv_cli.core.files import (
    CRASH_ENV,
    PrivateFile,
    file_sha256,
    leftover_temps,
    settle_leftovers,
    write_private,
)

VICTIM = b"precious, not resv's\n"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def temps(directory: Path) -> list[str]:
    return sorted(p.temp.name for p in leftover_temps(directory))


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    v = tmp_path / "victim.txt"
    v.write_bytes(VICTIM)
    return v


# --- the writer itself (no database) ----------------------------------------------


def test_written_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        write_private(tmp_path / "a.key", b"secret\n")
        with PrivateFile(tmp_path / "b.xlsx") as f:
            assert mode(f.temp) == 0o600  # from the first byte, not chmod'ed later
            assert f.temp.name.startswith(".b.xlsx.resv-") and f.temp.name.endswith(".tmp")
            f.write(b"x")
            f.commit()
    finally:
        os.umask(old)
    assert mode(tmp_path / "a.key") == mode(tmp_path / "b.xlsx") == 0o600
    assert (tmp_path / "a.key").read_bytes() == b"secret\n"
    assert temps(tmp_path) == []


@pytest.mark.parametrize("overwrite", [False, True])
def test_symlink_at_the_target_is_refused(tmp_path: Path, victim: Path, overwrite: bool) -> None:
    link = tmp_path / "out.csv"
    link.symlink_to(victim)
    with pytest.raises(InputError) as exc:
        write_private(link, b"rejects", overwrite=overwrite)
    assert str(exc.value) == f"{link} is a symbolic link; refusing to write through it"
    assert victim.read_bytes() == VICTIM and link.is_symlink()
    assert temps(tmp_path) == []


def test_symlink_planted_after_the_check_is_not_followed(tmp_path: Path, victim: Path) -> None:
    target = tmp_path / "report.xlsx"
    f = PrivateFile(target, overwrite=True, force_option="--force")
    f.write(b"report")
    target.symlink_to(victim)  # planted while the report was being written
    with pytest.raises(InputError, match="is a symbolic link; refusing to write through it"):
        f.commit()
    assert victim.read_bytes() == VICTIM and target.is_symlink()
    assert temps(tmp_path) == []


def test_symlink_at_the_old_predictable_temp_name_is_harmless(tmp_path: Path, victim: Path) -> None:
    target = tmp_path / "session.json"
    planted = tmp_path / f".session.json.{os.getpid()}.tmp"  # the name resv 0.1 used
    planted.symlink_to(victim)
    write_private(target, b"{}", overwrite=True)
    assert victim.read_bytes() == VICTIM
    assert target.read_bytes() == b"{}" and mode(target) == 0o600


def test_existing_file_refused_unless_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "r.csv"
    target.write_bytes(b"old")
    with pytest.raises(InputError) as exc:
        write_private(target, b"new", force_option="--force")
    assert str(exc.value) == f"{target} already exists; use --force to replace it"
    with pytest.raises(InputError) as exc:
        PrivateFile(target)
    assert str(exc.value) == f"{target} already exists; choose a new file name"
    assert target.read_bytes() == b"old"
    write_private(target, b"new", overwrite=True)
    assert target.read_bytes() == b"new" and mode(target) == 0o600


def test_a_file_that_appears_meanwhile_is_not_clobbered(tmp_path: Path) -> None:
    target = tmp_path / "creds.xlsx"
    f = PrivateFile(target)
    f.write(b"passwords")
    target.write_bytes(b"someone else's")
    with pytest.raises(InputError, match="already exists; the new file is kept as"):
        f.commit(keep_on_failure=True)  # recorded in the database: kept, and named
    assert target.read_bytes() == b"someone else's"
    assert len(temps(tmp_path)) == 1


def test_leaving_without_commit_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), PrivateFile(tmp_path / "x.gz") as f:
        f.write(b"half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_unwritable_directory_fails_before_any_work(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    with pytest.raises(InputError) as exc:
        PrivateFile(ro / "r.xlsx")
    assert str(exc.value) == f"cannot write '{ro / 'r.xlsx'}': Permission denied"


def test_recovery_finishes_recorded_removes_unrecorded_and_spares_live(tmp_path: Path) -> None:
    def leftover(name: str, data: bytes) -> PrivateFile:
        f = PrivateFile(tmp_path / name)
        f.write(data)
        f.finish()
        return f

    recorded = leftover("a.jsonl.gz", b"committed")
    unrecorded = leftover("b.xlsx", b"rolled back")
    live = leftover("c.xlsx", b"still being written")
    for dead in (recorded, unrecorded):  # as a SIGKILL would: the lock goes, the file stays
        dead.file.close()
    digest = file_sha256(recorded.temp)
    done = settle_leftovers(tmp_path, lambda sha: sha == digest)
    assert sorted((s.target.name, s.outcome) for s in done) == [
        ("a.jsonl.gz", "recovered"),
        ("b.xlsx", "removed"),
    ]
    assert (tmp_path / "a.jsonl.gz").read_bytes() == b"committed"
    assert mode(tmp_path / "a.jsonl.gz") == 0o600
    assert not (tmp_path / "b.xlsx").exists()
    assert temps(tmp_path) == [live.temp.name]  # its writer holds the lock
    live.commit()
    assert (tmp_path / "c.xlsx").read_bytes() == b"still being written"
    assert temps(tmp_path) == []


def test_recovery_finishes_a_link_whose_unlink_was_missed(tmp_path: Path) -> None:
    f = PrivateFile(tmp_path / "a.xlsx")
    f.write(b"done")
    f.finish()
    os.link(f.temp, tmp_path / "a.xlsx")  # killed between link(2) and unlink(2)
    f.file.close()
    done = settle_leftovers(tmp_path, lambda sha: True)
    assert [s.outcome for s in done] == ["finished"]
    assert temps(tmp_path) == [] and (tmp_path / "a.xlsx").read_bytes() == b"done"


def test_recovery_keeps_a_recorded_file_whose_name_is_taken(tmp_path: Path) -> None:
    f = PrivateFile(tmp_path / "a.xlsx")
    f.write(b"recorded")
    f.finish()
    f.file.close()
    (tmp_path / "a.xlsx").write_bytes(b"other")
    done = settle_leftovers(tmp_path, lambda sha: True)
    assert [s.outcome for s in done] == ["kept"]
    assert "move it into place by hand" in done[0].note
    assert (tmp_path / "a.xlsx").read_bytes() == b"other"
    assert temps(tmp_path) == [f.temp.name]


def test_recovery_skips_a_temp_name_that_is_a_symlink(tmp_path: Path, victim: Path) -> None:
    planted = tmp_path / ".x.xlsx.resv-0123456789abcdef.tmp"
    planted.symlink_to(victim)
    assert settle_leftovers(tmp_path, lambda sha: True) == []
    assert not (tmp_path / "x.xlsx").exists() and victim.read_bytes() == VICTIM


def test_the_writer_holds_a_lock_on_its_temp(tmp_path: Path) -> None:
    with PrivateFile(tmp_path / "x.xlsx") as f:
        fd = os.open(f.temp, os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)


# --- the commands ---------------------------------------------------------------------


def resv(*args: str, crash_at: str | None = None, umask: int | None = None) -> Any:
    """Run ``resv`` in a child process (the environment names the database and config)."""
    env = dict(os.environ)
    env.pop(CRASH_ENV, None)
    if crash_at:
        env[CRASH_ENV] = crash_at
    return subprocess.run(
        [sys.executable, "-m", "resv_cli.commands.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        preexec_fn=(lambda: os.umask(umask)) if umask is not None else None,
    )


MONTH = "2026-05"


def test_report_is_0600_under_umask_0_and_never_silently_replaced(
    installation: Any, cli: Any, tmp_path: Path, victim: Path
) -> None:
    out = tmp_path / "report.xlsx"
    r = resv("report", "monthly", "--month", MONTH, "-o", str(out), umask=0)
    assert r.returncode == 0, r.stderr
    assert mode(out) == 0o600
    first = out.read_bytes()
    r = cli("report", "monthly", "--month", MONTH, "-o", str(out))
    assert (r.exit_code, r.stderr) == (
        1,
        f"Error: {out} already exists; use --force to replace it\n",
    )
    assert out.read_bytes() == first
    r = cli("report", "monthly", "--month", MONTH, "-o", str(out), "--force")
    assert r.exit_code == 0, r
    assert out.read_bytes() != first and mode(out) == 0o600
    assert r.stdout == f"{file_sha256(out)}  {out}\n"
    link = tmp_path / "link.xlsx"
    link.symlink_to(victim)
    r = cli("report", "monthly", "--month", MONTH, "-o", str(link), "--force")
    assert (r.exit_code, r.stderr) == (
        1,
        f"Error: {link} is a symbolic link; refusing to write through it\n",
    )
    assert victim.read_bytes() == VICTIM
    assert temps(tmp_path) == []


def test_rejects_file_refused_before_the_import_and_replaced_with_force(
    installation: Any, cli: Any, tmp_path: Path, victim: Path
) -> None:
    make_facility(installation, "chuo-rojin", category="senior_welfare_centre")
    bad = ["個人", "0101", "", "", "S15.3.2", "", "", "", "", "", "", ""]
    legacy = write_csv(tmp_path / "legacy.csv", [bad])
    link = tmp_path / "rejects.csv"
    link.symlink_to(victim)
    r = run_import(cli, legacy, "--rejects", str(link))
    assert (r.exit_code, r.stderr) == (
        1,
        f"Error: {link} is a symbolic link; refusing to write through it\n",
    )
    assert victim.read_bytes() == VICTIM
    assert installation.scalar("SELECT count(*) FROM import_batches") == 0  # refused first
    out = tmp_path / "rej.csv"
    out.write_text("an earlier run's rejects\n")
    r = run_import(cli, legacy, "--rejects", str(out))
    assert (r.exit_code, r.stderr) == (
        1,
        f"Error: {out} already exists; use --force to replace it\n",
    )
    assert installation.scalar("SELECT count(*) FROM import_batches") == 0
    r = run_import(cli, legacy, "--rejects", str(out), "--force")
    assert r.exit_code == 0, r
    assert "0101" in out.read_text("utf-8-sig") and mode(out) == 0o600
    assert temps(tmp_path) == []


# --- kills at the dangerous moments -------------------------------------------------------


def _killed(r: Any) -> None:
    assert r.returncode == -9, (r.returncode, r.stderr)


def test_archive_killed_before_commit_leaves_nothing_and_changes_nothing(
    installation: Any, cli: Any, tmp_path: Path
) -> None:
    out = tmp_path / "a.jsonl.gz"
    events = installation.scalar("SELECT count(*) FROM audit_events")
    args = ("audit", "archive", "--before", "2999-01-01", "--output", str(out))
    _killed(resv(*args, crash_at="archive.before_commit"))
    assert not out.exists()  # no complete-looking archive the database never recorded
    assert len(temps(tmp_path)) == 1
    assert installation.scalar("SELECT count(*) FROM audit_archives") == 0
    assert installation.scalar("SELECT count(*) FROM audit_events") == events
    r = cli(*args)  # the next run removes the leftover, then archives
    assert r.exit_code == 0, r
    assert "Note: removed" in r.stderr and "Archived events 1.." in r.stderr
    assert temps(tmp_path) == []
    r = cli("audit", "verify", "--archive", str(out))
    assert r.exit_code == 0, r


def test_archive_killed_after_commit_is_finished_by_the_next_run(
    installation: Any, cli: Any, tmp_path: Path
) -> None:
    out = tmp_path / "a.jsonl.gz"
    args = ("audit", "archive", "--before", "2999-01-01", "--output", str(out))
    _killed(resv(*args, crash_at="archive.after_commit"))
    assert not out.exists()
    [left] = leftover_temps(tmp_path)
    recorded = installation.rows("SELECT file_name, file_sha256 FROM audit_archives")
    assert [tuple(r) for r in recorded] == [(out.name, file_sha256(left.temp))]
    r = cli(*args)
    assert r.exit_code == 0, r
    assert r.stderr == f"Note: recovered {out} from an interrupted run (recorded in the database)\n"
    assert temps(tmp_path) == [] and mode(out) == 0o600
    assert installation.scalar("SELECT count(*) FROM audit_archives") == 1  # not twice
    with gzip.open(out, "rt", encoding="utf-8") as fh:
        assert json.loads(fh.readline())["format"] == "resv-audit-archive"
    r = cli("audit", "verify", "--archive", str(out))
    assert r.exit_code == 0, r


@pytest.mark.parametrize("moment", ["before_commit", "after_commit"])
def test_report_killed_at_either_moment(
    installation: Any, cli: Any, tmp_path: Path, moment: str
) -> None:
    out = tmp_path / "report.xlsx"
    args = ("report", "monthly", "--month", MONTH, "-o", str(out))
    _killed(resv(*args, crash_at=f"report.{moment}"))
    assert not out.exists()
    [left] = leftover_temps(tmp_path)
    digest = file_sha256(left.temp)
    rows = installation.rows(
        "SELECT detail FROM audit_events WHERE action = 'report.export' AND outcome = 'allowed'"
    )
    exported = [json.loads(row[0])["sha256"] for row in rows]
    assert exported == ([digest] if moment == "after_commit" else [])
    r = cli(*args)
    assert r.exit_code == 0, r
    assert temps(tmp_path) == [] and mode(out) == 0o600
    if moment == "after_commit":
        assert "Note: recovered" in r.stderr
        assert file_sha256(out) == digest and r.stdout == f"{digest}  {out}\n"
    else:
        assert "Note: removed" in r.stderr and "Wrote" in r.stderr


ROSTER = (
    "氏名,フリガナ,所属施設,雇用形態,役割\n高橋 三郎,タカハシ サブロウ,chuo-rojin,正規,operator\n"
)
HANDOVER = ("handover", "apply", "--to", "inzai-fm", "--facility", "chuo-rojin",
            "--on", "2017-04-01")  # fmt: skip


@pytest.mark.parametrize("moment", ["before_commit", "after_commit"])
def test_handover_credentials_exist_exactly_when_the_accounts_do(
    installation: Any, cli: Any, tmp_path: Path, moment: str
) -> None:
    assert cli("facility", "seed-demo").exit_code == 0
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    creds = tmp_path / "creds.xlsx"
    args = (*HANDOVER, "--roster", str(roster), "--credentials-out", str(creds))
    accounts = "SELECT count(*) FROM accounts a JOIN organizations o ON o.id = a.organization_id WHERE o.code = 'inzai-fm'"  # noqa: E501
    before = installation.scalar(accounts)
    _killed(resv(*args, crash_at=f"credentials.{moment}"))
    assert not creds.exists()  # never a workbook for accounts that were not created
    assert len(temps(tmp_path)) == 1
    created = installation.scalar(accounts) - before
    assert created == (1 if moment == "after_commit" else 0)
    r = cli(*args)
    assert r.exit_code == 0, r
    assert temps(tmp_path) == [] and mode(creds) == 0o600
    assert installation.scalar(accounts) - before == 1
    import openpyxl

    rows = list(openpyxl.load_workbook(creds, read_only=True).worksheets[0].values)
    login = installation.scalar(
        "SELECT login_id FROM accounts a JOIN organizations o ON o.id = a.organization_id "
        "WHERE o.code = 'inzai-fm' ORDER BY a.id DESC LIMIT 1"
    )
    assert len(rows) == 2 and rows[1][0] == login and len(rows[1][2]) >= 20
    details = [
        json.loads(d)
        for (d,) in installation.rows(
            "SELECT detail FROM audit_events WHERE action = 'handover.apply' ORDER BY seq"
        )
    ]
    assert [d.get("file_sha256") for d in details if "file" in d] == [file_sha256(creds)]
    if moment == "after_commit":
        assert "Note: recovered" in r.stderr and "Nothing changed" in r.stderr
    else:
        assert "Note: removed" in r.stderr and "one-time passwords written" in r.stderr


@pytest.mark.parametrize("moment", ["before_commit", "after_commit"])
def test_granted_credentials_exist_exactly_when_the_account_does(
    installation: Any, cli: Any, tmp_path: Path, moment: str
) -> None:
    creds = tmp_path / "grant.xlsx"
    grant = ("account", "grant", "it-new", "--name", "新井 一郎", "--org", "city",
             "--role", "monitor", "--credentials-out")  # fmt: skip
    _killed(resv(*grant, str(creds), crash_at=f"credentials.{moment}"))
    assert not creds.exists()
    [left] = leftover_temps(tmp_path)
    digest = file_sha256(left.temp)
    exists = installation.scalar("SELECT count(*) FROM accounts WHERE login_id = 'it-new'")
    assert exists == (1 if moment == "after_commit" else 0)
    filed = [
        json.loads(d)["file_sha256"]
        for (d,) in installation.rows(
            "SELECT detail FROM audit_events WHERE action = 'account.credentials_file'"
        )
    ]
    assert filed == ([digest] if moment == "after_commit" else [])
    # the next command writing credentials into that directory settles the leftover
    other = tmp_path / "reset.xlsx"
    from tests import factories

    factories.make_account(installation, "mon-x", "city", role="monitor")
    r = cli("account", "reset-password", "mon-x", "--credentials-out", str(other))
    assert r.exit_code == 0, r
    assert temps(tmp_path) == []
    if moment == "after_commit":
        assert "Note: recovered" in r.stderr
        assert file_sha256(creds) == digest and mode(creds) == 0o600
    else:
        assert "Note: removed" in r.stderr and not creds.exists()
