"""resv import: move legacy registrant files into the shared database, safely."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from resv_cli.commands._common import FormatOpt, echo_err, progress_bar, state, work

from resv_cli.core.errors import ResvError
from resv_cli.core.i18n import N_, _

app = typer.Typer(no_args_is_help=True)


class Kind(str, Enum):
    individual = "individual"
    group = "group"


class Encoding(str, Enum):
    auto = "auto"
    cp932 = "cp932"
    utf8 = "utf-8"


class OnConflict(str, Enum):
    skip = "skip"
    update = "update"
    fail = "fail"


def _progress() -> tuple[Any, Any]:
    """A progress bar on stderr when it is a terminal; nothing otherwise."""
    return progress_bar(_("importing"))


RejectsOpt = Annotated[
    Path | None,
    typer.Option("--rejects", help=N_("Write rejects and duplicates here (.csv or .xlsx).")),
]
ForceOpt = Annotated[bool, typer.Option("--force", help=N_("Replace an existing --rejects file."))]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        help=N_(
            "Processes that normalise the records (default: the usable CPUs less two, at "
            "least 1; each costs about 45 MB; the records are the same with any number)."
        ),
    ),
]
# the code columns of the batch tables (``kind`` and ``status`` of other tables differ)
BATCH_CODES = {"kind": "import_kind", "status": "import_status"}
REJECT_CODES = {"kind": "reject_kind"}


def _instants(row: dict[str, Any]) -> dict[str, Any]:
    """The batch's times as instants (raw SQL hands SQLite's stored text back)."""
    import datetime as dt

    for key in ("started_at", "finished_at"):
        value = row.get(key)
        if isinstance(value, str) and value:
            instant = dt.datetime.fromisoformat(value)
            row[key] = instant if instant.tzinfo else instant.replace(tzinfo=dt.UTC)
    return row


def _report(
    ctx: typer.Context, result: Any, rejects: Path | None, fmt: Any, *, force: bool = False
) -> None:
    from resv_cli.commands.render import render

    from resv_cli.importing.batches import write_rejects_file

    c = result.counts
    render(result.summary_rows(), fmt)
    labels = {"dry_run": N_("Dry run (nothing written)"), "completed": N_("Imported")}
    label = _(labels[result.status]) if result.status in labels else result.status
    if result.resumed_from:
        source = _("{encoding}, resumed after record {record}").format(
            encoding=result.encoding or "xlsx", record=result.resumed_from
        )
    else:
        source = result.encoding or "xlsx"
    verdict = _(" (ok)") if c.reconciled else _(" (does NOT add up)")
    echo_err(
        _("{label}: batch {batch}, {file} ({source}). Reconciliation: {line}").format(
            label=label,
            batch=result.batch_id,
            file=result.file_name,
            source=source,
            line=c.reconciliation(),
        )
        + verdict
    )
    if result.unused_columns:
        echo_err(
            _("Columns not imported: {columns}").format(columns=", ".join(result.unused_columns))
        )
    if rejects is not None:
        n = write_rejects_file(state(ctx).engine(), result.batch_id, rejects, force=force)
        echo_err(
            _(
                "Wrote {n} reject line(s) to {file} (record, column, reason; no personal data)."
            ).format(n=n, file=rejects)
        )


@app.command("registrants")
def registrants(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help=N_("Legacy export: CSV (cp932 or UTF-8) or xlsx."))],
    facility: Annotated[str, typer.Option("--facility", help=N_("Facility code to import into."))],
    kind: Annotated[
        Kind | None,
        typer.Option("--kind", help=N_("Kind of every record when the file has no 区分 column.")),
    ] = None,
    mapping: Annotated[
        Path | None, typer.Option("--mapping", help=N_("TOML file mapping columns to fields."))
    ] = None,
    encoding: Annotated[
        Encoding,
        typer.Option("--encoding", help=N_("File encoding (CSV): auto, cp932, utf-8.")),
    ] = Encoding.auto,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help=N_("Do everything but write registrants."))
    ] = False,
    rejects: RejectsOpt = None,
    force: ForceOpt = False,
    on_conflict: Annotated[
        OnConflict,
        typer.Option(
            "--on-conflict",
            help=N_(
                "A registration number already in the database with different data: "
                "skip (report it), update (replace the stored record) or fail (abort)."
            ),
        ),
    ] = OnConflict.skip,
    max_rejects: Annotated[
        int | None,
        typer.Option("--max-rejects", help=N_("Abort (keeping nothing) beyond this many rejects.")),
    ] = None,
    chunk_size: Annotated[
        int | None,
        typer.Option("--chunk-size", help=N_("Records per committed checkpoint."), hidden=True),
    ] = None,  # registrants.DEFAULT_CHUNK
    workers: WorkersOpt = None,
    fmt: FormatOpt = "table",  # type: ignore[assignment]
) -> None:
    """Import legacy registrant records into a facility (idempotent, resumable).

    Reads CSV (cp932 or UTF-8, detected) or xlsx, normalises Japanese names,
    readings, dates of birth (和暦 included), phones, postal codes and addresses,
    rejects bad records with their record number, column and reason, reports
    duplicates, and commits in checkpoints: if interrupted, run it again or use
    `resv import resume`. Prints a summary table and the reconciliation.

    Example: resv import registrants old.csv --facility chuo-rojin --dry-run --rejects rej.csv
    """
    from resv_cli.importing.batches import check_rejects_path
    from resv_cli.importing.registrants import ImportOptions, import_registrants, require_importer

    check_rejects_path(rejects, force=force)
    with work(ctx) as w:
        actor = require_importer(w.actor)
        engine = w.engine
    update, bar = _progress()
    try:
        result = import_registrants(
            engine,
            actor,
            file,
            facility,
            ImportOptions(
                kind=kind.value if kind else None,
                mapping=str(mapping) if mapping else None,
                encoding=encoding.value,
                dry_run=dry_run,
                on_conflict=on_conflict.value,
                max_rejects=max_rejects,
                chunk_size=chunk_size,
                workers=workers,
            ),
            progress=update,
        )
    except ResvError as exc:
        _rejects_of_aborted(ctx, exc, rejects, force=force)
        raise
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    _report(ctx, result, rejects, fmt, force=force)


def _rejects_of_aborted(
    ctx: typer.Context, exc: ResvError, rejects: Path | None, *, force: bool = False
) -> None:
    """An aborted batch's rejects are what to fix: still written to ``--rejects``."""
    batch_id = getattr(exc, "batch_id", None)
    if rejects is None or batch_id is None:
        return
    from resv_cli.importing.batches import write_rejects_file

    n = write_rejects_file(state(ctx).engine(), batch_id, rejects, force=force)
    echo_err(
        _("Wrote {n} reject line(s) of aborted batch {batch} to {file}.").format(
            n=n, batch=batch_id, file=rejects
        )
    )


@app.command("resume")
def resume(
    ctx: typer.Context,
    batch: Annotated[int, typer.Argument(help=N_("Batch number (see `resv import list`)."))],
    file: Annotated[
        Path | None, typer.Argument(help=N_("The batch's file, if it has moved."))
    ] = None,
    rejects: Annotated[
        Path | None, typer.Option("--rejects", help=N_("Write all rejects of the batch here."))
    ] = None,
    force: ForceOpt = False,
    workers: WorkersOpt = None,
    fmt: FormatOpt = "table",  # type: ignore[assignment]
) -> None:
    """Finish an interrupted import batch from its last checkpoint.

    Example: resv import resume 3 --rejects rejects.csv
    """
    from resv_cli.importing.batches import check_rejects_path
    from resv_cli.importing.registrants import require_importer, resume_import

    check_rejects_path(rejects, force=force)
    with work(ctx) as w:
        actor, engine = require_importer(w.actor), w.engine
    update, bar = _progress()
    try:
        result = resume_import(engine, actor, batch, file, progress=update, workers=workers)
    except ResvError as exc:
        _rejects_of_aborted(ctx, exc, rejects, force=force)
        raise
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    _report(ctx, result, rejects, fmt, force=force)


@app.command("list")
def list_(ctx: typer.Context, fmt: FormatOpt = "table") -> None:  # type: ignore[assignment]
    """List import batches: file, who ran it, status and counts.

    Example: resv import list --format json
    """
    from resv_cli.commands.render import render

    from resv_cli.importing.batches import list_batches

    with work(ctx) as w:
        rows = list_batches(w.session, w.actor)
    render([_instants(r) for r in rows], fmt, codes=BATCH_CODES)


@app.command("show")
def show(
    ctx: typer.Context,
    batch: Annotated[int, typer.Argument(help=N_("Batch number."))],
    fmt: FormatOpt = "table",  # type: ignore[assignment]
) -> None:
    """Show one batch: SHA-256, counts, reconciliation, and its rejects.

    Example: resv import show 3
    """
    from resv_cli.commands.render import render, render_record

    from resv_cli.importing.batches import show_batch

    with work(ctx) as w:
        info, rejects = show_batch(w.session, w.actor, batch)
    _instants(info)
    if fmt == "json":
        from resv_cli.commands.render import render_record as as_json

        as_json({**info, "rejects": rejects}, "json")
        return
    render_record(info, fmt, codes=BATCH_CODES)
    if rejects:
        typer.echo("")
        render(rejects, fmt, codes=REJECT_CODES)
