"""Scoped registrant search over 1,000,000 registrants in 100 facilities (SQLite, PostgreSQL).

For each backend: build a fresh database with resv's schema, bulk-load the
registrants (stdlib ``executemany`` on SQLite, ``COPY`` on PostgreSQL), ANALYZE,
then time name searches by an operator whose organisation manages 10 of the 100
facilities:

* ``scoped SQL``   - the exact SELECTs ``registrant search --name`` runs: the
  permitted facility ids (a query over facilities and rules), then the registrant
  query filtered by them (ORDER BY name key, LIMIT 100), with ORM row loading;
* ``unscoped SQL`` - the same SELECT without the scope filter: the baseline;
* ``service``      - the whole ``search_registrants`` call as the command makes it
  (actor lookup, scoped query, per-facility field decision, audit append, commit).

Figures: median and p95 over QUERIES searches of random full names, and the ratio
scoped / unscoped of the medians.  Target: p95 under 20 ms for the scoped name
search.  BENCH_QUICK=1 loads 100,000 rows.  PostgreSQL runs when RESV_TEST_PG_URL
is set (``make bench`` starts a throwaway server).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUICK = os.environ.get("BENCH_QUICK") == "1"
ROWS = 100_000 if QUICK else 1_000_000
FACILITIES = 100
MANAGED = 10  # facilities the operator's organisation manages
QUERIES = 300
SURNAMES = [
    "佐藤", "鈴木", "髙橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤",
    "吉田", "山田", "佐々木", "山口", "松本", "井上", "木村", "林", "斎藤", "清水",
    "山﨑", "森", "池田", "橋本", "阿部", "石川", "山下", "中島", "石井", "小川",
    "前田", "岡田", "長谷川", "藤田", "後藤", "近藤", "村上", "遠藤", "青木", "坂本",
]  # fmt: skip
GIVEN = [
    "花子", "太郎", "一郎", "和子", "幸子", "節子", "弘", "茂", "清", "実",
    "久子", "洋子", "勝", "進", "博", "正", "光子", "美代子", "稔", "明",
    "文子", "良子", "豊", "隆", "誠", "昭", "恵子", "春子", "秋子", "冬子",
    "栄子", "静子", "武", "修", "勇", "功", "登", "悟", "守", "哲也",
    "君子", "信子", "敏子", "孝", "章", "満", "宏", "浩", "昇", "剛",
]  # fmt: skip


def names() -> list[tuple[str, str]]:
    from resv_cli.core.normalize import name_key

    out = []
    for s in SURNAMES:
        for g in GIVEN:
            full = f"{s} {g}"
            out.append((full, name_key(full)))
    return out


def setup_schema(url: str) -> tuple[int, int]:
    """Schema, the city, a manager with MANAGED facilities, an operator; return ids."""
    from sqlalchemy import insert, select

    from resv_cli.core import clock, fieldcrypt, kek
    from resv_cli.core.db import create_schema, get_engine
    from resv_cli.core.models import Account, Facility, ManagementPeriod, Organization

    engine = get_engine(url)
    now = clock.now()
    with engine.begin() as conn:
        create_schema(conn)
        fieldcrypt.create_keys(conn, kek.ensure()[0], encrypt_dob=False, now=now)
        conn.execute(
            insert(Organization),
            [
                {"code": "city", "name": "市", "kind": "city", "created_at": now},
                {"code": "dm", "name": "指定管理者", "kind": "designated_manager",
                 "created_at": now},
            ],
        )  # fmt: skip
        orgs = dict(conn.execute(select(Organization.code, Organization.id)).all())
        conn.execute(
            insert(Facility),
            [
                {"code": f"fac{i:03d}", "name": f"施設{i}", "category": "community_centre",
                 "created_at": now, "updated_at": now}
                for i in range(FACILITIES)
            ],
        )  # fmt: skip
        fac_ids = [fid for (fid,) in conn.execute(select(Facility.id).order_by(Facility.id))]
        conn.execute(
            insert(ManagementPeriod),
            [
                {"facility_id": fid, "organization_id": orgs["dm" if i < MANAGED else "city"],
                 "valid_from": dt.date(2000, 4, 1), "valid_until": None, "created_at": now}
                for i, fid in enumerate(fac_ids)
            ],
        )  # fmt: skip
        conn.execute(
            insert(Account),
            {"login_id": "bench-op", "display_name": "bench", "organization_id": orgs["dm"],
             "role": "operator", "status": "active", "failed_attempts": 0, "lock_count": 0,
             "created_at": now, "updated_at": now},
        )  # fmt: skip
        acct = conn.execute(select(Account.id).where(Account.login_id == "bench-op")).scalar_one()
    return int(acct), fac_ids[0]


def rows(fac_ids: list[int], pool: list[tuple[str, str]]):
    rnd = random.Random(42)
    now = "2026-01-01 00:00:00"
    base = dt.date(1930, 1, 1)
    for i in range(ROWS):
        name, key = pool[rnd.randrange(len(pool))]
        dob = base + dt.timedelta(days=rnd.randrange(365 * 50))
        yield (
            fac_ids[i % len(fac_ids)], "individual", name, key, dob.isoformat(), now, now,
        )  # fmt: skip


# the name search reads none of the sealed fields (bench/bench_crypto.py measures those)
COLS = "facility_id, kind, name, name_key, date_of_birth, created_at, updated_at"


def _indexes(url: str, create: bool) -> None:
    """Drop the registrant indexes before a bulk load and build them after (bulk-load idiom)."""
    from resv_cli.core.db import get_engine
    from resv_cli.core.personal import Registrant

    engine = get_engine(url)
    with engine.begin() as conn:
        for idx in sorted(Registrant.__table__.indexes, key=lambda i: i.name or ""):
            (idx.create if create else idx.drop)(conn)
    engine.dispose()


def load_sqlite(path: Path, fac_ids: list[int], pool: list[tuple[str, str]]) -> float:
    import sqlite3

    url = f"sqlite:///{path}"
    t0 = time.perf_counter()
    _indexes(url, create=False)
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")
    con.execute("BEGIN")
    con.executemany(
        f"INSERT INTO registrants ({COLS}) VALUES (?,?,?,?,?,?,?)", rows(fac_ids, pool)
    )
    con.execute("COMMIT")
    con.close()
    _indexes(url, create=True)
    con = sqlite3.connect(path)
    con.execute("ANALYZE")
    con.close()
    return time.perf_counter() - t0


def load_pg(url: str, fac_ids: list[int], pool: list[tuple[str, str]]) -> float:
    import psycopg

    sys.path.insert(0, str(ROOT / "tests"))
    from support import psycopg_dsn

    t0 = time.perf_counter()
    _indexes(url, create=False)
    with psycopg.connect(psycopg_dsn(url)) as conn:
        with conn.cursor().copy(f"COPY registrants ({COLS}) FROM STDIN") as cp:
            for r in rows(fac_ids, pool):
                cp.write_row(r)
        conn.commit()
    _indexes(url, create=True)
    with psycopg.connect(psycopg_dsn(url), autocommit=True) as conn:
        conn.execute("ANALYZE")
    return time.perf_counter() - t0


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p * (len(s) - 1))))]


def measure(url: str, account_id: int, pool: list[tuple[str, str]]) -> dict[str, list[float]]:
    from sqlalchemy.orm import Session

    from resv_cli.accounts.sessions import actor_for
    from resv_cli.core import clock
    from resv_cli.core.db import get_engine, transaction
    from resv_cli.core.models import Account
    from resv_cli.records import registrants

    engine = get_engine(url)
    rnd = random.Random(7)
    on = clock.today()
    out: dict[str, list[float]] = {"scoped SQL": [], "unscoped SQL": [], "service": []}
    with Session(engine) as s:
        actor = actor_for(s, s.get(Account, account_id))
    targets = [pool[rnd.randrange(len(pool))][0] for _ in range(QUERIES)]
    with engine.connect() as conn:
        for name in targets[:20]:  # warm caches and plans
            crit = registrants.Criteria(name=name)
            with Session(bind=conn) as s:
                s.execute(registrants.search_query(s, actor, crit, on).limit(100)).all()
        for name in targets:
            crit = registrants.Criteria(name=name)
            with Session(bind=conn) as s:
                t0 = time.perf_counter()  # includes resolving the permitted facilities
                scoped = registrants.search_query(s, actor, crit, on)
                scoped = scoped.order_by(registrants.Registrant.name_key).limit(100)
                n_scoped = len(s.execute(scoped).all())
                out["scoped SQL"].append(time.perf_counter() - t0)
                from sqlalchemy import select

                from resv_cli.core.models import Facility
                from resv_cli.core.personal import Registrant

                t0 = time.perf_counter()
                unscoped = (
                    select(Registrant, Facility.code)
                    .join(Facility, Facility.id == Registrant.facility_id)
                    .where(*registrants._criteria_where(s, crit))
                    .order_by(Registrant.name_key)
                    .limit(100)
                )
                n_all = len(s.execute(unscoped).all())
                out["unscoped SQL"].append(time.perf_counter() - t0)
                assert n_scoped <= n_all
            conn.rollback()
    for name in targets[:100]:
        t0 = time.perf_counter()
        with transaction(engine) as s:
            registrants.search_registrants(s, actor, registrants.Criteria(name=name))
        out["service"].append(time.perf_counter() - t0)
    return out


def report(backend: str, load_s: float, timings: dict[str, list[float]]) -> None:
    print(f"{backend}: loaded {ROWS:,} registrants in {FACILITIES} facilities in {load_s:.1f} s "
          f"({ROWS / load_s:,.0f} rows/s, indexes rebuilt after the load)")  # fmt: skip
    med = {k: statistics.median(v) for k, v in timings.items()}
    for k, v in timings.items():
        print(f"  {k:13s} median {med[k] * 1000:7.2f} ms  p95 {pct(v, 0.95) * 1000:7.2f} ms  "
              f"({len(v)} searches)")  # fmt: skip
    ratio = med["scoped SQL"] / med["unscoped SQL"] if med["unscoped SQL"] else float("nan")
    p95 = pct(timings["scoped SQL"], 0.95)
    print(f"  ratio scoped/unscoped (medians) {ratio:.2f}x; target p95 < 20 ms for the scoped "
          f"name search -> {'met' if p95 < 0.020 else 'NOT met'}")  # fmt: skip


def run_sqlite(pool: list[tuple[str, str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["RESV_CONFIG_DIR"] = str(Path(tmp) / "config")
        from resv_cli.audit.chain import ensure_audit_key

        ensure_audit_key()
        path = Path(tmp) / "bench.db"
        url = f"sqlite:///{path}"
        account_id, _ = setup_schema(url)
        from resv_cli.core.db import get_engine

        fac_ids = _facility_ids(url)
        get_engine(url).dispose()
        load_s = load_sqlite(path, fac_ids, pool)
        report("SQLite", load_s, measure(url, account_id, pool))
        get_engine(url).dispose()


def _facility_ids(url: str) -> list[int]:
    from sqlalchemy import select

    from resv_cli.core.db import get_engine
    from resv_cli.core.models import Facility

    with get_engine(url).connect() as conn:
        return [int(i) for (i,) in conn.execute(select(Facility.id).order_by(Facility.id))]


def run_pg(pool: list[tuple[str, str]]) -> None:
    admin = os.environ.get("RESV_TEST_PG_URL")
    if not admin:
        print("PostgreSQL: skipped (RESV_TEST_PG_URL unset; `make bench` starts a server)")
        return
    sys.path.insert(0, str(ROOT / "tests"))
    import psycopg
    from support import PgDatabase, psycopg_dsn

    name = f"resv_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(psycopg_dsn(admin), autocommit=True) as c:
        c.execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'")
    db = PgDatabase(admin, name)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["RESV_CONFIG_DIR"] = str(Path(tmp) / "config")
            from resv_cli.audit.chain import ensure_audit_key

            ensure_audit_key()
            account_id, _ = setup_schema(db.url)
            load_s = load_pg(db.url, _facility_ids(db.url), pool)
            report("PostgreSQL", load_s, measure(db.url, account_id, pool))
    finally:
        from resv_cli.core.db import get_engine

        get_engine(db.url).dispose()
        with psycopg.connect(psycopg_dsn(admin), autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    pool = names()
    run_sqlite(pool)
    run_pg(pool)


if __name__ == "__main__":
    main()
