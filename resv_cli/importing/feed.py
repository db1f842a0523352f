"""Read and normalise a legacy file in a second process, chunk by chunk.

Reading, decoding and normalising (pure Python, about half of an import's work)
run in a forked child while the parent classifies and writes the previous chunk:
on a two-core machine the two halves overlap.  The child never touches the
database; it sends each chunk of normalised records through a pipe and ends when
the file does, when the parent stops reading, or when the parent dies (its next
send fails).

Without ``fork`` (or with ``RESV_IMPORT_WORKER=0``) the same chunks are produced
in-process, in the same order, so results never depend on the path taken.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator
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
            target=_child, args=(send, self._make, [recv]), name="resv-import-reader", daemon=True
        )
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
