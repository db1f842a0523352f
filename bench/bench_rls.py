"""Scoped registrant search with PostgreSQL row-level security on, beside off (issue 18).

The database of ``bench_scope.py`` (1,000,000 registrants in 100 facilities;
BENCH_QUICK=1: 100,000), with ``resv db rls apply``'s functions and policies, and
an operator whose organisation manages 10 of the 100 facilities (the
organisation-wide grant, so it sees about a tenth of the rows).  Timed, QUERIES
random full names each:

* ``scoped, RLS off`` - ``registrant search --name``'s SELECT (the Python scope
  filter) as the tables' owner, whom PostgreSQL never subjects to policies here
  (a superuser): the figure without row-level security;
* ``scoped, RLS on``  - the same SELECT as a runtime role, the session presented as
  resv presents it (``core/db.py``): both layers, what production runs;
* ``RLS alone``       - the SELECT without the Python filter, as the runtime role:
  the policies alone filter;
* ``service off/on``  - the whole ``search_registrants`` transaction (session token
  presented, permitted facilities, query, field check, audit append, commit).

PostgreSQL only: runs when RESV_TEST_PG_URL is set (a throwaway server with trust
authentication, as ``scripts/with-postgres.sh`` starts).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

import bench_scope as base  # noqa: E402

QUERIES = base.QUERIES
SERVICE = 100


def install(url: str, role: str, account_id: int) -> str:
    """RLS, a runtime role and a live session of the operator; return its token."""
    import psycopg
    from sqlalchemy import text
    from support import psycopg_dsn

    from resv_cli.access import rls
    from resv_cli.accounts.sessions import token_hash
    from resv_cli.core.db import get_engine

    with get_engine(url).begin() as conn:
        raw = conn.connection.driver_connection
        with raw.cursor() as cur:
            for stmt in rls.statements(rls.live_state(conn)):
                if not stmt.startswith("--"):
                    cur.execute(stmt)
        conn.execute(
            text("UPDATE accounts SET all_managed_facilities = true WHERE id = :a"),
            {"a": account_id},
        )
        token = secrets.token_urlsafe(32)
        now = dt.datetime.now(dt.UTC)
        conn.execute(
            text(
                "INSERT INTO sessions (account_id, token_hash, created_at, expires_at) "
                "VALUES (:a, :h, :n, :e)"
            ),
            {"a": account_id, "h": token_hash(token), "n": now, "e": now + dt.timedelta(hours=8)},
        )
    with psycopg.connect(psycopg_dsn(url), autocommit=True) as c:
        c.execute(f'CREATE ROLE "{role}" LOGIN')
        c.execute(
            f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"'
        )
        c.execute(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
        c.execute("ANALYZE")
    return token


def measure(url: str, role_url: str, account_id: int, token: str, pool) -> dict[str, list[float]]:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from resv_cli.accounts.sessions import actor_for
    from resv_cli.core import clock
    from resv_cli.core.db import bind_session, get_engine, transaction
    from resv_cli.core.models import Account, Facility
    from resv_cli.core.personal import Registrant
    from resv_cli.records import registrants

    owner, runtime = get_engine(url), get_engine(role_url)
    rnd = random.Random(7)
    on = clock.today()
    with Session(owner) as s:
        actor = actor_for(s, s.get(Account, account_id))
    targets = [pool[rnd.randrange(len(pool))][0] for _ in range(QUERIES)]
    out: dict[str, list[float]] = {
        "scoped, RLS off": [],
        "scoped, RLS on": [],
        "RLS alone": [],
        "service, off": [],
        "service, on": [],
    }
    bind_session(token)  # every transaction presents the session (owner: ignored)

    def scoped(s: Session, name: str) -> int:
        crit = registrants.Criteria(name=name)
        q = registrants.search_query(s, actor, crit, on).order_by(Registrant.name_key)
        return len(s.execute(q.limit(100)).all())

    def unscoped(s: Session, name: str) -> int:
        crit = registrants.Criteria(name=name)
        q = (
            select(Registrant, Facility.code)
            .join(Facility, Facility.id == Registrant.facility_id)
            .where(*registrants._criteria_where(s, crit))
            .order_by(Registrant.name_key)
            .limit(100)
        )
        return len(s.execute(q).all())

    for engine, label, fn in (
        (owner, "scoped, RLS off", scoped),
        (runtime, "scoped, RLS on", scoped),
        (runtime, "RLS alone", unscoped),
    ):
        with engine.connect() as conn:
            for name in targets[:20]:  # warm caches and plans
                with Session(bind=conn) as s:
                    fn(s, name)
                conn.rollback()
            for name in targets:
                with Session(bind=conn) as s:
                    t0 = time.perf_counter()
                    fn(s, name)
                    out[label].append(time.perf_counter() - t0)
                conn.rollback()
    # both layers return the same rows, RLS alone too
    with owner.connect() as a, runtime.connect() as b:
        for name in targets[:10]:
            with Session(bind=a) as s1, Session(bind=b) as s2:
                assert scoped(s1, name) == scoped(s2, name) == unscoped(s2, name)
    for engine, label in ((owner, "service, off"), (runtime, "service, on")):
        for name in targets[:SERVICE]:
            t0 = time.perf_counter()
            with transaction(engine) as s:
                registrants.search_registrants(s, actor, registrants.Criteria(name=name))
            out[label].append(time.perf_counter() - t0)
    bind_session(None)
    return out


def report(timings: dict[str, list[float]]) -> None:
    print(f"PostgreSQL, {base.ROWS:,} registrants in {base.FACILITIES} facilities, an operator "
          f"of {base.MANAGED} of them:")  # fmt: skip
    for k, v in timings.items():
        print(f"  {k:16s} median {statistics.median(v) * 1000:7.2f} ms  "
              f"p95 {base.pct(v, 0.95) * 1000:7.2f} ms  ({len(v)} searches)")  # fmt: skip

    def delta(off: str, on: str) -> str:
        med = statistics.median(timings[on]) - statistics.median(timings[off])
        p95 = base.pct(timings[on], 0.95) - base.pct(timings[off], 0.95)
        return f"median {med * 1000:+.2f} ms, p95 {p95 * 1000:+.2f} ms"

    print(f"  cost of RLS (on - off): scoped SQL {delta('scoped, RLS off', 'scoped, RLS on')}; "
          f"service {delta('service, off', 'service, on')}")  # fmt: skip


def main() -> None:
    admin = os.environ.get("RESV_TEST_PG_URL")
    if not admin:
        print("PostgreSQL: skipped (RESV_TEST_PG_URL unset; `make bench` starts a server)")
        return
    import psycopg
    from sqlalchemy.engine import make_url
    from support import PgDatabase, psycopg_dsn

    name = f"resv_bench_{uuid.uuid4().hex[:8]}"
    role = f"resv_bench_rt_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(psycopg_dsn(admin), autocommit=True) as c:
        c.execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'")
    db = PgDatabase(admin, name)
    role_url = make_url(db.url).set(username=role).render_as_string(hide_password=False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["RESV_CONFIG_DIR"] = str(Path(tmp) / "config")
            from resv_cli.audit.chain import ensure_audit_key

            ensure_audit_key()
            pool = base.names()
            account_id, _ = base.setup_schema(db.url)
            load_s = base.load_pg(db.url, base._facility_ids(db.url), pool)
            print(f"loaded {base.ROWS:,} registrants in {load_s:.1f} s")
            token = install(db.url, role, account_id)
            report(measure(db.url, role_url, account_id, token, pool))
    finally:
        from resv_cli.core.db import get_engine

        get_engine(db.url).dispose()
        get_engine(role_url).dispose()
        with psycopg.connect(psycopg_dsn(admin), autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            c.execute(f'DROP ROLE IF EXISTS "{role}"')


if __name__ == "__main__":
    main()
