"""`resv facility import` throughput on a synthetic 公共施設一覧 file, against a baseline.

The file repeats the real 焼津市 rows with new IDs (BENCH_QUICK=1: 2,000 rows, else
20,000; real files hold hundreds).  Baseline, measured in the same run: stdlib csv
parse + sqlite3 ``executemany`` of the same columns into a plain table in one
transaction.  Figures are medians of RUNS fresh databases; the import includes
decoding, header matching, check digits, hours parsing and the audit event.
"""

from __future__ import annotations

import csv
import io
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "tests" / "data" / "opendata" / "yaizu_222127_public_facility.csv"
ROWS = 2_000 if os.environ.get("BENCH_QUICK") else 20_000
RUNS = 3
RESV = str(Path(sys.executable).with_name("resv"))
PW = "bench-Admin-passphrase-2026"


def make_file(path: Path) -> None:
    rows = list(csv.reader(io.StringIO(SOURCE.read_text("utf-8"), newline="")))
    header, body = rows[0], rows[1:]
    out = [header]
    for i in range(ROWS):
        r = list(body[i % len(body)])
        r[1] = f"{i + 1:010d}"
        out.append(r)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(out)
    path.write_bytes(buf.getvalue().encode("cp932"))


def run(cmd: list[str], env: dict[str, str], stdin: str | None = None) -> None:
    subprocess.run(cmd, check=True, env=env, input=stdin, text=True, capture_output=True)


def baseline(path: Path, db: Path) -> float:
    t0 = time.perf_counter()
    text = path.read_bytes().decode("cp932")
    rows = list(csv.reader(io.StringIO(text, newline="")))[1:]
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE f (lg TEXT, id TEXT, name TEXT, address TEXT, note TEXT)")
    with conn:
        conn.executemany(
            "INSERT INTO f VALUES (?, ?, ?, ?, ?)", [(r[0], r[1], r[4], r[8], r[19]) for r in rows]
        )
    conn.close()
    return time.perf_counter() - t0


def resv_import(path: Path, workdir: Path) -> tuple[float, float, float]:
    env = dict(os.environ)
    env["RESV_DATABASE_URL"] = f"sqlite:///{workdir / 'b.db'}"
    env["RESV_CONFIG_DIR"] = str(workdir / "cfg")
    run([RESV, "db", "init", "--admin", "it-admin", "--name", "B", "--password-stdin"], env, PW)
    run([RESV, "login", "it-admin", "--password-stdin"], env, PW)
    t0 = time.perf_counter()
    run([RESV, "whoami"], env)  # the fixed cost: start-up, database, session check
    fixed = time.perf_counter() - t0
    t0 = time.perf_counter()
    run([RESV, "facility", "import", str(path)], env)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    run([RESV, "facility", "import", str(path)], env)  # every row unchanged
    return first, time.perf_counter() - t0, fixed


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        path = tmpdir / "facilities_cp932.csv"
        make_file(path)
        base, first, again, fixed = [], [], [], []
        for i in range(RUNS):
            base.append(baseline(path, tmpdir / f"base{i}.db"))
            w = tmpdir / f"run{i}"
            w.mkdir()
            a, b, c = resv_import(path, w)
            first.append(a)
            again.append(b)
            fixed.append(c)
    mb, mf, ma, mx = (statistics.median(x) for x in (base, first, again, fixed))
    print(f"rows: {ROWS} (cp932, CRLF), medians of {RUNS} runs")
    print(f"baseline csv + sqlite3 executemany  {ROWS / mb:10,.0f} rows/s  ({mb:.2f} s)")
    print(
        f"resv facility import (new)          {ROWS / mf:10,.0f} rows/s  ({mf:.2f} s)  "
        f"{mf / mb:.1f}x baseline time"
    )
    print(
        f"resv facility import (re-import)    {ROWS / ma:10,.0f} rows/s  ({ma:.2f} s)  "
        f"{ma / mb:.1f}x baseline time"
    )
    print(
        f"resv whoami (fixed start-up cost)   {mx:.2f} s; import without it: "
        f"{ROWS / max(mf - mx, 1e-9):,.0f} rows/s new, {ROWS / max(ma - mx, 1e-9):,.0f} re-import"
    )


if __name__ == "__main__":
    main()
