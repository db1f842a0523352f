"""Normalising in worker processes (``--workers``): the same import with any number of them.

The reader cuts the file into pieces that a pool of forked workers normalises
(``feed.in_pieces``); the results come back in the file's order, the keys of
earlier records are made in the reader, so the rows, counts and rejects must not
depend on the number of workers.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from resv_cli.importing import feed
from tests import factories

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from gen_legacy import generate  # noqa: E402

RECORDS = 2500
CONTENT = (
    "kind, legacy_no, name, name_key, kana, kana_key, date_of_birth, postal_code, address, "
    "phone, phone_digits, phone_extension, emergency_name, emergency_phone, representative_name"
)


def messy_file(path: Path) -> Path:
    """A generated ledger (rejects, duplicates) with undecodable bytes in two records."""
    generate(str(path), RECORDS, "cp932", seed=31)
    lines = path.read_bytes().split(b"\r\n")
    for start in (700, 1900):  # a lone cp932 lead byte: the record is rejected, not guessed
        at = next(i for i in range(start, len(lines)) if b'"' not in lines[i])
        fields = lines[at].split(b",")
        fields[2] = fields[2] + b"\x82"
        lines[at] = b",".join(fields)
    path.write_bytes(b"\r\n".join(lines))
    return path


def outcome(inst: Any, facility: str) -> tuple[Any, ...]:
    rows = inst.clear_rows(
        f"SELECT {', '.join('r.' + c for c in CONTENT.split(', '))} FROM registrants r "
        "JOIN facilities f ON f.id = r.facility_id WHERE f.code = :f",
        f=facility,
    )
    batch = inst.rows(
        "SELECT b.id, b.status, b.records_read, b.imported, b.duplicates, b.rejected "
        "FROM import_batches b JOIN facilities f ON f.id = b.facility_id WHERE f.code = :f",
        f=facility,
    )[0]
    rejects = inst.rows(
        "SELECT record_no, column_name, kind, reason, legacy_no FROM import_rejects "
        "WHERE batch_id = :b ORDER BY record_no, column_name, reason",
        b=batch[0],
    )
    rows_ = sorted((tuple(None if v is None else str(v) for v in r) for r in rows), key=repr)
    return rows_, tuple(batch[1:]), [tuple(r) for r in rejects]


PIDS: Path | None = None
_ORIGINAL_WORK = feed._work_piece


def spy(rows: list[Any], state: Any) -> list[Any]:
    """feed._work_piece, noting the process that ran it (module-level: the pool pickles it)."""
    assert PIDS is not None
    with PIDS.open("a") as f:
        f.write(f"{os.getpid()}\n")
    return _ORIGINAL_WORK(rows, state)


def test_any_number_of_workers_imports_the_same(
    installation: Any, cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inst = installation
    legacy = messy_file(tmp_path / "legacy.csv")
    # which processes normalised a piece: the workers inherit the spy when they fork
    pids = tmp_path / "pids"
    monkeypatch.setattr(sys.modules[__name__], "PIDS", pids)
    monkeypatch.setattr(feed, "_work_piece", spy)
    results = {}
    for workers in ("1", "3"):
        factories.make_facility(inst, f"w{workers}", category="senior_welfare_centre")
        r = cli("import", "registrants", str(legacy), "--facility", f"w{workers}",
                "--workers", workers, "--chunk-size", "400")  # fmt: skip
        assert r.exit_code == 0, r
        results[workers] = outcome(inst, f"w{workers}")
        seen = set(pids.read_text().split()) if pids.exists() else set()
        if workers == "1":
            assert not seen  # one process: the reader normalises, no pool
        else:
            # the pieces really went to several processes other than this one
            assert len(seen) >= 2 and str(os.getpid()) not in seen
    rows, counts, rejects = results["1"]
    assert results["3"] == results["1"]
    status, read, imported, duplicates, rejected = counts
    assert (status, read) == ("completed", RECORDS)
    assert imported == len(rows) and duplicates > 0 and rejected > 0
    undecodable = [r for r in rejects if r[3] == "undecodable byte (not valid cp932)"]
    assert len(undecodable) == 2 and {r[1] for r in undecodable} == {"氏名"}


def test_workers_out_of_range_are_refused(installation: Any, cli: Any, tmp_path: Path) -> None:
    legacy = messy_file(tmp_path / "legacy.csv")
    for bad in ("0", "65"):
        r = cli("import", "registrants", str(legacy), "--facility", "chuo-rojin",
                "--workers", bad)  # fmt: skip
        assert r.exit_code == 1
        assert r.stderr.strip() == "Error: workers must be between 1 and 64"


# --- the pieces themselves -------------------------------------------------------------


def doubled(rows: list[int], state: Any) -> list[int]:
    return [2 * x for x in rows]


@pytest.mark.parametrize("workers", [1, 3])
def test_pieces_come_back_in_order_with_bounded_reading_ahead(workers: int) -> None:
    read: list[int] = []

    def rows() -> Any:
        for i in range(10_000):
            read.append(i)
            yield i

    out: list[int] = []
    ahead = 0
    for part, result, pos in feed.in_pieces(rows(), doubled, workers, 250, lambda: len(read)):
        assert result == [2 * x for x in part]
        assert pos >= part[-1] + 1
        ahead = max(ahead, len(read) - (part[-1] + 1))
        out.extend(part)
    assert out == list(range(10_000))
    # at most two pieces per worker in flight, besides the one being cut
    assert ahead <= (2 * workers + 1) * 250


@pytest.mark.parametrize("workers", [1, 3])
def test_an_error_of_the_file_comes_after_the_pieces_read_before_it(workers: int) -> None:
    def rows() -> Any:
        yield from range(1_030)
        raise ValueError("record 1031: unterminated quote")

    got: list[int] = []
    with pytest.raises(ValueError, match="record 1031: unterminated quote"):
        for part, _result, _pos in feed.in_pieces(rows(), doubled, workers, 100, lambda: 0):
            got.extend(part)
    assert got == list(range(1_030))


def failing(rows: list[int], state: Any) -> list[int]:
    if 500 in rows:
        raise RuntimeError("normaliser failed on a piece")
    return rows


def test_a_failing_worker_stops_the_pieces_at_its_own() -> None:
    got: list[int] = []
    with pytest.raises(RuntimeError, match="normaliser failed on a piece"):
        for part, _result, _pos in feed.in_pieces(iter(range(3_000)), failing, 2, 100, lambda: 0):
            got.extend(part)
    assert got == list(range(500))  # the pieces before the failing one, none after it
