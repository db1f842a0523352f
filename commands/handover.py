"""resv handover: hand facilities to a designated manager on a day, planned then applied."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from resv_cli.commands._common import FormatOpt, echo_err, work
from resv_cli.commands.render import Format

from resv_cli.core.i18n import N_, _

app = typer.Typer(no_args_is_help=True)

ToOpt = Annotated[str, typer.Option("--to", help=N_("Code of the receiving organisation."))]
FacilityOpt = Annotated[
    list[str], typer.Option("--facility", help=N_("Facility code (repeat for several)."))
]
OnOpt = Annotated[str, typer.Option("--on", help=N_("Handover day: the first day of management."))]
RosterOpt = Annotated[
    Path | None,
    typer.Option(
        "--roster",
        exists=True,
        dir_okay=False,
        help=N_("The manager's staff roster: accounts to grant, valid from the handover day."),
    ),
]


def _print_plan(plan: dict[str, Any], fmt: Format, *, title: str) -> None:
    """The plan as JSON, CSV or (a table) for people; ``title`` is marked ``N_``."""
    import json

    from resv_cli.commands.render import render

    if fmt is Format.json:
        typer.echo(json.dumps(plan, ensure_ascii=False, indent=2))
        return
    if fmt is Format.csv:
        rows = [{"change": "close", **c} for c in plan["periods_closed"]] + [
            {"change": "open", **o} for o in plan["periods_opened"]
        ]
        render(rows, fmt)
        return
    typer.echo(
        _("{title}: {facilities} to {org} on {day}").format(
            title=_(title), facilities=", ".join(plan["facilities"]), org=plan["to"], day=plan["on"]
        )
    )
    typer.echo("\n" + _("Management periods closed:"))
    render(plan["periods_closed"], fmt)
    typer.echo("\n" + _("Management periods opened:"))
    render(plan["periods_opened"], fmt)
    if plan["unchanged"]:
        typer.echo(
            "\n"
            + _("Already managed by {org} on {day}: {facilities}").format(
                org=plan["to"], day=plan["on"], facilities=", ".join(plan["unchanged"])
            )
        )
    for note in plan.get("notes", []):
        typer.echo("\n" + _("Note: {note}").format(note=note))
    if plan["roster"] is not None:
        from resv_cli.accounts.roster import CATEGORIES, LABELS
        from resv_cli.audit.vocabulary import code_label
        from resv_cli.core.i18n import language

        roster = plan["roster"]
        typer.echo("\n" + _("Accounts from the roster (valid from {day}):").format(day=plan["on"]))
        for key in CATEGORIES:
            items = roster.get(key, []) if isinstance(roster, dict) else []
            typer.echo(f"  {code_label('roster_plan', LABELS[key], language())}: {len(items)}")
            for item in items:
                label = item.get("login_id") if isinstance(item, dict) else item
                typer.echo(f"    {label}")
        # places of work outside what the manager will manage: apply refuses the roster
        handed = set(plan["facilities"])
        for problem in roster.get("unmanaged", []) if isinstance(roster, dict) else []:
            if not any(f": {code} is not" in problem for code in handed):
                typer.echo("  " + _("refused at apply: {problem}").format(problem=problem))
    access = plan["access"]
    typer.echo(
        "\n" + _("Access difference on {day} (what each account may view):").format(day=plan["on"])
    )
    lines = {
        "gain": N_(
            "{org} accounts ({n}: {accounts}) gain {facilities}: {registrants} registrants "
            "and {bookings} bookings come into their view"
        ),
        "lose": N_(
            "{org} accounts ({n}: {accounts}) lose {facilities}: {registrants} registrants "
            "and {bookings} bookings leave their view"
        ),
    }
    for side, line in lines.items():
        for entry in access.get(side, []):
            accounts = entry["accounts"]
            text = _(line).format(
                org=entry["organization"],
                n=len(accounts),
                accounts=", ".join(accounts),
                facilities=", ".join(entry["facilities"]),
                registrants=entry["registrants"],
                bookings=entry["bookings"],
            )
            typer.echo(f"  {text}")
    if access.get("accounts_from_roster"):
        new = access["accounts_from_roster"]
        text = _("accounts from the roster ({n}: {accounts}) start from {day}").format(
            n=len(new), accounts=", ".join(new), day=plan["on"]
        )
        typer.echo(f"  {text}")
    if not access.get("gain") and not access.get("lose") and not access.get("accounts_from_roster"):
        typer.echo("  " + _("none"))


@app.command("plan")
def plan(
    ctx: typer.Context,
    to: ToOpt,
    facility: FacilityOpt,
    on: OnOpt,
    roster: RosterOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Show what a handover would change; writes nothing.

    Lists the management periods closed and opened, the accounts the roster would
    grant (valid from the handover day) and which accounts gain and lose which
    facilities, with how many registrants and bookings come into or leave view.

    Example: resv handover plan --to inzai-fm --facility chuo-rojin --on 2017-04-01
    """
    from resv_cli.core.clock import parse_date
    from resv_cli.facilities.handover import plan_handover

    with work(ctx) as w:
        result = plan_handover(
            w.session, w.actor, to, facility, parse_date(on, what="--on"), roster
        )
    _print_plan(result.as_dict(), fmt, title=N_("Handover plan"))


@app.command("apply")
def apply(
    ctx: typer.Context,
    to: ToOpt,
    facility: FacilityOpt,
    on: OnOpt,
    roster: RosterOpt = None,
    credentials_out: Annotated[
        Path | None,
        typer.Option(
            "--credentials-out",
            help=N_(
                "New .xlsx file (created 0600) for the one-time passwords of accounts the "
                "roster grants (the same workbook as account grant writes)."
            ),
        ),
    ] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Carry out a handover in one audited transaction; applying again changes nothing.

    Run it with the same arguments as `resv handover plan`. It may be run before the
    handover day: access switches on that day, with nothing to run at midnight.

    Example: resv handover apply --to inzai-fm --facility chuo-rojin --on 2017-04-01
    """
    from resv_cli.accounts.credentials import check_credentials_path, open_credentials_file
    from resv_cli.audit.recovery import recover_files
    from resv_cli.core.clock import parse_date
    from resv_cli.core.errors import InputError
    from resv_cli.facilities.handover import apply_handover

    if roster is not None and credentials_out is None:
        raise InputError(_("--roster needs --credentials-out FILE for the one-time passwords"))
    check_credentials_path(credentials_out)
    out = None
    try:
        with work(ctx) as w:
            if credentials_out is not None:
                settled = recover_files(w.session, credentials_out.parent)
                for s in settled:
                    echo_err(_("Note: {note}").format(note=s.note))
                # the workbook is complete and its SHA-256 recorded before the commit;
                # it gets its name only after the commit, so it exists iff the accounts do
                if not any(s.published and s.target == credentials_out for s in settled):
                    out = open_credentials_file(credentials_out)
            result = apply_handover(
                w.session, w.actor, to, facility, parse_date(on, what="--on"), roster, out
            )
    except BaseException:
        if out is not None:
            out.discard()
        raise
    if out is not None:
        if result.credentials:
            out.commit(keep_on_failure=True)
        else:
            out.discard()
    if result.credentials:
        echo_err(
            _("{n} one-time passwords written to {file}.").format(
                n=len(result.credentials), file=credentials_out
            )
        )
    title = N_("Handover applied") if result.applied else N_("Nothing to do")
    _print_plan(result.plan, fmt, title=title)
    if not result.applied:
        echo_err(_("Nothing changed: this handover was already applied."))
