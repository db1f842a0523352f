"""resv booking: add, list, cancel -- lending rooms, through the access layer."""

from __future__ import annotations

from typing import Annotated

import typer
from resv_cli.commands._common import FormatOpt, work
from resv_cli.commands.render import Format

from resv_cli.core.i18n import N_, _

app = typer.Typer(no_args_is_help=True)

# the status column of a booking holds booking codes (booked, cancelled)
STATUS = {"status": "booking_status"}


@app.command("add")
def add_cmd(
    ctx: typer.Context,
    facility: Annotated[str, typer.Option("--facility", help=N_("Facility or room code."))],
    registrant: Annotated[int, typer.Option("--registrant", help=N_("Registrant number."))],
    date: Annotated[
        str, typer.Option("--date", help=N_("Day (JST): 2017-04-01 or 和暦 (H29.4.1)."))
    ],
    start: Annotated[str, typer.Option("--from", help=N_("Start time HH:MM."))],
    end: Annotated[str, typer.Option("--to", help=N_("End time HH:MM."))],
    purpose: Annotated[str | None, typer.Option("--purpose", help=N_("Purpose of use."))] = None,
    override_reason: Annotated[
        str | None,
        typer.Option(
            "--override-reason",
            metavar="TEXT",
            help=N_("Book outside the facility's opening hours; why (audited)."),
        ),
    ] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Lend a facility or room in your scope to a registrant for a slot; audited.

    Only an active registrant can book, with a card valid on the day if a
    validity is recorded; a slot outside the opening hours of the facility (or
    its building) is refused unless --override-reason says why.

    Example: resv booking add --facility cosmos-hall --registrant 42 --date 2026-12-01
    --from 10:00 --to 12:00
    """
    from resv_cli.commands.render import render_record

    from resv_cli.records.bookings import add_booking, parse_slot

    starts, ends = parse_slot(date, start, end)
    with work(ctx) as w:
        row = add_booking(
            w.session,
            w.actor,
            facility=facility,
            registrant_id=registrant,
            starts_at=starts,
            ends_at=ends,
            purpose=purpose,
            override_reason=override_reason,
        )
    render_record(row, fmt, codes=STATUS)


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    facility: Annotated[str | None, typer.Option("--facility", help=N_("Only this code."))] = None,
    date: Annotated[str | None, typer.Option("--date", help=N_("Only this day (JST)."))] = None,
    all_: Annotated[bool, typer.Option("--all", help=N_("Include cancelled bookings."))] = False,
    count: Annotated[bool, typer.Option("--count", help=N_("Print only the number."))] = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """List bookings of the facilities in your scope.

    Example: resv booking list --facility chuo-rojin-kaigi --date 2026-12-01 --format csv
    """
    from resv_cli.commands.render import render, render_record

    from resv_cli.core.clock import parse_date
    from resv_cli.records.bookings import LIST_COLUMNS, list_bookings

    day = parse_date(date, what="--date") if date else None
    with work(ctx) as w:
        result = list_bookings(
            w.session,
            w.actor,
            facility=facility,
            day=day,
            include_cancelled=all_,
            count_only=count,
        )
    if isinstance(result, int):
        render_record({"count": result}, fmt)
    else:
        render(result, fmt, columns=LIST_COLUMNS, codes=STATUS)


@app.command("cancel")
def cancel_cmd(
    ctx: typer.Context,
    booking_id: Annotated[int, typer.Argument(help=N_("Booking number."))],
) -> None:
    """Cancel a booking in your scope; audited.

    Example: resv booking cancel 17
    """
    from resv_cli.commands._common import echo_err

    from resv_cli.records.bookings import cancel_booking

    with work(ctx) as w:
        row = cancel_booking(w.session, w.actor, booking_id)
    echo_err(
        _("Cancelled booking {id} at {facility}.").format(id=row["id"], facility=row["facility"])
    )
