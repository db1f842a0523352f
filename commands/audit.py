"""resv audit: read, verify, anchor and archive the tamper-evident audit history."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from resv_cli.commands._common import FormatOpt, echo_err, work
from resv_cli.commands.render import Format, render_record

from resv_cli.core.i18n import N_, _

app = typer.Typer(no_args_is_help=True)


class Outcome(str, Enum):
    allowed = "allowed"
    denied = "denied"
    failed = "failed"


@app.command("verify")
def verify(
    ctx: typer.Context,
    anchor: Annotated[
        list[str] | None,
        typer.Option(
            "--anchor",
            help=N_(
                "SEQ:HASH printed earlier by `resv audit anchor` (repeatable); "
                "detects a cut-off tail."
            ),
        ),
    ] = None,
    anchor_from: Annotated[
        list[Path] | None,
        typer.Option(
            "--anchor-from",
            dir_okay=False,
            help=N_("A monthly report (.xlsx) whose cover holds the chain head (repeatable)."),
        ),
    ] = None,
    anchor_file: Annotated[
        list[Path] | None,
        typer.Option(
            "--anchor-file",
            dir_okay=False,
            help=N_(
                "A signed anchor file from `resv audit anchor --output` (repeatable; "
                "needs --public-key)."
            ),
        ),
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option(
            "--public-key",
            dir_okay=False,
            help=N_("The monitor's public key that signed the --anchor-file files."),
        ),
    ] = None,
    archive: Annotated[
        list[Path] | None,
        typer.Option(
            "--archive",
            exists=True,
            dir_okay=False,
            help=N_(
                "An archive file from `resv audit archive` to check with the live table "
                "(repeatable)."
            ),
        ),
    ] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Re-compute the keyed audit chain; exit 8 naming the first bad event.

    Detects any edited, deleted, inserted or reordered event (the MACs need the
    audit key file); with anchors kept outside the database -- the monthly
    reports (--anchor-from), signed anchor files (--anchor-file) or SEQ:HASH
    lines (--anchor) -- it also detects events cut off the end. Monitors and
    administrators only.

    Example: resv audit verify --anchor-from report-2026-11.xlsx
    """
    from resv_cli.audit.history import verify_history
    from resv_cli.audit.verify import Anchor

    anchors: list[str | Anchor] = list(anchor or [])
    if anchor_from:
        from resv_cli.reports.anchors import read_report_anchor

        anchors += [read_report_anchor(p) for p in anchor_from]
    if anchor_file:
        from resv_cli.audit.signed_anchor import read_signed_anchor
        from resv_cli.core.errors import InputError

        if public_key is None:
            raise InputError(_("--anchor-file needs --public-key (the monitor's public key file)"))
        for p in anchor_file:
            doc = read_signed_anchor(p, public_key)
            anchors.append(Anchor(doc["seq"], doc["hash"], source=p.name))
    from resv_cli.core.errors import IntegrityCheckFailed

    try:
        with work(ctx) as w:
            result = verify_history(w.session, w.actor, anchors=anchors, archives=archive or [])
    except IntegrityCheckFailed as exc:
        # a script reading JSON gets the verdict too, not only the exit code and stderr
        verdict = getattr(exc, "result", None)
        if fmt == Format.json and verdict is not None:
            render_record(verdict, fmt)
        raise
    for note in result.notes:
        echo_err(_("Note: {note}").format(note=note))

    render_record(result.as_dict(), fmt, codes={"reason": "verify_reason"})


@app.command("anchor")
def anchor(
    ctx: typer.Context,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            dir_okay=False,
            help=N_("Also write a signed anchor file here (new file; needs --signing-key)."),
        ),
    ] = None,
    signing_key: Annotated[
        Path | None,
        typer.Option(
            "--signing-key",
            dir_okay=False,
            help=N_("The monitor's private key from `resv audit signing-key`."),
        ),
    ] = None,
) -> None:
    """Print the head of the audit history as SEQ:HASH, to keep outside the database.

    Keep the line (every monthly report carries it too); `resv audit verify
    --anchor SEQ:HASH` later proves no event up to it was cut off or changed.
    With --output and --signing-key the head also goes into a small file signed
    with the monitor's Ed25519 key, which anyone can check with the public key
    alone (`resv audit check-anchor`).

    Example: resv audit anchor --output anchor-2026-12-01.json --signing-key monitor.key
    """
    from resv_cli.audit.history import take_anchor
    from resv_cli.core.errors import InputError

    if (output is None) != (signing_key is None):
        raise InputError(_("--output and --signing-key go together (a signed anchor file)"))
    if output is None:
        with work(ctx) as w:
            seq, digest = take_anchor(w.session, w.actor)
        typer.echo(f"{seq}:{digest}")
        return
    from resv_cli.core.files import PrivateFile

    assert signing_key is not None
    with PrivateFile(output, label="anchor") as out:
        with work(ctx) as w:
            seq, digest = take_anchor(w.session, w.actor, signed_to=out, signing_key=signing_key)
        out.commit(keep_on_failure=True)
    echo_err(_("Wrote signed anchor {file}").format(file=output))
    typer.echo(f"{seq}:{digest}")


@app.command("signing-key")
def signing_key_cmd(
    private_out: Annotated[
        Path,
        typer.Option(
            "--private-out", dir_okay=False, help=N_("New file for the private key (0600).")
        ),
    ],
    public_out: Annotated[
        Path,
        typer.Option("--public-out", dir_okay=False, help=N_("New file for the public key.")),
    ],
) -> None:
    """Make the monitor's Ed25519 key pair for signing anchor files.

    The private key stays with the monitor; hand the public key to whoever
    checks anchors. Needs no database.

    Example: resv audit signing-key --private-out monitor.key --public-out monitor.pub
    """
    from resv_cli.audit.signed_anchor import create_signing_key

    fp = create_signing_key(private_out, public_out)
    echo_err(
        _("Wrote {private} (keep it private) and {public}").format(
            private=private_out, public=public_out
        )
    )
    typer.echo(fp)


@app.command("check-anchor")
def check_anchor(
    file: Annotated[Path, typer.Argument(dir_okay=False, help=N_("A signed anchor file."))],
    public_key: Annotated[
        Path,
        typer.Option("--public-key", dir_okay=False, help=N_("The monitor's public key file.")),
    ],
    fmt: FormatOpt = Format.table,
) -> None:
    """Check a signed anchor file's signature with the monitor's public key alone.

    Needs neither the database nor the audit key; exit 8 if the signature fails.

    Example: resv audit check-anchor anchor-2026-12-01.json --public-key monitor.pub
    """
    from resv_cli.audit.signed_anchor import read_signed_anchor

    doc = read_signed_anchor(file, public_key)
    if fmt == Format.table and isinstance(doc.get("taken_at"), str):
        import contextlib
        import datetime as dt

        # the signed text stays as signed in JSON and CSV; a person reads Japan time
        with contextlib.suppress(ValueError):
            doc["taken_at"] = dt.datetime.fromisoformat(doc["taken_at"])
    render_record(doc, fmt)


@app.command("list")
def list_(
    ctx: typer.Context,
    date_from: Annotated[
        str | None,
        typer.Option("--from", help=N_("First day (2017-04-01 or 和暦, Japan time).")),
    ] = None,
    date_to: Annotated[
        str | None,
        typer.Option("--to", help=N_("Last day, inclusive (2017-04-01 or 和暦, JST).")),
    ] = None,
    account: Annotated[str | None, typer.Option("--account", help=N_("Login ID."))] = None,
    action: Annotated[
        str | None,
        typer.Option("--action", help=N_("Action name, or a prefix ending in * (auth.*).")),
    ] = None,
    outcome: Annotated[Outcome | None, typer.Option("--outcome", help=N_("Outcome."))] = None,
    facility: Annotated[str | None, typer.Option("--facility", help=N_("Facility code."))] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", help=N_("At most this many events."))
    ] = None,
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
    if fmt == Format.json:
        import json

        # JSON gets the detail as the object it is (CSV and the table keep its text)
        for row in rows:
            try:
                row["detail"] = json.loads(row["detail"])
            except (TypeError, ValueError):
                pass  # shown as stored; verify reports the damage
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
    # the action column is the code itself (its labels are the ja and en columns)
    render(rows, fmt, columns=["action", "ja", "en", "personal_data"], codes={"action": None})


@app.command("show")
def show(
    ctx: typer.Context,
    seq: Annotated[int, typer.Argument(help=N_("Sequence number of the event."))],
    fmt: FormatOpt = Format.table,
) -> None:
    """Show one audit event with all its fields, hashes included.

    Example: resv audit show 42 --format json
    """

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
        typer.Option("--before", help=N_("Archive events before this day (2017-04-01 or 和暦).")),
    ],
    output: Annotated[
        Path,
        typer.Option("--output", "-o", dir_okay=False, help=N_("New .jsonl.gz file to write.")),
    ],
) -> None:
    """Move old audit events to a compressed file, keeping the chain verifiable.

    The file (gzip JSON lines, mode 0600) is written and synced under a temporary
    name before the events are deleted, in one transaction with the archive
    record, and renamed into place after the commit; a run killed in between is
    finished by the next run into the same directory. `resv audit verify
    --archive FILE` checks the file and the live table as one chain.
    Administrators only; on PostgreSQL run it with the owner's URL (the
    runtime role cannot delete events).

    Example: resv audit archive --before 2026-04-01 --output audit-2025.jsonl.gz
    """
    from resv_cli.audit.history import archive_events
    from resv_cli.audit.recovery import recover_files
    from resv_cli.core import clock

    day = clock.parse_date(before, what="--before")
    written = None
    try:
        with work(ctx) as w:
            settled = recover_files(w.session, output.parent)
            for s in settled:
                echo_err(_("Note: {note}").format(note=s.note))
            if any(s.published and s.target == output for s in settled):
                return  # this archive was made by the interrupted run: nothing is left to do
            written = archive_events(w.session, w.actor, before=day, output=output)
    except BaseException:
        # rolled back: the events stay in the table, so their file must not appear
        if written is not None:
            written.discard()
        raise
    written.publish()
    info = written.info
    echo_err(
        _("Archived events {first}..{last} ({n}) to {file} (SHA-256 {sha256}).").format(
            first=info["first_seq"],
            last=info["last_seq"],
            n=info["events"],
            file=info["file"],
            sha256=info["file_sha256"],
        )
    )


key_app = typer.Typer(
    no_args_is_help=True, help=N_("The audit key: status, switch-over, rotation.")
)
app.add_typer(key_app, name="key")


@key_app.command("status")
def key_status(ctx: typer.Context, fmt: FormatOpt = Format.table) -> None:
    """Show the audit key file, its keys (identifiers, never secrets) and the chain's state.

    Example: resv audit key status
    """
    from resv_cli.audit.rekey import status

    with work(ctx) as w:
        out = status(w.session, w.actor)
    for note in out.pop("notes"):
        echo_err(_("Note: {note}").format(note=note))
    if fmt == Format.table:
        out["keys"] = ", ".join(
            (_("{id} (from {seq}, lost)") if k["lost"] else _("{id} (from {seq})")).format(
                id=k["id"], seq=k["chain_from"]
            )
            for k in out["keys"]
        )
    render_record(out, fmt)


@key_app.command("upgrade")
def key_upgrade(ctx: typer.Context, fmt: FormatOpt = Format.table) -> None:
    """Switch a history written by resv 0.1 to the keyed chain (city IT, once).

    Verifies the history, pins the key file to the next event and records the
    switch-over; every later event is an HMAC under the audit key.

    Example: resv audit key upgrade
    """
    from resv_cli.audit.rekey import upgrade

    with work(ctx) as w:
        out = upgrade(w.session, w.actor)
    echo_err(
        _(
            "The history is keyed from event {seq}: copy the key file to every "
            "machine that runs resv"
        ).format(seq=out["chain_from"])
    )
    render_record(out, fmt)


@key_app.command("rotate")
def key_rotate(
    ctx: typer.Context,
    lost: Annotated[
        bool,
        typer.Option(
            "--lost",
            help=N_("Every copy of the key file is lost: start a new one (see the guide)."),
        ),
    ] = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """Chain every event from the next one under a new audit key (city IT).

    The old key stays in the key file to verify the events it chained. Then copy
    the new key file to every machine that runs resv, and destroy old copies.

    Example: resv audit key rotate
    """
    from resv_cli.audit.rekey import rotate

    with work(ctx) as w:
        out = rotate(w.session, w.actor, lost=lost)
    echo_err(
        _(
            "New audit key {key_id} from event {seq}: copy {file} to every machine that runs resv"
        ).format(key_id=out["key_id"], seq=out["chain_from"], file=out["file"])
    )
    render_record(out, fmt)
