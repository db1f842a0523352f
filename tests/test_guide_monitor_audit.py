"""The `$ resv ...` examples of docs/guide-monitor-audit.md run, in order, and succeed."""

from __future__ import annotations

import datetime as dt
import re
import shlex
from pathlib import Path

import pytest
from support import ADMIN_LOGIN, ADMIN_PASSWORD, run_cli

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guide-monitor-audit.md"
RUNTIME_PW = "Runtime-guide-pass-31"


def guide_commands() -> list[str]:
    text = GUIDE.read_text("utf-8")
    blocks = re.findall(r"```console\n(.*?)```", text, flags=re.S)
    return [line[2:] for block in blocks for line in block.splitlines() if line.startswith("$ ")]


def test_guide_has_examples_for_every_audit_command():
    used = {shlex.split(c.split("| ")[-1])[1:3][1] for c in guide_commands() if "audit" in c}
    assert used >= {"list", "show", "verify", "anchor", "archive"}


def test_guide_examples_run(db_url, backend, monkeypatch, tmp_path):
    import resv_cli.core.clock as clock_mod

    # an installation set up in March, so "--before 2026-04-01" has events to archive
    march = dt.datetime(2026, 3, 15, 1, 0, tzinfo=dt.UTC)
    real_now = clock_mod.now
    monkeypatch.setattr(clock_mod, "now", lambda: march)
    r = run_cli(
        "db", "init", "--admin", ADMIN_LOGIN, "--password-stdin", input=ADMIN_PASSWORD + "\n"
    )
    assert r.exit_code == 0, r
    monkeypatch.setattr(clock_mod, "now", real_now)
    assert (
        run_cli("login", ADMIN_LOGIN, "--password-stdin", input=ADMIN_PASSWORD + "\n").exit_code
        == 0
    )
    anchor = ""
    ran = 0
    for line in guide_commands():
        stdin = None
        if "| " in line:
            feed, line = line.split("| ", 1)
            assert "$RUNTIME_PW" in feed
            stdin = RUNTIME_PW + "\n"
        line = re.sub(r"\s*>\s*\S+$", "", line)  # output redirection: keep stdout here
        line = line.replace('"$(cat anchor.txt)"', anchor)
        args = shlex.split(line)
        assert args[0] == "resv"
        if args[1:3] == ["db", "grant-runtime-role"] and backend == "sqlite":
            r = run_cli(*args[1:], input=stdin)
            assert r.exit_code == 1 and "only on PostgreSQL" in r.stderr
            continue
        r = run_cli(*args[1:], input=stdin)
        assert r.exit_code == 0, (line, r)
        ran += 1
        if args[1:3] == ["audit", "anchor"]:
            anchor = r.stdout.strip()
        if args[1:3] == ["audit", "archive"]:
            assert "Archived events 1..1 (1)" in r.stderr  # db.init, in March
    assert anchor and ran >= 9
    if backend == "postgresql":
        from resv_cli.core.db import get_engine

        with get_engine(db_url).begin() as conn:
            conn.exec_driver_sql("DROP OWNED BY resv_app")
            conn.exec_driver_sql("DROP ROLE resv_app")


@pytest.mark.parametrize("backend", ["sqlite"])
def test_guide_names_the_exit_codes_errors_py_defines(backend):
    from resv_cli.core.errors import EXIT_DENIED, EXIT_INTEGRITY

    text = GUIDE.read_text("utf-8")
    assert f"code **{EXIT_INTEGRITY}**" in text and f"`{EXIT_DENIED}` you lack the role" in text
