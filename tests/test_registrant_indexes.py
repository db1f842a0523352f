"""Each secondary index of ``registrants`` is read by the query its comment names.

The services build and send their own statements against a small real table while
the test records the SQL; the same SQL is then explained (SQLite ``EXPLAIN QUERY
PLAN``; PostgreSQL ``EXPLAIN (FORMAT JSON)`` with sequential scans off for the
transaction, since a table this small would otherwise always be read whole) and the
plan must read the index by its name.  An index that no query here names fails the
set check, and so does a query here whose index is gone.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from factories import assign, make_account, make_facility, make_org
from sqlalchemy import event, insert, inspect, select
from sqlalchemy.orm import Session

from resv_cli.access.enforce import require_migration
from resv_cli.core import clock, fieldcrypt
from resv_cli.core.context import Actor
from resv_cli.core.models import Facility
from resv_cli.core.normalize import kana_key, name_key
from resv_cli.core.personal import Registrant
from resv_cli.records import registrants
from resv_cli.records.migration import RegistrantStore

FACILITIES = ("idx-a", "idx-b", "idx-c")
NAMES = "佐藤 鈴木 高橋 田中 伊藤 渡辺 山本 中村 小林 加藤".split()
READINGS = "サトウ スズキ タカハシ タナカ イトウ ワタナベ ヤマモト ナカムラ コバヤシ カトウ".split()
PER_FACILITY = 200


def _name(i: int) -> str:
    return f"{NAMES[i % 10]} {i:03d}"


def _reading(i: int) -> str:
    return f"{READINGS[i % 10]}{i:03d}"


def _dob(f: int, i: int) -> dt.date:
    # few distinct days, as in life (a day of birth is shared, a name key rarely)
    return dt.date(1940 + f, 1, 1) + dt.timedelta(days=97 * (i % 20))


@pytest.fixture
def world(installation: Any) -> tuple[Any, int, list[int]]:
    """Three facilities of one organisation, 200 registrants each, an operator at the first."""
    make_org(installation, "idx-org")
    for code in FACILITIES:
        make_facility(installation, code)
        assign(installation, code, "idx-org", dt.date(2020, 4, 1))
    account = make_account(installation, "idx-op", "idx-org", facility=FACILITIES[0])
    now = clock.now()
    with Session(bind=installation.engine()) as s, s.begin():
        keys = fieldcrypt.load(s)
        fac_ids = [
            s.execute(select(Facility.id).where(Facility.code == code)).scalar_one()
            for code in FACILITIES
        ]
        rows = [
            {
                "facility_id": fid,
                "kind": "individual",
                "legacy_no": f"L{f}-{i:05d}",
                "name": _name(i),
                "name_key": name_key(_name(i)),
                "kana": _reading(i),
                "kana_key": kana_key(_reading(i)),
                "date_of_birth": _dob(f, i),
                "dob_bidx": keys.dob_tag(_dob(f, i)),
                "phone_bidx": keys.phone_tag(f"0476{f}{i:05d}"),
                "created_at": now,
                "updated_at": now,
            }
            for f, fid in enumerate(fac_ids)
            for i in range(PER_FACILITY)
        ]
        s.execute(insert(Registrant), rows)
    if installation.backend == "postgresql":
        # the statistics autovacuum keeps (never analysed, the planner guesses blindly);
        # SQLite plans without any, as resv never runs ANALYZE there
        with installation.engine().connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    return installation, account, fac_ids


# --- recording the SQL the services send ------------------------------------------------

_TOUCHES_REGISTRANTS = re.compile(r"\b(?:FROM|JOIN)\s+registrants\b", re.IGNORECASE)


class _RecordingCursor:
    def __init__(self, cursor: Any, seen: list[tuple[str, Any]]) -> None:
        self._cursor = cursor
        self._seen = seen

    def execute(self, sql: str, params: Any = None, **kw: Any) -> Any:
        self._seen.append((sql, params))
        return self._cursor.execute(sql, params, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class _RecordingConnection:
    def __init__(self, dbapi: Any, seen: list[tuple[str, Any]]) -> None:
        self._dbapi = dbapi
        self._seen = seen

    def cursor(self) -> _RecordingCursor:
        return _RecordingCursor(self._dbapi.cursor(), self._seen)


@contextmanager
def recorded(engine: Any) -> Iterator[list[tuple[str, Any]]]:
    """The statements over ``registrants`` sent meanwhile: through SQLAlchemy or the DBAPI."""
    seen: list[tuple[str, Any]] = []

    def hook(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    with pytest.MonkeyPatch.context() as mp:
        # the importer's store talks to the DBAPI connection directly
        mp.setattr(
            RegistrantStore,
            "raw",
            property(
                lambda self: _RecordingConnection(self.conn.connection.dbapi_connection, seen)
            ),
        )
        event.listen(engine, "before_cursor_execute", hook)
        try:
            yield seen
        finally:
            event.remove(engine, "before_cursor_execute", hook)
    seen[:] = [(sql, p) for sql, p in seen if _TOUCHES_REGISTRANTS.search(sql)]


def _walk(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if "Index Name" in node:
            yield node["Index Name"]
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def indexes_read(engine: Any, sql: str, params: Any) -> set[str]:
    """The indexes of ``registrants`` the plan of ``sql`` reads (unique-constraint names)."""
    with engine.connect() as conn:
        cur = conn.connection.dbapi_connection.cursor()
        if conn.dialect.name == "sqlite":
            cur.execute("PRAGMA index_list(registrants)")
            # SQLite names a unique constraint's index sqlite_autoindex_*: the constraint's name
            auto = {row[1] for row in cur.fetchall() if row[3] == "u"}
            (unique,) = _unique_constraints(engine)
            cur.execute("EXPLAIN QUERY PLAN " + sql, params or ())
            found = set()
            for row in cur.fetchall():
                m = re.search(r"USING (?:COVERING )?INDEX (\S+)", row[3])
                if m:
                    found.add(unique if m.group(1) in auto else m.group(1))
        else:
            cur.execute("SET LOCAL enable_seqscan = off")
            cur.execute("EXPLAIN (FORMAT JSON) " + sql, params)
            found = set(_walk(cur.fetchone()[0]))
        conn.rollback()
    return found


def _unique_constraints(engine: Any) -> set[str]:
    return {u["name"] for u in inspect(engine).get_unique_constraints("registrants")}


def secondary_indexes(engine: Any) -> set[str]:
    """Every index of ``registrants`` but the primary key, unique constraints by name."""
    plain = {
        i["name"]
        for i in inspect(engine).get_indexes("registrants")
        if not i.get("duplicates_constraint")
    }
    return plain | _unique_constraints(engine)


# --- the queries that need each index ---------------------------------------------------


def _search(**criteria: Any) -> Callable[[Session, int, list[int]], None]:
    """``registrant search``: the scoped SELECT of ``search_query`` (scope as an IN list)."""

    def run(s: Session, account: int, fac_ids: list[int]) -> None:
        c = registrants.Criteria(**criteria)
        s.execute(registrants.search_query(s, account, c, clock.today()).limit(100)).all()

    return run


def _store(s: Session, fac_ids: list[int]) -> RegistrantStore:
    admin = Actor(1, "admin", "admin", 1, "city", "city", "admin")
    grant = require_migration(admin, fac_ids[0], clock.today(), audit_action="registrant.import")
    store = RegistrantStore(s.connection(), grant, fac_ids[0], batch_id=999_999)
    store.load_keys()
    return store


def _by_person(s: Session, account: int, fac_ids: list[int]) -> None:
    store = _store(s, fac_ids)
    store.by_person([(name_key(_name(7)), store.dob_tag(_dob(0, 7).isoformat()), "individual")])


def _likely_duplicate(s: Session, account: int, fac_ids: list[int]) -> None:
    """The counter's likely-duplicate check (registrant add).

    Without a hint SQLite (no statistics) reads the date-of-birth (blind) index: every
    registrant of the city born that day, or every one without a date.
    """
    tag = fieldcrypt.load(s).dob_tag(_dob(0, 7))
    key = {"name_key": name_key(_name(7)), "kind": "individual", "dob_bidx": tag}
    registrants._likely_duplicate(s, fac_ids[0], key)


def _by_legacy(s: Session, account: int, fac_ids: list[int]) -> None:
    _store(s, fac_ids).by_legacy(["L0-00007", "L0-00008"])


def _delete_batch(s: Session, account: int, fac_ids: list[int]) -> None:
    _store(s, fac_ids).delete_batch()


# index -> the queries that need it (the comment beside the index in personal.py names them)
QUERIES: dict[str, list[Callable[[Session, int, list[int]], None]]] = {
    "ix_registrants_facility_id_name_key": [
        _search(name="佐藤"),
        _by_person,
        _likely_duplicate,
    ],
    "ix_registrants_facility_id_kana_key": [_search(kana="サト")],
    "ix_registrants_dob_bidx": [_search(date_of_birth=_dob(0, 7))],
    "ix_registrants_phone_bidx": [_search(phone="0476-0-00007")],
    "ix_registrants_import_batch_id": [_delete_batch],
    "uq_registrants_facility_id_legacy_no": [_by_legacy],
}


def test_every_secondary_index_has_a_query_here(world):
    inst, _, _ = world
    assert secondary_indexes(inst.engine()) == set(QUERIES)


@pytest.mark.parametrize(
    ("index", "query"),
    [(index, q) for index, qs in QUERIES.items() for q in qs],
    ids=lambda v: v if isinstance(v, str) else getattr(v, "__qualname__", "query"),
)
def test_the_plan_of_each_query_reads_its_index(world, index, query):
    inst, account, fac_ids = world
    if query is _likely_duplicate and inst.backend == "postgresql":
        # the unary + is a hint for SQLite, which plans without statistics; PostgreSQL
        # picks by its statistics (here: no registrant lacks a date, so that index wins)
        pytest.skip("a SQLite planner hint; PostgreSQL plans from statistics")
    engine = inst.engine()
    with Session(bind=engine) as s, s.begin(), recorded(engine) as seen:
        query(s, account, fac_ids)
        s.rollback()
    assert seen, "the service sent no statement over registrants"
    sql, params = seen[-1]
    read = indexes_read(engine, sql, params)
    assert index in read, sql


def test_upgrade_from_0005_puts_the_indexes_right(installation, cli):
    """Revision 0006 on a database as 0005 left it: the two old indexes go, the new one comes."""
    engine = installation.engine()
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_registrants_facility_id_kana_key")
        conn.exec_driver_sql("CREATE INDEX ix_registrants_kana_key ON registrants (kana_key)")
        conn.exec_driver_sql("CREATE INDEX ix_registrants_name_key ON registrants (name_key)")
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0005'")
    engine.dispose()
    r = cli("db", "upgrade")
    assert r.exit_code == 0, r
    assert "Upgraded from 0005 to revision 0007." in r.stderr
    assert secondary_indexes(installation.engine()) == set(QUERIES)
