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


def _config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_package_data_entry_names_a_file_that_exists() -> None:
    config = _config()
    for package, patterns in config["tool"]["setuptools"]["package-data"].items():
        folder = ROOT.joinpath(*package.split("."))
        for pattern in patterns:
            assert list(folder.glob(pattern)), f"package-data {package}: {pattern} matches no file"


def test_the_licence_file_matches_the_declared_licence() -> None:
    project = _config()["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License") and "WITHOUT WARRANTY OF ANY KIND" in text


def test_constraints_pin_every_dependency_within_its_declared_range() -> None:
    """make install and CI install with constraints.txt: it must pin what pyproject asks for."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not pinned with =="
            pins[canonicalize_name(name)] = version
    project = _config()["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    for spec in wanted:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in pins, f"constraints.txt does not pin {req.name}"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {req.name}=={pins[name]}, outside {req.specifier}"
        )
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "-c constraints.txt -e '.[test]'" in makefile


def test_wheel_contents_are_the_source_tree(tmp_path: Path) -> None:
    """Every module of resv_cli/ and commands/ ships, under resv_cli/, with its data."""
    import zipfile

    from support import build_wheel

    wheel = build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "resv_cli").rglob("*")
        if p.is_file() and p.suffix in (".py", ".txt", ".mako", ".typed")
        and "__pycache__" not in p.parts
    } | {
        "resv_cli/commands/" + p.relative_to(ROOT / "commands").as_posix()
        for p in (ROOT / "commands").rglob("*.py")
    } | {
        # the message catalogue, compiled from resv_cli/locale/ja/*.po by the build
        "resv_cli/locale/ja/LC_MESSAGES/resv.mo",
    }  # fmt: skip
    assert expected - names == set(), "missing from the wheel"
    shipped = {n for n in names if not n.startswith("resv-") and ".dist-info/" not in n}
    assert shipped - expected == set(), "in the wheel but not in the source tree"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), "LICENSE not shipped"
