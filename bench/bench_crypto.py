"""What field encryption costs: per value, on the import, on the scoped search (issue 18).

Every figure is a ratio against a baseline measured in the same run, on the same
schema, with the encryption switched off by monkeypatching the bench's own process
(``_clear``): the sealed columns then hold the values as typed and the blind
indexes the values themselves, as ``phone_digits`` and ``date_of_birth`` did.

* ``per value``   - seal, open and blind-index one value (microseconds);
* ``import``      - ``resv import registrants`` of a generated legacy file
  (bench/gen_legacy.py) into a fresh SQLite database, in a child process, sealed
  against clear (medians of RUNS);
* ``search``      - ``search_registrants`` (the whole service: scope, query, field
  decision, audit append, commit) by an operator who sees 10 of 100 facilities,
  by name, by phone and by date of birth: clear, sealed, and sealed with the dates
  of birth sealed too (median and p95 of SEARCHES).  SQLite always; PostgreSQL
  when RESV_TEST_PG_URL is set (``make bench`` starts a throwaway server).

BENCH_QUICK=1: 20,000 records imported, 50,000 registrants searched.  Default:
100,000 and 200,000.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
QUICK = os.environ.get("BENCH_QUICK") == "1"
IMPORT_RECORDS = 20_000 if QUICK else 100_000
SEARCH_ROWS = 50_000 if QUICK else 200_000
RUNS = 3
SEARCHES = 200
PW = "Kyou-mo-hayaku-owaru-2026"

# The child that imports: the CLI in-process, optionally with the encryption off.
_IMPORTER = r"""
import sys
sys.path.insert(0, sys.argv[1])
if sys.argv[2] == "clear":
    import bench_crypto
    bench_crypto._clear()
from resv_cli.commands.main import app
app(sys.argv[3:], prog_name="resv")
"""


def _clear() -> None:
    """Switch the encryption off in this process: clear values, the values as indexes."""
    from resv_cli.core import fieldcrypt

    fk = fieldcrypt.FieldKeys
    fk.sealer = lambda self, table="registrants": lambda rid, f, v: v  # type: ignore[method-assign]
    fk.open = lambda self, table, rid, f, token: token  # type: ignore[method-assign]
    fk.blind = lambda self, field, value: value  # type: ignore[method-assign]
    fieldcrypt.load = lambda conn, **kw: fk({}, False)  # type: ignore[assignment]  # no key query


def per_value() -> None:
    from resv_cli.core import fieldcrypt, kek

    keks = kek.LocalKeks("bench", (kek.new_kek(),))
    keys = fieldcrypt.FieldKeys(
        {"d0000001": ("data", "active", keks.current_id(), None),
         "i0000001": ("index", "active", keks.current_id(), None)},
        False,
    )  # fmt: skip
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    keys._aead["d0000001"] = AESGCM(os.urandom(32))
    keys._blind["phone"] = fieldcrypt._hmac_pads(os.urandom(32))
    seal = keys.sealer()
    n = 100_000
    t0 = time.perf_counter()
    tokens = [seal(i, "address", "千葉県印西市大森2528-1 ハイツー101") for i in range(n)]
    t_seal = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    for i, tok in enumerate(tokens):
        keys.open("registrants", i, "address", tok)
    t_open = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    for i in range(n):
        keys.blind("phone", f"0476{i:06d}")
    t_blind = (time.perf_counter() - t0) / n
    print(f"per value: seal {t_seal * 1e6:.2f} us, open {t_open * 1e6:.2f} us, "
          f"blind index {t_blind * 1e6:.2f} us (an address of 27 characters; {n:,} each)")  # fmt: skip


def _resv(env: dict[str, str], *args: str, mode: str = "sealed") -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", _IMPORTER, str(ROOT / "bench"), mode, *args],
        env=env, input=PW + "\n", text=True, check=True, capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - t0


def import_cost(work: Path) -> None:
    from gen_legacy import generate

    src = work / "legacy.csv"
    generate(str(src), IMPORT_RECORDS, "cp932", seed=7)
    times: dict[str, list[float]] = {"clear": [], "sealed": []}
    for run in range(RUNS):
        for mode in ("clear", "sealed"):
            cfg = work / f"cfg-{mode}-{run}"
            env = {**os.environ, "RESV_DATABASE_URL": str(work / f"{mode}-{run}.db"),
                   "RESV_CONFIG_DIR": str(cfg), "RESV_LANG": "en"}  # fmt: skip
            _resv(env, "db", "init", "--admin", "it-perf", "--password-stdin")
            _resv(env, "login", "it-perf", "--password-stdin")
            _resv(env, "facility", "seed-demo")
            times[mode].append(
                _resv(env, "import", "registrants", str(src), "--facility", "chuo-rojin",
                      mode=mode)
            )  # fmt: skip
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"import of {IMPORT_RECORDS:,} records (SQLite, medians of {RUNS}): clear "
          f"{med['clear']:.2f} s, sealed {med['sealed']:.2f} s -> {med['sealed'] / med['clear']:.2f}x "
          f"({(med['sealed'] - med['clear']) / IMPORT_RECORDS * 1e6:.1f} us per record)")  # fmt: skip


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p * (len(s) - 1))))]


def _load(url: str, sealed: bool, seal_dates: bool, rnd: random.Random) -> tuple[Any, list[Any]]:
    """A database of SEARCH_ROWS registrants; the operator's actor and the search terms."""
    import bench_scope  # the same city as the scope benchmark

    from resv_cli.core import clock, fieldcrypt, kek
    from resv_cli.core.db import get_engine

    account_id, _ = bench_scope.setup_schema(url)
    engine = get_engine(url)
    with engine.begin() as conn:
        fieldcrypt.create_keys(conn, kek.ensure()[0], encrypt_dob=seal_dates, now=clock.now())
    fac_ids = bench_scope._facility_ids(url)
    pool = bench_scope.names()
    cols = ("id", "facility_id", "kind", "name", "name_key", "date_of_birth", "date_of_birth_enc",
            "dob_bidx", "address_enc", "phone_enc", "phone_bidx", "created_at", "updated_at")  # fmt: skip
    rows, terms = [], []
    with engine.begin() as conn:
        keys = fieldcrypt.load(conn)
        for i in range(SEARCH_ROWS):
            name, key = pool[rnd.randrange(len(pool))]
            dob = dt.date(1930, 1, 1) + dt.timedelta(days=rnd.randrange(365 * 50))
            phone = f"0476{rnd.randrange(10**6):06d}"
            stored = keys.stored(i + 1, {"date_of_birth": dob.isoformat(), "address": "印西市大森1-1",
                                         "phone": phone, "phone_digits": phone})  # fmt: skip
            rows.append((i + 1, fac_ids[i % len(fac_ids)], "individual", name, key,
                         *(stored[c] for c in cols[5:11]), "2026-01-01 00:00:00",
                         "2026-01-01 00:00:00"))  # fmt: skip
            if i % len(fac_ids) < 10 and len(terms) < SEARCHES:  # the operator's facilities
                terms.append((name, phone, dob))
        raw = conn.connection.dbapi_connection
        cur = raw.cursor()
        if engine.dialect.name == "sqlite":
            cur.executemany(f"INSERT INTO registrants ({', '.join(cols)}) VALUES "
                            f"({', '.join('?' * len(cols))})", rows)  # fmt: skip
        else:
            with cur.copy(f"COPY registrants ({', '.join(cols)}) FROM STDIN") as cp:
                for r in rows:
                    cp.write_row(r)
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    from sqlalchemy.orm import Session

    from resv_cli.accounts.sessions import actor_for
    from resv_cli.core.models import Account

    with Session(engine) as s:
        actor = actor_for(s, s.get(Account, account_id))
    return actor, terms


def _search(url: str, actor: Any, terms: list[Any]) -> dict[str, list[float]]:
    from resv_cli.core.db import get_engine, transaction
    from resv_cli.records.registrants import Criteria, search_registrants

    engine = get_engine(url)
    out: dict[str, list[float]] = {"name": [], "phone": [], "dob": []}
    for name, _phone, _dob in terms[:20]:  # warm caches and plans
        with transaction(engine) as s:
            search_registrants(s, actor, Criteria(name=name))
    for name, phone, dob in terms:
        for what, crit in (("name", Criteria(name=name)), ("phone", Criteria(phone=phone)),
                           ("dob", Criteria(date_of_birth=dob))):  # fmt: skip
            t0 = time.perf_counter()
            with transaction(engine) as s:
                search_registrants(s, actor, crit)
            out[what].append(time.perf_counter() - t0)
    return out


def search_cost(backend: str, new_url: Any) -> None:
    results = {}
    for variant in ("clear", "sealed", "sealed+dob"):
        url, cleanup = new_url()
        code = (
            "import sys, json; sys.path.insert(0, sys.argv[1]); import bench_crypto as b\n"
            "if sys.argv[3] == 'clear': b._clear()\n"
            "import random; a, t = b._load(sys.argv[2], sys.argv[3] != 'clear', "
            "sys.argv[3] == 'sealed+dob', random.Random(42))\n"
            "print(json.dumps(b._search(sys.argv[2], a, t)))"
        )
        try:
            with tempfile.TemporaryDirectory() as cfg:
                env = {**os.environ, "RESV_CONFIG_DIR": cfg}
                subprocess.run([sys.executable, "-c", "from resv_cli.audit.chain import "
                                "ensure_audit_key; ensure_audit_key()"], env=env, check=True)  # fmt: skip
                done = subprocess.run(
                    [sys.executable, "-c", code, str(ROOT / "bench"), url, variant],
                    env=env, check=True, capture_output=True, text=True,
                )  # fmt: skip
            import json

            results[variant] = json.loads(done.stdout.strip().splitlines()[-1])
        finally:
            cleanup()
    print(f"{backend}: registrant search service over {SEARCH_ROWS:,} registrants, "
          f"{SEARCHES} searches each (median / p95 ms; ratio of p95 to clear)")  # fmt: skip
    for what in ("name", "phone", "dob"):
        base = pct(results["clear"][what], 0.95)
        line = [f"  by {what:5s}"]
        for variant, r in results.items():
            p95 = pct(r[what], 0.95)
            line.append(f"{variant} {statistics.median(r[what]) * 1e3:6.2f} / {p95 * 1e3:6.2f} "
                        f"({p95 / base:.2f}x)")  # fmt: skip
        print("  ".join(line))


def main() -> None:
    per_value()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        import_cost(work)
        n = iter(range(100))

        def sqlite_url() -> tuple[str, Any]:
            return f"sqlite:///{work / f'search-{next(n)}.db'}", lambda: None

        search_cost("SQLite", sqlite_url)
    admin = os.environ.get("RESV_TEST_PG_URL")
    if not admin:
        print("PostgreSQL: skipped (RESV_TEST_PG_URL unset; `make bench` starts a server)")
        return
    sys.path.insert(0, str(ROOT / "tests"))
    import psycopg
    from support import PgDatabase, psycopg_dsn

    def pg_url() -> tuple[str, Any]:
        name = f"resv_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(psycopg_dsn(admin), autocommit=True) as c:
            c.execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'")

        def drop() -> None:
            with psycopg.connect(psycopg_dsn(admin), autocommit=True) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        return PgDatabase(admin, name).url, drop

    search_cost("PostgreSQL", pg_url)


if __name__ == "__main__":
    main()
