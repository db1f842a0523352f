#!/usr/bin/env python3
"""Message catalogues of resv (issue 16): extract, update, compile, check.

    python scripts/catalogues.py update [AREA ...]  # new strings into resv_cli/locale/ja/AREA.po
    python scripts/catalogues.py compile            # every ja/*.po -> ja/LC_MESSAGES/resv.mo
    python scripts/catalogues.py check              # exit 1 naming what is missing or stale

One ``.po`` per area of the code (so translators of different areas never edit the
same file); ``compile`` merges them into the one ``resv`` domain the program reads.
Strings are found by Babel's Python extractor (``_``, ``N_``, ``ngettext``,
``pgettext``, ``NC_``) plus the docstrings of Typer commands (their help text),
cleaned as Typer shows them.  Click's and Typer's own strings (``Usage:``, ``Missing
option``) are the ``typer`` area, extracted from the installed package (pinned in
constraints.txt).  ``tests/test_catalogue.py`` runs ``problems()``; the wheel build
(``setup.py``) runs ``compile``.
"""

from __future__ import annotations

import ast
import datetime as dt
import inspect
import io
import string
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LOCALE = ROOT / "resv_cli" / "locale"
PO_DIR = LOCALE / "ja"
MO_FILE = PO_DIR / "LC_MESSAGES" / "resv.mo"

KEYWORDS: dict[str, Any] = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "N_": None,
    "pgettext": ((1, "c"), 2),
    "NC_": ((1, "c"), 2),
}


def _site_package(name: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise SystemExit(f"{name} is not installed (make install)")
    return Path(spec.origin).parent


AREAS = ("core", "services", "importing", "reports", "commands", "typer")


def areas() -> dict[str, list[Path]]:
    """Area name -> the directories (or files) whose strings its .po holds."""
    return {
        "core": [ROOT / "resv_cli" / d for d in ("core", "access", "audit", "records")],
        "services": [ROOT / "resv_cli" / d for d in ("accounts", "facilities", "demo")],
        "importing": [ROOT / "resv_cli" / "importing"],
        "reports": [ROOT / "resv_cli" / "reports"],
        "commands": [ROOT / "commands"],
        # Typer vendors click (typer/_click) with its strings fixed in English; only
        # typer/core.py asks gettext (section headings).  commands/main.py translates
        # the rest of what the framework prints (usage, its errors).
        "typer": [_site_package("typer") / "core.py", ROOT / "commands" / "framework.py"],
    }


def _command_docstrings(source: str) -> Iterator[tuple[int, str]]:
    """Docstrings of functions decorated ``@x.command(...)`` / ``@x.callback(...)``."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        decorated = any(
            isinstance(d, ast.Call)
            and isinstance(d.func, ast.Attribute)
            and d.func.attr in ("command", "callback")
            for d in node.decorator_list
        )
        doc = ast.get_docstring(node, clean=False)
        if decorated and doc:
            help_text = inspect.cleandoc(doc)
            yield node.lineno, help_text.split("\f", 1)[0]


def extract_resv(fileobj: Any, keywords: Any, comment_tags: Any, options: Any) -> Iterator[Any]:
    """Babel extraction method: Babel's Python extractor plus command docstrings."""
    from babel.messages.extract import extract_python

    data = fileobj.read()
    yield from extract_python(io.BytesIO(data), keywords, comment_tags, options)
    try:
        source = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    for lineno, text in _command_docstrings(source):
        yield lineno, None, text, []


def template(area: str) -> Any:
    """A Babel catalogue of every string the area's code holds now."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract, extract_from_dir

    catalog = Catalog(project="resv", domain="resv")
    for root in areas()[area]:
        if root.is_file():
            with root.open("rb") as fh:
                found = [
                    (root.name, lineno, message, comments, context)
                    for lineno, message, comments, context in extract(
                        extract_resv, fh, keywords=KEYWORDS
                    )
                ]
            base = root.parent
        else:
            # a file another area names is that area's (commands/framework.py: typer)
            elsewhere = [
                ("/".join(p.relative_to(root).parts), "ignore")
                for paths in areas().values()
                for p in paths
                if p.is_file() and p.is_relative_to(root)
            ]
            found = list(
                extract_from_dir(
                    root, method_map=[*elsewhere, ("**.py", extract_resv)], keywords=KEYWORDS
                )
            )
            base = root
        for filename, lineno, message, comments, context in found:
            where = (str((base / filename).relative_to(_anchor(base))), lineno)
            catalog.add(message, None, [where], auto_comments=comments, context=context)
    return catalog


def _anchor(path: Path) -> Path:
    """Paths in the .po relative to the repository, or to site-packages for libraries."""
    parts = path.parts
    if "site-packages" in parts:
        return Path(*parts[: parts.index("site-packages") + 1])
    return ROOT


def po_path(area: str) -> Path:
    return PO_DIR / f"{area}.po"


def read(area: str) -> Any:
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po

    path = po_path(area)
    if not path.exists():
        return Catalog(locale="ja", project="resv", domain="resv")
    with path.open("rb") as fh:
        return read_po(fh, locale="ja", domain="resv")


def write(area: str, catalog: Any) -> None:
    from babel.messages.pofile import write_po

    PO_DIR.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    write_po(buf, catalog, width=100, omit_header=False, sort_output=False, ignore_obsolete=True)
    po_path(area).write_bytes(buf.getvalue())


def update(names: list[str]) -> None:
    for area in names or AREAS:
        catalog = read(area)
        catalog.update(template(area), no_fuzzy_matching=True)
        write(area, catalog)
        empty = sum(1 for m in catalog if m.id and not _translated(m))
        print(f"{po_path(area).relative_to(ROOT)}: {len(catalog)} strings, {empty} to translate")


def _translated(message: Any) -> bool:
    strings = message.string if isinstance(message.string, tuple | list) else (message.string,)
    return all(strings) and not message.fuzzy


def merged() -> Any:
    """Every area's translated entries in one catalogue (the first area wins a clash)."""
    from babel.messages.catalog import Catalog

    # a fixed header date: the same .po files always compile to the same bytes
    fixed = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    out = Catalog(
        locale="ja", project="resv", domain="resv", creation_date=fixed, revision_date=fixed
    )
    for area in AREAS:
        for message in read(area):
            if message.id and _translated(message) and out.get(message.id, message.context) is None:
                out.add(message.id, message.string, context=message.context)
    return out


def compiled_bytes() -> bytes:
    from babel.messages.mofile import write_mo

    buf = io.BytesIO()
    write_mo(buf, merged(), use_fuzzy=False)
    return buf.getvalue()


def compile_mo(target: Path = MO_FILE) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    data = compiled_bytes()
    if not target.exists() or target.read_bytes() != data:
        target.write_bytes(data)
    return target


def _fields(text: str) -> list[str]:
    try:
        return sorted(f for _lit, f, _spec, _conv in string.Formatter().parse(text) if f)
    except ValueError:
        return ["<unbalanced braces>"]


def problems(names: list[str] | None = None) -> list[str]:
    """What stops the catalogue from being complete: one line per problem."""
    found: list[str] = []
    for area in names or AREAS:
        catalog = read(area)
        want = template(area)
        for message in want:
            if not message.id:
                continue
            where = ", ".join(f"{f}:{n}" for f, n in message.locations[:1])
            have = catalog.get(message.id, message.context)
            label = repr(message.id if isinstance(message.id, str) else message.id[0])[:80]
            if have is None:
                found.append(f"{area}: not in {po_path(area).name}: {label} ({where})")
            elif have.fuzzy:
                found.append(f"{area}: fuzzy: {label} ({where})")
            elif not _translated(have):
                found.append(f"{area}: no Japanese: {label} ({where})")
            elif area != "typer":  # Typer's own strings may use %-style placeholders
                ids = have.id if isinstance(have.id, tuple | list) else (have.id,)
                strs = have.string if isinstance(have.string, tuple | list) else (have.string,)
                if any(_fields(s) != _fields(ids[0]) for s in strs):
                    found.append(f"{area}: placeholders differ: {label} ({where})")
    if MO_FILE.exists() and MO_FILE.read_bytes() != compiled_bytes():
        found.append(f"{MO_FILE.relative_to(ROOT)} is stale: run `make catalogues`")
    elif not MO_FILE.exists():
        found.append(f"{MO_FILE.relative_to(ROOT)} is missing: run `make catalogues`")
    return found


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("update", "compile", "check"):
        print(__doc__)
        return 2
    if argv[0] == "update":
        update(argv[1:])
    elif argv[0] == "compile":
        print(compile_mo().relative_to(ROOT))
    else:
        listed = problems(argv[1:] or None)
        for line in listed:
            print(line)
        return 1 if listed else 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
