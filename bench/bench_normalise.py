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

The code before issue 17 (commit dfde062) is measured in the same run, paired and
interleaved with today's: its ``resv_cli`` is taken from the repository's history
(``git archive``) and imported first by running the child in that directory.  Without
git history (a shallow clone) the figure recorded on this kind of machine stands in
(``RECORDED``).  The speed-up is printed both ways: per record, and as the ratio of
the two multiples of (a).  Last, the wall time to read and normalise the file with
N normalising workers (``feed.in_pieces``, as ``import --workers N`` does).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

# the normaliser before issue 17 (dfde062), 100,000 records x 5 fresh processes,
# medians: microseconds per record, and its time as a multiple of decode + parse
RECORDED = {"us_per_record": 42.0, "x_parse": 12.4}
OLD_COMMIT = "dfde062"
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

# reading and normalising the whole file with N workers (feed.in_pieces, as the
# importer's reader does with --workers N): wall time, the reader's piece size
_POOL_CHILD = r"""
import datetime as dt, functools, sys, time
from pathlib import Path
from resv_cli.importing.classify import PIECE_ROWS, normalise_piece
from resv_cli.importing.feed import in_pieces
from resv_cli.importing.mapping import compile_mapping
from resv_cli.importing.normalise import build_normaliser
from resv_cli.importing.reader import open_source

path, workers = Path(sys.argv[1]), int(sys.argv[2])
src = open_source(path)
nz = build_normaliser(compile_mapping(src.header), src.header, None, dt.date(2026, 11, 29))
work = functools.partial(normalise_piece, nz, src.header, src.encoding)
t0 = time.perf_counter()
n = sum(len(r) for _p, r, _at in in_pieces(src, work, workers, PIECE_ROWS, src.position, lambda: False))
print(n, time.perf_counter() - t0)
"""


def old_tree(into: Path) -> Path | None:
    """The normaliser before issue 17 (``OLD_COMMIT``) from the repository's history, or None."""
    try:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", OLD_COMMIT, "resv_cli"],
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None  # no git or a shallow clone: the recorded figure stands in
    return into


def measure(path: Path, runs: int, trees: dict[str, Path]) -> tuple[int, dict[str, Any]]:
    """Per tree (its resv_cli is the one imported): decode + parse and normaliser CPU seconds.

    The trees run paired and interleaved, each run a fresh process.
    """
    got: dict[str, Any] = {name: ([], []) for name in trees}
    n = 0
    for _ in range(runs):
        for name, cwd in trees.items():
            out = subprocess.run(
                [sys.executable, "-c", _CHILD, str(path)],
                capture_output=True,
                text=True,
                check=True,
                cwd=cwd,  # python -c puts the working directory first on sys.path
            ).stdout.split()
            n, a, b = int(out[0]), float(out[1]), float(out[2])
            got[name][0].append(a)
            got[name][1].append(b - a)
    return n, got


def measure_pool(path: Path, runs: int, workers: list[int]) -> dict[int, list[float]]:
    """Wall seconds to read and normalise the file with each number of workers, interleaved."""
    out: dict[int, list[float]] = {w: [] for w in workers}
    for _ in range(runs):
        for w in workers:
            got = subprocess.run(
                [sys.executable, "-c", _POOL_CHILD, str(path), str(w)],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            ).stdout.split()
            out[w].append(float(got[1]))
    return out


def main() -> int:
    from gen_legacy import generate

    quick = bool(os.environ.get("BENCH_QUICK"))
    records = 20_000 if quick else 100_000
    runs = 3 if quick else 5
    with tempfile.TemporaryDirectory(prefix="resv-bench-norm-") as tmp:
        path = Path(tmp) / "legacy.csv"
        generate(str(path), records, "cp932", seed=7)
        trees = {"now": ROOT}
        old = old_tree(Path(tmp))
        if old is not None:
            trees["before"] = old
        n, got = measure(path, runs, trees)
        cpus = len(os.sched_getaffinity(0))
        pool = measure_pool(path, runs, sorted({1, 2, cpus}))
    print(f"{n:,} records, {runs} fresh processes, CPU time, medians:")
    figures = {}
    for name, (parse, norm) in got.items():
        p, z = statistics.median(parse), statistics.median(norm)
        figures[name] = (z / n * 1e6, z / p)
        label = "now" if name == "now" else f"before issue 17 ({OLD_COMMIT}, same run)"
        print(f"  {label}: decode + CSV parse {p:.2f} s ({p / n * 1e6:.1f} us/record); "
              f"normaliser alone {z:.2f} s ({z / n * 1e6:.1f} us/record) = {z / p:.1f}x "
              f"decode + parse; runs {', '.join(f'{v:.2f}' for v in norm)}")  # fmt: skip
    us, x_parse = figures["now"]
    before, where = (figures["before"], "measured in this run") if "before" in figures else (
        (RECORDED["us_per_record"], RECORDED["x_parse"]), "recorded on this kind of machine"
    )  # fmt: skip
    by_time, by_ratio = before[0] / us, before[1] / x_parse
    ok = min(by_time, by_ratio) >= GOAL
    print(f"  speed-up against the normaliser before issue 17 ({where}): {by_time:.2f}x per "
          f"record, {by_ratio:.2f}x by the ratio to decode + parse "
          f"(goal >= {GOAL:.0f}x: {'met' if ok else 'NOT met'})")  # fmt: skip
    one = statistics.median(pool[1])
    print(f"  read + normalise, wall, with N normalising workers ({cpus} usable CPUs):")
    for w, times in pool.items():
        med = statistics.median(times)
        print(f"    N={w}: {med:.2f} s = {one / med:.2f}x one process"
              f" ({', '.join(f'{v:.2f}' for v in times)})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
