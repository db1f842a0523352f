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
    format) and records it in the audit history.  Roles: monitor, admin.

    Example: resv report monthly --month 2026-05 --org inzai-fm --output 2026-05.xlsx
    """
    from resv_cli.reports.monthly import MonthlyOptions, write_monthly_report

    options = MonthlyOptions(
        month=month,
        output=output,
        org_code=org,
        facility_codes=list(facility or []),
        lang=lang.value,
        max_rows=max_rows,
    )
    report = None
    try:
        with work(ctx) as w:
            report = write_monthly_report(w.session, w.actor, options)
        path = report.publish()
    except BaseException:
        if report is not None:
            report.discard()
        raise
    rows = ", ".join(f"{k} {v}" for k, v in report.rows.items())
    flags = sum(report.flags.values())
    chain = "intact" if report.chain.ok else f"BROKEN ({report.chain.message})"
    echo_err(f"Wrote {path}: {rows}; {flags} flags; audit chain {chain}.")
    typer.echo(f"{report.sha256}  {path}")
