"""The one error family of resv.

Services raise these; the command boundary (``resv_cli.commands.main``) prints
``Error: <message>`` on stderr and exits with ``exit_code``.  Messages must read
well after ``Error: `` and never contain a password, token or personal data.

Exit codes (documented in README and docs/cli-reference.md, stable for scripts):

== =====================================================================
0  success
1  the operation failed (bad input, not found, conflict, ...)
2  usage error (unknown option, missing argument) -- raised by Typer
3  not logged in (no session for this database)
4  session expired or ended: log in again
5  authentication failed (unknown ID or wrong password: one message)
6  permission denied (role or scope); the refusal is audited
7  database already initialised (``resv db init`` run twice)
8  integrity check failed (``resv audit verify``, ``resv db check``)
9  database not initialised or schema out of date (run ``resv db init``
   or ``resv db upgrade``)
== =====================================================================
"""

from __future__ import annotations

from typing import Any

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_LOGGED_IN = 3
EXIT_SESSION_EXPIRED = 4
EXIT_AUTH_FAILED = 5
EXIT_DENIED = 6
EXIT_ALREADY_INITIALISED = 7
EXIT_INTEGRITY = 8
EXIT_NOT_INITIALISED = 9


class ResvError(Exception):
    """An expected failure with a message fit for the user.

    ``audit``, when given, holds the fields of a refused-attempt audit event
    (``action``, ``resource_type``, ``resource_id``, ``facility_code``,
    ``outcome``, ``detail``).  The command session writes it in its own
    transaction after rolling the action back, so the refusal is kept.  A
    scoped "not found" uses it to be audited as a denial while answering
    exactly like a missing record.
    """

    exit_code = EXIT_FAILED

    def __init__(self, message: str, **audit: Any) -> None:
        super().__init__(message)
        self.audit: dict[str, Any] = audit


class InputError(ResvError):
    """Bad input: a file, row, column or option value that cannot be used."""


class NotFound(ResvError):
    """The thing asked for does not exist (or is outside the caller's scope)."""


class Conflict(ResvError):
    """The change would break a uniqueness or overlap rule."""


class NotLoggedIn(ResvError):
    exit_code = EXIT_NOT_LOGGED_IN


class SessionExpired(ResvError):
    exit_code = EXIT_SESSION_EXPIRED


class AuthenticationFailed(ResvError):
    exit_code = EXIT_AUTH_FAILED


class PermissionDenied(ResvError):
    """The caller may not do this.

    ``audit`` holds the fields of the refused-attempt audit event; the command
    boundary writes it in its own transaction so the refusal is kept while the
    action is rolled back.
    """

    exit_code = EXIT_DENIED


class AlreadyInitialised(ResvError):
    exit_code = EXIT_ALREADY_INITIALISED


class IntegrityCheckFailed(ResvError):
    exit_code = EXIT_INTEGRITY


class NotInitialised(ResvError):
    exit_code = EXIT_NOT_INITIALISED
