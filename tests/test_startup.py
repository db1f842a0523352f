"""Start-up stays light (issue 17): what `resv --help`, completion and `resv whoami` import.

Each probe runs `resv` in a fresh interpreter and reports ``sys.modules`` (and, on
request, the SQL statements run).  Heavy modules are those of the database, the
spreadsheets and the importer; any of them that ``import typer`` itself imports
is Typer's cost, not resv's, and is left out of the check (today Typer imports
none of them: its pydantic coercion is imported only when a value needs it).
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from typing import Any

import pytest
from resv_cli.commands import registry
from support import run_cli

HEAVY = (
    "sqlalchemy",
    "openpyxl",
    "alembic",
    "pydantic",
    "psycopg",
    "passlib",
    "python_calamine",
    "resv_cli.core.models",
    "resv_cli.importing",
)
DATABASE = ("sqlalchemy", "psycopg")  # what a command that opens the database needs
GROUP_MODULES = {f"resv_cli.commands.{module}" for module, _, _ in registry.SUB_APPS}
NAMES = [name for _, _, name in registry.TOP_LEVEL] + [name for _, name, _ in registry.SUB_APPS]

PROBE = r"""
import json, sys
argv = json.loads(sys.argv[1])
statements = []
if sys.argv[2:] == ["--statements"]:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    event.listen(Engine, "before_cursor_execute", lambda c, cur, s, *a: statements.append(s))
sys.argv = ["resv", *argv]
from resv_cli.commands.main import main
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code or 0
report = {"code": code, "modules": sorted(sys.modules), "statements": statements}
sys.stderr.write("\nPROBE " + json.dumps(report) + "\n")
"""


def _probe(
    *argv: str, statements: bool = False, env: dict[str, str] | None = None
) -> dict[str, Any]:
    cmd = [sys.executable, "-c", PROBE, json.dumps(argv)]
    if statements:
        cmd.append("--statements")
    run_env = {**os.environ, "COLUMNS": "100", **(env or {})}
    out = subprocess.run(cmd, capture_output=True, text=True, env=run_env, check=True)
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("PROBE "), out.stderr
    report: dict[str, Any] = json.loads(last.removeprefix("PROBE "))
    report["stdout"] = out.stdout
    return report


@functools.lru_cache(maxsize=1)
def _typer_modules() -> frozenset[str]:
    code = "import json, sys, typer; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return frozenset(json.loads(out.stdout))


def _heavy(modules: list[str]) -> list[str]:
    """The heavy modules among ``modules`` that ``import typer`` does not import itself."""
    typer_own = _typer_modules()
    return sorted(
        m
        for m in modules
        if m not in typer_own and any(m == h or m.startswith(h + ".") for h in HEAVY)
    )


def test_root_help_lists_every_command_and_imports_no_group_module():
    report = _probe("--help")
    assert report["code"] == 0
    assert _heavy(report["modules"]) == []
    assert GROUP_MODULES.isdisjoint(report["modules"])
    section = report["stdout"].split("Commands:")[1].splitlines()
    listed = [line.split()[0] for line in section if line.startswith("  ") and line[2] != " "]
    assert listed == NAMES


@pytest.mark.parametrize(
    "argv",
    [[name, "--help"] for _, name, _ in registry.SUB_APPS] + [["audit", "key", "--help"]],
    ids=lambda argv: " ".join(argv),
)
def test_group_help_imports_its_module_only_and_nothing_heavy(argv):
    report = _probe(*argv)
    assert report["code"] == 0
    assert _heavy(report["modules"]) == []
    module = next(m for m, name, _ in registry.SUB_APPS if name == argv[0])
    assert GROUP_MODULES & set(report["modules"]) == {f"resv_cli.commands.{module}"}


def test_completion_lists_every_command_without_importing_a_group():
    env = {"_RESV_COMPLETE": "complete_bash", "COMP_WORDS": "resv ", "COMP_CWORD": "1"}
    report = _probe(env=env)
    assert report["code"] == 0
    assert report["stdout"].split() == NAMES
    assert _heavy(report["modules"]) == []
    assert GROUP_MODULES.isdisjoint(report["modules"])


def test_completion_into_a_group_imports_that_group_only():
    env = {"_RESV_COMPLETE": "complete_bash", "COMP_WORDS": "resv account gr", "COMP_CWORD": "2"}
    report = _probe(env=env)
    assert report["stdout"].split() == ["grant"]
    assert GROUP_MODULES & set(report["modules"]) == {"resv_cli.commands.account"}
    assert _heavy(report["modules"]) == []


def test_whoami_loads_no_orm_and_checks_the_session_in_one_query(installation):
    report = _probe("whoami", statements=True)
    assert report["code"] == 0, report
    assert re.search(r"^role\s+admin$", report["stdout"], flags=re.M), report["stdout"]
    modules = set(report["modules"])
    assert "sqlalchemy" in modules  # it does open the database
    assert [m for m in modules if m == "sqlalchemy.orm" or m.startswith("sqlalchemy.orm.")] == []
    # the database layer and its driver, nothing else heavy
    assert [h for h in _heavy(report["modules"]) if not h.startswith(DATABASE)] == []
    # besides require_initialised's catalog probe: one query, the session check
    reads = [
        s
        for s in report["statements"]
        if s.lstrip().upper().startswith("SELECT") and "pg_catalog" not in s
    ]
    assert len(reads) == 1, reads
    assert "FROM sessions" in reads[0]


def test_an_invalid_choice_still_gets_typers_message():
    """Values Typer would coerce (not None, a str or an Enum member) go to Typer itself."""
    result = run_cli("whoami", "--format", "yaml")
    assert result.exit_code == 2
    assert "Invalid value for '--format' / '-f'" in result.stderr
    assert "'yaml' is not one of 'table', 'csv', 'json'" in result.stderr


def test_the_listing_stubs_say_what_the_loaded_groups_say():
    """`resv --help` lists a group from registry.py; loaded, the group says the same."""
    import typer.main
    from resv_cli.commands.main import _listing_stub, app

    root = typer.main.get_command(app)
    for _, name, _ in registry.SUB_APPS:
        stub, real = _listing_stub(name), root.commands[name]  # type: ignore[attr-defined]
        for limit in (20, 45, 60, 150):
            assert stub.get_short_help_str(limit) == real.get_short_help_str(limit), name
        assert (stub.hidden, stub.deprecated) == (real.hidden, real.deprecated), name
    assert list(root.commands) == NAMES  # type: ignore[attr-defined]


def test_core_session_tables_match_the_models():
    """core/tables.py reads the tables core/models.py defines: same columns, same types."""
    from resv_cli.core import tables
    from resv_cli.core.models import Base

    for name, core in tables.metadata.tables.items():
        orm = Base.metadata.tables[name]
        for column in core.columns:
            model = orm.columns[column.name]
            assert column.nullable == model.nullable, f"{name}.{column.name}"
            assert column.primary_key == model.primary_key, f"{name}.{column.name}"
            assert type(column.type) is type(model.type), f"{name}.{column.name}"
            assert getattr(column.type, "length", None) == getattr(model.type, "length", None)
    # one UTC timestamp type, defined in core/tables.py and used by the models
    assert Base.metadata.tables["sessions"].columns["expires_at"].type.__class__ is (
        tables.UTCDateTime
    )
