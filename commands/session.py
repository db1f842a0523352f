"""resv login / logout / whoami."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from resv_cli.commands._common import (
    FormatOpt,
    PasswordStdinOpt,
    echo_err,
    prompt_new_password,
    read_stdin_lines,
    state,
    work,
)
from resv_cli.commands.render import Format

from resv_cli.core.i18n import N_, _


def login(
    ctx: typer.Context,
    login_id: Annotated[
        str | None, typer.Argument(help=N_("Your login ID (asked if omitted)."))
    ] = None,
    password_stdin: PasswordStdinOpt = False,
) -> None:
    """Log in and keep a session token in a user-only file.

    With --password-stdin the first line of standard input is the password and,
    at first login with a one-time password, the second line is the new password.

    Example: printf '%s\\n' "$PW" | resv login it-tanaka --password-stdin
    """
    from resv_cli.accounts.sessions import PasswordChangeRequired, save_token
    from resv_cli.accounts.sessions import login as do_login
    from resv_cli.core import clock
    from resv_cli.core.db import require_initialised
    from resv_cli.core.errors import InputError

    st = state(ctx)
    engine = st.engine()
    require_initialised(engine)
    new_password: str | None = None
    if password_stdin:
        lines = read_stdin_lines(2)
        if not lines or not lines[0]:
            raise InputError(_("--password-stdin: standard input has no password line"))
        password = lines[0]
        new_password = lines[1] if len(lines) > 1 and lines[1] else None
        if login_id is None:
            raise InputError(_("give the login ID as an argument with --password-stdin"))
    else:
        if login_id is None:
            login_id = str(typer.prompt(_("Login ID"), err=True))
        password = str(typer.prompt(_("Password"), hide_input=True, err=True))
    try:
        result = do_login(engine, login_id, password, new_password)
    except PasswordChangeRequired:
        if password_stdin or not sys.stdin.isatty():
            raise
        echo_err(_("This is a one-time password: choose your own password now."))
        new_password = prompt_new_password()
        result = do_login(engine, login_id, password, new_password)
    save_token(st.url, result.token)
    if result.password_changed:
        echo_err(_("Password set."))
    from resv_cli.audit.vocabulary import code_label
    from resv_cli.core.i18n import language

    echo_err(
        _("Logged in as {login_id} ({role}, {org}) until {until}.").format(
            login_id=result.actor.login_id,
            role=code_label("role", result.actor.role, language()),
            org=result.actor.organization_code,
            until=clock.shown(result.expires_at),
        )
    )


def logout(ctx: typer.Context) -> None:
    """End your session on this database and forget its token.

    Example: resv logout
    """
    from resv_cli.accounts.sessions import forget_token
    from resv_cli.accounts.sessions import logout as do_logout
    from resv_cli.core.errors import NotLoggedIn, SessionExpired

    st = state(ctx)
    try:
        with work(ctx) as w:
            assert w.actor is not None
            do_logout(w.session, w.actor)
    except (NotLoggedIn, SessionExpired):
        forget_token(st.url)
        echo_err(_("Not logged in."))
        return
    forget_token(st.url)
    echo_err(_("Logged out."))


def whoami(ctx: typer.Context, fmt: FormatOpt = Format.table) -> None:
    """Show who you are logged in as on this database.

    Example: resv whoami --format json
    """
    from resv_cli.commands.render import render_record

    from resv_cli.accounts.sessions import whoami as do_whoami

    with work(ctx) as w:
        assert w.logged_in is not None
        info = do_whoami(w.logged_in)  # from the session check: no ORM, no further query
    render_record(info, fmt)
