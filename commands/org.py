"""resv org: the city and designated managers (their designation periods and officer)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

import typer
from resv_cli.commands._common import FormatOpt, echo_err, work
from resv_cli.commands.render import Format

from resv_cli.core.i18n import N_, _

app = typer.Typer(no_args_is_help=True)


class OrgKind(str, Enum):
    city = "city"
    designated_manager = "designated-manager"


@app.command("add")
def add(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help=N_("Short code, e.g. inzai-fm."))],
    name: Annotated[str, typer.Argument(help=N_("The organisation's name."))],
    kind: Annotated[OrgKind, typer.Option("--kind", help=N_("city or designated-manager."))],
    term_start: Annotated[
        str | None,
        typer.Option("--term-start", help=N_("First day of the designation term (指定期間).")),
    ] = None,
    term_end: Annotated[
        str | None, typer.Option("--term-end", help=N_("Last day of the designation term."))
    ] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Register an organisation (admin); a designated manager needs its term.

    Example: resv org add kita-fm 北総管理 --kind designated-manager --term-start 2026-04-01 \
--term-end 2031-03-31
    """
    from resv_cli.commands.render import render_record

    from resv_cli.accounts.orgs import add_org, show_org
    from resv_cli.core.clock import parse_date

    with work(ctx) as w:
        add_org(
            w.session,
            w.actor,
            code,
            name,
            kind=kind.value,
            term_start=parse_date(term_start, what="--term-start") if term_start else None,
            term_end=parse_date(term_end, what="--term-end") if term_end else None,
        )
        row = show_org(w.session, w.actor, code)
    echo_err(_("Organisation {code} added.").format(code=code))
    render_record(row, fmt)


@app.command("list")
def list_(ctx: typer.Context, fmt: FormatOpt = Format.table) -> None:
    """List organisations with their term and active accounts (admin, monitor).

    A designated manager whose designation term ends within 90 days (or has
    ended) gets a warning: record the renewal with `resv org renew`.

    Example: resv org list --format csv
    """
    from resv_cli.commands.render import render

    from resv_cli.accounts.orgs import list_orgs

    with work(ctx) as w:
        rows = list_orgs(w.session, w.actor)
    render(rows, fmt)
    _warn(*rows)


def _warn(*rows: dict) -> None:
    """An organisation's term warning (ends within 90 days, or ended) on stderr."""
    for row in rows:
        if row.get("warning"):
            echo_err(_("Warning: {warning}").format(warning=row["warning"]))


@app.command("show")
def show(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help=N_("Organisation code."))],
    fmt: FormatOpt = Format.table,
) -> None:
    """Show one organisation: its term, every designation period, security officer, accounts.

    Read by admins and monitors.

    Example: resv org show inzai-fm
    """
    from resv_cli.commands.render import render_record

    from resv_cli.accounts.orgs import show_org

    with work(ctx) as w:
        row = show_org(w.session, w.actor, code)
    render_record(row, fmt)
    _warn(row)


@app.command("update")
def update(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help=N_("Organisation code."))],
    name: Annotated[str | None, typer.Option("--name", help=N_("The organisation's name."))] = None,
    term_start: Annotated[
        str | None,
        typer.Option("--term-start", help=N_("Correct the current period's first day.")),
    ] = None,
    term_end: Annotated[
        str | None,
        typer.Option(
            "--term-end", help=N_("Correct the last day of the current designation period.")
        ),
    ] = None,
    security_officer: Annotated[
        str | None,
        typer.Option(
            "--security-officer",
            help=N_(
                "The information security officer (情報セキュリティ対策責任者): a login ID of "
                "the organisation (preferred), or the person's name."
            ),
        ),
    ] = None,
    officer_from: Annotated[
        str | None,
        typer.Option("--officer-from", help=N_("First day in the post (default today).")),
    ] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Correct an organisation's name or current designation period, or name its officer (admin).

    A new designation period is `resv org renew`, not a correction. Audited as
    org.update (what changed; never a person's name).

    Example: resv org update inzai-fm --security-officer inzai-fm-0001 --officer-from 2026-04-01
    """
    from resv_cli.commands.render import render_record

    from resv_cli.accounts.orgs import update_org

    with work(ctx) as w:
        row = update_org(
            w.session,
            w.actor,
            code,
            name=name,
            term_start=_date(term_start, "--term-start"),
            term_end=_date(term_end, "--term-end"),
            security_officer_=security_officer,
            officer_from=_date(officer_from, "--officer-from"),
        )
    echo_err(_("Organisation {code} updated.").format(code=code))
    render_record(row, fmt)
    if row.get("accounts_valid_after_term"):
        echo_err(
            _("Note: {n} active account(s) of {code} are valid after the term's end.").format(
                n=row["accounts_valid_after_term"], code=code
            )
        )
    _warn(row)


@app.command("renew")
def renew(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help=N_("Organisation code (a designated manager)."))],
    until: Annotated[
        str, typer.Option("--until", help=N_("Last day of the new designation period."))
    ],
    from_: Annotated[
        str | None,
        typer.Option(
            "--from",
            help=N_("First day of the new period (default: the day after the term ends)."),
        ),
    ] = None,
    extend_accounts: Annotated[
        bool,
        typer.Option(
            "--extend-accounts",
            help=N_(
                "Also move the last valid day of active accounts that end with the current "
                "term to --until (each audited)."
            ),
        ),
    ] = False,
    extend_management: Annotated[
        bool,
        typer.Option(
            "--extend-management",
            help=N_(
                "Also let the organisation go on managing the facilities whose management "
                "ends with the current term, to --until (each a new management period, audited)."
            ),
        ),
    ] = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """Record a renewal of a designated manager: a new designation period (指定期間) (admin).

    The previous periods are kept (org show lists them all); audited as org.renew.

    Example: resv org renew inzai-fm --until 2037-03-31 --extend-accounts --extend-management
    """
    from resv_cli.commands.render import render_record

    from resv_cli.accounts.orgs import renew_org

    with work(ctx) as w:
        row = renew_org(
            w.session,
            w.actor,
            code,
            until=_date(until, "--until"),  # type: ignore[arg-type]
            start=_date(from_, "--from"),
            extend_accounts=extend_accounts,
        )
        continued: list[str] = []
        if extend_management and row["previous_term_end"]:
            from resv_cli.facilities.handover import continue_management

            continued = continue_management(
                w.session, w.actor, code, row["previous_term_end"], row["term_end"]
            )
    echo_err(_("Designation of {code} renewed until {day}.").format(code=code, day=row["term_end"]))
    if continued:
        echo_err(
            _("{code} goes on managing {facilities} until {day}.").format(
                code=code, facilities=", ".join(continued), day=row["term_end"]
            )
        )
    render_record(row, fmt)
    if row["accounts_ending_with_previous_term"]:
        echo_err(
            _(
                "Note: {n} active account(s) still end with the previous term: rerun with "
                "--extend-accounts, or grant from the new roster."
            ).format(n=row["accounts_ending_with_previous_term"])
        )


def _date(text: str | None, what: str) -> Any:
    from resv_cli.core.clock import parse_date

    return parse_date(text, what=what) if text else None
