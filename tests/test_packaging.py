"""Every package directory ships in the wheel (the package list in pyproject is explicit)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_directory_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "resv_cli").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    found.add("resv_cli.commands")  # commands/ is mapped to resv_cli.commands
    missing = sorted(found - listed)
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {missing}"
    stale = sorted(p for p in listed - found if p != "resv_cli.commands")
    assert not stale, f"listed in pyproject.toml but not a package: {stale}"
