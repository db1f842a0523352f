"""Read and normalise a legacy file in a second process, chunk by chunk.

Reading, decoding and normalising (pure Python, about half of an import's work)
run in a forked child while the parent classifies and writes the previous chunk:
on a two-core machine the two halves overlap.  The child never touches the
database; it sends each chunk of normalised records through a pipe and ends when
the file does, when the parent stops reading, or when the parent dies (its next
send fails).

Without ``fork`` (or with ``RESV_IMPORT_WORKER=0``) the same chunks are produced
in-process, in the same order, so results never depend on the path taken.

The reader may hand the normalising itself to worker processes (``in_pieces``):
it cuts the rows into pieces, keeps a few pieces in flight in a pool forked from
itself, and takes the results back in the file's order; what depends on order
(the keys of earlier records) stays in the reader.  Normalising is a pure
function of the row, so the records are the same with any number of workers.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from resv_cli.core.errors import InputError, ResvError
from resv_cli.core.i18n import _

Record = tuple[int, Any, list[tuple[str, str]], str | None]
Chunk = list[Record]


def chunks(
    records: Iterator[Record], size: int, position: Callable[[], int]
) -> Iterator[tuple[Chunk, int]]:
    """Group records into lists of ``size``; each with the file position after it."""
    part: Chunk = []
    append = part.append
    for rec in records:
        append(rec)
        if len(part) >= size:
            yield part, position()
            part = []
            append = part.append
    if part:
        yield part, position()


def _child(out: Any, make: Callable[[], Iterator[tuple[Chunk, int]]], close_fds: list[Any]) -> None:
    for c in close_fds:
        c.close()
    try:
        for part, pos in make():
            out.send(("chunk", part, pos))
            del part  # before the next chunk is built
        out.send(("end", None, 0))
    except (BrokenPipeError, ConnectionResetError):
        return  # the parent is gone or stopped reading
    except ResvError as exc:
        # an error of the file (say, an unterminated quote): the parent raises it
        # after the chunks before it, as the in-process path would
        try:
            out.send(("error", str(exc), 0))
        except OSError:
            return
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises
        try:
            out.send(("crash", f"{type(exc).__name__}: {exc}", 0))
        except OSError:
            return
    finally:
        out.close()


# what a worker of the pool does with a piece of rows; set in the reader just before
# the pool forks, so the workers inherit it (a function of the file, never pickled)
_PIECE_WORK: Callable[[list[Any], Any], list[Any]] | None = None


def _work_piece(rows: list[Any], state: Any) -> list[Any]:
    assert _PIECE_WORK is not None
    return _PIECE_WORK(rows, state)


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def default_workers() -> int:
    """Normalising processes by default: the usable CPUs less the reader and the writer.

    The reader and this process (classifying and writing, with the database) already
    keep two CPUs busy; on two CPUs a pool only adds its pickling and ~45 MB of
    memory per worker (measured: 100,000 records, 2 workers vs 1, 12.5 s vs
    9.4-12.4 s, peak PSS 294 MB vs 200 MB), so there the reader normalises.
    """
    return max(1, usable_cpus() - 2)


def in_pieces(
    rows: Iterable[Any],
    work: Callable[[list[Any], Any], list[Any]],
    workers: int,
    piece: int,
    position: Callable[[], int],
    state: Callable[[], Any] = lambda: None,
) -> Iterator[tuple[list[Any], list[Any], int]]:
    """(rows, ``work(rows, state)``, file position after them) per piece of ``piece`` rows.

    In the file's order; ``state()`` is what the reader knows when the piece is cut
    (say, whether the decoder has met a bad byte yet).

    With ``workers`` > 1 (and ``fork``), ``work`` runs in that many forked processes,
    at most two pieces per worker in flight (memory stays bounded whatever the
    file).  An error of the file while reading ends the pieces after those read
    before it, as in one process.  ``work`` must be a pure function of its rows.
    """

    def cut() -> Iterator[tuple[list[Any], int, Any]]:
        part: list[Any] = []
        try:
            for row in rows:
                part.append(row)
                if len(part) >= piece:
                    yield part, position(), state()
                    part = []
        except Exception:
            if part:  # the rows before an error of the file are still the file's
                yield part, position(), state()
            raise
        if part:
            yield part, position(), state()

    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        for part, pos, st in cut():
            yield part, work(part, st), pos
        return
    global _PIECE_WORK
    _PIECE_WORK = work
    ctx = multiprocessing.get_context("fork")
    gc.freeze()  # see ChunkFeed.start: the workers' collections leave shared pages alone
    pool = ctx.Pool(workers)
    gc.unfreeze()
    _PIECE_WORK = None
    in_flight: deque[tuple[list[Any], int, Any]] = deque()
    error: Exception | None = None
    try:
        pieces = cut()
        while True:
            try:
                part, pos, st = next(pieces)
            except StopIteration:
                break
            except Exception as exc:  # an error of the file: the pieces before it first
                error = exc
                break
            in_flight.append((part, pos, pool.apply_async(_work_piece, (part, st))))
            if len(in_flight) >= 2 * workers:
                done, at, result = in_flight.popleft()
                yield done, result.get(), at  # a worker's failure is raised here
        while in_flight:
            done, at, result = in_flight.popleft()
            yield done, result.get(), at
        if error is not None:
            raise error
    finally:
        pool.terminate()
        pool.join()


class ReaderDied(InputError):
    """The reading process ended without a word: not an error of the file."""


def worker_enabled() -> bool:
    if os.environ.get("RESV_IMPORT_WORKER", "1") == "0":
        return False
    return "fork" in multiprocessing.get_all_start_methods()


class ChunkFeed:
    """Iterate ``(chunk, position)``; from a forked child when possible."""

    def __init__(self, make: Callable[[], Iterator[tuple[Chunk, int]]]) -> None:
        self._make: Callable[[], Iterator[tuple[Chunk, int]]] | None = make
        self._proc: Any = None
        self._conn: Any = None
        self.parallel = worker_enabled()

    def start(self) -> None:
        """Fork the reader (before the caller opens its database connection)."""
        if not self.parallel or self._proc is not None:
            return
        ctx = multiprocessing.get_context("fork")
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(
            target=_child, args=(send, self._make, [recv]), name="resv-import-reader"
        )
        # not a daemon: a daemonic process may not fork the normalising workers.  It
        # still ends with this process: close() terminates it, and if this process
        # dies the reader's next send fails and it ends
        # objects of this process that the child inherits are left out of the
        # child's garbage collections, which would otherwise touch (and so copy)
        # every page of the shared heap
        gc.freeze()
        # the child flushes the standard streams it inherits when it ends: anything
        # still buffered here would be written twice
        sys.stdout.flush()
        sys.stderr.flush()
        proc.start()
        gc.unfreeze()
        send.close()  # the child holds the only write end: EOF when it ends
        self._proc, self._conn = proc, recv
        self._make = None  # what the child works from is the child's now (memory)

    def __iter__(self) -> Iterator[tuple[Chunk, int]]:
        if not self.parallel:
            assert self._make is not None
            yield from self._make()
            return
        self.start()
        proc, recv = self._proc, self._conn
        try:
            while True:
                try:
                    kind, part, pos = recv.recv()
                except EOFError:
                    proc.join(5)
                    raise ReaderDied(
                        _(
                            "the reading process ended unexpectedly (exit code {code}); "
                            "nothing after the last committed chunk was written"
                        ).format(code=proc.exitcode)
                    ) from None
                if kind == "chunk":
                    yield part, pos
                    part = None  # not alive while the next one is received
                elif kind == "end":
                    return
                elif kind == "error":
                    raise InputError(part)
                else:
                    raise RuntimeError(f"reading process failed: {part}")
        finally:
            self.close()

    def close(self) -> None:
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        if conn is not None:
            conn.close()
        if proc is not None:
            if proc.is_alive():
                proc.terminate()
            proc.join(5)
