"""What the command-line framework itself prints, in the user's language (issue 16).

Typer vendors click with its usage messages fixed in English (``Usage:``, ``Missing
option '--name'.``, ``No such option: --x``), outside gettext.  Each such message is
listed here once, as an English template marked for the catalogue; an English
message is matched against the templates (placeholders become groups), and the
Japanese entry is filled with the same values.  A nested message (``Invalid value
for '--limit': <why>``) is translated part by part.  A message no template matches
is shown as the framework wrote it.

The help option's own help and the completion options are listed too, so the
help screens read in one language.
"""

from __future__ import annotations

import functools
import re
import sys
from typing import IO, Any

from resv_cli.core.i18n import N_, _

# help texts Typer/click give their own options (translated with the others)
HELP_TEXTS = (
    N_("Show this message and exit."),
    N_("Install completion for the current shell."),
    N_("Show completion for the current shell, to copy it or customize the installation."),
)

USAGE_PREFIX = N_("Usage: ")

# English templates of the framework's messages, most specific first.  A
# placeholder named ``message`` is itself translated.
TEMPLATES = (
    N_("{message}. Did you mean {suggestions}?"),
    N_("{message} (Possible options: {options})"),
    N_("No such option: {name}"),
    N_("Missing argument {name}."),
    N_("Missing option {name}."),
    N_("Missing parameter: {name}"),
    N_("Option {name} requires an argument."),
    N_("Option {name} requires {n} arguments."),
    N_("Option {name} does not take a value."),
    N_("Got unexpected extra argument(s) ({args})"),
    N_("Invalid value for {name}: {message}"),
    N_("Invalid value: {message}"),
    N_("Value error, {value} is not one of {choices}."),
    N_("{value} is not one of {choices}."),
    N_("Input should be a valid integer, unable to parse string as an integer"),
    N_("Input should be a valid number, unable to parse string as a number"),
    N_("Input should be a valid date or datetime, {why}"),
    N_("Input should be a valid boolean, unable to interpret input"),
)


@functools.cache
def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    regex = "".join(
        f"(?P<{part}>.+?)" if i % 2 else re.escape(part) for i, part in enumerate(parts)
    )
    return re.compile(f"^{regex}$", re.DOTALL)


def translate(message: str) -> str:
    """``message`` from the framework in the current language (unchanged if unknown)."""
    for template in TEMPLATES:
        found = _pattern(template).match(message)
        if found is None:
            continue
        values = found.groupdict()
        if "message" in values:
            values["message"] = translate(values["message"])
        return _(template).format(**values)
    return message


def show(exc: Any, file: IO[str] | None = None) -> None:
    """Print a framework error as ``UsageError.show`` does, in the current language."""
    import typer

    out = file or sys.stderr
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        hint = ""
        if ctx.command.get_help_option(ctx) is not None:
            hint = (
                _("Try '{command} {option}' for help.").format(
                    command=ctx.command_path, option=ctx.help_option_names[0]
                )
                + "\n"
            )
        usage = ctx.get_usage()
        if usage.startswith("Usage: "):
            usage = _(USAGE_PREFIX) + usage[len("Usage: ") :]
        typer.echo(f"{usage}\n{hint}", file=out)
    typer.echo(_("Error: {message}").format(message=translate(exc.format_message())), file=out)


def in_language(exc: BaseException) -> BaseException:
    """Let a framework error show itself in the current language; returns it."""
    if hasattr(exc, "format_message") and hasattr(exc, "show"):
        exc.show = functools.partial(show, exc)  # type: ignore[attr-defined]
    return exc
