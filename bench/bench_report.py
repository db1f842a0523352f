"""`resv report monthly` over a month of N audit events, against openpyxl writing the
same rows bare (write-only mode, `ws.append`) in the same run.

A SQLite database is initialised with `resv db init`, then seeded directly: one
designated manager, 7 facilities with opening hours, 120 accounts on a roster (a
tenth non-regular), and N events spread evenly over May 2026 (Japan time) with a
valid hash chain (canonical form from ``resv_cli.audit.chain``).  Each measurement runs in
its own process; peak memory is that process's ``ru_maxrss`` and CPU time its
``ru_utime + ru_stime`` (``os.wait4``): on a shared machine the CPU ratio is the
steadier figure.

Sizes: by default one run at 1,000,000 events plus the median of 3 runs at 200,000
(a 1M run takes minutes on this machine, so it is measured once);
``BENCH_QUICK=1``: the median of 3 runs at 200,000 only; ``BENCH_REPORT_SIZES`` and
``BENCH_REPORT_RUNS`` override (e.g. ``BENCH_REPORT_SIZES=1000000 BENCH_REPORT_RUNS=3``).
Goal: report time within 1.5x of the bare baseline, peak memory under 200 MB.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESV = str(Path(sys.executable).with_name("resv"))
ADMIN_PW = "bench-Admin-passphrase-2026"
MONTH = "2026-05"
JST = dt.timezone(dt.timedelta(hours=9))
START = dt.datetime(2026, 5, 1, tzinfo=JST).astimezone(dt.UTC)
SPAN = (dt.datetime(2026, 6, 1, tzinfo=JST).astimezone(dt.UTC) - START).total_seconds()
FACILITIES = [f"fac-{i}" for i in range(7)]
ACCOUNTS = 120

# (action, outcome, resource_type, detail) by event number modulo 100
MIX: list[tuple[str, str, str | None, str]] = (
    [("registrant.view", "allowed", "registrant", "{}")] * 40
    + [("registrant.search", "allowed", None, '{"results":3}')] * 15
    + [("booking.add", "allowed", "booking", "{}")] * 15
    + [("booking.cancel", "allowed", "booking", "{}")] * 4
    + [("auth.login", "allowed", "account", '{"session":1}')] * 15
    + [("registrant.view", "denied", "registrant", '{"reason":"scope"}')] * 5
    + [("registrant.check_duplicate", "allowed", None, '{"reason":"登録証","matches":1}')]
    + [("auth.login", "failed", "account", '{"reason":"wrong_password"}')] * 2
    + [("account.lock", "allowed", "account", '{"minutes":15}')]
    + [("report.export", "allowed", None, '{"rows":40}')]
    + [("audit.list", "allowed", None, "{}")]
)
assert len(MIX) == 100


def event(
    i: int, n: int
) -> tuple[int, dt.datetime, str, str, str, str | None, str | None, str, str]:
    """The i-th event (0-based) of a month of n: the same in the seed and the baseline."""
    when = START + dt.timedelta(seconds=SPAN * i / n)
    acc = i % ACCOUNTS
    action, outcome, rtype, detail = MIX[i % 100]
    rid = None
    if rtype == "registrant":
        rid = str(1 + (i * 7919) % 50_000)
    elif rtype == "booking":
        rid = str(i)
    elif rtype == "account":
        rid = str(acc + 2)
    return (
        i + 1,
        when,
        f"staff{acc:03d}",
        action,
        outcome,
        rtype,
        rid,
        FACILITIES[acc % 7],
        detail,
    )


def run(
    cmd: list[str], env: dict[str, str], stdin: str | None = None
) -> tuple[float, float, float]:
    """Run ``cmd``; return (wall seconds, CPU seconds, peak RSS in MB) of that process."""
    t0 = time.perf_counter()
    p = subprocess.Popen(
        cmd,
        env=env,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if stdin is not None:
        assert p.stdin is not None
        p.stdin.write(stdin)
        p.stdin.close()
    _, status, usage = os.wait4(p.pid, 0)
    elapsed = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read() if p.stderr else ""
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} failed ({p.returncode}): {err[-2000:]}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def seed(db: Path, env: dict[str, str], n: int) -> None:
    from resv_cli.audit import chain as audit

    subprocess.run(
        [RESV, "db", "init", "--admin", "it-admin", "--name", "情報 太郎", "--password-stdin"],
        input=ADMIN_PW + "\n",
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    conn = sqlite3.connect(db)
    now = "2026-04-01 00:00:00.000000"
    conn.execute(
        "INSERT INTO organizations (code, name, kind, created_at) "
        "VALUES ('bench-fm', 'ベンチ管理 株式会社', 'designated_manager', ?)",
        (now,),
    )
    org = conn.execute("SELECT id FROM organizations WHERE code = 'bench-fm'").fetchone()[0]
    for code in FACILITIES:
        conn.execute(
            "INSERT INTO facilities (code, name, category, opens_at, closes_at, created_at,"
            " updated_at) VALUES (?, ?, 'senior_welfare_centre', '09:00', '21:00', ?, ?)",
            (code, f"{code} センター", now, now),
        )
        conn.execute(
            "INSERT INTO management_periods (facility_id, organization_id, valid_from,"
            " created_at) VALUES ((SELECT id FROM facilities WHERE code = ?), ?, '2026-04-01', ?)",
            (code, org, now),
        )
    for a in range(ACCOUNTS):
        emp = "non_regular" if a % 10 == 0 else "regular"
        cur = conn.execute(
            "INSERT INTO roster_entries (organization_id, person_key, full_name, employment_type,"
            " role, status, created_at, updated_at) VALUES (?, ?, ?, ?, 'operator', 'active', ?, ?)",
            (org, f"p{a}", f"職員{a}", emp, now, now),
        )
        conn.execute(
            "INSERT INTO accounts (login_id, display_name, organization_id, role, facility_id,"
            " roster_entry_id, status, failed_attempts, lock_count, must_change_password,"
            " created_at, updated_at) VALUES (?, ?, ?, 'operator',"
            " (SELECT id FROM facilities WHERE code = ?), ?, 'active', 0, 0, 0, ?, ?)",
            (f"staff{a:03d}", f"職員{a}", org, FACILITIES[a % 7], cur.lastrowid, now, now),
        )
    head_seq, prev = conn.execute("SELECT seq, hash FROM audit_events ORDER BY seq DESC").fetchone()
    acc_ids = dict(conn.execute("SELECT login_id, id FROM accounts"))
    from resv_cli.audit import keys

    # the installation's audit key (in the bench's own config dir): the chain stays keyed
    key = keys.load(Path(env["RESV_CONFIG_DIR"]) / "audit.key").current()
    batch = []
    for i in range(n):
        _, when, login, action, outcome, rtype, rid, fac, detail = event(i, n)
        seq = head_seq + i + 1
        stamp = audit.canonical_time(when)
        acc = acc_ids[login]
        h = audit.event_mac(
            key.mac_key,
            audit.canonical_form(
                seq, stamp, acc, login, "bench-fm", action, rtype, rid, fac, outcome, detail, prev
            ),
            key.id,
        )
        batch.append(
            (
                seq,
                when.strftime("%Y-%m-%d %H:%M:%S.%f"),
                acc,
                login,
                "bench-fm",
                action,
                rtype,
                rid,
                fac,
                outcome,
                detail,
                prev,
                key.id,
                h,
            )
        )
        prev = h
        if len(batch) == 50_000:
            _insert(conn, batch)
            batch = []
    _insert(conn, batch)
    conn.commit()
    conn.close()
    subprocess.run(
        [RESV, "login", "it-admin", "--password-stdin"],
        input=ADMIN_PW + "\n",
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )


def _insert(conn: sqlite3.Connection, rows: list[tuple[object, ...]]) -> None:
    conn.executemany(
        "INSERT INTO audit_events (seq, occurred_at, account_id, login_id, organization_code,"
        " action, resource_type, resource_id, facility_code, outcome, detail, prev_hash,"
        " key_id, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


BARE = """
import sys
sys.path.insert(0, {bench!r})
from openpyxl import Workbook
from bench_report import event
n = {n}
wb = Workbook(write_only=True)
ws = wb.create_sheet("activity")
ws.append(["seq", "time", "login", "org", "action", "resource", "facility", "outcome"])
nine = __import__("datetime").timedelta(hours=9)
for i in range(n):
    seq, when, login, action, outcome, rtype, rid, fac, _ = event(i, n)
    ws.append([seq, (when + nine).replace(tzinfo=None, microsecond=0), login, "bench-fm",
               action, f"{{rtype}}:{{rid}}" if rtype else None, fac, outcome])
wb.save({out!r})
"""


def measure(n: int, runs: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-report-"))
    try:
        db = work / "bench.db"
        env = dict(
            os.environ,
            RESV_DATABASE_URL=f"sqlite:///{db}",
            RESV_CONFIG_DIR=str(work / "config"),
        )
        t0 = time.perf_counter()
        seed(db, env, n)
        print(f"  seeded {n:,} events in {time.perf_counter() - t0:.1f} s", flush=True)
        bare_code = BARE.format(bench=str(Path(__file__).parent), n=n, out=str(work / "bare.xlsx"))
        reports, bares, cpu_r, cpu_b, mem_r = [], [], [], [], []
        for r in range(runs):
            out = work / f"report-{r}.xlsx"
            tb, cb, mb = run([sys.executable, "-c", bare_code], env)
            tr, cr, mr = run([RESV, "report", "monthly", "--month", MONTH, "-o", str(out)], env)
            bares.append(tb)
            reports.append(tr)
            cpu_b.append(cb)
            cpu_r.append(cr)
            mem_r.append(mr)
            print(
                f"  run {r + 1}: report {tr:6.1f} s wall {cr:6.1f} s CPU ({mr:4.0f} MB); "
                f"bare openpyxl {tb:6.1f} s wall {cb:6.1f} s CPU ({mb:4.0f} MB); "
                f"file {out.stat().st_size / 1e6:.1f} MB",
                flush=True,
            )
        mr_, mb_ = statistics.median(reports), statistics.median(bares)
        ratio = mr_ / mb_
        cratio = statistics.median(cpu_r) / statistics.median(cpu_b)
        peak = max(mem_r)
        print(
            f"{n:>9,} events: report median {mr_:.1f} s, bare openpyxl median {mb_:.1f} s, "
            f"ratio {ratio:.2f}x wall, {cratio:.2f}x CPU "
            f"(goal <= 1.5x: {'met' if ratio <= 1.5 else 'NOT met'}); "
            f"peak memory {peak:.0f} MB (goal < 200 MB: {'met' if peak < 200 else 'NOT met'}); "
            f"{runs} run(s)",
            flush=True,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    sizes_env = os.environ.get("BENCH_REPORT_SIZES")
    runs_env = os.environ.get("BENCH_REPORT_RUNS")
    if sizes_env:
        plan = [(int(s), int(runs_env or 3)) for s in sizes_env.split(",")]
    elif os.environ.get("BENCH_QUICK"):
        plan = [(200_000, 3)]
    else:
        plan = [(1_000_000, 1), (200_000, 3)]
    print("resv report monthly vs openpyxl write-only writing the same rows bare (SQLite)")
    for n, runs in plan:
        measure(n, runs)


if __name__ == "__main__":
    main()
