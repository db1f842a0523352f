"""The sheets of the monthly report, one module each, in workbook order in ``SHEETS``.

A sheet is one of two kinds (``base.py``):

* ``Table``: ``key`` (label key of its name, "sheet.accounts"), ``counted_as`` (its
  entry in the report.export event's "rows"), ``columns`` (``base.Col``: label key,
  width, numeric, wrap, drop-down choices), ``split`` (continue on "<name> (2)"
  past ``--max-rows``) and ``rows(ctx) -> Iterable[row]``.  The orchestrator
  writes the header, sanitises every cell, freezes, filters and sets up printing;
  the sheet only yields values.
* ``Page``: ``key`` and ``write(ctx, ws)``, free layout on a write-only worksheet;
  drawn after every table, so it can summarise them (the cover, the hour x day heat
  map, the refusals chart).

``ctx`` is ``resv_cli.reports.context.ReportContext``: the options, scope, labels
(``ctx.L``), settings, the data source ``ctx.data`` (every query of the report) and
what earlier sheets learnt (``ctx.agg`` from the activity, ``ctx.flag_counts`` from
the flags).  Tables are written in ``SHEETS`` order, so a table may read what an
earlier one left in ``ctx``.

Adding a sheet: write a module with a ``Table`` or ``Page`` subclass, its labels in
``labels.py``, and add an instance to ``SHEETS`` at its place in the workbook.
"""

from __future__ import annotations

from resv_cli.reports.sheets.accounts import Accounts
from resv_cli.reports.sheets.activity import Activity
from resv_cli.reports.sheets.base import Page, Sheet, Table
from resv_cli.reports.sheets.cover import Cover
from resv_cli.reports.sheets.duplicate import DuplicateChecks
from resv_cli.reports.sheets.flags import Flags
from resv_cli.reports.sheets.hours import Hours
from resv_cli.reports.sheets.imports import ImportsExports
from resv_cli.reports.sheets.refusals import Refusals
from resv_cli.reports.sheets.refused import Refused

SHEETS: tuple[Sheet, ...] = (
    Cover(),
    Hours(),
    Accounts(),
    Activity(),
    Refusals(),
    Refused(),
    DuplicateChecks(),
    ImportsExports(),
    Flags(),
)

__all__ = ["SHEETS", "Page", "Sheet", "Table"]
