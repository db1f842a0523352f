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
