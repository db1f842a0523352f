"""Every command that touches registrants or bookings goes through the access layer.

Two checks that fail when a new path bypasses ``resv_cli.access.decide``:

* **runtime**: walk the Typer app; every command under ``registrant``/``booking``,
  and every other command whose module imports the registrant/booking services,
  must appear in ``INVOCATIONS``; each is run as an operator and must move
  ``access.CONSULTED`` (a decision or a SQL filter was asked for);
* **services**: every public function of ``resv_cli.records`` takes the acting
  person (and asks the access layer) or a ``Grant`` that only the access layer
  makes, and refuses a grant of the wrong kind;
* **static**: no module reads the ``Registrant``/``Booking``/``Certificate`` tables
  except the access layer and ``resv_cli/records/``, apart from the exemptions
  below (table definitions and migrations).
"""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest
from scope_world import HANDOVER, at, build_city, login

ROOT = Path(__file__).resolve().parents[1]
# the access layer and the record services that take its grants
THROUGH_ACCESS_DIRS = ("resv_cli/access/", "resv_cli/records/")
# modules that may name the tables without the access layer, and why
EXEMPT = {
    "resv_cli/core/personal.py": "the table definitions",
    "resv_cli/core/db.py": "schema creation and the per-facility insert lock",
}
EXEMPT_DIRS = {
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
    ("registrant", "suspend"): ["{chuo}", "--reason", "r"],
    ("registrant", "reinstate"): ["{chuo}"],
    ("registrant", "delete"): ["{honme}", "--reason", "r"],
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


# commands that handle only the ciphertext of every row (re-sealing under a new key,
# counting rows per key) and never show a value: city IT's key procedure, refused to
# anyone else by role before any row is read (tests/test_key_rotation.py::
# test_an_operator_may_not_touch_the_keys); the access layer's scope does not apply
CIPHERTEXT_ONLY: dict[tuple[str, ...], str] = {
    ("key", "init"): "writes the key-encryption key file; reads no row",
    ("key", "status"): "counts rows per data key",
    ("key", "rotate"): "re-seals every row under a new data key",
    ("key", "rewrap"): "re-wraps data keys; rows untouched",
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
    return "resv_cli.records" in source


def test_every_personal_data_command_is_listed():
    touching = {path for path, cmd in _commands() if _touches_personal_data(path, cmd)}
    assert touching, "the walk found no registrant/booking command at all"
    unchecked = touching - set(INVOCATIONS) - set(CIPHERTEXT_ONLY)
    assert unchecked == set(), "commands not checked against the access layer"
    assert set(CIPHERTEXT_ONLY) <= {path for path, _cmd in _commands()}, "stale exemption"
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
        if isinstance(node, ast.ImportFrom) and node.module in (
            "resv_cli.core.models",
            "resv_cli.core.personal",
        ):
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
        if rel.startswith(THROUGH_ACCESS_DIRS) or rel in EXEMPT:
            continue
        if any(rel.startswith(d) for d in EXEMPT_DIRS):
            continue
        found += offences(rel, p.read_text("utf-8"))
    assert found == []


def test_the_static_check_catches_a_bypass():
    """The checker itself can fail: an import and a raw SQL string are both reported."""
    src = "from resv_cli.core.personal import Booking, Registrant\nq = 'SELECT *  FROM\\n registrants'\n"
    assert offences("resv_cli/leak.py", src) == [
        "resv_cli/leak.py:1 imports Booking, Registrant",
        "resv_cli/leak.py:2 has SQL on registrants/bookings",
    ]


def _record_services():
    import importlib
    import inspect
    import pkgutil

    import resv_cli.records as records

    for info in pkgutil.iter_modules(records.__path__):
        module = importlib.import_module(f"resv_cli.records.{info.name}")
        for name, fn in vars(module).items():
            if (
                name.startswith("_")
                or not inspect.isfunction(fn)
                or fn.__module__ != module.__name__
            ):
                continue
            params = list(inspect.signature(fn).parameters)
            if params[:1] == ["session"]:
                yield f"{info.name}.{name}", fn, params


# pure helpers of records/ that take a session but reveal nothing of a person
PURE = {"registrants.not_found_message", "bookings.not_found_message"}


def test_every_record_service_takes_an_actor_or_a_grant():
    services = list(_record_services())
    assert len(services) >= 10, "the walk found too few record services"
    bad = [
        name
        for name, _fn, params in services
        if name not in PURE and not {"actor", "grant"} & set(params[1:3])
    ]
    assert bad == [], "record services reachable without the access layer"


def test_a_grant_is_made_only_by_the_access_layer():
    from resv_cli.access.enforce import MONITORING, Grant
    from resv_cli.core.context import Actor

    actor = Actor(1, "x", "x", 1, "city", "city", "admin")
    with pytest.raises(TypeError, match="a Grant is made only by resv_cli.access"):
        Grant(MONITORING, actor, "report.export", dt.date(2026, 1, 1))


def test_a_record_service_refuses_a_grant_of_another_kind(installation):
    from resv_cli.access.enforce import require_administration, require_monitoring
    from resv_cli.core.context import Actor
    from resv_cli.core.db import transaction
    from resv_cli.records import bookings, registrants

    admin = Actor(1, "it-admin", "管理者", 1, "city", "city", "admin")
    day = dt.date(2026, 1, 1)
    counting = require_administration(admin, day, audit_action="handover.plan")
    monitoring = require_monitoring(admin, day, audit_action="report.export")
    with transaction(installation.engine()) as s:
        assert registrants.count_at(s, counting, set()) == 0
        assert registrants.masked_names(s, monitoring, set()) == {}
        with pytest.raises(TypeError, match="needs a grant of kind monitoring, not administration"):
            registrants.masked_names(s, counting, {1})
        with pytest.raises(TypeError, match="needs a grant of kind administration, not monitoring"):
            bookings.count_booked_at(s, monitoring, {1})


def test_monitoring_and_counting_grants_need_their_roles(installation):
    from resv_cli.access.enforce import require_administration, require_monitoring
    from resv_cli.core.context import Actor
    from resv_cli.core.errors import PermissionDenied

    operator = Actor(2, "fm-sato", "佐藤", 2, "inzai-fm", "designated_manager", "operator")
    day = dt.date(2026, 1, 1)
    with pytest.raises(PermissionDenied, match="report.export needs the monitor or admin role"):
        require_monitoring(operator, day, audit_action="report.export")
    with pytest.raises(PermissionDenied, match="handover.plan needs the admin role"):
        require_administration(operator, day, audit_action="handover.plan")
