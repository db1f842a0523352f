"""The sub-apps and top-level commands of ``resv``, as a static table.

``resv_cli.commands.main`` lists these names (with each sub-app's one-line help)
without importing anything; a module is imported only when its command is run,
its own ``--help`` is asked for, or its subcommands are completed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from resv_cli.core.i18n import N_

# (module under commands/, command name, help); each module defines `app`
SUB_APPS: list[tuple[str, str, str]] = [
    ("db", "db", N_("Create, upgrade and check the database schema.")),
    ("facility", "facility", N_("Facilities, management periods, open-data import, demo city.")),
    ("handover", "handover", N_("Hand facilities to a designated manager on a day.")),
    (
        "scope",
        "scope",
        N_("Scope rules: who may act on which facilities' data; explain, plan, apply."),
    ),
    ("registrant", "registrant", N_("Registrants (利用者) of your facilities: add, search, show.")),
    ("booking", "booking", N_("Bookings (施設貸出) of your facilities: add, list, cancel.")),
    ("imports", "import", N_("Import legacy registrant files (dry-run, rejects, resumable).")),
    ("report", "report", N_("Monthly monitoring report for the city's inspection.")),
    ("org", "org", N_("Organisations: the city and designated managers with their term.")),
    ("account", "account", N_("Per-person accounts: grant, roster import, passwords, lockout.")),
    ("training", "training", N_("Training records (研修記録) of the staff.")),
    ("audit", "audit", N_("Read, verify, anchor and archive the tamper-evident audit history.")),
    ("key", "key", N_("Field encryption keys: the key file, status, rotation, rewrapping.")),
]
# (module, function name, command name)
TOP_LEVEL: list[tuple[str, str, str]] = [
    ("session", "login", N_("login")),
    ("session", "logout", N_("logout")),
    ("session", "whoami", N_("whoami")),
]


def _module(name: str) -> Any:
    return importlib.import_module(f"resv_cli.commands.{name}")


def sub_app(module: str) -> Any:
    """Import ``commands/<module>.py`` and return its Typer ``app``."""
    return _module(module).app


def top_level_function(module: str, func: str) -> Callable[..., Any]:
    """Import ``commands/<module>.py`` and return the command function ``func``."""
    return getattr(_module(module), func)  # type: ignore[no-any-return]
