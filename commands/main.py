"""Root command: global options, the error boundary, composition of sub-apps.

Nothing here connects to a database or imports a heavy module: ``resv --help``
only loads Typer and the command modules, whose services are imported inside
each command.
"""

from __future__ import annotations

import sys
import traceback
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from resv_cli import __version__
from resv_cli.core.errors import ResvError


class ResvGroup(TyperGroup):
    """Turns every ``ResvError`` into ``Error: ...`` on stderr and its exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except ResvError as exc:
            if _debug_requested(ctx):
                traceback.print_exc(file=sys.stderr)
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            typer.echo(f"Error: {message}", err=True)
            ctx.exit(exc.exit_code)
        except Exception as exc:  # an unexpected failure: one line unless --debug
            from sqlalchemy.exc import SQLAlchemyError

            if type(exc).__module__.startswith(("typer", "click")):
                raise  # usage errors, --help, Exit: Typer reports them itself
            if isinstance(exc, BrokenPipeError):
                raise  # the reader went away (| head): main() ends quietly
            if _debug_requested(ctx):
                raise
            if isinstance(exc, SQLAlchemyError):
                orig = getattr(exc, "orig", None) or exc
                text = (
                    str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
                )
                typer.echo(
                    f"Error: database error: {text} (rerun with --debug for details)", err=True
                )
            else:
                typer.echo(
                    f"Error: unexpected {type(exc).__name__} (rerun with --debug for details)",
                    err=True,
                )
            ctx.exit(1)


def _debug_requested(ctx: Any) -> bool:
    obj = ctx.find_root().obj
    return bool(getattr(obj, "debug", False))


app = typer.Typer(
    cls=ResvGroup,
    name="resv",
    help=(
        "Administer the city's shared public-facility reservation database: facilities, "
        "designated managers' accounts, scope rules, legacy import, audit and monitoring."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"resv {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            envvar="RESV_DATABASE_URL",
            help="Database URL or SQLite file path (default: resv.db in the current directory).",
            show_envvar=True,
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Administer the shared reservation database."""
    from resv_cli.commands._common import State

    ctx.obj = State(db_option=db, debug=debug)


def _register() -> None:
    from resv_cli.commands import registry

    for sub_app, name, help_text in registry.sub_apps():
        app.add_typer(sub_app, name=name, help=help_text)
    for func, name in registry.top_level_commands():
        app.command(name)(func)


_register()


def main() -> None:
    """Console entry point."""
    try:
        app()
    except BrokenPipeError:
        # `resv audit list | head`: the reader has gone; say nothing more to it
        # (Python's documented recipe: point stdout at devnull before exiting)
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
