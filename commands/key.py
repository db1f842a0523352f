"""resv key: the field-encryption keys: the key file, status, rotation, rewrapping."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from resv_cli.commands._common import FormatOpt, echo_err, progress_bar, work
from resv_cli.commands.render import Format, render, render_record

from resv_cli.core.i18n import N_, _

app = typer.Typer(no_args_is_help=True)

KEY_CODES = {"state": "data_key_state", "purpose": "data_key_purpose"}


@app.command("init")
def init_cmd(fmt: FormatOpt = Format.table) -> None:
    """Make the key-encryption key file (a new key, mode 0600).

    Needed before `resv db upgrade` of a database made by an older resv (`db init`
    makes the file itself). Refuses when the file exists or RESV_DATA_KEK is set.
    Copy the file to every machine that runs resv and keep one copy offline: it is
    the only way to open the sealed fields.

    Example: resv key init
    """
    from resv_cli.core.kek import init_file

    keks = init_file()
    echo_err(
        _(
            "Created the key-encryption key {file} (mode 0600): without it the sealed "
            "fields cannot be read; keep a copy offline, apart from the database backups."
        ).format(file=keks.source)
    )
    render_record({"file": keks.source, "kek_id": keks.current_id()}, fmt)


@app.command("status")
def status_cmd(ctx: typer.Context, fmt: FormatOpt = Format.table) -> None:
    """Show the key-encryption key in use and each data key with the rows under it.

    Identifiers, states and counts only, never a key; notes say what is left to do
    (a rotation under way, a key the KEK cannot open).

    Example: resv key status
    """
    from resv_cli.records.fieldkeys import status

    with work(ctx) as w:
        out = status(w.session, w.actor)
    for note in out.pop("notes"):
        echo_err(_("Note: {note}").format(note=note))
    if Format(fmt) is Format.json:  # one object, its keys as a list (instants in ISO 8601)
        out["keys"] = [
            {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in row.items()}
            for row in out["keys"]
        ]
        render_record(out, fmt)
        return
    keys = out.pop("keys")
    if Format(fmt) is Format.table:
        render_record(out, fmt)
        sys.stdout.write("\n")
    render(keys, fmt, codes=KEY_CODES)


def _progress() -> Any:
    """A progress bar on a terminal; otherwise a line at each tenth of the work."""
    update, bar = progress_bar(_("re-sealing"))
    if update is not None:
        return update, bar
    shown = [-1]

    def line(done: int, total: int) -> None:
        tenth = done * 10 // max(total, 1)
        if tenth != shown[0]:
            shown[0] = tenth
            line_text = _("re-sealed {done:,} of {total:,} registrants")
            echo_err(line_text.format(done=done, total=total))

    return line, None


@app.command("rotate")
def rotate_cmd(
    ctx: typer.Context,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help=N_("Registrants re-sealed per transaction."))
    ] = 1000,
    encrypt_dob: Annotated[
        bool,
        typer.Option("--encrypt-dob", help=N_("Seal the dates of birth too, from now on.")),
    ] = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """Seal every registrant under a new data key and retire the old one (city IT).

    New values are sealed under the new key at once; the stored ones are re-sealed
    in batches, each committed, while both keys open them. If it is interrupted,
    run it again: it finishes the rotation under way. With --encrypt-dob the dates
    of birth are sealed in the same pass. Audited.

    Example: resv key rotate --batch-size 2000
    """
    from resv_cli.records.fieldkeys import require_key_admin, rotate

    with work(ctx) as w:
        actor = require_key_admin(w.actor)
        engine = w.engine
    update, bar = _progress()
    try:
        out = rotate(
            engine, actor, batch_size=batch_size, encrypt_dob=encrypt_dob, progress=update
        )
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    echo_err(
        _("Data key {key} is in use; {n:,} registrants re-sealed; retired: {old}.").format(
            key=out["key_id"], n=out["rows_resealed"], old=out["retired_key"] or _("none")
        )
    )
    render_record(out, fmt)


@app.command("rewrap")
def rewrap_cmd(ctx: typer.Context, fmt: FormatOpt = Format.table) -> None:
    """Wrap the data keys under a new key-encryption key; no registrant is touched.

    With the key file, a new key replaces the old one in the file; with
    RESV_DATA_KEK, the new key is read from RESV_DATA_KEK_NEW. If it is
    interrupted, run it again. Audited.

    Example: resv key rewrap
    """
    from resv_cli.audit.vocabulary import A
    from resv_cli.records.fieldkeys import require_key_admin, rewrap

    with work(ctx) as w:
        actor = require_key_admin(w.actor, A.KEY_REWRAP)
        engine = w.engine
    out = rewrap(engine, actor)
    if out["kek_source"] == "RESV_DATA_KEK_NEW":
        echo_err(
            _(
                "The data keys are wrapped under {kek}: set RESV_DATA_KEK to the value of "
                "RESV_DATA_KEK_NEW wherever resv runs, then remove RESV_DATA_KEK_NEW."
            ).format(kek=out["kek_id"])
        )
    else:
        echo_err(
            _(
                "The data keys are wrapped under {kek}: copy {file} to every machine that runs "
                "resv, replace the offline copy and destroy the old ones."
            ).format(kek=out["kek_id"], file=out["kek_source"])
        )
    render_record(out, fmt)
