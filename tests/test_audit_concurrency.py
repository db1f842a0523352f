"""Several processes append at once through separate connections: the chain never forks."""

from __future__ import annotations

import subprocess
import sys
import time

from resv_cli.audit_verify import verify_chain

WORKERS = 4
PER_WORKER = 60

WORKER = """
import sys, time
from resv_cli import audit
from resv_cli.db import get_engine, transaction
url, name, n, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
engine = get_engine(url)
while time.time() < start:
    time.sleep(0.005)
for i in range(n):
    with transaction(engine) as s:
        audit.record(s, None, "test.concurrent", resource_id=f"{name}-{i}", detail={"w": name})
print("done", name)
"""


def test_concurrent_appends_keep_one_chain(installation):
    before = installation.scalar("SELECT count(*) FROM audit_events")
    start = time.time() + 3.0  # every process connected and waiting, then all go at once
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, installation.url, f"w{k}", str(PER_WORKER), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(WORKERS)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-2000:]
        assert out.startswith("done")
    total = before + WORKERS * PER_WORKER
    rows = installation.rows(
        "SELECT seq, prev_hash, hash, resource_id FROM audit_events ORDER BY seq"
    )
    assert [r[0] for r in rows] == list(range(1, total + 1))  # contiguous, no gaps
    for prev, row in zip(rows, rows[1:], strict=False):
        assert row[1] == prev[2]  # one chain: every event links to its predecessor
    # no fork: no two events share a predecessor
    assert len({r[1] for r in rows}) == len(rows)
    # every append landed exactly once, interleaved between the workers
    mine = [r[3] for r in rows if r[3] and r[3].startswith("w")]
    assert sorted(mine) == sorted(f"w{k}-{i}" for k in range(WORKERS) for i in range(PER_WORKER))
    firsts = [r[3].split("-")[0] for r in rows[before : before + 40]]
    assert len(set(firsts)) > 1, "workers did not overlap; the test proved nothing"
    result = verify_chain(installation.engine())
    assert result.ok, result.message
    assert result.head_seq == total
