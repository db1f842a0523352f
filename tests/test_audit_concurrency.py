"""Several processes append at once through separate connections: the chain never forks."""

from __future__ import annotations

import json
import subprocess
import sys

from resv_cli.audit.verify import verify_chain

WORKERS = 4
PER_WORKER = 60

WORKER = """
import json, sys, time
from sqlalchemy import text
from resv_cli.audit import chain as audit
from resv_cli.core.db import get_engine, transaction
url, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
engine = get_engine(url)
with engine.connect() as conn:  # imports done and the database reachable before "ready"
    conn.execute(text("SELECT 1"))
print("ready", flush=True)
sys.stdin.readline()  # every worker waits here until the test says go
spans = []
for i in range(n):
    start = time.monotonic()  # one clock for every process on the machine
    with transaction(engine) as s:
        audit.record(s, None, "audit.show", resource_id=f"{name}-{i}", detail={"kind": name})
    spans.append((start, time.monotonic()))
print("done", name, flush=True)
print(json.dumps(spans), flush=True)
"""


def test_concurrent_appends_keep_one_chain(installation):
    before = installation.scalar("SELECT count(*) FROM audit_events")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, installation.url, f"w{k}", str(PER_WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(WORKERS)
    ]
    # start together only once every process has loaded and connected: under load (CI)
    # start-up alone can take seconds, and a fixed start time let one worker finish
    # before the others began
    for p in procs:
        assert p.stdout is not None and p.stdout.readline() == "ready\n", p.stderr
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
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
    # the appends really ran at the same time, else the test proved nothing: there is a moment
    # when every worker was inside its appends (each had begun its first and none had finished
    # its last; a worker waiting for the write lock counts, since it is contending). How the
    # events interleave is up to the database: SQLite's busy handler is not fair, and under
    # load one worker may take the lock for all its appends while the others wait.
    spans = [json.loads(out.splitlines()[1]) for out, _err in outs]
    latest_first_start = max(s[0][0] for s in spans)
    earliest_last_end = min(s[-1][1] for s in spans)
    assert latest_first_start < earliest_last_end, (
        "workers did not overlap; the test proved nothing"
    )
    result = verify_chain(installation.engine())
    assert result.ok, result.message
    assert result.head_seq == total
