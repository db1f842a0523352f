"""Shared pieces of the command layer: state, the command session, options, secrets.

A command is: parse -> ``with work(ctx) as w:`` call one service -> render.
``work`` opens one transaction at the command boundary, resolves the logged-in
actor, commits on success and rolls back on error.  When a service refuses
(``ResvError`` carrying ``audit`` fields), the refusal is written as an audit
event in its own transaction after the rollback, so it is kept.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import typer
from resv_cli.commands.render import Format

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

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


@dataclass
class Work:
    session: Session
    actor: Actor | None
    engine: Engine
    url: str


@contextmanager
def work(ctx: typer.Context, *, login: bool = True) -> Iterator[Work]:
    """Open the command's one transaction, acting as the logged-in person."""
    from resv_cli.core.db import require_initialised, transaction
    from resv_cli.core.errors import ResvError

    st = state(ctx)
    engine = st.engine()
    require_initialised(engine)
    actor = None
    try:
        with transaction(engine) as s:
            if login:
                from resv_cli.accounts.sessions import current_actor

                actor = current_actor(s, st.url)
            yield Work(session=s, actor=actor, engine=engine, url=st.url)
    except ResvError as exc:
        if exc.audit:
            record_refusal(engine, actor, exc.audit)
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
    Format, typer.Option("--format", "-f", help="Output format: table, csv or json.")
]
PasswordStdinOpt = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from the first line of standard input (for scripts).",
    ),
]


def echo_err(message: str) -> None:
    """Talk to the person (stderr); stdout is for data only."""
    typer.echo(message, err=True)


def read_stdin_lines(count: int) -> list[str]:
    """Read up to ``count`` lines of standard input, without their line endings."""
    lines: list[str] = []
    for _ in range(count):
        line = sys.stdin.readline()
        if not line:
            break
        lines.append(line.rstrip("\r\n"))
    return lines


def prompt_new_password(label: str = "New password") -> str:
    """Ask twice on the terminal, hidden; refuse a mismatch."""
    from resv_cli.core.errors import InputError

    first = typer.prompt(label, hide_input=True, err=True)
    second = typer.prompt(f"{label} (again)", hide_input=True, err=True)
    if first != second:
        raise InputError("the two passwords differ; nothing was changed")
    return str(first)
