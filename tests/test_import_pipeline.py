"""The import pipeline: the forked reader, the key filter and the per-chunk checks.

The reader may run in a forked child (``resv_cli.importing.feed``) or in-process
(``RESV_IMPORT_WORKER=0``); the results must not depend on the path taken.  A
Bloom filter (``KeyFilter``) spares database lookups of records whose keys are
surely new, so it must never answer "absent" for a key it holds, and rows that
others store for the facility during the run must still be found as duplicates.
On SQLite the import connection turns ``foreign_keys`` off for its chunks and must
give it back on.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import string
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import ADMIN_LOGIN

from resv_cli.core.errors import InputError
from resv_cli.importing import feed
from resv_cli.importing.classify import KeyFilter
from resv_cli.importing.feed import ChunkFeed, chunks
from resv_cli.importing.record import legacy_key, person_key
from tests import factories

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from gen_legacy import HEADER as GEN_HEADER  # noqa: E402
from gen_legacy import generate  # noqa: E402

RECORDS = 3000
CHUNK = 500
CONTENT = (
    "kind, legacy_no, name, name_key, kana, kana_key, date_of_birth, postal_code, address, "
    "phone, phone_digits, phone_extension, emergency_name, emergency_phone, "
    "representative_name, created_by"
)
COUNTS = "status, records_read, imported, updated, duplicates, rejected, unchanged"


# --- helpers ----------------------------------------------------------------------------


@pytest.fixture
def forks(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Record, per ChunkFeed started, whether it really forked a reader process."""
    feeds: list[ChunkFeed] = []
    seen: list[bool] = []
    original = ChunkFeed.start

    def start(self: ChunkFeed) -> None:
        original(self)
        if not any(f is self for f in feeds):  # the importer may call start() twice
            feeds.append(self)
            seen.append(self._proc is not None)

    monkeypatch.setattr(ChunkFeed, "start", start)
    return seen


def import_cli(cli: Any, path: Path, facility: str, *args: str, chunk: int = CHUNK) -> Any:
    return cli(
        "import", "registrants", str(path), "--facility", facility, "--chunk-size", str(chunk),
        *args,
    )  # fmt: skip


def facility_rows(inst: Any, facility: str) -> list[tuple[Any, ...]]:
    rows = inst.clear_rows(
        f"SELECT {', '.join('r.' + c for c in CONTENT.split(', '))} FROM registrants r JOIN facilities f ON f.id = r.facility_id "
        "WHERE f.code = :f",
        f=facility,
    )
    return sorted((tuple(map(str_or_none, r)) for r in rows), key=repr)


def str_or_none(v: Any) -> Any:
    return None if v is None else str(v)


def last_batch(inst: Any, facility: str) -> tuple[int, tuple[Any, ...]]:
    row = inst.rows(
        f"SELECT b.id, {', '.join('b.' + c for c in COUNTS.split(', '))} FROM import_batches b "
        "JOIN facilities f ON f.id = b.facility_id WHERE f.code = :f ORDER BY b.id DESC",
        f=facility,
    )[0]
    return int(row[0]), tuple(row[1:])


def batch_rejects(inst: Any, batch_id: int) -> list[tuple[Any, ...]]:
    return [
        tuple(r)
        for r in inst.rows(
            "SELECT record_no, column_name, kind, reason, legacy_no FROM import_rejects "
            "WHERE batch_id = :b ORDER BY record_no, column_name, reason",
            b=batch_id,
        )
    ]


def reconciliation(counts: tuple[Any, ...]) -> str:
    _, read, imported, updated, duplicates, rejected, unchanged = counts
    return (
        f"{read} read = {imported} imported + {updated} updated + {unchanged} unchanged + "
        f"{duplicates} duplicates + {rejected} rejected (ok)"
    )


@pytest.fixture
def legacy_file(tmp_path: Path) -> Path:
    path = tmp_path / "legacy.csv"
    generate(str(path), RECORDS, "cp932", seed=23)
    return path


# --- a) the worker and the in-process reader give the same import ---------------------


def test_worker_and_in_process_paths_import_the_same(
    installation: Any,
    cli: Any,
    legacy_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    forks: list[bool],
) -> None:
    inst = installation
    factories.make_facility(inst, "via-worker", category="senior_welfare_centre")
    factories.make_facility(inst, "in-process", category="senior_welfare_centre")

    monkeypatch.delenv("RESV_IMPORT_WORKER", raising=False)
    r = import_cli(cli, legacy_file, "via-worker")
    assert r.exit_code == 0, r
    monkeypatch.setenv("RESV_IMPORT_WORKER", "0")
    r2 = import_cli(cli, legacy_file, "in-process")
    assert r2.exit_code == 0, r2
    # the two runs really took the two paths (fork is available on the test machines)
    assert forks == [True, False]

    worker_batch, worker_counts = last_batch(inst, "via-worker")
    plain_batch, plain_counts = last_batch(inst, "in-process")
    assert worker_counts == plain_counts
    status, read, imported, updated, duplicates, rejected, unchanged = worker_counts
    assert (status, read, updated, unchanged) == ("completed", RECORDS, 0, 0)
    # the generated file is messy: both rejects and duplicates, most records imported
    assert rejected > 0 and duplicates > 0 and imported > RECORDS * 0.9
    assert imported + duplicates + rejected == RECORDS
    assert f"Reconciliation: {reconciliation(worker_counts)}" in r.stderr
    assert f"Reconciliation: {reconciliation(plain_counts)}" in r2.stderr

    worker_rows = facility_rows(inst, "via-worker")
    assert len(worker_rows) == imported
    assert worker_rows == facility_rows(inst, "in-process")

    worker_rejects = batch_rejects(inst, worker_batch)
    assert len(worker_rejects) >= rejected + duplicates  # a record may have several reasons
    assert {k for _, _, k, _, _ in worker_rejects} == {"rejected", "duplicate"}
    assert worker_rejects == batch_rejects(inst, plain_batch)
    # the file has duplicates across chunks of both kinds: they are found only through
    # the filter's "maybe" and the database (the message names no record number then)
    across = {reason for _, _, _, reason, _ in worker_rejects if "(record" not in reason}
    assert {
        "duplicate of an earlier record in this file: same registration number",
        "duplicate of an earlier record in this file: same name and date of birth",
    } <= across
    # so no two stored registrants share a number or a person (name, date of birth, kind)
    assert (
        inst.scalar(
            "SELECT count(*) FROM (SELECT 1 FROM registrants GROUP BY facility_id, name_key, "
            "date_of_birth, kind HAVING count(*) > 1) d"
        )
        == 0
    )

    # the same file in one chunk (every duplicate found within the chunk, without the
    # database) gives the same rows and the same records reported
    factories.make_facility(inst, "one-chunk", category="senior_welfare_centre")
    r3 = import_cli(cli, legacy_file, "one-chunk", chunk=RECORDS)
    assert r3.exit_code == 0, r3
    one_batch, one_counts = last_batch(inst, "one-chunk")
    assert one_counts == worker_counts
    assert facility_rows(inst, "one-chunk") == worker_rows
    assert [(n, c, k, lg) for n, c, k, _, lg in batch_rejects(inst, one_batch)] == [
        (n, c, k, lg) for n, c, k, _, lg in worker_rejects
    ]


# --- b) a re-run after a completed import inserts nothing ---------------------------------


def test_rerun_after_completed_import_inserts_nothing(
    installation: Any,
    cli: Any,
    legacy_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    forks: list[bool],
) -> None:
    inst = installation
    factories.make_facility(inst, "chuo-rojin", category="senior_welfare_centre")
    monkeypatch.delenv("RESV_IMPORT_WORKER", raising=False)
    r = import_cli(cli, legacy_file, "chuo-rojin")
    assert r.exit_code == 0, r
    first_batch, first = last_batch(inst, "chuo-rojin")
    before = inst.rows("SELECT id, updated_at FROM registrants ORDER BY id")
    content_before = facility_rows(inst, "chuo-rojin")

    r = import_cli(cli, legacy_file, "chuo-rojin")
    assert r.exit_code == 0, r
    assert forks == [True, True]
    second_batch, second = last_batch(inst, "chuo-rojin")
    assert second_batch != first_batch
    _, read, imported, updated, duplicates, rejected, unchanged = second
    # every record the first run imported is found unchanged (its keys all hit the
    # filter, so every one of them went to the database); the rest are as before
    assert second == ("completed", RECORDS, 0, 0, first[4], first[5], first[2])
    assert f"Reconciliation: {reconciliation(second)}" in r.stderr
    assert inst.rows("SELECT id, updated_at FROM registrants ORDER BY id") == before
    assert facility_rows(inst, "chuo-rojin") == content_before
    # the same records are rejected or duplicates, for the same reasons
    assert batch_rejects(inst, second_batch) == batch_rejects(inst, first_batch)


# --- c) the key filter ------------------------------------------------------------------

KEYS = st.one_of(
    st.text(),
    st.builds(legacy_key, st.text(min_size=1, max_size=64)),
    st.builds(
        person_key,
        st.text(min_size=1, max_size=40),
        st.one_of(st.none(), st.dates().map(dt.date.isoformat)),
        st.sampled_from(["individual", "group"]),
    ),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(KEYS, max_size=300))
def test_key_filter_has_no_false_negatives(keys: list[str]) -> None:
    f = KeyFilter()
    for k in keys:
        f.add(k)
    assert [k for k in keys if k not in f] == []


def test_key_filter_false_positive_rate_below_one_percent() -> None:
    rng = random.Random(4711)
    alphabet = string.ascii_letters + string.digits + "あいうえお髙﨑山田鈴木"

    def key() -> str:
        return "".join(rng.choices(alphabet, k=rng.randrange(6, 24)))

    added = {key() for _ in range(100_000)}
    others: set[str] = set()
    while len(others) < 100_000:
        k = key()
        if k not in added:
            others.add(k)
    f = KeyFilter()
    for k in added:
        f.add(k)
    assert all(k in f for k in added)
    false_positives = sum(k in f for k in others)
    assert false_positives / len(others) < 0.01, false_positives
    # keys shaped like the importer's: consecutive registration numbers
    f2 = KeyFilter()
    for i in range(100_000):
        f2.add(legacy_key(f"{i:08d}"))
    assert all(legacy_key(f"{i:08d}") in f2 for i in range(100_000))
    false_positives = sum(legacy_key(f"{i:08d}") in f2 for i in range(100_000, 200_000))
    assert false_positives / 100_000 < 0.01, false_positives


# --- d) rows stored by someone else during the import -------------------------------------

SURNAMES = "佐藤 鈴木 高橋 田中 伊藤 渡辺 山本 中村 小林 加藤".split()
GIVEN = (
    "一郎 花子 次郎 幸子 三郎 和子 清 洋子 博 節子 茂 良子 実 恵子 進 京子 勇 文子 昭 静子".split()
)
N_RECORDS = 200
SMALL_CHUNK = 20


def person(i: int) -> tuple[str, str, dt.date]:
    """Record i: (registration number, name, date of birth); all distinct."""
    name = f"{SURNAMES[i % 10]} {GIVEN[i // 10]}"
    return f"P{i:05d}", name, dt.date(1930, 1, 1) + dt.timedelta(days=37 * i)


def write_people(path: Path) -> Path:
    lines = [",".join(GEN_HEADER)]
    for i in range(N_RECORDS):
        legacy, name, dob = person(i)
        row = ["個人", legacy, name, "", dob.strftime("%Y/%m/%d"), "", "", "0476-42-1111",
               "", "", "", ""]  # fmt: skip
        lines.append(",".join(row))
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp932"))
    return path


def in_process_actor(inst: Any, login_id: str) -> Any:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from resv_cli.accounts.sessions import actor_for
    from resv_cli.core.models import Account

    with Session(bind=inst.engine()) as s:
        account = s.execute(select(Account).where(Account.login_id == login_id)).scalar_one()
        return actor_for(s, account)


@pytest.mark.parametrize("worker", [True, False], ids=["worker", "in-process"])
def test_rows_stored_by_others_during_the_import_are_duplicates(
    installation: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, worker: bool
) -> None:
    from sqlalchemy import insert

    from resv_cli.core import clock
    from resv_cli.core.db import transaction
    from resv_cli.core.normalize import name_key
    from resv_cli.core.personal import Registrant
    from resv_cli.importing.registrants import ImportOptions, import_registrants
    from resv_cli.records.registrants import NewRegistrant, add_registrant

    inst = installation
    if worker:
        monkeypatch.delenv("RESV_IMPORT_WORKER", raising=False)
    else:
        monkeypatch.setenv("RESV_IMPORT_WORKER", "0")
    fid = factories.make_facility(inst, "chuo-rojin", category="senior_welfare_centre")
    # a clerk of the facility's designated manager, who registers people at the counter
    factories.make_org(inst, "inzai-fm")
    factories.assign(inst, "chuo-rojin", "inzai-fm", dt.date(2000, 4, 1))
    factories.make_account(inst, "fm-clerk", "inzai-fm", "operator", facility="chuo-rojin")
    clerk = in_process_actor(inst, "fm-clerk")
    path = write_people(tmp_path / "people.csv")
    actor = in_process_actor(inst, ADMIN_LOGIN)
    by_person, by_number = 150, 170  # records 151 and 171: chunks 8 and 9 of 10
    stored: dict[str, int] = {}
    calls: list[int] = []

    def progress(position: int, total: int) -> None:
        calls.append(position)
        if len(calls) != 1:
            return
        # the clerk registers record 151's person at the counter ...
        _, name, dob = person(by_person)
        with transaction(inst.engine()) as s:
            new = NewRegistrant(facility="chuo-rojin", name=name.replace(" ", "　"),
                                date_of_birth=dob)  # fmt: skip
            stored["person"] = add_registrant(s, clerk, new)["id"]
        # ... and another writer stores record 171's number with other data
        legacy, _, dob2 = person(by_number)
        now = clock.now()
        with inst.engine().begin() as conn:
            stored["number"] = int(
                conn.execute(
                    insert(Registrant)
                    .values(
                        facility_id=fid,
                        kind="individual",
                        legacy_no=legacy,
                        name="別人 太郎",
                        name_key=name_key("別人 太郎"),
                        date_of_birth=dob2,
                        created_at=now,
                        updated_at=now,
                    )  # fmt: skip
                    .returning(Registrant.id)
                ).scalar_one()
            )

    result = import_registrants(
        inst.engine(),
        actor,
        path,
        "chuo-rojin",
        ImportOptions(chunk_size=SMALL_CHUNK),
        progress=progress,
    )
    assert len(calls) == N_RECORDS // SMALL_CHUNK
    assert result.status == "completed"
    assert result.counts.as_dict() == {
        "records_read": N_RECORDS, "imported": N_RECORDS - 2, "updated": 0, "rejected": 0,
        "duplicates": 2, "unchanged": 0, "skipped": 0,
    }  # fmt: skip
    assert batch_rejects(inst, result.batch_id) == [
        (by_person + 1, "氏名+生年月日", "duplicate",
         f"already in the database as registrant {stored['person']}: same name and date of "
         "birth", person(by_person)[0]),
        (by_number + 1, "登録番号", "duplicate",
         f"registration number already in the database (registrant {stored['number']}) with "
         "different data; kept as it was (--on-conflict update replaces it)",
         person(by_number)[0]),
    ]  # fmt: skip
    # not inserted twice: one row per person and one per number
    assert inst.scalar("SELECT count(*) FROM registrants") == N_RECORDS
    _, name, dob = person(by_person)
    assert (
        inst.scalar(
            "SELECT count(*) FROM registrants WHERE name_key = :k AND date_of_birth = :d",
            k=name_key(name),
            d=dob,
        )
        == 1
    )
    assert inst.scalar(
        "SELECT name FROM registrants WHERE legacy_no = :l", l=person(by_number)[0]
    ) == ("別人 太郎")


def test_postgresql_registration_during_a_chunk_waits_and_is_found(
    installation: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clerk registers a person while a chunk's transaction is open (PostgreSQL).

    Without the facility lock the clerk's row could commit after the chunk looked
    for late rows yet get an id below the chunk's mark, and the file's record of
    the same person would be stored a second time.  With it, the clerk waits for
    the chunk to commit; a later chunk finds the row.
    """
    import threading
    import time

    from resv_cli.core.db import transaction
    from resv_cli.core.normalize import name_key
    from resv_cli.importing import registrants as imp
    from resv_cli.records.migration import RegistrantStore
    from resv_cli.records.registrants import NewRegistrant, add_registrant

    inst = installation
    if inst.backend != "postgresql":
        pytest.skip("SQLite admits one writer at a time (BEGIN IMMEDIATE)")
    factories.make_facility(inst, "chuo-rojin", category="senior_welfare_centre")
    factories.make_org(inst, "inzai-fm")
    factories.assign(inst, "chuo-rojin", "inzai-fm", dt.date(2000, 4, 1))
    factories.make_account(inst, "fm-clerk", "inzai-fm", "operator", facility="chuo-rojin")
    clerk = in_process_actor(inst, "fm-clerk")
    actor = in_process_actor(inst, ADMIN_LOGIN)
    path = write_people(tmp_path / "people.csv")
    target = 170  # record 171, chunk 9 of 10
    _, name, dob = person(target)
    done: dict[str, Any] = {}

    def clerk_registers() -> None:
        with transaction(inst.engine()) as s:
            new = NewRegistrant(facility="chuo-rojin", name=name, date_of_birth=dob)
            done["id"] = add_registrant(s, clerk, new)["id"]
        done["at"] = time.monotonic()

    original = RegistrantStore.insert
    calls: list[float] = []
    clerk_thread = threading.Thread(target=clerk_registers)

    def insert_while_clerk_registers(self: Any, rows: Any) -> None:
        original(self, rows)
        calls.append(time.monotonic())
        if len(calls) == 2:  # inside chunk 2's transaction, before it commits
            clerk_thread.start()
            time.sleep(0.5)
            assert "id" not in done, "the clerk's insert did not wait for the chunk"

    monkeypatch.setattr(RegistrantStore, "insert", insert_while_clerk_registers)
    result = imp.import_registrants(
        inst.engine(), actor, path, "chuo-rojin", imp.ImportOptions(chunk_size=SMALL_CHUNK)
    )
    clerk_thread.join(30)
    assert "id" in done
    assert done["at"] > calls[1]
    assert result.counts.imported == N_RECORDS - 1
    assert result.counts.duplicates == 1
    assert batch_rejects(inst, result.batch_id) == [
        (target + 1, "氏名+生年月日", "duplicate",
         f"already in the database as registrant {done['id']}: same name and date of birth",
         person(target)[0]),
    ]  # fmt: skip
    assert (
        inst.scalar(
            "SELECT count(*) FROM registrants WHERE name_key = :k AND date_of_birth = :d",
            k=name_key(name),
            d=dob,
        )
        == 1
    )


# --- e) SQLite: the import connection gives foreign keys back on --------------------------


def assert_pool_enforces_foreign_keys(inst: Any) -> None:
    """Every connection the pool holds reports foreign_keys = 1 and enforces them."""
    from contextlib import ExitStack

    from sqlalchemy import exc, text

    engine = inst.engine()
    pooled = engine.pool.checkedin()
    assert pooled >= 1  # the import's connections went back to the pool
    with ExitStack() as stack:
        conns = [stack.enter_context(engine.connect()) for _ in range(pooled + 1)]
        for conn in conns:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            with pytest.raises(exc.IntegrityError, match="FOREIGN KEY constraint failed"):
                conn.execute(
                    text(
                        "INSERT INTO registrants (facility_id, kind, name, name_key, "
                        "created_at, updated_at) VALUES (987654, 'individual', 'x', 'x', "
                        "'2026-01-01', '2026-01-01')"
                    )
                )
            conn.rollback()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_sqlite_foreign_keys_back_on_after_import(
    installation: Any, cli: Any, tmp_path: Path
) -> None:
    inst = installation
    factories.make_facility(inst, "chuo-rojin", category="senior_welfare_centre")
    good = write_people(tmp_path / "people.csv")
    r = cli("import", "registrants", str(good), "--facility", "chuo-rojin", "--chunk-size", "50")
    assert r.exit_code == 0, r
    assert "200 read = 200 imported" in r.stderr
    assert_pool_enforces_foreign_keys(inst)

    # aborted by --max-rejects 0: an impossible date in the second chunk, into a second
    # facility (the first chunk is committed, then removed by the abort)
    factories.make_facility(inst, "cosmos")
    bad = tmp_path / "bad.csv"
    text = good.read_bytes().decode("cp932")
    day = person(70)[2].strftime("%Y/%m/%d")
    assert text.count(day) == 1
    bad.write_bytes(text.replace(day, "1940/2/30").encode("cp932"))
    r = cli("import", "registrants", str(bad), "--facility", "cosmos", "--chunk-size", "50",
            "--max-rejects", "0")  # fmt: skip
    assert r.exit_code == 1, r
    batch = inst.scalar("SELECT max(id) FROM import_batches")
    assert (
        f"Error: bad.csv: more than 0 rejected records (--max-rejects); batch {batch} aborted, "
        f"nothing of it was kept; its rejects: `resv import show {batch}`"
    ) in r.stderr
    assert inst.scalar("SELECT status FROM import_batches WHERE id = :b", b=batch) == "aborted"
    assert inst.scalar("SELECT count(*) FROM registrants WHERE import_batch_id = :b", b=batch) == 0
    assert inst.scalar("SELECT count(*) FROM registrants") == N_RECORDS
    assert_pool_enforces_foreign_keys(inst)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_sqlite_foreign_keys_back_on_after_a_dry_run_stopped_by_a_file_error(
    installation: Any, cli: Any, tmp_path: Path
) -> None:
    inst = installation
    factories.make_facility(inst, "chuo-rojin", category="senior_welfare_centre")
    f = write_people(tmp_path / "people.csv")
    # a field beyond the CSV field limit in record 121: the reader stops there, after
    # two chunks of the dry run went through
    text = f.read_bytes().decode("cp932").replace("P00120,", 'P00120,"' + "x" * 1_100_000 + '"')
    f.write_bytes(text.encode("cp932"))
    r = cli("import", "registrants", str(f), "--facility", "chuo-rojin", "--chunk-size", "50",
            "--dry-run")  # fmt: skip
    assert r.exit_code == 1, r
    assert (
        "Error: people.csv: record 121 (near line 122): field larger than field limit "
        "(1048576); nothing after this point was read"
    ) in r.stderr
    assert inst.scalar("SELECT count(*) FROM registrants") == 0
    assert_pool_enforces_foreign_keys(inst)


# --- f) the forked reader -----------------------------------------------------------------


def simple_records(n: int) -> Iterator[tuple[Any, ...]]:
    for i in range(1, n + 1):
        yield (
            i,
            ("individual", f"{i:05d}", "髙橋 一郎"),
            [],
            None,
            legacy_key(f"{i:05d}"),
            None,
            True,
        )


def simple_make() -> Iterator[tuple[list[Any], int]]:
    pos = iter(range(100, 10_000, 100))
    return chunks(simple_records(23), 5, lambda: next(pos))


@pytest.fixture
def with_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RESV_IMPORT_WORKER", raising=False)
    if not feed.worker_enabled():
        pytest.skip("no fork start method on this platform")


def test_feed_reader_dies_after_one_chunk(with_worker: None) -> None:
    parent = os.getpid()
    first = [(1, ("individual", "0001", "x"), [], None, "L\x1f0001", None, True)]

    def make() -> Iterator[tuple[list[Any], int]]:
        yield first, 10
        if os.getpid() != parent:  # never end the test process itself
            os._exit(3)
        raise AssertionError("make() ran in the test process")

    f = ChunkFeed(make)
    assert f.parallel
    got = []
    with pytest.raises(InputError) as err:
        for part in f:
            got.append(part)
    assert got == [(first, 10)]
    assert str(err.value) == (
        "the reading process ended unexpectedly (exit code 3); "
        "nothing after the last committed chunk was written"
    )


def test_feed_passes_the_readers_input_error_after_its_chunks(
    with_worker: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = "bad.csv: near line 7: unterminated quoted field"
    first = [(1, ("individual", "0001", "x"), [], None, "L\x1f0001", None, True)]

    def make() -> Iterator[tuple[list[Any], int]]:
        yield first, 10
        raise InputError(message)

    for worker in ("1", "0"):
        monkeypatch.setenv("RESV_IMPORT_WORKER", worker)
        f = ChunkFeed(make)
        assert f.parallel is (worker == "1")
        got = []
        with pytest.raises(InputError) as err:
            for part in f:
                got.append(part)
        assert got == [(first, 10)], worker
        assert str(err.value) == message, worker


def test_feed_worker_and_in_process_yield_the_same_chunks(
    with_worker: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    forked = ChunkFeed(simple_make)
    assert forked.parallel
    from_worker = list(forked)
    assert forked._proc is None  # closed: the child was joined
    monkeypatch.setenv("RESV_IMPORT_WORKER", "0")
    plain = ChunkFeed(simple_make)
    assert not plain.parallel
    in_process = list(plain)
    assert [len(c) for c, _ in from_worker] == [5, 5, 5, 5, 3]
    assert [p for _, p in from_worker] == [100, 200, 300, 400, 500]
    assert from_worker == in_process
    assert [rec for c, _ in from_worker for rec in c] == list(simple_records(23))


# --- over-long values of the columns without their own normaliser limit ------------------


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        (3, "アイウエオ" * 41, "reading longer than 200 characters"),
        (8, "山田" * 101, "emergency contact name longer than 200 characters"),
        (11, "山田" * 101, "representative name longer than 200 characters"),
    ],
    ids=["kana", "emergency-name", "representative"],
)
def test_over_long_values_are_rejected_not_truncated_or_crashing(
    installation: Any, cli: Any, tmp_path: Path, column: int, value: str, reason: str
) -> None:
    # found by review: these columns are VARCHAR(200); SQLite stored 205 characters and
    # PostgreSQL stopped the whole import with StringDataRightTruncation
    inst = installation
    factories.make_facility(inst, "chuo-rojin")
    path = write_people(tmp_path / "people.csv")
    lines = path.read_bytes().decode("cp932").split("\r\n")
    row = lines[5].split(",")  # record 5
    row[column] = value
    if column == 11:
        row[0], row[10] = "団体", "山田クラブ"
    lines[5] = ",".join(row)
    path.write_bytes("\r\n".join(lines).encode("cp932"))
    r = import_cli(cli, path, "chuo-rojin", chunk=50)
    assert r.exit_code == 0, r.stderr
    assert "200 read = 199 imported + 0 updated + 0 unchanged + 0 duplicates + 1 rejected" in (
        r.stderr
    )
    label = GEN_HEADER[column]
    batch_id, _ = last_batch(inst, "chuo-rojin")
    assert batch_rejects(inst, batch_id) == [(5, label, "rejected", reason, person(4)[0])]
    assert (
        inst.scalar(
            "SELECT count(*) FROM registrants WHERE length(kana) > 200 OR "
            "length(representative_name) > 200"
        )
        == 0
    )
    assert all(len(n or "") <= 200 for (n,) in inst.clear_rows("SELECT emergency_name FROM registrants"))


def test_sqlite_per_chunk_queries_never_read_the_facilitys_rows(
    installation: Any, tmp_path: Path
) -> None:
    """Every per-chunk query is a key lookup or a primary-key range.

    Found at 1,000,000 records: the query for rows stored by others during the run
    was planned on (facility_id, legacy_no) and read every row imported so far,
    each chunk; the import grew quadratically.
    """
    from sqlalchemy import event

    from resv_cli.importing.registrants import ImportOptions, import_registrants

    inst = installation
    if inst.backend != "sqlite":
        pytest.skip("SQLite's planner (EXPLAIN QUERY PLAN)")
    factories.make_facility(inst, "chuo-rojin")
    actor = in_process_actor(inst, ADMIN_LOGIN)
    path = write_people(tmp_path / "people.csv")
    engine = inst.engine()
    engine.dispose()
    statements: list[str] = []

    @event.listens_for(engine, "connect")
    def trace(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.set_trace_callback(statements.append)

    result = import_registrants(engine, actor, path, "chuo-rojin", ImportOptions(chunk_size=50))
    assert result.counts.imported == N_RECORDS
    # a re-run: every record is a "maybe", so the legacy and person lookups run too
    again = import_registrants(engine, actor, path, "chuo-rojin", ImportOptions(chunk_size=50))
    assert again.counts.unchanged == N_RECORDS
    selects = [
        s for s in statements
        if s.lstrip().upper().startswith("SELECT") and " registrants " in f"{s} "
        and "id <=" not in s  # the one scan, before the first chunk (load_keys)
    ]  # fmt: skip
    # per chunk of both runs: late rows and max id; of the re-run: legacy and person lookups
    assert len(selects) >= 8 * 2 + 8
    assert sum("json_each" in s for s in selects) == 4 * 2
    import sqlite3

    con = sqlite3.connect(inst.url.removeprefix("sqlite:///"))
    try:
        for sql in selects:
            plan = " | ".join(r[3] for r in con.execute("EXPLAIN QUERY PLAN " + sql))
            assert "SCAN registrants" not in plan, (sql, plan)
            assert "sqlite_autoindex_registrants_1 (facility_id=?)" not in plan, (sql, plan)
    finally:
        con.close()


def test_several_pieces_per_checkpoint_commit_and_resume(
    installation: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pieces of 20 records, a checkpoint every 50 (committed after 60): a run stopped
    after its second commit is finished by resume with the same rows as one run."""
    from resv_cli.importing import registrants as imp

    inst = installation
    monkeypatch.setattr(imp, "PIECE", 20)
    factories.make_facility(inst, "chuo-rojin")
    factories.make_facility(inst, "kita-rojin")
    actor = in_process_actor(inst, ADMIN_LOGIN)
    path = write_people(tmp_path / "people.csv")
    opts = imp.ImportOptions(chunk_size=50)

    commits: list[int] = []
    whole = imp.import_registrants(
        inst.engine(), actor, path, "kita-rojin", opts, progress=lambda p, t: commits.append(p)
    )
    assert whole.counts.imported == N_RECORDS
    assert len(commits) == 4  # after records 60, 120, 180 and 200

    class Stop(Exception):
        pass

    def stop_after_two(position: int, total: int) -> None:
        commits.append(position)
        if len(commits) == 6:
            raise Stop

    with pytest.raises(Stop):
        imp.import_registrants(
            inst.engine(), actor, path, "chuo-rojin", imp.ImportOptions(chunk_size=50),
            progress=stop_after_two,
        )  # fmt: skip
    batch_id, counts = last_batch(inst, "chuo-rojin")
    assert counts[0] == "running"
    assert inst.scalar("SELECT checkpoint FROM import_batches WHERE id = :b", b=batch_id) == 120
    assert inst.scalar(
        "SELECT count(*) FROM registrants r JOIN facilities f ON f.id = r.facility_id "
        "WHERE f.code = 'chuo-rojin'"
    ) == 120  # fmt: skip
    resumed = imp.resume_import(inst.engine(), actor, batch_id, path)
    assert resumed.status == "completed"
    assert resumed.counts.as_dict() == whole.counts.as_dict()
    assert facility_rows(inst, "chuo-rojin") == facility_rows(inst, "kita-rojin")


# --- two imports of one facility at the same time -----------------------------------------

CONCURRENT_CHUNK = 10


def write_overlapping(path: Path, first: int, last: int, prefix: str, overlap_prefix: str,
                      overlap: range) -> Path:  # fmt: skip
    """Records first..last-1; those in ``overlap`` carry ``overlap_prefix`` numbers."""
    lines = [",".join(GEN_HEADER)]
    for i in range(first, last):
        name = f"{SURNAMES[i % 10]} {GIVEN[(i // 10) % 20]}"
        dob = dt.date(1930, 1, 1) + dt.timedelta(days=37 * i)
        legacy = f"{overlap_prefix if i in overlap else prefix}{i:05d}"
        row = ["個人", legacy, name, "", dob.strftime("%Y/%m/%d"), "", "", "0476-42-1111",
               "", "", "", ""]  # fmt: skip
        lines.append(",".join(row))
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp932"))
    return path


@pytest.mark.slow
def test_two_concurrent_imports_of_one_facility_store_each_person_once(
    installation: Any, tmp_path: Path
) -> None:
    """Two imports of overlapping files into one facility run at the same time.

    Records 200-299 are in both files: 200-249 with the same registration number (the
    number catches them), 250-299 with different numbers (only name and date of birth
    catch them).  Whichever import stores a person first, the other must report it, and
    every person must be stored exactly once.  Import A runs in this process; after its
    first checkpoint it starts import B (the command, in another process) and goes on
    once B has committed a checkpoint of its own, so the two certainly overlap and then
    contend for the facility's lock checkpoint by checkpoint.
    """
    import subprocess
    import time

    from resv_cli.importing.registrants import ImportOptions, import_registrants

    inst = installation
    factories.make_facility(inst, "chuo-rojin", category="senior_welfare_centre")
    same_number, other_number = range(200, 250), range(250, 300)
    a = write_overlapping(tmp_path / "a.csv", 0, 300, "A", "S", same_number)
    b = write_overlapping(tmp_path / "b.csv", 200, 500, "B", "S", same_number)
    resv = str(Path(sys.executable).with_name("resv"))
    procs: list[subprocess.Popen[str]] = []

    def progress(position: int, total: int) -> None:
        if procs:
            return
        procs.append(
            subprocess.Popen(
                [
                    resv,
                    "import",
                    "registrants",
                    str(b),
                    "--facility",
                    "chuo-rojin",
                    "--chunk-size",
                    str(CONCURRENT_CHUNK),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
        )
        deadline = time.monotonic() + 120
        while procs[0].poll() is None and time.monotonic() < deadline:
            if inst.scalar("SELECT count(*) FROM import_batches WHERE checkpoint > 0") > 1:
                return  # B has committed its first checkpoint and is going on
            time.sleep(0.01)
        raise AssertionError("import B did not get going: " + procs[0].communicate()[1])

    actor = in_process_actor(inst, ADMIN_LOGIN)
    result = import_registrants(inst.engine(), actor, a, "chuo-rojin",
                                ImportOptions(chunk_size=CONCURRENT_CHUNK), progress=progress)  # fmt: skip
    _, err = procs[0].communicate(timeout=600)
    assert procs[0].returncode == 0, err[-2000:]
    assert result.status == "completed"
    batches = inst.rows(
        "SELECT id, status, records_read, imported, updated, duplicates, rejected, unchanged "
        "FROM import_batches ORDER BY id"
    )
    assert [b_[1] for b_ in batches] == ["completed", "completed"]
    for _, _, read, imported, updated, duplicates, rejected, unchanged in batches:
        assert read == 300 == imported + updated + duplicates + rejected + unchanged
        assert rejected == 0 and updated == 0
    # each of the 500 people once, whichever import got there first
    assert inst.scalar("SELECT count(*) FROM registrants") == 500
    assert sum(b_[3] for b_ in batches) == 500
    # each of the 100 shared people was caught by one of the two imports: as the same
    # registration number with the same data (unchanged) or as a duplicate
    assert sum(b_[5] + b_[7] for b_ in batches) == 100
    assert (
        inst.scalar(
            "SELECT count(*) FROM (SELECT name_key, dob_bidx FROM registrants "
            "GROUP BY name_key, dob_bidx HAVING count(*) > 1) d"
        )
        == 0
    )
    for i in other_number:
        assert inst.scalar(
            "SELECT count(*) FROM registrants WHERE legacy_no IN (:a, :b)",
            a=f"A{i:05d}", b=f"B{i:05d}",
        ) == 1  # fmt: skip
    # the two imports really ran at the same time: their rows interleave
    (lo1, hi1), (lo2, hi2) = (
        inst.rows("SELECT min(id), max(id) FROM registrants WHERE import_batch_id = :b",
                  b=bid)[0]
        for bid, *_ in batches
    )  # fmt: skip
    assert lo1 < hi2 and lo2 < hi1, f"the imports did not overlap: {(lo1, hi1, lo2, hi2)}"
