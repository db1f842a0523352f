"""Generate docs/cli-reference.md from the Typer app (checked by a test).

Run: ``python -m resv_cli.commands.docgen > docs/cli-reference.md`` (or ``make docs``).
"""

from __future__ import annotations

import sys
from typing import Any

HEADER = """# resv command reference

Generated from the application by `python -m resv_cli.commands.docgen` (`make docs`); a test
fails when this file is stale. Do not edit by hand.

## Exit codes

| code | meaning |
|---|---|
| 0 | success |
| 1 | the operation failed (bad input, not found, conflict, ...) |
| 2 | usage error (unknown option, missing argument) |
| 3 | not logged in to this database |
| 4 | session expired or ended: log in again |
| 5 | authentication failed (unknown ID or wrong password give one message) |
| 6 | permission denied (role or scope); the refusal is audited |
| 7 | database already initialised |
| 8 | integrity check failed (`resv audit verify`, `resv db check`) |
| 9 | database not initialised or schema out of date |
"""


def _walk(cmd: Any, path: list[str]) -> list[tuple[list[str], Any]]:
    out = [(path, cmd)]
    commands = getattr(cmd, "commands", None)
    if commands:
        for name in sorted(commands):
            sub = commands[name]
            if getattr(sub, "hidden", False):
                continue
            out.extend(_walk(sub, [*path, name]))
    return out


def cli_reference() -> str:
    import typer.main
    from resv_cli.commands.main import app
    from typer.testing import CliRunner

    root = typer.main.get_command(app)
    runner = CliRunner()
    parts = [HEADER]
    for path, _cmd in _walk(root, []):
        title = " ".join(["resv", *path])
        # the reference is English whatever the locale of whoever runs `make docs`
        env = {"COLUMNS": "100", "TERM": "dumb", "RESV_LANG": "en"}
        result = runner.invoke(app, [*path, "--help"], env=env)
        text = result.stdout.rstrip()
        level = "##" if len(path) <= 1 else "###"
        parts.append(f"{level} `{title}`\n\n```text\n{text}\n```\n")
    return "\n".join(parts)


def main() -> None:
    sys.stdout.write(cli_reference())


if __name__ == "__main__":
    main()
