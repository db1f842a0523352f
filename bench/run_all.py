"""Run every bench/bench_*.py in turn (``make bench``); each prints its own figures.

Set BENCH_ONLY=name1,name2 to run a subset (e.g. BENCH_ONLY=startup), BENCH_QUICK=1
for small sizes.  ``bench_startup.py`` (start-up against ``python -c pass``, ``import
typer`` and ``import typer, sqlalchemy``) replaces the former ``bench_help.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    only = {n.strip() for n in os.environ.get("BENCH_ONLY", "").split(",") if n.strip()}
    status = 0
    for script in sorted(HERE.glob("bench_*.py")):
        name = script.stem.removeprefix("bench_")
        if only and name not in only:
            continue
        print(f"\n### {name}", flush=True)
        rc = subprocess.call([sys.executable, str(script)])
        if rc:
            print(f"### {name}: exit {rc}", flush=True)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
