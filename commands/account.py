"""resv account: grant, list, show, revoke, reset, unlock, roster import, own password."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from resv_cli.commands._common import (
    FormatOpt,
    PasswordStdinOpt,
    echo_err,
    prompt_new_password,
    read_stdin_lines,
    work,
)
from resv_cli.commands.render import Format

from resv_cli.core.i18n import N_, _

if TYPE_CHECKING:
    from resv_cli.accounts.lifecycle import IssuedCredential
    from resv_cli.core.files import PrivateFile

app = typer.Typer(no_args_is_help=True)


class Role(str, Enum):
    admin = "admin"
    monitor = "monitor"
    operator = "operator"


CredentialsOutOpt = Annotated[
    Path | None,
    typer.Option(
        "--credentials-out",
        help=N_(
            "Write login IDs and one-time passwords to this new xlsx file (mode 0600) "
            "instead of the terminal."
        ),
    ),
]


def _date(value: str | None, what: str) -> Any:
    from resv_cli.core.clock import parse_date

    return parse_date(value, what=what) if value else None


def _deliver(creds: list[IssuedCredential], out: Path | None, fmt: Format) -> None:
    """Show the one-time passwords once (stdout), or say where the file is."""
    from resv_cli.commands.render import render

    if out is not None:
        _written(len(creds), out)
        return
    render(
        [
            {
                "login_id": c.login_id,
                "one_time_password": c.one_time_password,
                "expires_at": c.expires_at,
            }
            for c in creds
        ],
        fmt,
    )
    echo_err(_("Shown once: hand it over in person; it must be changed at first login (72 h)."))


def _written(n: int, out: Path | None) -> None:
    echo_err(_("{n} one-time password(s) written to {file} (mode 0600).").format(n=n, file=out))


def list_problems(exc: BaseException) -> None:
    """Print every bad row on stderr; the boundary then prints the first as the error."""
    problems = getattr(exc, "problems", None) or []
    if len(problems) > 1:
        for line in problems:
            echo_err(f"  {line}")


def _check_out(out: Path | None) -> None:
    from resv_cli.accounts.credentials import check_credentials_path

    check_credentials_path(out)


def _open_out(out: Path | None) -> PrivateFile | None:
    """Reserve the credentials workbook's temporary file before any work (or None)."""
    if out is None:
        return None
    from resv_cli.accounts.credentials import open_credentials_file

    return open_credentials_file(out)


def _file_out(w: Any, out: PrivateFile | None, creds: list[IssuedCredential]) -> None:
    """Finish earlier interrupted workbooks, then fill and record this one (in the transaction)."""
    if out is None or not creds:
        return
    from resv_cli.accounts.credentials import file_credentials
    from resv_cli.audit.recovery import recover_files

    for settled in recover_files(w.session, out.target.parent):
        echo_err(_("Note: {note}").format(note=settled.note))
    file_credentials(w.session, w.actor, out, creds)


def _publish(out: PrivateFile | None, creds: list[IssuedCredential]) -> None:
    """After the commit: give the workbook its name (or drop an unused reservation)."""
    if out is None:
        return
    if creds and out.sha256 is not None:
        out.commit(keep_on_failure=True)
    else:
        out.discard()


@app.command("grant")
def grant(
    ctx: typer.Context,
    login_id: Annotated[str, typer.Argument(help=N_("The new login ID (never reused)."))],
    name: Annotated[str, typer.Option("--name", help=N_("The person's name (氏名)."))],
    org: Annotated[str, typer.Option("--org", help=N_("Organisation code."))],
    role: Annotated[Role, typer.Option("--role", help=N_("admin, monitor or operator."))],
    facility: Annotated[
        list[str] | None,
        typer.Option(
            "--facility",
            help=N_(
                "Place of work (所属施設), a facility code (repeatable); an operator acts "
                "only at its places of work."
            ),
        ),
    ] = None,
    valid_from: Annotated[
        str | None, typer.Option("--valid-from", help=N_("First day the account may log in."))
    ] = None,
    valid_until: Annotated[
        str | None,
        typer.Option(
            "--valid-until", help=N_("Last day; default the end of the organisation's term.")
        ),
    ] = None,
    all_managed: Annotated[
        bool,
        typer.Option(
            "--all-managed-facilities",
            help=N_(
                "Operator may act at every facility its organisation manages, not only its "
                "places of work (an explicit, audited grant)."
            ),
        ),
    ] = False,
    credentials_out: CredentialsOutOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Grant one person an account with a random one-time password (admin).

    The one-time password (160 bits) is shown once, or written to --credentials-out;
    it expires after 72 hours and must be replaced at first login.

    Example: resv account grant it-suzuki --name "鈴木 花子" --org inzai --role monitor
    """
    from resv_cli.accounts.lifecycle import grant_account

    _check_out(credentials_out)
    out = _open_out(credentials_out)
    try:
        with work(ctx) as w:
            cred = grant_account(
                w.session,
                w.actor,
                login_id,
                name=name,
                org_code=org,
                role=role.value,
                facility_code=facility or None,
                valid_from=_date(valid_from, "--valid-from"),
                valid_until=_date(valid_until, "--valid-until"),
                all_managed_facilities=all_managed,
            )
            _file_out(w, out, [cred])
    except BaseException:
        if out is not None:
            out.discard()
        raise
    _publish(out, [cred])
    echo_err(_("Account {login_id} granted.").format(login_id=cred.login_id))
    _deliver([cred], credentials_out, fmt)


@app.command("update")
def update(
    ctx: typer.Context,
    login_id: Annotated[str, typer.Argument(help=N_("Login ID."))],
    facility: Annotated[
        list[str] | None,
        typer.Option(
            "--facility",
            help=N_("The places of work (所属施設), replacing the old (repeatable)."),
        ),
    ] = None,
    no_facility: Annotated[
        bool, typer.Option("--no-facility", help=N_("Remove every place of work."))
    ] = False,
    all_managed: Annotated[
        bool | None,
        typer.Option(
            "--all-managed-facilities/--places-of-work-only",
            help=N_("Grant, or withdraw, access to every facility the organisation manages."),
        ),
    ] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Change an account's places of work or its organisation-wide grant (admin).

    Example: resv account update inzai-fm-0001 --facility chuo-rojin --facility honme-rojin
    """
    from resv_cli.commands.render import render_record

    from resv_cli.accounts.lifecycle import update_account
    from resv_cli.core.errors import InputError

    if facility and no_facility:
        raise InputError(_("--facility and --no-facility contradict each other"))
    codes = [] if no_facility else (facility or None)
    with work(ctx) as w:
        out = update_account(
            w.session, w.actor, login_id, facility_codes=codes, all_managed_facilities=all_managed
        )
    done = (
        _("Account {login_id} updated.")
        if out.pop("changed")
        else _("Account {login_id} unchanged.")
    )
    echo_err(done.format(login_id=out["login_id"]))
    out["facilities"] = ", ".join(out["facilities"]) if fmt == Format.table else out["facilities"]
    render_record(out, fmt)


@app.command("list")
def list_(
    ctx: typer.Context,
    org: Annotated[str | None, typer.Option("--org", help=N_("One organisation only."))] = None,
    status: Annotated[
        str | None,
        typer.Option(
            "--status", help=N_("active, disabled, revoked, locked, expired or one-time.")
        ),
    ] = None,
    dormant: Annotated[
        int | None,
        typer.Option("--dormant", help=N_("Only active accounts with no login for DAYS days.")),
    ] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """List accounts with their state (admin, monitor); never shows a password hash.

    Example: resv account list --org inzai-fm --status active
    """
    from resv_cli.commands.render import render

    from resv_cli.accounts.lifecycle import list_accounts

    with work(ctx) as w:
        rows = list_accounts(w.session, w.actor, org_code=org, status=status, dormant_days=dormant)
    render(rows, fmt)


@app.command("show")
def show(
    ctx: typer.Context,
    login_id: Annotated[str, typer.Argument(help=N_("Login ID."))],
    fmt: FormatOpt = Format.table,
) -> None:
    """Show one account in full (admin, monitor, or your own); never its hash.

    Example: resv account show inzai-fm-0001
    """
    from resv_cli.commands.render import render_record

    from resv_cli.accounts.lifecycle import show_account

    with work(ctx) as w:
        row = show_account(w.session, w.actor, login_id)
    render_record(row, fmt)


@app.command("revoke")
def revoke(
    ctx: typer.Context,
    login_id: Annotated[str, typer.Argument(help=N_("Login ID."))],
    reason: Annotated[
        str | None, typer.Option("--reason", help=N_("Why (kept on the account)."))
    ] = None,
) -> None:
    """Disable an account at once and end its sessions (admin); it is kept, not deleted.

    Example: resv account revoke inzai-fm-0003 --reason "left the company"
    """
    from resv_cli.accounts.lifecycle import revoke_account

    with work(ctx) as w:
        result = revoke_account(w.session, w.actor, login_id, reason)
    echo_err(
        _("Account {login_id} revoked; {n} session(s) ended.").format(
            login_id=result["login_id"], n=result["sessions_ended"]
        )
    )


@app.command("reset-password")
def reset_password(
    ctx: typer.Context,
    login_id: Annotated[str, typer.Argument(help=N_("Login ID."))],
    credentials_out: CredentialsOutOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Issue a new one-time password, lift a lock and end every session (admin).

    Example: resv account reset-password inzai-fm-0002 --credentials-out reset.xlsx
    """
    from resv_cli.accounts.lifecycle import reset_password as do_reset

    _check_out(credentials_out)
    out = _open_out(credentials_out)
    try:
        with work(ctx) as w:
            cred = do_reset(w.session, w.actor, login_id)
            _file_out(w, out, [cred])
    except BaseException:
        if out is not None:
            out.discard()
        raise
    _publish(out, [cred])
    echo_err(
        _("New one-time password issued for {login_id}; its sessions were ended.").format(
            login_id=cred.login_id
        )
    )
    _deliver([cred], credentials_out, fmt)


@app.command("unlock")
def unlock(
    ctx: typer.Context,
    login_id: Annotated[str, typer.Argument(help=N_("Login ID."))],
) -> None:
    """Lift a lockout after failed logins and reset its counters (admin).

    Example: resv account unlock inzai-fm-0002
    """
    from resv_cli.accounts.lifecycle import unlock_account

    with work(ctx) as w:
        result = unlock_account(w.session, w.actor, login_id)
    done = (
        _("Account {login_id} unlocked (was locked).")
        if result["was_locked"]
        else _("Account {login_id} unlocked (was not locked).")
    )
    echo_err(done.format(login_id=result["login_id"]))


@app.command("disable-dormant")
def disable_dormant(
    ctx: typer.Context,
    days: Annotated[int, typer.Option("--days", help=N_("No login for this many days."))],
    dry_run: Annotated[bool, typer.Option("--dry-run", help=N_("List only."))] = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """Disable active accounts that have not logged in for N days (admin; never your own).

    Example: resv account disable-dormant --days 90 --dry-run
    """
    from resv_cli.commands.render import render

    from resv_cli.accounts.lifecycle import disable_dormant as do_disable

    with work(ctx) as w:
        rows = do_disable(w.session, w.actor, days, dry_run=dry_run)
    if dry_run:
        done = _("{n} account(s) would be disabled (dry run).")
    else:
        done = _("{n} account(s) disabled.")
    echo_err(done.format(n=len(rows)))
    render(rows, fmt, columns=["login_id", "last_login_at", "status"])


@app.command("passwd")
def passwd(ctx: typer.Context, password_stdin: PasswordStdinOpt = False) -> None:
    """Change your own password; your other sessions are ended.

    On a terminal it asks for the current password and the new one twice. With
    --password-stdin the first line is the current password, the second the new one.

    Example: printf '%s\\n%s\\n' "$OLD" "$NEW" | resv account passwd --password-stdin
    """
    from resv_cli.accounts.lifecycle import change_own_password
    from resv_cli.core.errors import InputError

    with work(ctx) as w:
        actor, engine = w.actor, w.engine
    assert actor is not None
    if password_stdin:
        lines = read_stdin_lines(2)
        if len(lines) < 2 or not lines[0] or not lines[1]:
            raise InputError(
                _("--password-stdin needs two lines: the current password, then the new one")
            )
        current, new = lines
    else:
        if not sys.stdin.isatty():
            raise InputError(_("no terminal to ask on: use --password-stdin"))
        current = str(typer.prompt(_("Current password"), hide_input=True, err=True))
        new = prompt_new_password()
    ended = change_own_password(engine, actor, current, new)
    echo_err(_("Password changed; {n} other session(s) ended.").format(n=ended))


@app.command("import-roster")
def import_roster(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help=N_("The roster: xlsx or CSV (cp932 or UTF-8)."))],
    org: Annotated[str, typer.Option("--org", help=N_("The organisation whose roster it is."))],
    credentials_out: CredentialsOutOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help=N_("Print the plan and change nothing."))
    ] = False,
    valid_from: Annotated[
        str | None, typer.Option("--valid-from", help=N_("First day new accounts may log in."))
    ] = None,
    re_grant: Annotated[
        list[str] | None,
        typer.Option(
            "--re-grant",
            help=N_(
                "Login ID of a revoked person on the roster to re-grant (repeat for several); "
                "without it a revoked account stays revoked."
            ),
        ),
    ] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Grant, update and disable a manager's staff from its roster (利用者名簿), in one go (admin).

    Reads the roster as managers send it (a title block above the header row,
    blank rows, a closing 以上 or 合計 row; 所属施設 by code or name, several
    separated by 、 , ・ / or ／). Every 所属施設 must be a facility the
    organisation manages on --valid-from (else today). Prints the plan (to create,
    update, re-enable, disable because the person left the roster, revoked: not
    re-granted, unchanged) and applies it in one transaction. New accounts get IDs
    <org>-NNNN and one-time passwords, written to --credentials-out (mode 0600).
    Re-importing the same roster changes nothing.

    Example: resv account import-roster roster.csv --org inzai-fm --credentials-out new.xlsx
    """
    from resv_cli.accounts.roster import apply_roster, plan_roster_file
    from resv_cli.core.errors import InputError

    _check_out(credentials_out)
    creds: list[IssuedCredential] = []
    out = None if dry_run else _open_out(credentials_out)
    try:
        with work(ctx) as w:
            plan = plan_roster_file(
                w.session,
                w.actor,
                file,
                org,
                valid_from=_date(valid_from, "--valid-from"),
                re_grant=re_grant or (),
            )
            _print_plan(plan, fmt)
            issues = len(plan.to_create) + len(plan.to_enable)
            if not dry_run and issues and credentials_out is None:
                raise InputError(
                    _(
                        "{n} account(s) would get one-time passwords: give "
                        "--credentials-out FILE.xlsx (nothing was changed)"
                    ).format(n=issues)
                )
            if not dry_run:
                creds = apply_roster(w.session, w.actor, plan)
                _file_out(w, out, creds)
    except BaseException as exc:
        if out is not None:
            out.discard()
        list_problems(exc)
        raise
    _publish(out, creds)
    if dry_run:
        echo_err(_("Dry run: nothing was changed."))
    elif not plan.changes_anything:
        echo_err(_("Nothing to change: the roster matches the accounts."))
    else:
        done = {
            "to_create": N_("{n} created"),
            "to_update": N_("{n} updated"),
            "to_enable": N_("{n} re-enabled"),
            "to_disable": N_("{n} disabled"),
            "revoked": N_("{n} revoked: not re-granted"),
            "unchanged": N_("{n} unchanged"),
        }
        counts = _(", ").join(
            _(done[k]).format(n=v) for k, v in plan.summary().items() if v or k != "revoked"
        )
        echo_err(_("Applied: {counts}.").format(counts=counts))
        if creds:
            _written(len(creds), credentials_out)


def _print_plan(plan: Any, fmt: Format) -> None:
    import json

    from resv_cli.commands.render import render

    if fmt is Format.json:
        sys.stdout.write(json.dumps(plan.as_dict(), ensure_ascii=False, indent=2) + "\n")
        return
    from resv_cli.accounts.roster import CATEGORIES, LABELS

    rows = []
    for action in CATEGORIES:
        for item in getattr(plan, action):
            d = item.as_dict()
            rows.append(
                {
                    "action": LABELS[action],
                    "row": d["row"],
                    "login_id": d["login_id"],
                    "name": d["name"],
                    "facility": ", ".join(d["facilities"]) or d["facility"],
                    "employment": d["employment_type"],
                    "role": d["role"],
                    "changes": "; ".join(d["changes"]),
                }
            )
    render(rows, fmt, codes={"action": "roster_plan"})
    from resv_cli.audit.vocabulary import code_label
    from resv_cli.core.i18n import language

    counts = _(", ").join(
        _("{n} {label}").format(n=v, label=code_label("roster_plan", LABELS[k], language()))
        for k, v in plan.summary().items()
        if v or k != "revoked"
    )
    echo_err(_("Plan for {org}: {counts}").format(org=plan.organization_code, counts=counts))


@app.command("policy")
def policy(
    ctx: typer.Context,
    min_length: Annotated[
        int | None,
        typer.Option(
            "--min-length", help=N_("Set the minimum password length (8-64; default 15).")
        ),
    ] = None,
    min_score: Annotated[
        int | None,
        typer.Option(
            "--min-score",
            help=N_("Set the lowest zxcvbn strength a new password may have (2-4; default 3)."),
        ),
    ] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Show the password policy, or set its minimum length or strength (admin).

    Example: resv account policy --min-length 12 --min-score 4
    """
    from resv_cli.commands.render import render_record

    from resv_cli.accounts.lifecycle import password_policy

    with work(ctx) as w:
        row = password_policy(w.session, w.actor, min_length, min_score)
    render_record(row, fmt)
