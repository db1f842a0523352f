"""Generated docs stay in sync; every command has help text; --help stays light."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_cli_reference_is_current():
    from resv_cli.commands.docgen import cli_reference

    expected = cli_reference()
    actual = (ROOT / "docs" / "cli-reference.md").read_text("utf-8")
    assert actual == expected, "docs/cli-reference.md is stale: run `make docs`"


def test_every_command_has_help_and_an_example():
    import typer.main
    from resv_cli.commands.docgen import _walk
    from resv_cli.commands.main import app

    missing = []
    for path, cmd in _walk(typer.main.get_command(app), []):
        if not path:
            continue
        help_text = (getattr(cmd, "help", None) or "").strip()
        if not help_text:
            missing.append(" ".join(path) + ": no help")
        elif not getattr(cmd, "commands", None) and "Example:" not in help_text:
            missing.append(" ".join(path) + ": no Example:")
    assert missing == []


def test_help_imports_no_database_or_spreadsheet_module():
    code = (
        "import sys\n"
        "from resv_cli.commands.main import app\n"
        "from typer.testing import CliRunner\n"
        "r = CliRunner().invoke(app, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "heavy = [m for m in ('sqlalchemy', 'openpyxl', 'psycopg', 'passlib', 'alembic') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def _readme_command_lines() -> list[str]:
    lines, inside = [], False
    for line in (ROOT / "README.md").read_text("utf-8").splitlines():
        if line.startswith("```"):
            inside = not inside
            continue
        stripped = line.split("  #")[0].strip()
        if inside and stripped.startswith("resv "):
            lines.append(stripped)
    return lines


def test_readme_commands_exist_with_their_options():
    """Every `resv ...` line in README's code blocks names a real command and real options."""
    import shlex

    import typer.main
    from resv_cli.commands.main import app

    lines = _readme_command_lines()
    assert len(lines) >= 10, lines
    problems = []
    for line in lines:
        cmd = typer.main.get_command(app)
        words = shlex.split(line)[1:]
        while getattr(cmd, "commands", None) and words and words[0] in cmd.commands:
            cmd = cmd.commands[words.pop(0)]
        if getattr(cmd, "commands", None):
            problems.append(f"{line}: not a command")
            continue
        known = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
        known |= {"--help", "-h"}
        problems += [
            f"{line}: unknown option {w.split('=')[0]}"
            for w in words
            if w.startswith("-") and w.split("=")[0] not in known
        ]
    assert problems == []


def test_readme_main_job_runs_as_written(tmp_path):
    """README's "main job" block runs, in order, on a fresh SQLite file with the shipped files."""
    import os
    import re
    import sqlite3

    text = (ROOT / "README.md").read_text("utf-8")
    start = text.index("The main job at a handover")
    block = re.search(r"^```sh\n(.*?)^```$", text[start:], flags=re.S | re.M)
    assert block is not None
    for d in ("tests", "scripts"):  # the sample files, at the paths the README gives
        (tmp_path / d).symlink_to(ROOT / d)
    pw = "Readme-admin-passphrase-2026"
    script = (
        "set -euo pipefail\n"
        f"printf '%s\\n' '{pw}' | resv db init --admin it-tanaka --name '田中 一郎' "
        "--password-stdin\n"
        f"printf '%s\\n' '{pw}' | resv login it-tanaka --password-stdin\n" + block.group(1)
    )
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "RESV_DATABASE_URL": str(tmp_path / "readme.db"),
        "RESV_CONFIG_DIR": str(tmp_path / "config"),
    }
    r = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Dry run (nothing written)" in r.stderr and "Imported: batch" in r.stderr
    for name in ("otp.xlsx", "rejects.csv", "monitoring.xlsx"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600, name
    db = sqlite3.connect(tmp_path / "readme.db")
    assert (
        db.execute(
            "SELECT count(*) FROM registrants r JOIN facilities f ON f.id = r.facility_id "
            "WHERE f.code = 'chuo-rojin'"
        ).fetchone()[0]
        > 0
    )
    assert db.execute(
        "SELECT count(*) FROM accounts WHERE login_id = 'inzai-fm-0001'"
    ).fetchone() == (1,)
