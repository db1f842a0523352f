"""Every user-facing string is in the message catalogue, in Japanese (issue 16).

Three checks that do not depend on running a command:

* the catalogue: every string the code marks (``_``, ``N_``, ``ngettext``,
  ``pgettext``, command docstrings) has a Japanese entry that is neither empty
  nor fuzzy, with the same ``{placeholders}``, and ``resv.mo`` is compiled from
  the current ``.po`` files (``scripts/catalogues.py``);
* the code: no error, echo, prompt or help text is written as a bare string or
  f-string (it would never reach the catalogue);
* no module that imports ``_`` also assigns to ``_`` (it would shadow the
  function and fail only when that line runs).

The whole demo in Japanese is ``tests/test_demo_languages.py``.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(
    [*ROOT.joinpath("resv_cli").rglob("*.py"), *ROOT.joinpath("commands").rglob("*.py")]
)


def _catalogues():
    spec = importlib.util.spec_from_file_location("catalogues", ROOT / "scripts/catalogues.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


AREAS = ["core", "services", "importing", "reports", "commands", "typer"]


@pytest.mark.parametrize("area", AREAS)
def test_every_marked_string_has_a_japanese_entry(area):
    catalogues = _catalogues()
    problems = [p for p in catalogues.problems([area]) if p.startswith(f"{area}:")]
    assert problems == [], f"{len(problems)} problems, first: {problems[:15]}"


def test_compiled_catalogue_is_current():
    catalogues = _catalogues()
    mo = catalogues.MO_FILE
    assert mo.exists(), "run `make catalogues`"
    assert mo.read_bytes() == catalogues.compiled_bytes(), "resv.mo is stale: `make catalogues`"


# --- the code: user-facing text goes through the catalogue --------------------

# calls whose first argument (or message=) a person reads
_SHOWN_CALLS = {"echo", "secho", "prompt", "confirm", "BadParameter", "Abort"}
_WORDS = re.compile(r"[A-Za-z]{2,}[ ,.:;!?'-]+[A-Za-z]{2,}")
_OPT_OUT = "# not translated:"


def _error_classes() -> set[str]:
    """Names of resv's error classes (the messages the boundary prints)."""
    import resv_cli.core.errors as errors

    names = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.ResvError)
    }
    return names | {"FieldError", "RowError", "RosterError"}


def _text_of(node: ast.AST) -> str | None:
    """The literal text of a bare str or f-string, else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)
        )
    if isinstance(node, ast.BinOp):  # "a" + "b", "..." % x
        left, right = _text_of(node.left), _text_of(node.right)
        return (left or "") + (right or "") if (left or right) else None
    return None


def _callee(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def _bare_texts(path: Path) -> list[str]:
    source = path.read_text("utf-8")
    lines = source.splitlines()
    errors = _error_classes()
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = _callee(node)
        candidates: list[ast.AST] = []
        if name in errors or name in _SHOWN_CALLS:
            candidates += node.args[:1]
            candidates += [k.value for k in node.keywords if k.arg in ("message", "text")]
        candidates += [k.value for k in node.keywords if k.arg in ("help", "short_help", "epilog")]
        for arg in candidates:
            text = _text_of(arg)
            if text is None or not _WORDS.search(text):
                continue
            line = lines[arg.lineno - 1]
            if _OPT_OUT in line or _OPT_OUT in lines[node.lineno - 1]:
                continue
            found.append(f"{path.relative_to(ROOT)}:{arg.lineno}: {text[:60]!r}")
    return found


def test_no_user_facing_text_bypasses_the_catalogue():
    bare = [hit for path in SOURCES for hit in _bare_texts(path)]
    assert bare == [], f"{len(bare)} bare strings (wrap in _() or N_()), first: {bare[:20]}"


def _assigns_underscore(tree: ast.AST) -> list[int]:
    hits = []
    for node in ast.walk(tree):
        targets: list[ast.AST] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign | ast.For | ast.comprehension):
            targets = [node.target]
        elif isinstance(node, ast.With):
            targets = [i.optional_vars for i in node.items if i.optional_vars is not None]
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Name) and sub.id == "_" and isinstance(sub.ctx, ast.Store):
                    hits.append(getattr(node, "lineno", getattr(target, "lineno", 0)))
    return hits


def test_no_module_shadows_the_translation_function():
    shadowed = []
    for path in SOURCES:
        tree = ast.parse(path.read_text("utf-8"))
        imports_it = any(
            isinstance(n, ast.ImportFrom)
            and n.module == "resv_cli.core.i18n"
            and any(a.name == "_" and a.asname is None for a in n.names)
            for n in ast.walk(tree)
        )
        if imports_it:
            shadowed += [f"{path.relative_to(ROOT)}:{n}" for n in _assigns_underscore(tree)]
    assert shadowed == []


def test_language_comes_from_resv_lang_then_the_locale():
    from resv_cli.core.i18n import language_from_env

    assert language_from_env({}) == "en"
    assert language_from_env({"LANG": "ja_JP.UTF-8"}) == "ja"
    assert language_from_env({"LANG": "C.UTF-8"}) == "en"
    assert language_from_env({"LC_ALL": "ja_JP.UTF-8", "LANG": "en_US.UTF-8"}) == "ja"
    assert language_from_env({"RESV_LANG": "en", "LANG": "ja_JP.UTF-8"}) == "en"
    assert language_from_env({"RESV_LANG": "ja", "LANG": "en_US.UTF-8"}) == "ja"
    assert language_from_env({"LANGUAGE": "ja:en", "LANG": "C"}) == "ja"
