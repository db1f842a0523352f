"""Root command: global options, the error boundary, composition of sub-apps.

Nothing here connects to a database or imports a heavy module.  The sub-apps and
top-level commands are listed in ``commands/registry.py`` and loaded lazily (click's
"lazy loading subcommands" pattern): ``resv --help`` and completion list them from
that table, and a command module is imported, and its Typer group built, only when
it is run, asked for its own help or completed into.  Services are imported inside
each command.
"""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from enum import Enum
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from resv_cli import __version__
from resv_cli.core import i18n
from resv_cli.core.errors import ResvError
from resv_cli.core.i18n import N_, _


class LazyCommands(MutableMapping[str, Any]):
    """The root's commands by name: all names known up front, each built on first use.

    ``in``, ``keys()`` and iteration (help listing, completion, "did you mean")
    never build a command; looking one up (``[name]``, ``get``) builds it once.
    """

    def __init__(self, loaders: dict[str, Callable[[], Any]]) -> None:
        self._loaders = dict(loaders)  # in listing order
        self._built: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            self._built[name] = self._loaders[name]()
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._loaders.setdefault(name, lambda: command)
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._loaders[name]
        self._built.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._loaders

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaders)

    def __len__(self) -> int:
        return len(self._loaders)

    def built(self, name: str) -> Any | None:
        """The command if it has been built already, else None (builds nothing)."""
        return self._built.get(name)


class _PlainValues:
    """Typer's coercion of a parameter, minus pydantic for the values that need none.

    Typer coerces every value through a pydantic ``TypeAdapter``, and building the
    first one imports pydantic (about as long as the rest of ``resv --help``), even
    for an option left at ``None``.  A value that is already what Typer would return
    (``None``, a ``str`` for a ``str`` parameter, a member of the parameter's Enum) is
    returned as it is, as Typer's own adapters do; anything else goes to Typer's
    coercion, built then, so parsing, messages and errors are Typer's own.
    """

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        if not param.multiple and param.nargs == 1:
            annotation = param.type_descriptor.annotation
            if value is None:
                return None
            if annotation is str and type(value) is str:
                return value
            if isinstance(annotation, type) and issubclass(annotation, Enum):
                if isinstance(value, annotation):
                    return value
        param._runtime_param = None  # from now on, Typer's own (built and cached here)
        return param.get_runtime_param().coerce(value, param=param, ctx=ctx)


def _plain_values(params: list[Any]) -> list[Any]:
    for param in params:
        # only Typer versions that coerce through pydantic have these attributes
        if getattr(param, "_runtime_param", False) is None and hasattr(param, "type_descriptor"):
            param._runtime_param = _PlainValues()
    return params


def _light_coercion(command: Any) -> Any:
    """Let ``command`` and its subcommands coerce through ``_PlainValues``.

    Through ``get_params``: it also returns the help option, which Typer makes
    only when the command is parsed.
    """
    get_params = command.get_params
    command.get_params = lambda ctx: _plain_values(get_params(ctx))
    commands = getattr(command, "commands", None)
    if commands is not None:
        for sub in commands.values():
            _light_coercion(sub)
    return command


@contextmanager
def _help_in_language(command: Any, ctx: Any = None, formatter: Any = None) -> Iterator[None]:
    """Within: ``command``'s help texts (its own, its options', its subcommands' one
    line) in the current language; the English originals are put back after, so
    one built command serves every language (tests switch within one process).
    """
    saved: list[tuple[Any, str, str]] = []

    def swap(obj: Any, attr: str) -> None:
        value = getattr(obj, attr, None)
        if isinstance(value, str) and value:
            saved.append((obj, attr, value))
            setattr(obj, attr, _(value))

    for attr in ("help", "short_help", "epilog"):
        swap(command, attr)
    for param in command.params:
        swap(param, "help")
    help_option = command.get_help_option(ctx) if ctx is not None else None
    if help_option is not None:
        swap(help_option, "help")
    if formatter is not None:  # "Usage: " is fixed in Typer's formatter
        from resv_cli.commands.framework import USAGE_PREFIX

        write_usage = formatter.write_usage
        formatter.write_usage = functools.partial(write_usage, prefix=_(USAGE_PREFIX))
    commands = getattr(command, "commands", None)
    if isinstance(commands, LazyCommands):
        subs = [c for c in map(commands.built, commands) if c is not None]
    else:
        subs = list((commands or {}).values())
    for sub in subs:
        swap(sub, "help")
        swap(sub, "short_help")
    try:
        yield
    finally:
        for obj, attr, value in reversed(saved):
            setattr(obj, attr, value)


def _translated_help(command: Any) -> Any:
    """Let ``command`` and its subcommands show their help in the current language."""
    format_help = command.format_help

    def translated(ctx: Any, formatter: Any) -> None:
        with _help_in_language(command, ctx, formatter):
            format_help(ctx, formatter)

    command.format_help = translated
    for sub in (getattr(command, "commands", None) or {}).values():
        _translated_help(sub)
    return command


class ResvGroup(TyperGroup):
    """The root group: lazily loaded subcommands, and the one error boundary.

    Turns every ``ResvError`` into ``Error: ...`` on stderr and its exit code.
    """

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        lazy = LazyCommands(_loaders())
        for name, command in self.commands.items():
            lazy[name] = command
        self.commands: LazyCommands = lazy  # type: ignore[assignment]
        self._listing = False

    def get_params(self, ctx: Any) -> list[Any]:
        return _plain_values(super().get_params(ctx))

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if self._listing:
            stub = self.commands.built(cmd_name) or _listing_stub(cmd_name)
            if stub is not None:
                return stub
        return super().get_command(ctx, cmd_name)  # imports and builds it the first time

    @contextmanager
    def _listing_only(self) -> Iterator[None]:
        """Within: sub-apps not loaded yet are listed from registry.py, not imported."""
        self._listing = True
        try:
            yield
        finally:
            self._listing = False

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        with self._listing_only():
            super().format_commands(ctx, formatter)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        with _help_in_language(self, ctx, formatter):
            super().format_help(ctx, formatter)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        # --lang before anything else, so a line that cannot be parsed is refused
        # in the language it asked for
        for i, arg in enumerate(args):
            value = arg[len("--lang=") :] if arg.startswith("--lang=") else None
            if arg == "--lang" and i + 1 < len(args):
                value = args[i + 1]
            if value in i18n.LANGS:
                i18n.set_language(value)
            if arg in self.commands:
                break  # the subcommand: its options are not the root's
        try:
            return super().parse_args(ctx, args)  # type: ignore[no-any-return]
        except Exception as exc:
            if type(exc).__module__.startswith(("typer", "click")):
                from resv_cli.commands import framework

                framework.in_language(exc)  # its usage message in the user's language
            raise

    def shell_complete(self, ctx: Any, incomplete: str) -> Any:
        with self._listing_only():
            return super().shell_complete(ctx, incomplete)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except ResvError as exc:
            if _debug_requested(ctx):
                traceback.print_exc(file=sys.stderr)
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            typer.echo(_("Error: {message}").format(message=message), err=True)
            ctx.exit(exc.exit_code)
        except Exception as exc:  # an unexpected failure: one line unless --debug
            if type(exc).__module__.startswith(("typer", "click")):
                from resv_cli.commands import framework

                framework.in_language(exc)  # usage errors: in the user's language
                raise  # usage errors, --help, Exit: Typer reports them itself
            if isinstance(exc, BrokenPipeError):
                raise  # the reader went away (| head): main() ends quietly
            if _debug_requested(ctx):
                raise
            from sqlalchemy.exc import SQLAlchemyError  # here: `resv x --help` imports none

            if isinstance(exc, SQLAlchemyError):
                orig = getattr(exc, "orig", None) or exc
                text = (
                    str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
                )
                typer.echo(
                    _("Error: database error: {text} (rerun with --debug for details)").format(
                        text=text
                    ),
                    err=True,
                )
            else:
                typer.echo(
                    _("Error: unexpected {name} (rerun with --debug for details)").format(
                        name=type(exc).__name__
                    ),
                    err=True,
                )
            ctx.exit(1)


def _debug_requested(ctx: Any) -> bool:
    obj = ctx.find_root().obj
    return bool(getattr(obj, "debug", False))


app = typer.Typer(
    cls=ResvGroup,
    name="resv",
    help=N_(
        "Administer the city's shared public-facility reservation database: facilities, "
        "designated managers' accounts, scope rules, legacy import, audit and monitoring."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Lang(str, Enum):
    ja = "ja"
    en = "en"


def _language(value: Lang | None) -> None:
    # eager, so it is in force for --help and usage errors after it on the line
    i18n.set_language(value.value if value is not None else None)


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
            help=N_(
                "Database URL or SQLite file path (default: resv.db in the current directory)."
            ),
            show_envvar=True,
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help=N_("Show tracebacks on errors."))] = False,
    lang: Annotated[
        Lang | None,
        typer.Option(
            "--lang",
            callback=_language,
            is_eager=True,
            help=N_(
                "Language of messages and tables: ja or en (default: RESV_LANG, else the "
                "locale, else en). JSON and CSV keys and exit codes do not change."
            ),
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help=N_("Show the version.")),
    ] = False,
) -> None:
    """Administer the shared reservation database."""
    from resv_cli.commands._common import State

    ctx.obj = State(db_option=db, debug=debug)


def _loaders() -> dict[str, Callable[[], Any]]:
    """name -> function that imports and builds it; top-level commands first, as Typer lists."""
    from resv_cli.commands import registry

    loaders: dict[str, Callable[[], Any]] = {}
    for module, func, name in registry.TOP_LEVEL:
        loaders[name] = functools.partial(_build_command, module, func, name)
    for module, name, help_text in registry.SUB_APPS:
        loaders[name] = functools.partial(_build_sub_app, module, name, help_text)
    return loaders


def _build_sub_app(module: str, name: str, help_text: str) -> Any:
    """Import ``commands/<module>.py`` and build its group as ``app.add_typer`` would."""
    import typer.main
    from resv_cli.commands import registry

    holder = typer.Typer()
    holder.add_typer(registry.sub_app(module), name=name, help=help_text)
    group = typer.main.get_group_from_info(
        holder.registered_groups[0],
        pretty_exceptions_short=app.pretty_exceptions_short,
        rich_markup_mode=app.rich_markup_mode,
        suggest_commands=app.suggest_commands,
    )
    return _translated_help(_light_coercion(group))


def _build_command(module: str, func: str, name: str) -> Any:
    """Import ``commands/<module>.py`` and build ``func`` as ``app.command(name)`` would."""
    import typer.main
    from resv_cli.commands import registry

    holder = typer.Typer()
    holder.command(name)(registry.top_level_function(module, func))
    command = typer.main.get_command_from_info(
        holder.registered_commands[0],
        pretty_exceptions_short=app.pretty_exceptions_short,
        rich_markup_mode=app.rich_markup_mode,
    )
    return _translated_help(_light_coercion(command))


def _listing_stub(name: str) -> Any:
    """A stand-in for an unloaded sub-app in the help listing: its name and one-line help."""
    from resv_cli.commands import registry

    for _module, sub_name, help_text in registry.SUB_APPS:
        if sub_name == name:
            return TyperGroup(name=name, help=_(help_text))
    return None


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
