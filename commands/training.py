"""resv training: privacy/security training records (研修記録)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from resv_cli.commands._common import FormatOpt, echo_err, work
from resv_cli.commands.render import Format

from resv_cli.core.i18n import N_, _

app = typer.Typer(no_args_is_help=True)


@app.command("record")
def record(
    ctx: typer.Context,
    login_id: Annotated[str, typer.Argument(help=N_("Whose training."))],
    course: Annotated[str, typer.Option("--course", help=N_("Course name."))],
    on: Annotated[
        str, typer.Option("--on", help=N_("Day completed (2017-04-01 or 和暦 H29.4.1)."))
    ],
    fmt: FormatOpt = Format.table,
) -> None:
    """Record that a person completed a training course (admin).

    Example: resv training record inzai-fm-0001 --course 個人情報保護研修 --on 2026-04-10
    """
    from resv_cli.commands.render import render_record

    from resv_cli.accounts.training import record_training
    from resv_cli.core.clock import parse_date

    with work(ctx) as w:
        row = record_training(w.session, w.actor, login_id, course, parse_date(on, what="--on"))
    render_record(row, fmt)


@app.command("list")
def list_(
    ctx: typer.Context,
    login_id: Annotated[str | None, typer.Option("--login", help=N_("One person only."))] = None,
    org: Annotated[str | None, typer.Option("--org", help=N_("One organisation only."))] = None,
    since: Annotated[str | None, typer.Option("--since", help=N_("Completed on or after."))] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """List training records, newest first (admin, monitor).

    Example: resv training list --org inzai-fm --since 2026-04-01
    """
    from resv_cli.commands.render import render

    from resv_cli.accounts.training import list_training
    from resv_cli.core.clock import parse_date

    with work(ctx) as w:
        rows = list_training(
            w.session,
            w.actor,
            login_id=login_id,
            org_code=org,
            since=parse_date(since, what="--since") if since else None,
        )
    render(rows, fmt, columns=["login_id", "organization", "course", "completed_on"])


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help=N_("xlsx or CSV with ログインID, 研修名, 受講日."))],
    dry_run: Annotated[bool, typer.Option("--dry-run", help=N_("Check and count only."))] = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """Import training records from a sheet, all or nothing; re-import adds nothing (admin).

    Example: resv training import training-2026.xlsx --dry-run
    """
    from resv_cli.commands.account import list_problems
    from resv_cli.commands.render import render_record

    from resv_cli.accounts.training import import_training

    try:
        with work(ctx) as w:
            counts = import_training(w.session, w.actor, file, dry_run=dry_run)
    except Exception as exc:
        list_problems(exc)
        raise
    if dry_run:
        echo_err(_("Dry run: nothing was recorded."))
    render_record(counts, fmt)
