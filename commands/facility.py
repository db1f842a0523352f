"""resv facility: facilities, their management periods, open-data import, demo city."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from resv_cli.commands._common import FormatOpt, echo_err, work
from resv_cli.commands.render import Format

from resv_cli.core.i18n import N_, _

if TYPE_CHECKING:
    import datetime as dt

app = typer.Typer(no_args_is_help=True)

OnOpt = Annotated[
    str | None,
    typer.Option(
        "--on", help=N_("The day to answer for (2017-04-01 or 和暦); default today (JST).")
    ),
]


def _date(value: str | None, what: str) -> dt.date | None:
    from resv_cli.core.clock import parse_date

    return parse_date(value, what=what) if value else None


@app.command("add")
def add(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help=N_("Short code, e.g. chuo-rojin."))],
    name: Annotated[
        str, typer.Argument(help=N_("The facility's name, e.g. 中央老人福祉センター."))
    ],
    category: Annotated[
        str,
        typer.Option("--category", help=N_("A category code (see `resv facility categories`).")),
    ],
    parent: Annotated[
        str | None, typer.Option("--parent", help=N_("Code of the complex or facility it is in."))
    ] = None,
    hours: Annotated[
        str | None, typer.Option("--hours", help=N_("Opening hours, e.g. 09:00-21:00."))
    ] = None,
    kana: Annotated[str | None, typer.Option("--kana", help=N_("Reading in katakana."))] = None,
    address: Annotated[str | None, typer.Option("--address", help=N_("Postal address."))] = None,
    phone: Annotated[str | None, typer.Option("--phone", help=N_("Phone number."))] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Add a facility (city administrators).

    Example: resv facility add kaigi-2 会議室2 --category room --parent chuo-rojin
    """
    from resv_cli.commands.render import render_record

    from resv_cli.facilities.catalogue import add_facility, show_facility

    with work(ctx) as w:
        fac = add_facility(
            w.session,
            w.actor,
            code,
            name,
            category=category,
            parent=parent,
            hours=hours,
            kana=kana,
            address=address,
            phone=phone,
        )
        record = show_facility(w.session, fac.code)
    render_record(record, fmt)


@app.command("list")
def list_(
    ctx: typer.Context,
    category: Annotated[
        str | None, typer.Option("--category", help=N_("Only facilities of this category."))
    ] = None,
    org: Annotated[
        str | None,
        typer.Option("--org", help=N_("Only facilities this organisation manages on --on.")),
    ] = None,
    on: OnOpt = None,
    include_retired: Annotated[
        bool, typer.Option("--include-retired", help=N_("Also list retired facilities."))
    ] = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """List facilities with their parent and the organisation managing them on a day.

    Example: resv facility list --org inzai-fm --on 2017-05-15
    """
    from resv_cli.commands.render import render

    from resv_cli.facilities.catalogue import list_facilities

    with work(ctx) as w:
        rows = list_facilities(
            w.session,
            category=category,
            org=org,
            on=_date(on, "--on"),
            include_retired=include_retired,
        )
    render(rows, fmt, columns=["code", "name", "category", "parent", "hours", "managed_by"])


@app.command("categories")
def categories(ctx: typer.Context, fmt: FormatOpt = Format.table) -> None:
    """List the facility categories (施設分類) that scope rules can name.

    Example: resv facility categories
    """
    from resv_cli.commands.render import render

    from resv_cli.facilities.catalogue import list_categories

    with work(ctx) as w:
        rows = list_categories(w.session)
    render(rows, fmt)


@app.command("show")
def show(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help=N_("Facility code."))],
    on: OnOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Show one facility, its rooms and who manages it on a day.

    Example: resv facility show chuo-rojin --on 2017-05-15
    """
    from resv_cli.commands.render import render_record

    from resv_cli.facilities.catalogue import show_facility

    with work(ctx) as w:
        record = show_facility(w.session, code, _date(on, "--on"))
    render_record(record, fmt)


@app.command("update")
def update(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help=N_("Facility code."))],
    name: Annotated[str | None, typer.Option("--name", help=N_("New name."))] = None,
    category: Annotated[str | None, typer.Option("--category", help=N_("New category."))] = None,
    parent: Annotated[
        str | None, typer.Option("--parent", help=N_("New parent code ('' removes the parent)."))
    ] = None,
    hours: Annotated[
        str | None, typer.Option("--hours", help=N_("New hours, e.g. 09:00-21:00 ('' clears)."))
    ] = None,
    kana: Annotated[str | None, typer.Option("--kana", help=N_("New reading."))] = None,
    address: Annotated[str | None, typer.Option("--address", help=N_("New address."))] = None,
    phone: Annotated[str | None, typer.Option("--phone", help=N_("New phone number."))] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Change a facility's name, category, parent, hours, reading, address or phone.

    Example: resv facility update cosmos --hours 09:00-22:00
    """
    from resv_cli.commands.render import render_record

    from resv_cli.facilities.catalogue import show_facility, update_facility

    with work(ctx) as w:
        _fac, changed = update_facility(
            w.session,
            w.actor,
            code,
            name=name,
            category=category,
            parent=parent,
            hours=hours,
            kana=kana,
            address=address,
            phone=phone,
        )
        record = show_facility(w.session, code)
    if changed:
        echo_err(_("Changed: {fields}.").format(fields=", ".join(changed)))
    else:
        echo_err(_("Nothing changed."))
    render_record(record, fmt)


@app.command("retire")
def retire(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help=N_("Facility code."))],
    on: Annotated[str, typer.Option("--on", help=N_("First day it is no longer in use."))],
    fmt: FormatOpt = Format.table,
) -> None:
    """Retire a facility and its rooms from a day; its open management period ends the day before.

    Example: resv facility retire honme-rojin --on 2027-04-01
    """
    from resv_cli.commands.render import render_record

    from resv_cli.core.clock import parse_date
    from resv_cli.facilities.catalogue import retire_facility

    with work(ctx) as w:
        result = retire_facility(w.session, w.actor, code, parse_date(on, what="--on"))
    result["retired"] = ", ".join(result["retired"])
    render_record(result, fmt)


@app.command("assign")
def assign(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help=N_("Facility code."))],
    org: Annotated[str, typer.Option("--org", help=N_("Code of the managing organisation."))],
    from_: Annotated[str, typer.Option("--from", help=N_("First day of management."))],
    until: Annotated[
        str | None,
        typer.Option("--until", help=N_("Last day (inclusive); default open, or the term's end.")),
    ] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Record which organisation manages a facility from which day (periods never overlap).

    Example: resv facility assign cosmos --org city --from 2000-04-01
    """
    from resv_cli.commands.render import render_record

    from resv_cli.core.clock import parse_date
    from resv_cli.facilities.catalogue import assign_facility

    with work(ctx) as w:
        result = assign_facility(
            w.session,
            w.actor,
            code,
            org,
            parse_date(from_, what="--from"),
            _date(until, "--until"),
        )
    render_record(result, fmt)


@app.command("history")
def history(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help=N_("Facility code."))],
    on: Annotated[
        str | None, typer.Option("--on", help=N_("Only the period covering this day."))
    ] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Show who managed a facility over which dates (with --on: on that day).

    Example: resv facility history chuo-rojin --on 2017-05-15
    """
    from resv_cli.commands.render import render

    from resv_cli.facilities.catalogue import facility_history

    with work(ctx) as w:
        rows = facility_history(w.session, code, _date(on, "--on"))
    if on and not rows:
        echo_err(_("Nobody managed {code} on {day}.").format(code=code, day=on))
    render(
        rows,
        fmt,
        columns=[
            "facility",
            "organization",
            "organization_name",
            "kind",
            "valid_from",
            "valid_until",
            "via",
        ],
    )


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help=N_("A 公共施設一覧 CSV file.")
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help=N_("Check and report; write nothing."))
    ] = False,
    category: Annotated[
        str | None,
        typer.Option(
            "--category",
            help=N_("Category of new facilities whose name does not suggest one (default other)."),
        ),
    ] = None,
    repair_shifted: Annotated[
        bool,
        typer.Option(
            "--repair-shifted",
            help=N_(
                "Load rows whose location code sits one column right (in 町字ID), moving it back."
            ),
        ),
    ] = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """Import a 公共施設一覧 file of the 自治体標準オープンデータセット (older or current layout).

    The encoding (UTF-8 with or without BOM, or cp932) is detected per file.
    Re-importing updates facilities by (local-government code, ID), never duplicates.
    Rejected rows are listed with file, row, column and reason, and are not loaded.

    Example: resv facility import 131199_public_facilities.csv --dry-run
    """
    from resv_cli.commands.render import render_record

    from resv_cli.facilities.opendata import import_facilities

    with work(ctx) as w:
        report = import_facilities(
            w.session,
            w.actor,
            file,
            dry_run=dry_run,
            default_category=category,
            repair_shifted=repair_shifted,
        )
    for rej in report.rejects:
        echo_err(
            _("{file}: row {row}, column {column}: {reason}").format(
                file=rej["file"], row=rej["row"], column=rej["column"], reason=rej["reason"]
            )
        )
    if fmt is Format.json:
        render_record(report.as_dict(), fmt)
        return
    # the rejected rows went to stderr above; --format json has them as data
    render_record(report.summary(), fmt)
    if dry_run:
        echo_err(_("Dry run: nothing was written."))


@app.command("seed-demo")
def seed_demo(
    ctx: typer.Context,
    with_handover: Annotated[
        bool,
        typer.Option(
            "--with-handover",
            help=N_("Also hand chuo-rojin and chiiki-fukushi to inzai-fm on 2017-04-01."),
        ),
    ] = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """Create the demo city's manager, facilities and management periods (idempotent).

    Example: resv facility seed-demo
    """
    from resv_cli.commands.render import render_record

    from resv_cli.demo.seed import seed_demo as do_seed

    with work(ctx) as w:
        result = do_seed(w.session, w.actor, with_handover=with_handover)
    render_record(result, fmt)
