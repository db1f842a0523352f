"""The monthly monitoring report (月次モニタリング報告): an auditor's xlsx pack.

``write_monthly_report`` reads the month's data straight from the tables and writes a
workbook with openpyxl in write-only mode (constant memory; the audit history is
streamed with a server-side cursor on PostgreSQL).  Sheets, in order:

1. cover: the month (令和8年5月分), a sign-off box, period, organisation,
   facilities, each designated manager's designation term and information security
   officer, who generated it and when, the audit chain head and the result of
   verifying it, counts per kind of event and flags raised;
2. activity by hour: the hour x day heat map of the month (the daily table);
3. accounts of the organisation;
4. activity: every event of the month in scope (split over sheets past the row
   limit);
5. refusals by account and by facility, with bar charts; 6. refused attempts;
7. duplicate-check searches; 8. imports and exports;
9. flags, each with blank columns for the reviewer (確認結果 a drop-down).

In Japanese (``--lang ja``, the default) every code is shown as the audit
vocabulary labels it and days are written in the Japanese era (``--era japanese``,
the default for Japanese; ``--era western`` keeps 2026-05-03); English keeps the
codes.  Every cell is set in one Japanese font (``fonts``) and laid out to print
whole on A4.

This module is the orchestrator: it checks the request, resolves the scope
(``scope.py``), builds the context (``context.py``, data from ``data.py``), lets
each sheet of ``sheets.SHEETS`` write itself, saves the file and records the audit
event.  Scope: with ``--org`` the events of that organisation's accounts plus every
event at a facility it managed during the month (child rooms included); with
``--facility`` the events at those facilities plus the facility-less events
(logins) of the accounts working there; with neither, everything.

Times are shown in Japan time (the city's clock); the month is a JST calendar month.
No registrant's address, phone, emergency contact or date of birth is ever read: a
registrant appears as internal ID plus a masked name (first character + ○○).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resv_cli.access.enforce import require_monitoring
from resv_cli.audit import chain as audit
from resv_cli.audit.vocabulary import A
from resv_cli.core import clock
from resv_cli.core.errors import InputError
from resv_cli.core.files import PrivateFile
from resv_cli.core.i18n import _
from resv_cli.reports.chain import ChainStatus, chain_status
from resv_cli.reports.context import ReportContext
from resv_cli.reports.labels import LANGS
from resv_cli.reports.scope import parse_month, resolve_scope
from resv_cli.reports.sheets import SHEETS, Page, Table
from resv_cli.reports.xlsx import EXCEL_MAX_ROWS, Column, TableSheet

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from resv_cli.core.context import Actor

__all__ = [
    "MonthlyOptions",
    "MonthlyReport",
    "parse_month",
    "write_monthly_report",
]

ACTION = A.REPORT_EXPORT
ERAS = ("japanese", "western")


@dataclass
class MonthlyOptions:
    month: str
    output: Path
    org_code: str | None = None
    facility_codes: list[str] = field(default_factory=list)
    lang: str = "ja"
    era: str | None = None  # japanese (default for ja) or western (default for en)
    max_rows: int = EXCEL_MAX_ROWS  # a parameter so tests can split at a few rows
    overwrite: bool = False  # --force: replace an existing report


@dataclass
class MonthlyReport:
    path: Path
    file: PrivateFile
    sha256: str
    rows: dict[str, int]
    flags: dict[str, int]
    chain: ChainStatus
    audit_seq: int

    @property
    def temp_path(self) -> Path:
        return self.file.temp

    def publish(self) -> Path:
        """Rename the finished temporary file to its name (after the commit).

        If that fails the file is kept (its export is recorded) and named.
        """
        return self.file.commit(keep_on_failure=True)

    def discard(self) -> None:
        self.file.discard()


def write_monthly_report(
    session: Session, actor: Actor | None, options: MonthlyOptions
) -> MonthlyReport:
    """Write the month's report to a 0600 temporary file beside ``options.output``.

    The file is complete and synced before ``report.export`` (month, organisation,
    SHA-256, row counts) is recorded in the session's transaction; the caller
    publishes it after committing (discards it if the commit fails), so the file
    exists exactly when its export is recorded.  An existing report is refused
    unless ``options.overwrite``.
    """
    grant = require_monitoring(actor, clock.today(), audit_action=ACTION)
    actor = grant.actor
    first, nxt = parse_month(options.month)
    if options.lang not in LANGS:
        raise InputError(
            _("--lang must be one of {choices}, got {value!r}").format(
                choices=", ".join(LANGS), value=options.lang
            )
        )
    if options.era is not None and options.era not in ERAS:
        raise InputError(
            _("--era must be one of {choices}, got {value!r}").format(
                choices=", ".join(ERAS), value=options.era
            )
        )
    output = Path(options.output)
    if output.suffix.lower() != ".xlsx":
        raise InputError(
            _("--output must name an .xlsx file, got {path!r}").format(path=str(output))
        )
    if not output.parent.is_dir():
        raise InputError(
            _("--output: directory {path!r} does not exist").format(path=str(output.parent))
        )
    if output.is_dir():
        raise InputError(_("--output: {path!r} is a directory").format(path=str(output)))
    scope = resolve_scope(session, actor, options, first, nxt)
    from resv_cli.reports.xlsx import reserve_private

    temp = reserve_private(output, overwrite=options.overwrite)
    try:
        chain = chain_status(session)
        ctx = ReportContext(session, grant, options, scope, first, nxt, chain)
        return _run(ctx, output, temp)
    except BaseException:
        temp.discard()
        raise


def _run(ctx: ReportContext, output: Path, temp: PrivateFile) -> MonthlyReport:
    from openpyxl import Workbook

    from resv_cli.reports.xlsx import make_styles, save_private

    L = ctx.L
    wb = Workbook(write_only=True)
    ctx.styles = make_styles(wb)
    # every sheet is created first, in workbook order (a table writes its header now)
    tables: list[tuple[Table, TableSheet]] = []
    pages: list[tuple[Page, Any]] = []
    for sheet in SHEETS:
        if isinstance(sheet, Table):
            columns = [
                Column(
                    L(c.key),
                    c.width,
                    numeric=c.numeric,
                    wrap=c.wrap,
                    choices=tuple(L(k) for k in c.choices),
                    prompt=L("finding.prompt") if c.choices else "",
                )
                for c in sheet.columns
            ]
            max_rows = ctx.options.max_rows if sheet.split else EXCEL_MAX_ROWS
            table = TableSheet(
                wb, L(sheet.key), columns, ctx.styles, max_rows=max_rows, era_dates=ctx.era_dates
            )
            tables.append((sheet, table))
        else:
            pages.append((sheet, wb.create_sheet(L(sheet.key))))
    for sheet, table in tables:
        table.extend(sheet.rows(ctx))
    rows = {sheet.counted_as: table.rows_written for sheet, table in tables}
    # pages summarise the tables, so they come last
    for page, ws in pages:
        page.write(ctx, ws)
    for _sheet, table in tables:
        table.close()
    digest = save_private(wb, temp)
    scope = ctx.scope
    options = ctx.options
    seq = audit.record(
        ctx.session,
        ctx.actor,
        ACTION,
        resource_type="report",
        resource_id=options.month,
        detail={
            "month": options.month,
            "org": scope.org.code if scope.org else None,
            "facilities": list(options.facility_codes),
            "lang": options.lang,
            "file": output.name,
            "sha256": digest,
            "rows": rows,
            "flags": ctx.flag_counts,
            "chain_head_seq": ctx.chain.head_seq,
            "chain_head_hash": ctx.chain.head_hash,
            "chain_ok": ctx.chain.ok,
        },
    )
    return MonthlyReport(output, temp, digest, rows, ctx.flag_counts, ctx.chain, seq)
