"""Every command that touches registrants or bookings goes through the access layer.

Two checks that fail when a new path bypasses ``resv_cli.access.decide``:

* **runtime**: walk the Typer app; every command under ``registrant``/``booking``,
  and every other command whose module imports the registrant/booking services,
  must appear in ``INVOCATIONS``; each is run as an operator and must move
  ``access.CONSULTED`` (a decision or a SQL filter was asked for);
* **static**: no module reads the ``Registrant``/``Booking``/``Certificate`` tables
  except the access layer and its two services, apart from the exemptions below,
  each an admin/monitor path with its own role check and a stated reason.
"""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest
from scope_world import HANDOVER, at, build_city, login

ROOT = Path(__file__).resolve().parents[1]
THROUGH_ACCESS = {"resv_cli/access/decide.py", "resv_cli/records/registrants.py", "resv_cli/records/bookings.py"}
# modules that may name the tables without the operator access layer, and why
EXEMPT = {
    "resv_cli/core/models.py": "the table definitions",
    "resv_cli/core/db.py": "schema creation",
    "resv_cli/facilities/handover.py": "admin-only handover plan: per-facility counts, no personal data",
    "resv_cli/reports/monthly.py": "monitor report: masked names of flagged views",
}
EXEMPT_DIRS = {
    "resv_cli/importing/": "admin-only legacy import at handover (writes, audited per batch)",
    "resv_cli/core/migrations/": "schema migrations",
}
TABLE_NAMES = {"Registrant", "Booking", "Certificate"}
SQL_WORDS = (
    "from registrants",
    "from bookings",
    "into registrants",
    "update registrants",
    "join registrants",
    "from certificates",
    "update bookings",
    "into bookings",
)

# command path -> arguments (ids filled in from the seed city)
INVOCATIONS: dict[tuple[str, ...], list[str]] = {
    ("registrant", "add"): ["--facility", "chuo-rojin", "--name", "新規"],
    ("registrant", "search"): ["--name", "高橋"],
    ("registrant", "show"): ["{chuo}"],
    ("registrant", "update"): ["{chuo}", "--phone", "0476-00-0001"],
    ("registrant", "issue-card"): ["{chuo}"],
    ("registrant", "issue-certificate"): ["{chuo}"],
    ("registrant", "check-duplicate"): ["--name", "x", "--dob", "1950-01-01", "--reason", "r"],
    ("booking", "add"): [
        "--facility",
        "chuo-rojin-kaigi",
        "--registrant",
        "{chuo}",
        "--date",
        "2017-04-10",
        "--from",
        "10:00",
        "--to",
        "11:00",
    ],
    ("booking", "list"): [],
    ("booking", "cancel"): ["1"],
}


def _commands():
    import typer.main
    from resv_cli.commands.docgen import _walk
    from resv_cli.commands.main import app

    for path, cmd in _walk(typer.main.get_command(app), []):
        if path and not getattr(cmd, "commands", None):
            yield tuple(path), cmd


def _touches_personal_data(path, cmd) -> bool:
    import inspect

    if path[0] in ("registrant", "booking"):
        return True
    callback = getattr(cmd, "callback", None)
    module = inspect.getmodule(callback) if callback else None
    if module is None:
        return False
    source = inspect.getsource(module)
    return any(w in source for w in ("resv_cli.records.registrants", "resv_cli.records.bookings"))


def test_every_personal_data_command_is_listed():
    touching = {path for path, cmd in _commands() if _touches_personal_data(path, cmd)}
    assert touching, "the walk found no registrant/booking command at all"
    assert touching - set(INVOCATIONS) == set(), "commands not checked against the access layer"
    assert set(INVOCATIONS) - touching == set(), "INVOCATIONS names commands that do not exist"


@pytest.fixture
def city(installation, monkeypatch):
    regs = build_city(installation)
    at(monkeypatch, HANDOVER)
    import factories as f

    f.make_booking(
        installation, "chuo-rojin-kaigi", regs["chuo"], dt.datetime(2017, 4, 12, 1, tzinfo=dt.UTC)
    )
    login(installation, "fm-sato")
    return installation, regs


def test_each_command_consults_the_access_layer(city, cli):
    from resv_cli.access import decide as access

    _, regs = city
    for path, args in INVOCATIONS.items():
        before = sum(access.CONSULTED.values())
        r = cli(*path, *[a.format(**regs) for a in args])
        assert r.exception is None, (path, r)
        assert sum(access.CONSULTED.values()) > before, f"{' '.join(path)} bypassed access"


def _python_files():
    for base in ("resv_cli", "commands"):
        for p in sorted((ROOT / base).rglob("*.py")):
            yield p.relative_to(ROOT).as_posix(), p


def offences(rel: str, source: str) -> list[str]:
    """Where a module names the registrant/booking tables directly."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module == "resv_cli.core.models":
            bad = TABLE_NAMES & {a.name for a in node.names}
            if bad:
                out.append(f"{rel}:{node.lineno} imports {', '.join(sorted(bad))}")
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            low = " ".join(node.value.lower().split())
            if any(w in low for w in SQL_WORDS):
                out.append(f"{rel}:{node.lineno} has SQL on registrants/bookings")
    return out


def test_no_module_reads_registrants_or_bookings_outside_the_access_layer():
    found = []
    for rel, p in _python_files():
        if rel in THROUGH_ACCESS or rel in EXEMPT or any(rel.startswith(d) for d in EXEMPT_DIRS):
            continue
        found += offences(rel, p.read_text("utf-8"))
    assert found == []


def test_the_static_check_catches_a_bypass():
    """The checker itself can fail: an import and a raw SQL string are both reported."""
    src = "from resv_cli.core.models import Booking, Registrant\nq = 'SELECT *  FROM\\n registrants'\n"
    assert offences("resv_cli/leak.py", src) == [
        "resv_cli/leak.py:1 imports Booking, Registrant",
        "resv_cli/leak.py:2 has SQL on registrants/bookings",
    ]
