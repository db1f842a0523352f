"""Accounts: granting N staff from a roster, and the cost of one login.

1. ``read_roster`` + ``plan_roster`` + ``apply_roster`` of a cp932 roster of N people
   (default 500) into a fresh SQLite database (and PostgreSQL when
   ``RESV_TEST_PG_URL`` is set, as under ``make bench``), median of runs, against a
   baseline measured in the same run: N bare argon2id hashes (the part no
   implementation can skip: each account gets its own one-time password hash).
2. One ``resv_cli.accounts.sessions.login`` (row lock, verify, session row, audit event),
   median of runs, against one bare argon2id verify.

``BENCH_QUICK=1``: N=100 and fewer runs.  Goal: the roster grant within 1.5x of the
bare hashes, a login within 2x of a bare verify.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

QUICK = os.environ.get("BENCH_QUICK") == "1"
N = int(os.environ.get("BENCH_ACCOUNTS_N", "100" if QUICK else "500"))
RUNS = 3
LOGIN_RUNS = 7 if QUICK else 21
ADMIN_PW = "bench-Admin-passphrase-2026"
USER_PW = "bench-User-passphrase-2026"
FACILITIES = ["chuo-rojin", "chiiki-fukushi"]
FAMILY = "佐藤 鈴木 髙橋 田中 伊藤 渡邉 山本 中村 小林 加藤".split()
GIVEN = "美咲 健一 由美子 翔太 さくら 大輔 花子 一郎 陽菜 蓮".split()


def write_roster(path: Path, n: int) -> None:
    lines = ["氏名,フリガナ,所属施設,雇用形態,役割,職員番号"]
    for i in range(n):
        name = f"{FAMILY[i % 10]} {GIVEN[(i // 10) % 10]}"
        emp = "非正規" if i % 10 == 0 else "正規"
        lines.append(f"{name},サトウ,{FACILITIES[i % 2]},{emp},職員,S{i:05d}")
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp932"))


def new_database(backend: str, tmp: Path) -> tuple[str, object]:
    """Return (url, cleanup) of an initialised database with the demo facilities."""
    from resv_cli.accounts.installation import initialise
    from resv_cli.core import clock
    from resv_cli.core.db import get_engine, transaction
    from resv_cli.core.models import Facility, Organization

    if backend == "sqlite":
        url = f"sqlite:///{tmp / f'bench-{uuid.uuid4().hex[:8]}.db'}"

        def cleanup() -> None:
            get_engine(url).dispose()
    else:
        import psycopg
        from sqlalchemy.engine import make_url

        admin = make_url(os.environ["RESV_TEST_PG_URL"])
        name = f"resv_bench_{uuid.uuid4().hex[:10]}"
        dsn = (
            f"host={admin.host} port={admin.port} dbname={admin.database} "
            f"user={admin.username}" + (f" password={admin.password}" if admin.password else "")
        )
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = admin.set(database=name).render_as_string(hide_password=False)

        def cleanup() -> None:
            get_engine(url).dispose()
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    engine = get_engine(url)
    initialise(engine, admin_login="it-admin", admin_name="情報 太郎", password=ADMIN_PW)
    now = clock.now()
    with transaction(engine) as s:
        import datetime as dt

        s.add(
            Organization(
                code="inzai-fm",
                name="株式会社いんざい施設管理",
                kind="designated_manager",
                term_start=dt.date(2017, 4, 1),
                term_end=dt.date(2032, 3, 31),
                created_at=now,
            )
        )
        for code in FACILITIES:
            s.add(
                Facility(
                    code=code,
                    name=code,
                    category="welfare_centre",
                    created_at=now,
                    updated_at=now,
                )
            )
    return url, cleanup


def admin_actor(url: str):  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from resv_cli.accounts.sessions import actor_for
    from resv_cli.core.db import get_engine, transaction
    from resv_cli.core.models import Account

    with transaction(get_engine(url)) as s:
        acc = s.execute(select(Account).where(Account.login_id == "it-admin")).scalar_one()
        return actor_for(s, acc)


def time_roster_grant(url: str, roster: Path) -> float:
    from resv_cli.accounts.roster import apply_roster, plan_roster, read_roster
    from resv_cli.core.db import get_engine, transaction

    actor = admin_actor(url)
    t0 = time.perf_counter()
    with transaction(get_engine(url)) as s:
        plan = plan_roster(s, "inzai-fm", read_roster(roster))
        creds = apply_roster(s, actor, plan)
    elapsed = time.perf_counter() - t0
    assert len(creds) == N, len(creds)
    return elapsed


def time_bare_hashes(n: int) -> float:
    from resv_cli.accounts import passwords

    otps = [passwords.generate_one_time_password() for _ in range(n)]
    t0 = time.perf_counter()
    for p in otps:
        passwords.hash_password(p)
    return time.perf_counter() - t0


def login_figures(url: str) -> tuple[float, float]:
    from sqlalchemy import update

    from resv_cli.accounts import passwords
    from resv_cli.accounts.sessions import login
    from resv_cli.core.db import get_engine, transaction
    from resv_cli.core.models import Account

    engine = get_engine(url)
    h = passwords.hash_password(USER_PW)
    with transaction(engine) as s:
        s.execute(
            update(Account)
            .where(Account.login_id == "inzai-fm-0001")
            .values(password_hash=h, must_change_password=False, temp_password_expires_at=None)
        )
    login(engine, "inzai-fm-0001", USER_PW)  # warm up
    logins, verifies = [], []
    for _ in range(LOGIN_RUNS):
        t0 = time.perf_counter()
        login(engine, "inzai-fm-0001", USER_PW)
        logins.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ok, _ = passwords.verify(USER_PW, h)
        verifies.append(time.perf_counter() - t0)
        assert ok
    return statistics.median(logins), statistics.median(verifies)


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-accounts-"))
    os.environ.setdefault("RESV_CONFIG_DIR", str(tmp / "config"))
    roster = tmp / "roster.csv"
    write_roster(roster, N)
    backends = ["sqlite"] + (["postgresql"] if os.environ.get("RESV_TEST_PG_URL") else [])
    time_bare_hashes(5)  # warm up argon2
    for backend in backends:
        grants, bares = [], []
        url = ""
        for i in range(RUNS):
            url, cleanup = new_database(backend, tmp)
            bares.append(time_bare_hashes(N))
            grants.append(time_roster_grant(url, roster))
            if i < RUNS - 1:
                cleanup()  # type: ignore[operator]
        g, b = statistics.median(grants), statistics.median(bares)
        print(
            f"{backend:10s} roster grant of {N} accounts: median {g:6.2f} s "
            f"({N / g:5.0f} accounts/s, {RUNS} runs); {N} bare argon2id hashes {b:6.2f} s; "
            f"ratio {g / b:.2f}x -> goal 1.5x {'met' if g / b <= 1.5 else 'NOT met'}",
            flush=True,
        )
        lg, vf = login_figures(url)
        print(
            f"{backend:10s} one login: median {lg * 1000:6.1f} ms; one bare argon2id verify "
            f"{vf * 1000:6.1f} ms; ratio {lg / vf:.2f}x ({LOGIN_RUNS} runs) -> goal 2x "
            f"{'met' if lg / vf <= 2 else 'NOT met'}",
            flush=True,
        )
        cleanup()  # type: ignore[operator]
    sys.stdout.flush()


if __name__ == "__main__":
    main()
