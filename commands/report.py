"""resv report: the monthly monitoring report for the city's inspection."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from resv_cli.commands._common import echo_err, work

from resv_cli.core.i18n import N_, NC_, _, pgettext

app = typer.Typer(no_args_is_help=True)


class Lang(str, Enum):
    ja = "ja"
    en = "en"


class Era(str, Enum):
    japanese = "japanese"
    western = "western"


# the report.export event's "rows" keys, as the summary line names them
ROWS_CONTEXT = "report rows"
SHEET_ROWS = (
    NC_("report rows", "accounts"),
    NC_("report rows", "activity"),
    NC_("report rows", "refused"),
    NC_("report rows", "duplicate_checks"),
    NC_("report rows", "imports_exports"),
    NC_("report rows", "flags"),
)


@app.command("monthly")
def monthly(
    ctx: typer.Context,
    month: Annotated[str, typer.Option("--month", help=N_("The month, YYYY-MM (Japan time)."))],
    output: Annotated[
        Path, typer.Option("--output", "-o", help=N_("The .xlsx file to write (mode 0600)."))
    ],
    force: Annotated[
        bool, typer.Option("--force", help=N_("Replace an existing report of that name."))
    ] = False,
    org: Annotated[
        str | None,
        typer.Option("--org", help=N_("Organisation code (default: every organisation).")),
    ] = None,
    facility: Annotated[
        list[str] | None,
        typer.Option("--facility", help=N_("Only these facility codes (repeatable).")),
    ] = None,
    lang: Annotated[
        Lang, typer.Option("--lang", help=N_("Headings and codes: ja (labels) or en (codes)."))
    ] = Lang.ja,
    era: Annotated[
        Era | None,
        typer.Option(
            "--era",
            help=N_(
                "Dates in the Japanese era (令和8年5月3日) or western (2026-05-03); "
                "default: japanese for --lang ja, western for en."
            ),
        ),
    ] = None,
    max_rows: Annotated[
        int,
        typer.Option(
            "--max-rows",
            hidden=True,
            min=2,
            max=1_048_576,
            help=N_("Rows per activity sheet before splitting (Excel's limit)."),
        ),
    ] = 1_048_576,
) -> None:
    """Write the monthly monitoring report (月次モニタリング報告) as an xlsx workbook.

    Sheets: summary with the audit chain head, its verification and a sign-off
    box, an hour x day heat map, accounts, activity, refusals by account and
    facility (bar charts), refused attempts, duplicate-check searches, imports and
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
        era=era.value if era is not None else None,
        max_rows=max_rows,
        overwrite=force,
    )
    report = None
    try:
        with work(ctx) as w:
            settled = recover_files(w.session, output.parent)
            for s in settled:
                echo_err(_("Note: {note}").format(note=s.note))
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
    sep = pgettext("list separator", ", ")
    rows = sep.join(f"{pgettext(ROWS_CONTEXT, k)} {v}" for k, v in report.rows.items())
    flags = sum(report.flags.values())
    chain = (
        _("intact")
        if report.chain.ok
        else _("BROKEN ({message})").format(message=report.chain.message)
    )
    echo_err(
        _("Wrote {path}: {rows}; {flags} flags; audit chain {chain}.").format(
            path=path, rows=rows, flags=flags, chain=chain
        )
    )
    typer.echo(f"{report.sha256}  {path}")
