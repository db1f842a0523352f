"""resv report: the monthly monitoring report for the city's inspection."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from resv_cli.commands._common import echo_err, work

app = typer.Typer(no_args_is_help=True)


class Lang(str, Enum):
    ja = "ja"
    en = "en"


@app.command("monthly")
def monthly(
    ctx: typer.Context,
    month: Annotated[str, typer.Option("--month", help="The month, YYYY-MM (Japan time).")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The .xlsx file to write (mode 0600).")
    ],
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing report of that name.")
    ] = False,
    org: Annotated[
        str | None,
        typer.Option("--org", help="Organisation code (default: every organisation)."),
    ] = None,
    facility: Annotated[
        list[str] | None,
        typer.Option("--facility", help="Only these facility codes (repeatable)."),
    ] = None,
    lang: Annotated[Lang, typer.Option("--lang", help="Headings: ja or en.")] = Lang.ja,
    max_rows: Annotated[
        int,
        typer.Option(
            "--max-rows",
            hidden=True,
            min=2,
            max=1_048_576,
            help="Rows per activity sheet before splitting (Excel's limit).",
        ),
    ] = 1_048_576,
) -> None:
    """Write the monthly monitoring report (月次モニタリング報告) as an xlsx workbook.

    Sheets: summary with the audit chain head and its verification and a daily chart,
    accounts, activity, refused attempts, duplicate-check searches, imports and
    exports, and flags for the reviewer.  Prints the file's SHA-256 (sha256sum
    format) and records it in the audit history.  An existing file is refused
    unless --force.  The file appears only once its export is recorded; a run
    killed in between is finished by the next run into the same directory.
    Roles: monitor, admin.

    Example: resv report monthly --month 2026-05 --org inzai-fm --output 2026-05.xlsx
    """
    from resv_cli.audit.recovery import recover_files
    from resv_cli.reports.monthly import MonthlyOptions, write_monthly_report

    options = MonthlyOptions(
        month=month,
        output=output,
        org_code=org,
        facility_codes=list(facility or []),
        lang=lang.value,
        max_rows=max_rows,
        overwrite=force,
    )
    report = None
    try:
        with work(ctx) as w:
            settled = recover_files(w.session, output.parent)
            for s in settled:
                echo_err(f"Note: {s.note}")
            if not force and any(s.published and s.target == output for s in settled):
                # the interrupted run's report, as its export recorded it (--force: a new one)
                from resv_cli.core.files import file_sha256

                typer.echo(f"{file_sha256(output)}  {output}")
                return
            report = write_monthly_report(w.session, w.actor, options)
    except BaseException:
        # not committed: no export is recorded, so no file may appear
        if report is not None:
            report.discard()
        raise
    path = report.publish()
    rows = ", ".join(f"{k} {v}" for k, v in report.rows.items())
    flags = sum(report.flags.values())
    chain = "intact" if report.chain.ok else f"BROKEN ({report.chain.message})"
    echo_err(f"Wrote {path}: {rows}; {flags} flags; audit chain {chain}.")
    typer.echo(f"{report.sha256}  {path}")
