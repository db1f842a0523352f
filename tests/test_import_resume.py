"""Kill the import (SIGKILL) at random points; resuming must give the same database.

The reference is an uninterrupted import of the same generated file into the same
kind of database.  Each of the 20+ trials starts the import in a subprocess, kills
it after a random delay once its batch row exists (anywhere up to the last checkpoint), then
finishes the job (alternately with ``resv import resume`` and by re-running the
command) and compares registrants, rejects, batch counts and, on SQLite,
``PRAGMA integrity_check``.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests import factories

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from gen_legacy import generate  # noqa: E402

RESV = str(Path(sys.executable).with_name("resv"))
KILLS = 20
RECORDS = 1500
CHUNK = 40


def snapshot(inst: Any) -> dict[str, Any]:
    regs = inst.clear_rows(
        "SELECT facility_id, kind, legacy_no, name, name_key, kana, kana_key, date_of_birth, "
        "postal_code, address, phone, phone_digits, phone_extension, emergency_name, "
        "emergency_phone, representative_name FROM registrants ORDER BY legacy_no, name"
    )
    batch_id = inst.scalar("SELECT max(id) FROM import_batches WHERE status = 'completed'")
    rejects = inst.rows(
        "SELECT record_no, column_name, kind, reason, legacy_no FROM import_rejects "
        "WHERE batch_id = :b ORDER BY record_no, column_name",
        b=batch_id,
    )
    counts = inst.rows(
        "SELECT records_read, imported, updated, rejected, duplicates, unchanged "
        "FROM import_batches WHERE id = :b",
        b=batch_id,
    )
    return {"registrants": [tuple(r) for r in regs], "rejects": [tuple(r) for r in rejects],
            "counts": [tuple(c) for c in counts]}  # fmt: skip


def clear(inst: Any) -> None:
    from sqlalchemy import text

    with inst.engine().begin() as conn:
        conn.execute(text("DELETE FROM registrants"))
        conn.execute(text("DELETE FROM import_rejects"))
        conn.execute(text("DELETE FROM import_batches"))


def wait_for_batch(inst: Any, proc: subprocess.Popen[Any]) -> None:
    """Wait (polling the database) until the import has created its batch row."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if inst.scalar("SELECT count(*) FROM import_batches"):
            return
        time.sleep(0.01)


def import_cmd(path: Path) -> list[str]:
    return [RESV, "import", "registrants", str(path), "--facility", "chuo-rojin",
            "--chunk-size", str(CHUNK)]  # fmt: skip


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume(installation: Any, tmp_path: Path) -> None:
    inst = installation
    factories.make_facility(inst, "chuo-rojin", category="senior_welfare_centre")
    legacy = tmp_path / "legacy.csv"
    generate(str(legacy), RECORDS, "cp932", seed=11)
    env = dict(os.environ)

    proc = subprocess.Popen(import_cmd(legacy), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    wait_for_batch(inst, proc)
    t0 = time.perf_counter()
    while proc.poll() is None and inst.scalar(
        "SELECT count(*) FROM import_batches WHERE status = 'running'"
    ):
        time.sleep(0.005)
    # the time the batch is running: kills land in it, not in the process's exit
    window = time.perf_counter() - t0
    _, err = proc.communicate()
    assert proc.returncode == 0, err
    reference = snapshot(inst)
    assert reference["counts"][0][0] == RECORDS
    assert len(reference["registrants"]) > RECORDS * 0.9
    assert reference["rejects"], "the generated file must produce rejects"

    rng = random.Random(20261129)
    killed_mid_run = 0
    trial = 0
    # keep going until 20 kills have really interrupted a running import; a run that
    # finished before its kill (a loaded machine runs at a changing speed) does not count
    while killed_mid_run < KILLS and trial < 4 * KILLS:
        trial += 1
        clear(inst)
        proc = subprocess.Popen(import_cmd(legacy), env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip
        wait_for_batch(inst, proc)
        time.sleep(rng.uniform(0.0, window * 0.8))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        running = inst.rows("SELECT id, checkpoint FROM import_batches WHERE status = 'running'")
        if proc.returncode == -signal.SIGKILL and running:
            killed_mid_run += 1
        completed = inst.scalar("SELECT count(*) FROM import_batches WHERE status = 'completed'")
        if proc.returncode == 0 or (not running and completed):
            # finished before the kill (the kill may land after the final commit, while
            # the process is exiting): nothing to resume, and it must equal the reference
            assert snapshot(inst) == reference
            continue
        if trial % 2 == 0 and running:
            cmd = [RESV, "import", "resume", str(running[0][0])]
        else:
            cmd = import_cmd(legacy)  # re-running the command resumes the batch
        finished = subprocess.run(cmd, env=env, capture_output=True, text=True)
        assert finished.returncode == 0, (trial, finished.stderr)
        if running:
            assert f"resumed after record {running[0][1]}" in finished.stderr or running[0][1] == 0
        assert snapshot(inst) == reference, f"trial {trial}: resumed database differs"
        if inst.backend == "sqlite":
            assert inst.scalar("PRAGMA integrity_check") == "ok"
        assert inst.scalar("SELECT count(*) FROM import_batches") == 1
    # the kills must really have interrupted running imports, not finished ones
    assert killed_mid_run >= KILLS
