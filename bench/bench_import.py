"""Legacy registrant import vs the databases' own bulk loaders, in the same run.

For each size: generate a messy cp932 legacy file (bench/gen_legacy.py), transcode
the same data to UTF-8, then time
  * SQLite: the ``sqlite3`` CLI's ``.import --csv`` of the UTF-8 file into a plain
    13-column table (the practical limit), against
    ``resv import registrants`` of the cp932 file into a fresh resv database;
  * PostgreSQL (when RESV_TEST_PG_URL is set, as under ``make bench``): ``COPY ...
    FROM STDIN (FORMAT csv)`` of the UTF-8 file through psycopg into a plain table,
    against ``resv import registrants`` into a fresh resv database.
The import runs in a subprocess (start-up included); its peak RSS comes from
``wait4``.  Ratios are medians over the runs.

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


# The peak memory of a child is read by a small launcher process: ru_maxrss of a
# process forked straight from this (large) bench process would include this
# process's own high-water mark (Linux carries it over fork/vfork and exec).
_LAUNCHER = (
    "import resource, subprocess, sys\n"
    "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
    "sys.stderr.buffer.write(p.stderr)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(p.returncode)\n"
)


def run_child(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run cmd; return (wall seconds, peak RSS MB) of that child alone."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, *cmd], env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} failed: {proc.stderr[-500:]}")
    return wall, int(proc.stdout.strip().splitlines()[-1]) / 1024


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

    from tests.conftest import _psycopg_dsn

    name = f"resv_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_psycopg_dsn(admin_url), autocommit=True) as c:
        c.execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'")
    try:
        from sqlalchemy.engine import make_url

        url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        with psycopg.connect(_psycopg_dsn(url)) as conn:
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
        with psycopg.connect(_psycopg_dsn(admin_url), autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_resv_url(admin_url: str) -> tuple[str, str]:
    import psycopg
    from sqlalchemy.engine import make_url

    from tests.conftest import _psycopg_dsn

    name = f"resv_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_psycopg_dsn(admin_url), autocommit=True) as c:
        c.execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'")
    return name, make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_pg(admin_url: str, name: str) -> None:
    import psycopg

    from tests.conftest import _psycopg_dsn

    with psycopg.connect(_psycopg_dsn(admin_url), autocommit=True) as c:
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
            rows: dict[str, list[float]] = {k: [] for k in
                                            ("sqlite_base", "sqlite_resv", "sqlite_mem", "pg_base", "pg_resv", "pg_mem")}  # fmt: skip
            for run in range(runs):
                rows["sqlite_base"].append(sqlite_import_baseline(utf8, work))
                db = work / f"resv-{run}.db"
                db.unlink(missing_ok=True)
                env = prepare_resv(f"sqlite:///{db}", work / f"cfg-{run}")
                cmd = [RESV, "import", "registrants", str(legacy), "--facility", "chuo-rojin"]
                wall, mem = run_child(cmd, env)
                rows["sqlite_resv"].append(wall)
                rows["sqlite_mem"].append(mem)
                db.unlink(missing_ok=True)
                print(f"  run {run + 1}: sqlite3 .import {rows['sqlite_base'][-1]:.2f} s, "
                      f"resv import {wall:.2f} s ({wall / rows['sqlite_base'][-1]:.1f}x), "
                      f"peak {mem:.0f} MB", flush=True)  # fmt: skip
                if pg_admin:
                    rows["pg_base"].append(pg_copy_baseline(utf8, pg_admin))
                    name, url = pg_resv_url(pg_admin)
                    try:
                        env = prepare_resv(url, work / f"pgcfg-{run}")
                        wall, mem = run_child(cmd, env)
                    finally:
                        drop_pg(pg_admin, name)
                    rows["pg_resv"].append(wall)
                    rows["pg_mem"].append(mem)
                    print(f"  run {run + 1}: PostgreSQL COPY {rows['pg_base'][-1]:.2f} s, "
                          f"resv import {wall:.2f} s ({wall / rows['pg_base'][-1]:.1f}x), "
                          f"peak {mem:.0f} MB", flush=True)  # fmt: skip
            med = {k: statistics.median(v) for k, v in rows.items() if v}
            print(f"SQLite   {records:,}: median .import {med['sqlite_base']:.2f} s, resv import "
                  f"{med['sqlite_resv']:.2f} s -> {med['sqlite_resv'] / med['sqlite_base']:.1f}x "
                  f"(goal <= 4x: {'met' if med['sqlite_resv'] <= 4 * med['sqlite_base'] else 'NOT met'}); "
                  f"peak memory {max(rows['sqlite_mem']):.0f} MB (goal < 200 MB)")  # fmt: skip
            if pg_admin:
                print(f"Postgres {records:,}: median COPY {med['pg_base']:.2f} s, resv import "
                      f"{med['pg_resv']:.2f} s -> {med['pg_resv'] / med['pg_base']:.1f}x "
                      f"(goal <= 4x: {'met' if med['pg_resv'] <= 4 * med['pg_base'] else 'NOT met'}); "
                      f"peak memory {max(rows['pg_mem']):.0f} MB")  # fmt: skip
            else:
                print("PostgreSQL: skipped (RESV_TEST_PG_URL unset; `make bench` starts a server)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
