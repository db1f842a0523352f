"""The legacy normaliser alone, per record, against decoding + CSV parsing of the same file.

    python bench/bench_normalise.py            # 100,000 records x 5 runs
    BENCH_QUICK=1 python bench/bench_normalise.py

One messy cp932 file from bench/gen_legacy.py.  Each run is a fresh process (no
warm caches) that times, on the same file, (a) reading it: decoding + CSV parsing
(``CsvSource``), and (b) reading it and normalising every record as the importer
does (``build_normaliser`` over the recognised columns; the duplicate keys and
their filter are classification, not timed here).  The normaliser's time is (b) - (a).  Medians of the
runs; the figure that carries over between machines is the normaliser's time as a
multiple of (a).

BEFORE is the figure of the code before issue 17, measured by this script on the
same 2-vCPU machine (commit dfde062); the speed-up is printed both ways: per
record against that figure, and as the ratio of the two multiples of (a).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

# the normaliser before issue 17 (dfde062), 100,000 records x 5 fresh processes,
# medians: microseconds per record, and its time as a multiple of decode + parse
BEFORE = {"us_per_record": 42.0, "x_parse": 12.4}
GOAL = 3.0  # issue 17: at least 3x faster per record

_CHILD = r"""
import datetime as dt, sys, time
from pathlib import Path
from resv_cli.importing.mapping import compile_mapping
from resv_cli.importing.normalise import build_normaliser
from resv_cli.importing.reader import open_source

path = Path(sys.argv[1])
today = dt.date(2026, 11, 29)

def parse_only():
    src = open_source(path)
    t0 = time.process_time()
    n = sum(1 for _ in src)
    took = time.process_time() - t0
    src.close()
    return n, took

def normalise():
    src = open_source(path)
    normalise = build_normaliser(compile_mapping(src.header), src.header, None, today).normalise
    t0 = time.process_time()
    n = 0
    for row in src:
        normalise(row)
        n += 1
    took = time.process_time() - t0
    src.close()
    return n, took

n1, a = parse_only()
n2, b = normalise()
assert n1 == n2, (n1, n2)
print(n1, a, b)
"""


def measure(path: Path, runs: int) -> tuple[int, list[float], list[float]]:
    parse, norm = [], []
    n = 0
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, str(path)],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        ).stdout.split()
        n, a, b = int(out[0]), float(out[1]), float(out[2])
        parse.append(a)
        norm.append(b - a)
    return n, parse, norm


def main() -> int:
    from gen_legacy import generate

    quick = bool(os.environ.get("BENCH_QUICK"))
    records = 20_000 if quick else 100_000
    runs = 3 if quick else 5
    with tempfile.TemporaryDirectory(prefix="resv-bench-norm-") as tmp:
        path = Path(tmp) / "legacy.csv"
        generate(str(path), records, "cp932", seed=7)
        n, parse, norm = measure(path, runs)
    p, z = statistics.median(parse), statistics.median(norm)
    us = z / n * 1e6
    x_parse = z / p
    print(f"{n:,} records, {runs} fresh processes, CPU time, medians:")
    print(f"  decode + CSV parse: {p:.2f} s ({p / n * 1e6:.1f} us/record)")
    print(f"  normaliser alone:   {z:.2f} s ({us:.1f} us/record) = {x_parse:.1f}x decode + parse")
    print(f"  runs (normaliser, s): {', '.join(f'{v:.2f}' for v in norm)}")
    if BEFORE["us_per_record"]:
        by_time = BEFORE["us_per_record"] / us
        by_ratio = BEFORE["x_parse"] / x_parse
        ok = min(by_time, by_ratio) >= GOAL
        print(f"  before issue 17: {BEFORE['us_per_record']:.1f} us/record = "
              f"{BEFORE['x_parse']:.1f}x decode + parse (recorded on this kind of machine)")  # fmt: skip
        print(f"  speed-up: {by_time:.2f}x per record, {by_ratio:.2f}x by the ratio to decode + "
              f"parse (goal >= {GOAL:.0f}x: {'met' if ok else 'NOT met'})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
