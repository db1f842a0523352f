"""Start-up of `resv`, against the bare interpreter and the two libraries it is built on.

Every command pays start-up.  Its unavoidable part is Python itself plus importing
Typer (for `--help`) and SQLAlchemy (for a command that opens the database), so
the figures are ratios against those baselines, measured in the same run with
the same interpreter:

    python -c pass                      the interpreter alone
    python -c "import typer"            baseline of `resv --help`, `resv account --help`
    python -c "import typer, sqlalchemy"   baseline of `resv whoami`
    resv --help, resv account --help, resv whoami   (a small SQLite installation
                                        made in a temporary directory, logged in)

Runs are paired and interleaved: each round runs every command once, in a fresh
random order, and a ratio is taken within the round; the figures are medians over
the rounds.  CPU time is the user + system time of the child process
(``getrusage(RUSAGE_CHILDREN)`` deltas), which a busy machine disturbs less than
wall time.  Every module runs from bytecode, as after ``pip install``: the
warm-up run writes it to a cache in the temporary directory (PYTHONPYCACHEPREFIX,
for the libraries and resv alike), also where PYTHONDONTWRITEBYTECODE is set.  Goal (issue 17): CPU ratios of `resv --help` and `resv whoami` at most
1.3x their baselines.

BENCH_QUICK=1 runs 5 rounds; STARTUP_ROUNDS=N sets the number.
"""

from __future__ import annotations

import os
import random
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL = 1.3
PY = sys.executable
RESV = str(Path(sys.executable).with_name("resv"))

COMMANDS: list[tuple[str, list[str]]] = [
    ("python -c pass", [PY, "-c", "pass"]),
    ("import typer", [PY, "-c", "import typer"]),
    ("import typer, sqlalchemy", [PY, "-c", "import typer, sqlalchemy"]),
    ("resv --help", [RESV, "--help"]),
    ("resv account --help", [RESV, "account", "--help"]),
    ("resv whoami", [RESV, "whoami"]),
]
# (command, its baseline): the ratios the goal is about, then the ones for context
RATIOS: list[tuple[str, str, bool]] = [
    ("resv --help", "import typer", True),
    ("resv whoami", "import typer, sqlalchemy", True),
    ("resv account --help", "import typer", False),
    ("import typer", "python -c pass", False),
    ("import typer, sqlalchemy", "python -c pass", False),
    ("resv --help", "python -c pass", False),
    ("resv whoami", "python -c pass", False),
]


def _installation(tmp: Path) -> dict[str, str]:
    """A fresh SQLite database with its administrator logged in; the env to use it."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        RESV_DATABASE_URL=str(tmp / "resv.db"),
        RESV_CONFIG_DIR=str(tmp / "config"),
        PYTHONPYCACHEPREFIX=str(tmp / "pycache"),
        COLUMNS="100",
    )
    password = secrets.token_urlsafe(24) + "\n"
    for argv in (
        [RESV, "db", "init", "--admin", "it-bench", "--password-stdin"],
        [RESV, "login", "it-bench", "--password-stdin"],
    ):
        subprocess.run(argv, input=password, text=True, env=env, check=True, capture_output=True)
    return env


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run."""
    cpu0, t0 = _cpu(), time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0, _cpu() - cpu0


def main() -> None:
    default = 5 if os.environ.get("BENCH_QUICK") else 11
    rounds = int(os.environ.get("STARTUP_ROUNDS", default))
    with tempfile.TemporaryDirectory(prefix="resv-bench-startup-") as tmp:
        env = _installation(Path(tmp))
        for _label, argv in COMMANDS:  # warm the OS cache and the .pyc files
            _run(argv, env)
        wall: dict[str, list[float]] = {label: [] for label, _ in COMMANDS}
        cpu: dict[str, list[float]] = {label: [] for label, _ in COMMANDS}
        order = list(COMMANDS)
        for _ in range(rounds):
            random.shuffle(order)
            for label, argv in order:
                w, c = _run(argv, env)
                wall[label].append(w)
                cpu[label].append(c)

    print(f"{PY}  ({rounds} paired, interleaved rounds; medians)")
    print(f"{'':28} {'wall ms':>9} {'CPU ms':>9}")
    for label, _ in COMMANDS:
        print(
            f"{label:28} {statistics.median(wall[label]) * 1000:9.1f} "
            f"{statistics.median(cpu[label]) * 1000:9.1f}"
        )
    print(f"\n{'ratio (median of per-round ratios)':52} {'wall':>6} {'CPU':>6}")
    met = True
    for cmd, base, is_goal in RATIOS:
        rw = statistics.median(a / b for a, b in zip(wall[cmd], wall[base], strict=True))
        rc = statistics.median(a / b for a, b in zip(cpu[cmd], cpu[base], strict=True))
        goal = ""
        if is_goal:
            goal = f"  goal <= {GOAL}x CPU: {'met' if rc <= GOAL else 'NOT met'}"
            met = met and rc <= GOAL
        print(f"{cmd + ' / ' + base:52} {rw:5.2f}x {rc:5.2f}x{goal}")
    print(f"\nstart-up goal (issue 17): {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
