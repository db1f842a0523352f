"""The package layout holds: import-linter contracts, thin commands, modules of a size to read."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
MAX_LINES = 700


def _modules(base: str):
    for path in sorted((ROOT / base).rglob("*.py")):
        yield path.relative_to(ROOT).as_posix(), ast.parse(path.read_text("utf-8"))


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True, check=False
    )


def test_the_layer_contracts_hold():
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Contracts: 3 kept, 0 broken." in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("resv_cli/core/clock.py", "import resv_cli.audit.chain", "core imports no domain package"),
        ("resv_cli/records/fields.py", "import resv_cli.importing.mapping", "never back"),
        ("resv_cli/reports/data.py", "import resv_cli.core.personal", "personal-data tables"),
    ],
)
def test_a_broken_contract_fails_the_check(tmp_path, module, line, contract):
    """The contracts can fail: an upward import in a copy of the tree is reported."""
    for part in ("resv_cli", "commands"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / module
    target.write_text(target.read_text("utf-8") + f"\n{line}  # noqa\n", "utf-8")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout and contract in result.stdout


def test_nothing_in_resv_cli_imports_commands():
    """import-linter cannot see resv_cli.commands (a package-dir mapping); this can."""
    found = []
    for rel, tree in _modules("resv_cli"):
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            if any(n == "resv_cli.commands" or n.startswith("resv_cli.commands.") for n in names):
                found.append(f"{rel}:{node.lineno}")
    assert found == []


def test_role_checks_are_in_services_not_commands():
    calls = [
        f"{rel}:{node.lineno}"
        for rel, tree in _modules("commands")
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("require_role")
    ]
    assert calls == []


def test_no_module_is_over_700_lines():
    long = {
        rel: n
        for base in ("resv_cli", "commands")
        for rel, _ in _modules(base)
        if (n := len((ROOT / rel).read_text("utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_no_test_module_imports_from_another_or_from_conftest():
    """Shared helpers live in support.py, factories.py, scope_world.py, legacy_files.py."""
    found = []
    for path in sorted((ROOT / "tests").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for n in names:
                last = n.rsplit(".", 1)[-1]
                if last.startswith("test_") or last == "conftest":
                    found.append(f"tests/{path.name}:{node.lineno} imports {n}")
    assert found == []
