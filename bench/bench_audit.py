"""`resv audit verify` throughput over 1,000,000 events, beside a bare read+hash loop.

For SQLite and (when RESV_TEST_PG_URL is set, as `make bench` does) PostgreSQL:
build a database with N chained events (executemany / COPY), then time, in the
same run and alternating, medians of RUNS:

- baseline: a bare loop that runs the same SELECT (the same rows and columns)
  through the same kind of driver cursor and HMAC-SHA-256s one stored text per
  row (the detail) under the audit key, comparing it with the stored MAC;
- verify: ``verify_chain`` (canonical form joined from the row, HMAC-SHA-256
  under the key the key file says is in force, compare, sequence, key and link
  checks).  The events are chain version 2 (keyed), as a new installation writes.

Goal (issue 7): verify within 2x of the baseline.  BENCH_QUICK=1: 100,000 events.
"""

from __future__ import annotations

import datetime as dt
import hmac
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from resv_cli.audit import chain as audit  # noqa: E402
from resv_cli.audit import keys  # noqa: E402
from resv_cli.audit.chain import verify_select_sql  # noqa: E402
from resv_cli.audit.verify import verify_chain  # noqa: E402

N = 100_000 if os.environ.get("BENCH_QUICK") else 1_000_000
RUNS = 3
BATCH = 50_000
ACTIONS = ("registrant.view", "registrant.search", "booking.add", "auth.login", "report.export")
FACILITIES = (None, "cosmos", "chuo-rojin", "honme-rojin", "sogo-fukushi")


_KEY_DIR = tempfile.mkdtemp(prefix="resv-bench-key-")
os.environ["RESV_AUDIT_KEY_FILE"] = str(Path(_KEY_DIR) / "audit.key")
RING, _ = keys.create_for_new_history()
KEY = RING.current()


def events(n: int):
    """Yield batches of keyed, chained event rows (lists with typed values)."""
    prev = audit.GENESIS
    mac_key, kid = KEY.mac_key, KEY.id
    t0 = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    batch = []
    for seq in range(1, n + 1):
        when = t0 + dt.timedelta(microseconds=seq * 1_234_567)
        fields = [
            seq,
            audit.canonical_time(when),
            (seq % 300) + 1,
            f"inzai-fm-{(seq % 300) + 1:04d}",
            "inzai-fm",
            ACTIONS[seq % 5],
            "registrant",
            str(seq % 50_000),
            FACILITIES[seq % 5],
            "allowed" if seq % 17 else "denied",
            f'{{"q_hmac":"{seq * 2654435761 % (1 << 64):016x}","rows":{seq % 20}}}',
            prev,
        ]
        digest = audit.event_mac(mac_key, audit.canonical_text(fields).encode("utf-8"), kid)
        fields[1] = when
        fields.append(kid)
        fields.append(digest)
        batch.append(fields)
        prev = digest
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


COLS = audit.ARCHIVED  # the twelve fields, key_id, hash


def build_sqlite(path: Path) -> str:
    from resv_cli.core.db import create_schema, get_engine

    url = f"sqlite:///{path}"
    engine = get_engine(url)
    with engine.begin() as conn:
        create_schema(conn)
    engine.dispose()
    import sqlite3

    con = sqlite3.connect(path, isolation_level=None)
    # set-up only (not measured): no journal, a large cache, indexes built after the load
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-400000")
    indexes = con.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_events' "
        "AND sql IS NOT NULL"
    ).fetchall()
    for name, _sql in indexes:
        con.execute(f"DROP INDEX {name}")
    sql = f"INSERT INTO audit_events ({', '.join(COLS)}) VALUES ({', '.join('?' * len(COLS))})"
    con.execute("BEGIN")
    for batch in events(N):
        for row in batch:
            row[1] = audit.canonical_time(row[1])  # SQLAlchemy's SQLite storage format
        con.executemany(sql, batch)
    for _name, index_sql in indexes:
        con.execute(index_sql)
    con.execute("COMMIT")
    con.execute("PRAGMA journal_mode=WAL")  # as resv runs it
    con.close()
    return url


def build_postgres(admin_url: str) -> tuple[str, str]:
    import psycopg
    from sqlalchemy.engine import make_url

    from resv_cli.core.db import create_schema, get_engine

    name = f"resv_bench_{uuid.uuid4().hex[:8]}"
    u = make_url(admin_url)
    dsn = f"host={u.host} port={u.port} dbname={u.database} user={u.username}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = u.set(database=name).render_as_string(hide_password=False)
    engine = get_engine(url)
    with engine.begin() as conn:
        create_schema(conn)
    engine.dispose()
    with psycopg.connect(f"host={u.host} port={u.port} dbname={name} user={u.username}") as conn:
        with conn.cursor() as cur:
            with cur.copy(f"COPY audit_events ({', '.join(COLS)}) FROM STDIN") as copy:
                for batch in events(N):
                    for row in batch:
                        copy.write_row(row)
        conn.execute("ANALYZE audit_events")
    return url, name


def bare_loop(engine) -> int:
    """Read the same rows through the same kind of cursor and MAC a stored text per row."""
    mac, key = hmac.digest, KEY.mac_key
    n = 0
    with engine.connect() as conn:
        conn.begin()
        raw = conn.connection.driver_connection
        if conn.dialect.name == "postgresql":
            cur = raw.cursor(name="bench_bare")
            cur.itersize = 20_000
        else:
            cur = raw.cursor()
        cur.execute(verify_select_sql(conn.dialect.name))
        while True:
            rows = cur.fetchmany(20_000)
            if not rows:
                break
            for row in rows:
                if mac(key, row[10].encode("utf-8"), "sha256").hex() == row[13]:
                    n -= 1  # never true; keeps the comparison in the loop
                n += 1
        cur.close()
    return n


def measure(label: str, url: str) -> None:
    from resv_cli.core.db import get_engine

    engine = get_engine(url)
    bare_loop(engine)  # warm the cache
    bares, verifies = [], []
    for _ in range(RUNS):
        t = time.perf_counter()
        assert bare_loop(engine) == N
        bares.append(time.perf_counter() - t)
        t = time.perf_counter()
        result = verify_chain(engine)
        verifies.append(time.perf_counter() - t)
        assert result.ok and result.head_seq == N, result.message
    b, v = statistics.median(bares), statistics.median(verifies)
    print(f"{label:10s} bare read+hash loop  median {b:6.2f} s  ({N / b / 1000:6.0f}k rows/s)")
    print(f"{label:10s} resv audit verify    median {v:6.2f} s  ({N / v / 1000:6.0f}k rows/s)")
    print(
        f"{label:10s} ratio verify/bare {v / b:.2f}x  (goal <= 2x: {'met' if v / b <= 2 else 'NOT met'})"
    )
    engine.dispose()


def main() -> None:
    print(f"{N:,} events, medians of {RUNS} runs, alternating baseline and verify")
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        url = build_sqlite(Path(tmp) / "bench.db")
        print(f"sqlite     built in {time.perf_counter() - t:.1f} s (executemany)")
        measure("sqlite", url)
    pg = os.environ.get("RESV_TEST_PG_URL")
    if not pg:
        print("postgresql skipped: RESV_TEST_PG_URL unset (run through `make bench`)")
        return
    t = time.perf_counter()
    url, name = build_postgres(pg)
    print(f"postgresql built in {time.perf_counter() - t:.1f} s (COPY)")
    try:
        measure("postgresql", url)
    finally:
        import psycopg
        from sqlalchemy.engine import make_url

        u = make_url(pg)
        with psycopg.connect(
            f"host={u.host} port={u.port} dbname={u.database} user={u.username}", autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
