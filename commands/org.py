"""resv org: the city and designated managers (with their designation term)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer
from resv_cli.commands._common import FormatOpt, echo_err, work
from resv_cli.commands.render import Format

app = typer.Typer(no_args_is_help=True)


class OrgKind(str, Enum):
    city = "city"
    designated_manager = "designated-manager"


@app.command("add")
def add(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="Short code, e.g. inzai-fm.")],
    name: Annotated[str, typer.Argument(help="The organisation's name.")],
    kind: Annotated[OrgKind, typer.Option("--kind", help="city or designated-manager.")],
    term_start: Annotated[
        str | None,
        typer.Option("--term-start", help="First day of the designation term (指定期間)."),
    ] = None,
    term_end: Annotated[
        str | None, typer.Option("--term-end", help="Last day of the designation term.")
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
    echo_err(f"Organisation {code} added.")
    render_record(row, fmt)


@app.command("list")
def list_(ctx: typer.Context, fmt: FormatOpt = Format.table) -> None:
    """List organisations with their term and active accounts (admin, monitor).

    Example: resv org list --format csv
    """
    from resv_cli.commands.render import render

    from resv_cli.accounts.orgs import list_orgs

    with work(ctx) as w:
        rows = list_orgs(w.session, w.actor)
    render(rows, fmt)


@app.command("show")
def show(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="Organisation code.")],
    fmt: FormatOpt = Format.table,
) -> None:
    """Show one organisation, its designation term and account counts (admin, monitor).

    Example: resv org show inzai-fm
    """
    from resv_cli.commands.render import render_record

    from resv_cli.accounts.orgs import show_org

    with work(ctx) as w:
        row = show_org(w.session, w.actor, code)
    render_record(row, fmt)
