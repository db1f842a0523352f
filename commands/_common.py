"""Shared pieces of the command layer: state, the command session, options, secrets.

A command is: parse -> ``with work(ctx) as w:`` call one service -> render.
``work`` opens one transaction at the command boundary, resolves the logged-in
actor, commits on success and rolls back on error.  When a service refuses
(``ResvError`` carrying ``audit`` fields), the refusal is written as an audit
event in its own transaction after the rollback, so it is kept.

The transaction is opened on a Core connection and the session check reads Core
tables; the ORM ``Session`` (``w.session``) is made, on that same connection and
transaction, only when the command first asks for it.  So a command that needs no
ORM (``resv whoami``) never imports it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import typer
from resv_cli.commands.render import Format

from resv_cli.core.i18n import N_, _

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine
    from sqlalchemy.orm import Session

    from resv_cli.accounts.sessions import LoggedIn
    from resv_cli.core.context import Actor


@dataclass
class State:
    """Per-invocation options of the root command."""

    db_option: str | None = None
    debug: bool = False
    _url: str | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        if self._url is None:
            from resv_cli.core.config import database_url

            self._url = database_url(self.db_option)
        return self._url

    def engine(self) -> Engine:
        from resv_cli.core.db import get_engine

        return get_engine(self.url)


def state(ctx: typer.Context) -> State:
    root = ctx.find_root()
    if not isinstance(root.obj, State):
        root.obj = State()
    return root.obj


class Work:
    """A command's one transaction (``connection``, or ``session`` for the ORM) and actor."""

    def __init__(self, connection: Connection, engine: Engine, url: str) -> None:
        self.connection = connection
        self.engine = engine
        self.url = url
        self.logged_in: LoggedIn | None = None  # the session check's result (login=True)
        self._session: Session | None = None

    @property
    def actor(self) -> Actor | None:
        """The logged-in person the command acts as (None with ``login=False``)."""
        return self.logged_in.actor if self.logged_in else None

    @property
    def session(self) -> Session:
        """The ORM session of the command's transaction, made when first asked for."""
        if self._session is None:
            from sqlalchemy.orm import Session

            # "control_fully": the session's commit/rollback are the transaction's,
            # exactly as if the session had begun it itself (it begins it when the
            # connection has not run a statement yet)
            self._session = Session(
                bind=self.connection,
                expire_on_commit=False,
                join_transaction_mode="control_fully",
            )
        return self._session


@contextmanager
def work(ctx: typer.Context, *, login: bool = True) -> Iterator[Work]:
    """Open the command's one transaction, acting as the logged-in person."""
    from resv_cli.core.db import require_initialised
    from resv_cli.core.errors import ResvError

    st = state(ctx)
    engine = st.engine()
    require_initialised(engine)
    w: Work | None = None
    try:
        # the transaction begins with the first statement (the session check), as
        # an ORM session's would; on SQLite that is BEGIN IMMEDIATE (core/db.py)
        with engine.connect() as conn:
            w = Work(conn, engine, st.url)
            try:
                if login:
                    from resv_cli.accounts.sessions import check_session

                    w.logged_in = check_session(conn, st.url)
                yield w
                if w._session is not None:
                    w._session.commit()  # flushes, then commits the transaction
                elif conn.in_transaction():
                    conn.commit()
            except BaseException:
                if w._session is not None:
                    w._session.rollback()
                else:
                    conn.rollback()
                raise
            finally:
                if w._session is not None:
                    w._session.close()
    except ResvError as exc:
        if exc.audit:
            record_refusal(engine, w.actor if w else None, exc.audit)
        raise


def record_refusal(engine: Engine, actor: Actor | None, fields: dict[str, Any]) -> None:
    """Write a refused or failed attempt in its own transaction."""
    from resv_cli.audit import chain as audit
    from resv_cli.core.db import transaction

    fields = dict(fields)
    action = fields.pop("action", "unknown")
    fields.setdefault("outcome", "denied")
    with transaction(engine) as s:
        audit.record(s, actor, action, **fields)


# --- shared options ------------------------------------------------------------------

FormatOpt = Annotated[
    Format, typer.Option("--format", "-f", help=N_("Output format: table, csv or json."))
]
PasswordStdinOpt = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help=N_("Read the password from the first line of standard input (for scripts)."),
    ),
]


def echo_err(message: str) -> None:
    """Talk to the person (stderr); stdout is for data only."""
    typer.echo(message, err=True)


def read_stdin_lines(count: int) -> list[str]:
    """Read up to ``count`` lines of standard input, without their line endings."""
    lines: list[str] = []
    for _line in range(count):
        line = sys.stdin.readline()
        if not line:
            break
        lines.append(line.rstrip("\r\n"))
    return lines


def prompt_new_password(label: str = N_("New password")) -> str:
    """Ask twice on the terminal, hidden; refuse a mismatch (``label`` marked ``N_``)."""
    from resv_cli.core.errors import InputError

    first = typer.prompt(_(label), hide_input=True, err=True)
    second = typer.prompt(_("{label} (again)").format(label=_(label)), hide_input=True, err=True)
    if first != second:
        raise InputError(_("the two passwords differ; nothing was changed"))
    return str(first)


def progress_bar(label: str) -> tuple[Any, Any]:
    """``(update(done, total), bar)``: a progress bar on stderr when it is a terminal,
    else ``(None, None)``.  ``label`` is already translated; the caller closes the bar
    with ``bar.__exit__(None, None, None)``."""
    if not sys.stderr.isatty():
        return None, None
    bar = typer.progressbar(length=1, label=label, file=sys.stderr)
    bar.__enter__()
    seen = [0]

    def update(done: int, total: int) -> None:
        bar.length = max(total, 1)
        bar.update(done - seen[0])
        seen[0] = done

    return update, bar
