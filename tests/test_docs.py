"""Generated docs stay in sync; every command has help text; --help stays light."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_cli_reference_is_current():
    from resv_cli.docgen import cli_reference

    expected = cli_reference()
    actual = (ROOT / "docs" / "cli-reference.md").read_text("utf-8")
    assert actual == expected, "docs/cli-reference.md is stale: run `make docs`"


def test_every_command_has_help_and_an_example():
    import typer.main

    from resv_cli.cli import app
    from resv_cli.docgen import _walk

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
        "from resv_cli.cli import app\n"
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

    from resv_cli.cli import app

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
