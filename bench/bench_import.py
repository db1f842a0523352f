"""Legacy registrant import vs the databases' own bulk loaders, in the same run.

For each size: generate a messy cp932 legacy file (bench/gen_legacy.py), transcode
the same data to UTF-8, then time (besides the issue's baselines, an
"insert-only floor": the same normalised rows put into the same indexed
``registrants`` table by the database alone, which no import can beat)
  * SQLite: the ``sqlite3`` CLI's ``.import --csv`` of the UTF-8 file into a plain
    13-column table (the practical limit), against
    ``resv import registrants`` of the cp932 file into a fresh resv database;
  * PostgreSQL (when RESV_TEST_PG_URL is set, as under ``make bench``): ``COPY ...
    FROM STDIN (FORMAT csv)`` of the UTF-8 file through psycopg into a plain table,
    against ``resv import registrants`` into a fresh resv database.
The import runs in a subprocess (start-up included); the peak memory is the sum
of PSS over its process tree (it forks a reader), sampled every 20 ms.  Ratios
are medians over the runs.

BENCH_QUICK=1: 20k records x 3.  Default: 200k records x 3 runs and 1,000,000 x 1.
BENCH_IMPORT_PLAN="200000x3,1000000x1" overrides.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from gen_legacy import generate  # noqa: E402

RESV = str(Path(sys.executable).with_name("resv"))
PW = "Kyou-mo-hayaku-owaru-2026"


def plan() -> list[tuple[int, int]]:
    if os.environ.get("BENCH_QUICK"):
        text = "20000x3"
    else:
        text = os.environ.get("BENCH_IMPORT_PLAN", "200000x3,1000000x1")
    out = []
    for part in text.split(","):
        n, r = part.split("x")
        out.append((int(n), int(r)))
    return out


# The launcher runs the command and samples, every 20 ms, the memory of the whole
# process tree it started (the import forks a reader process): the sum of PSS
# (shared pages split between the processes that share them) and the sum of RSS.
# It runs as its own small process: ru_maxrss of a process forked straight from
# this (large) bench process would include this process's own high-water mark.
_LAUNCHER = r"""
import os, resource, subprocess, sys, time

def tree(root):
    kids = {}
    for d in os.listdir('/proc'):
        if d.isdigit():
            try:
                with open(f'/proc/{d}/stat') as f:
                    ppid = int(f.read().rsplit(')', 1)[1].split()[1])
            except OSError:
                continue
            kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out

def mem(pid):
    pss = rss = 0
    try:
        with open(f'/proc/{pid}/smaps_rollup') as f:
            for line in f:
                if line.startswith('Pss:'):
                    pss = int(line.split()[1])
                elif line.startswith('Rss:'):
                    rss = int(line.split()[1])
    except OSError:
        pass
    return pss, rss

p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
peak_pss = peak_rss = nproc = 0
while p.poll() is None:
    pids = tree(p.pid)
    m = [mem(x) for x in pids]
    peak_pss = max(peak_pss, sum(a for a, _ in m))
    peak_rss = max(peak_rss, sum(b for _, b in m))
    nproc = max(nproc, len(pids))
    time.sleep(0.02)
err = p.stderr.read()
sys.stderr.buffer.write(err)
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(peak_pss, peak_rss, ru.ru_maxrss, ru.ru_utime + ru.ru_stime, nproc)
sys.exit(p.returncode)
"""


def run_child(cmd: list[str], env: dict[str, str]) -> tuple[float, float, dict[str, float]]:
    """Run cmd; return (wall seconds, peak PSS MB of its process tree, details)."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, *cmd], env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} failed: {proc.stderr[-500:]}")
    pss, rss, maxrss, cpu, nproc = proc.stdout.strip().splitlines()[-1].split()
    details = {
        "rss_sum_mb": int(rss) / 1024,
        "max_single_rss_mb": int(maxrss) / 1024,
        "cpu_s": float(cpu),
        "processes": int(nproc),
    }
    return wall, int(pss) / 1024, details


def transcode(src: Path, dst: Path) -> None:
    """cp932 -> UTF-8 in blocks (this process stays small; see run_child)."""
    with (
        src.open(encoding="cp932", newline="") as fin,
        dst.open("w", encoding="utf-8", newline="") as fout,
    ):
        while block := fin.read(1 << 20):
            fout.write(block)


def resv_env(url: str, cfg: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["RESV_DATABASE_URL"] = url
    env["RESV_CONFIG_DIR"] = str(cfg)
    return env


def prepare_resv(url: str, cfg: Path) -> dict[str, str]:
    env = resv_env(url, cfg)
    for cmd in (
        [RESV, "db", "init", "--admin", "it-perf", "--name", "計測 担当", "--password-stdin"],
        [RESV, "login", "it-perf", "--password-stdin"],
    ):
        subprocess.run(cmd, env=env, input=PW + "\n", text=True, check=True, capture_output=True)
    from sqlalchemy import create_engine, text

    eng = create_engine(url)
    with eng.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO facilities (code, name, category, created_at, updated_at) VALUES "
                "('chuo-rojin', 'bench', 'senior_welfare_centre', :t, :t)"
            ),
            {"t": "2026-01-01 00:00:00+00"},
        )
    eng.dispose()
    return env


def sqlite_import_baseline(utf8: Path, work: Path) -> float:
    db = work / "plain.db"
    db.unlink(missing_ok=True)
    cols = ", ".join(f"c{i} TEXT" for i in range(13))
    t0 = time.perf_counter()
    subprocess.run(
        ["sqlite3", str(db), f"CREATE TABLE t ({cols})", f".import --csv --skip 1 {utf8} t"],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - t0


def pg_copy_baseline(utf8: Path, admin_url: str) -> float:
    import psycopg

    from tests.support import psycopg_dsn

    name = f"resv_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(psycopg_dsn(admin_url), autocommit=True) as c:
        c.execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'")
    try:
        from sqlalchemy.engine import make_url

        url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        with psycopg.connect(psycopg_dsn(url)) as conn:
            cols = ", ".join(f"c{i} text" for i in range(13))
            conn.execute(f"CREATE TABLE t ({cols})")
            conn.commit()
            t0 = time.perf_counter()
            with conn.cursor() as cur, utf8.open("rb") as f:
                with cur.copy("COPY t FROM STDIN WITH (FORMAT csv, HEADER true)") as cp:
                    while block := f.read(1 << 20):
                        cp.write(block)
            conn.commit()
            return time.perf_counter() - t0
    finally:
        with psycopg.connect(psycopg_dsn(admin_url), autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sqlite_floor(imported_db: Path, work: Path) -> float:
    """The same normalised rows into the same indexed table by SQLite alone.

    A fresh resv database; time ``INSERT INTO registrants SELECT ...`` from the
    imported database (attached): no Python, no normalisation, every index,
    constraint and foreign key of the real table.  What any import must pay.
    """
    db = work / "floor.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    prepare_resv(f"sqlite:///{db}", work / "cfg-floor")
    import sqlite3

    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("PRAGMA foreign_keys=ON")
    con.execute("ATTACH DATABASE ? AS src", (str(imported_db),))
    cols = [r[1] for r in con.execute("PRAGMA table_info(registrants)") if r[1] != "id"]
    sel = ", ".join("NULL" if c == "import_batch_id" else c for c in cols)
    t0 = time.perf_counter()
    con.execute("BEGIN")
    con.execute(
        f"INSERT INTO main.registrants ({', '.join(cols)}) SELECT {sel} FROM src.registrants"
    )
    con.execute("COMMIT")
    took = time.perf_counter() - t0
    con.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return took


def pg_floor(imported_url: str, admin_url: str, work: Path) -> float:
    """The same normalised rows into the same indexed table by COPY alone.

    A fresh resv database; time ``COPY registrants FROM STDIN`` fed from ``COPY
    (SELECT ...) TO STDOUT`` of the imported database, streamed in blocks.
    """
    import psycopg

    from tests.support import psycopg_dsn

    name, url = pg_resv_url(admin_url)
    try:
        prepare_resv(url, work / "pgcfg-floor")
        with (
            psycopg.connect(psycopg_dsn(imported_url)) as src,
            psycopg.connect(psycopg_dsn(url)) as dst,
        ):
            cols = [
                r[0]
                for r in src.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = "
                    "'registrants' AND column_name <> 'id' ORDER BY ordinal_position"
                )
            ]
            sel = ", ".join("NULL" if c == "import_batch_id" else c for c in cols)
            t0 = time.perf_counter()
            with (
                src.cursor() as sc,
                dst.cursor() as dc,
                sc.copy(f"COPY (SELECT {sel} FROM registrants) TO STDOUT") as out,
                dc.copy(f"COPY registrants ({', '.join(cols)}) FROM STDIN") as into,
            ):
                for block in out:
                    into.write(block)
            dst.commit()
            return time.perf_counter() - t0
    finally:
        drop_pg(admin_url, name)


def pg_resv_url(admin_url: str) -> tuple[str, str]:
    import psycopg
    from sqlalchemy.engine import make_url

    from tests.support import psycopg_dsn

    name = f"resv_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(psycopg_dsn(admin_url), autocommit=True) as c:
        c.execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'")
    return name, make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_pg(admin_url: str, name: str) -> None:
    import psycopg

    from tests.support import psycopg_dsn

    with psycopg.connect(psycopg_dsn(admin_url), autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> int:
    sys.path.insert(0, str(HERE.parent))
    if not shutil.which("sqlite3"):
        print("sqlite3 CLI not found (apt install sqlite3): cannot measure the baseline")
        return 1
    pg_admin = os.environ.get("RESV_TEST_PG_URL")
    work = Path(tempfile.mkdtemp(prefix="resv-bench-import-"))
    try:
        for records, runs in plan():
            legacy = work / f"legacy-{records}.csv"
            utf8 = work / f"legacy-{records}.utf8.csv"
            generate(str(legacy), records, "cp932", seed=7)
            transcode(legacy, utf8)
            size_mb = legacy.stat().st_size / 1e6
            print(
                f"\n{records:,} records, cp932 file {size_mb:.0f} MB; {runs} run(s) each",
                flush=True,
            )
            rows: dict[str, list[float]] = {k: [] for k in (
                "sqlite_base", "sqlite_floor", "sqlite_resv", "sqlite_mem", "sqlite_rss",
                "sqlite_cpu", "pg_base", "pg_floor", "pg_resv", "pg_mem", "pg_rss", "pg_cpu",
            )}  # fmt: skip
            cmd = [RESV, "import", "registrants", str(legacy), "--facility", "chuo-rojin"]
            for run in range(runs):
                rows["sqlite_base"].append(sqlite_import_baseline(utf8, work))
                db = work / f"resv-{run}.db"
                db.unlink(missing_ok=True)
                env = prepare_resv(f"sqlite:///{db}", work / f"cfg-{run}")
                wall, mem, det = run_child(cmd, env)
                rows["sqlite_resv"].append(wall)
                rows["sqlite_mem"].append(mem)
                rows["sqlite_rss"].append(det["rss_sum_mb"])
                rows["sqlite_cpu"].append(det["cpu_s"])
                rows["sqlite_floor"].append(sqlite_floor(db, work))
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{db}{suffix}").unlink(missing_ok=True)
                print(f"  run {run + 1}: sqlite3 .import {rows['sqlite_base'][-1]:.2f} s, "
                      f"insert-only floor {rows['sqlite_floor'][-1]:.2f} s, "
                      f"resv import {wall:.2f} s ({wall / rows['sqlite_base'][-1]:.1f}x .import, "
                      f"{wall / rows['sqlite_floor'][-1]:.1f}x floor), CPU {det['cpu_s']:.1f} s in "
                      f"{det['processes']} processes, peak PSS {mem:.0f} MB "
                      f"(RSS sum {det['rss_sum_mb']:.0f} MB)", flush=True)  # fmt: skip
                if pg_admin:
                    rows["pg_base"].append(pg_copy_baseline(utf8, pg_admin))
                    name, url = pg_resv_url(pg_admin)
                    try:
                        env = prepare_resv(url, work / f"pgcfg-{run}")
                        wall, mem, det = run_child(cmd, env)
                        rows["pg_floor"].append(pg_floor(url, pg_admin, work))
                    finally:
                        drop_pg(pg_admin, name)
                    rows["pg_resv"].append(wall)
                    rows["pg_mem"].append(mem)
                    rows["pg_rss"].append(det["rss_sum_mb"])
                    rows["pg_cpu"].append(det["cpu_s"])
                    print(f"  run {run + 1}: PostgreSQL COPY {rows['pg_base'][-1]:.2f} s, "
                          f"insert-only floor {rows['pg_floor'][-1]:.2f} s, "
                          f"resv import {wall:.2f} s ({wall / rows['pg_base'][-1]:.1f}x COPY, "
                          f"{wall / rows['pg_floor'][-1]:.1f}x floor), client CPU "
                          f"{det['cpu_s']:.1f} s, peak PSS {mem:.0f} MB "
                          f"(RSS sum {det['rss_sum_mb']:.0f} MB)", flush=True)  # fmt: skip
            med = {k: statistics.median(v) for k, v in rows.items() if v}
            for db_name, base_name, key in (
                ("SQLite  ", ".import", "sqlite"),
                ("Postgres", "COPY", "pg"),
            ):
                if f"{key}_resv" not in med:
                    continue
                base, floor, resv = med[f"{key}_base"], med[f"{key}_floor"], med[f"{key}_resv"]
                print(f"{db_name} {records:,}: median {base_name} {base:.2f} s, insert-only floor "
                      f"{floor:.2f} s ({floor / base:.1f}x {base_name}), resv import {resv:.2f} s "
                      f"-> {resv / base:.1f}x {base_name} (goal <= 4x: "
                      f"{'met' if resv <= 4 * base else 'NOT met'}), {resv / floor:.1f}x the floor; "
                      f"peak memory (PSS of all its processes) {max(rows[f'{key}_mem']):.0f} MB, "
                      f"RSS sum {max(rows[f'{key}_rss']):.0f} MB (goal < 200 MB)")  # fmt: skip
            if not pg_admin:
                print("PostgreSQL: skipped (RESV_TEST_PG_URL unset; `make bench` starts a server)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
