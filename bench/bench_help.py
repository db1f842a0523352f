"""`resv --help` start-up time, against a bare `python -c pass` in the same run."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = 15
RESV = str(Path(sys.executable).with_name("resv"))


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    timed([RESV, "--help"])  # warm the OS cache and .pyc files
    bare = [timed([sys.executable, "-c", "pass"]) for _ in range(RUNS)]
    helps = [timed([RESV, "--help"]) for _ in range(RUNS)]
    mb, mh = statistics.median(bare), statistics.median(helps)
    print(f"python -c pass     median {mb * 1000:7.1f} ms  ({RUNS} runs)")
    print(
        f"resv --help        median {mh * 1000:7.1f} ms  p90 "
        f"{sorted(helps)[int(RUNS * 0.9) - 1] * 1000:.1f} ms  ratio {mh / mb:.1f}x bare python"
    )
    print(f"goal: well under 500 ms -> {'met' if mh < 0.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
