"""resv audit: read, verify, anchor and archive the tamper-evident audit history."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from resv_cli.commands._common import FormatOpt, echo_err, work
from resv_cli.commands.render import Format

app = typer.Typer(no_args_is_help=True)


class Outcome(str, Enum):
    allowed = "allowed"
    denied = "denied"
    failed = "failed"


@app.command("verify")
def verify(
    ctx: typer.Context,
    anchor: Annotated[
        str | None,
        typer.Option(
            "--anchor",
            help="SEQ:HASH printed earlier by `resv audit anchor` (or the monthly report); "
            "detects a cut-off tail.",
        ),
    ] = None,
    archive: Annotated[
        list[Path] | None,
        typer.Option(
            "--archive",
            exists=True,
            dir_okay=False,
            help="An archive file from `resv audit archive` to check with the live table "
            "(repeatable).",
        ),
    ] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Re-compute the audit hash chain; exit 8 naming the first bad event.

    Detects any edited, deleted, inserted or reordered event; with --anchor it
    also detects events cut off the end. Monitors and administrators only.

    Example: resv audit verify --anchor "$(cat last-anchor.txt)"
    """
    from resv_cli.audit.history import verify_history

    with work(ctx) as w:
        result = verify_history(w.session, w.actor, anchor=anchor, archives=archive or [])
    for note in result.notes:
        echo_err(f"Note: {note}")
    from resv_cli.commands.render import render_record

    render_record(result.as_dict(), fmt)


@app.command("anchor")
def anchor(ctx: typer.Context) -> None:
    """Print the head of the audit history as SEQ:HASH, to keep outside the database.

    Keep the line (the monthly report carries it too); `resv audit verify
    --anchor SEQ:HASH` later proves no event up to it was cut off or changed.

    Example: resv audit anchor >> anchors.txt
    """
    from resv_cli.audit.history import take_anchor

    with work(ctx) as w:
        seq, digest = take_anchor(w.session, w.actor)
    typer.echo(f"{seq}:{digest}")


@app.command("list")
def list_(
    ctx: typer.Context,
    date_from: Annotated[
        str | None, typer.Option("--from", help="First day (2017-04-01 or 和暦, Japan time).")
    ] = None,
    date_to: Annotated[
        str | None,
        typer.Option("--to", help="Last day, inclusive (2017-04-01 or 和暦, JST)."),
    ] = None,
    account: Annotated[str | None, typer.Option("--account", help="Login ID.")] = None,
    action: Annotated[
        str | None,
        typer.Option("--action", help="Action name, or a prefix ending in * (auth.*)."),
    ] = None,
    outcome: Annotated[Outcome | None, typer.Option("--outcome", help="Outcome.")] = None,
    facility: Annotated[str | None, typer.Option("--facility", help="Facility code.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many events.")] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """List audit events, oldest first. Monitors and administrators only.

    Example: resv audit list --from 2026-04-01 --to 2026-04-30 --outcome denied --format csv
    """
    from resv_cli.commands.render import render

    from resv_cli.audit.history import LIST_COLUMNS, list_events
    from resv_cli.core import clock

    d_from = clock.parse_date(date_from, what="--from") if date_from else None
    d_to = clock.parse_date(date_to, what="--to") if date_to else None
    with work(ctx) as w:
        rows = list_events(
            w.session,
            w.actor,
            date_from=d_from,
            date_to=d_to,
            account=account,
            action=action,
            outcome=outcome.value if outcome else None,
            facility=facility,
            limit=limit,
        )
    render(rows, fmt, columns=LIST_COLUMNS)


@app.command("actions")
def actions(fmt: FormatOpt = Format.table) -> None:
    """List every action the audit history can hold, with its Japanese and English label.

    The one vocabulary that writers, `audit list --action` and the monthly report
    use. Needs no login and reads no database.

    Example: resv audit actions --format csv
    """
    from resv_cli.commands.render import render

    from resv_cli.audit.vocabulary import ACTIONS

    rows = [
        {"action": d.code, "ja": d.ja, "en": d.en, "personal_data": d.personal}
        for d in ACTIONS.values()
    ]
    render(rows, fmt, columns=["action", "ja", "en", "personal_data"])


@app.command("show")
def show(
    ctx: typer.Context,
    seq: Annotated[int, typer.Argument(help="Sequence number of the event.")],
    fmt: FormatOpt = Format.table,
) -> None:
    """Show one audit event with all its fields, hashes included.

    Example: resv audit show 42 --format json
    """
    from resv_cli.commands.render import render_record

    from resv_cli.audit.history import show_event

    with work(ctx) as w:
        event = show_event(w.session, w.actor, seq)
    if fmt is not Format.json and not isinstance(event["detail"], str):
        import json

        event["detail"] = json.dumps(event["detail"], ensure_ascii=False, sort_keys=True)
    render_record(event, fmt)


@app.command("archive")
def archive(
    ctx: typer.Context,
    before: Annotated[
        str,
        typer.Option("--before", help="Archive events before this day (2017-04-01 or 和暦)."),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", dir_okay=False, help="New .jsonl.gz file to write.")
    ],
) -> None:
    """Move old audit events to a compressed file, keeping the chain verifiable.

    The file (gzip JSON lines) is written and synced before the events are
    deleted, in one transaction with the archive record; `resv audit verify
    --archive FILE` checks the file and the live table as one chain.
    Administrators only; on PostgreSQL run it with the owner's URL (the
    runtime role cannot delete events).

    Example: resv audit archive --before 2026-04-01 --output audit-2025.jsonl.gz
    """
    from resv_cli.audit.history import archive_events
    from resv_cli.core import clock

    day = clock.parse_date(before, what="--before")
    existed = output.exists()
    try:
        with work(ctx) as w:
            info = archive_events(w.session, w.actor, before=day, output=output)
    except BaseException:
        # the events stay in the table: a file of a rolled-back archive must not remain
        if not existed:
            output.unlink(missing_ok=True)
        raise
    echo_err(
        f"Archived events {info['first_seq']}..{info['last_seq']} ({info['events']}) "
        f"to {info['file']} (SHA-256 {info['file_sha256']})."
    )
