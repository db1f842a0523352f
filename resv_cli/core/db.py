"""Engine and session factory, schema creation, DDL printing and schema checks.

Only SQLAlchemy Core is imported at the top: the ORM and the table definitions
(``core/models.py``) are imported by the functions that use them, so a command
that only checks its session (``resv whoami``) never builds the mappers.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, insert, inspect, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.schema import CreateIndex, CreateTable

from resv_cli.core.errors import NotInitialised, ResvError
from resv_cli.core.i18n import _

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

SQLITE_BUSY_TIMEOUT_MS = 10_000


@functools.lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """Return the (cached) engine for ``url`` with resv's connection settings."""
    from resv_cli.core.config import redact_url

    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    else:
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(url, **kwargs)
    except Exception as exc:
        raise ResvError(
            _("cannot use database {url}: {problem}").format(url=redact_url(url), problem=exc)
        ) from None
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    elif engine.dialect.name == "postgresql":
        _configure_postgresql(engine)
    return engine


# --- who acts, per transaction (PostgreSQL row-level security, access/rls.py) --------

SESSION_TOKEN_SETTING = "resv.session_token"  # noqa: S105 - a setting name, not a secret
_SESSION_TOKEN: ContextVar[str | None] = ContextVar("resv_session_token", default=None)


def bind_session(token: str | None) -> None:
    """Act as the login session of ``token`` in every later transaction of this command.

    The one place resv tells PostgreSQL who acts.  ``check_session`` presents the
    token in its own query (``present_session``) and, once the session is verified,
    binds it here (with None before, so nothing stale is presented); every
    PostgreSQL engine then runs ``set_config('resv.session_token', token, true)`` --
    a ``SET LOCAL`` -- as each later transaction begins, the import's own included.
    The row-level security functions (access/rls.py) accept only the token of a
    live session (its SHA-256 is in ``sessions``): any other value acts as nobody.
    """
    _SESSION_TOKEN.set(token)


def present_session(token: str) -> Any:
    """SQL: ``set_config('resv.session_token', token, true)`` (for a SELECT's columns)."""
    from sqlalchemy import func

    return func.set_config(SESSION_TOKEN_SETTING, token, True)


def _present_session(conn: Any, token: str) -> None:
    conn.execute(select(present_session(token)))


def _configure_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        token = _SESSION_TOKEN.get()
        if token:
            _present_session(conn, token)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (see "begin").
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front: a read-then-write transaction
        # (audit append, lockout counter) can never fail half-way on a lock upgrade.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """Open one session and transaction; commit on success, roll back on error."""
    from sqlalchemy.orm import Session

    with Session(engine, expire_on_commit=False) as session:
        with session.begin():
            yield session


# first key of the two-key advisory locks of resv ('rsv' in ASCII)
_LOCK_NAMESPACE = 0x727376


def lock_facility_registrants(conn: Any, facility_id: int) -> None:
    """Serialise the writers of one facility's registrants until the transaction ends.

    Every insert of registrants takes it (``registrant add``, each chunk of an
    import), so a writer that looks for duplicates sees every row stored before
    it and every later row gets a higher id.  SQLite needs nothing: BEGIN
    IMMEDIATE already admits one writer at a time.  ``conn``: a Connection or
    Session in a transaction.
    """
    from sqlalchemy.orm import Session

    dialect = conn.get_bind().dialect if isinstance(conn, Session) else conn.dialect
    if dialect.name == "postgresql":
        conn.execute(
            text("SELECT pg_advisory_xact_lock(:ns, :fid)"),
            {"ns": _LOCK_NAMESPACE, "fid": facility_id},
        )


_BATCH_LOCK_NAMESPACE = 0x727377  # "rsw": the run of one import batch


class BatchRunLock:
    """The right to run one import batch, held by one process at a time.

    PostgreSQL: a session-level advisory lock on a connection of its own.  SQLite:
    a POSIX record lock on one byte (at the batch id) of ``<database>.import-locks``
    next to the database file.  Both go with the process that holds them, also
    when it is killed, so an interrupted batch can be resumed at once; and a
    forked child does not inherit either (the record lock is per process; the
    child never uses the connection).
    """

    def __init__(self, engine: Any, batch_id: int) -> None:
        self.engine = engine
        self.batch_id = batch_id
        self._conn: Any = None
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock without waiting; False when another process holds it."""
        if self.engine.dialect.name == "postgresql":
            conn = self.engine.connect()
            got = conn.execute(
                text("SELECT pg_try_advisory_lock(:ns, :b)"),
                {"ns": _BATCH_LOCK_NAMESPACE, "b": self.batch_id},
            ).scalar_one()
            conn.commit()
            if not got:
                conn.close()
                return False
            self._conn = conn
            return True
        database = self.engine.url.database
        if not database or database == ":memory:":
            return True  # one process only
        import fcntl

        fd = os.open(f"{database}.import-locks", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, self.batch_id)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        conn, fd = self._conn, self._fd
        self._conn = self._fd = None
        if conn is not None:
            try:
                conn.execute(
                    text("SELECT pg_advisory_unlock(:ns, :b)"),
                    {"ns": _BATCH_LOCK_NAMESPACE, "b": self.batch_id},
                )
                conn.commit()
            finally:
                conn.close()
        if fd is not None:
            os.close(fd)  # closing the descriptor drops this process's record locks on it


def schema_ddl(dialect_name: str) -> str:
    """Return the full DDL (tables, indexes, triggers, constraints) for a dialect."""
    from resv_cli.core.models import EXTRA_DDL, Base

    if dialect_name == "postgresql":
        from sqlalchemy.dialects import postgresql

        dialect: Any = postgresql.dialect()
    elif dialect_name == "sqlite":
        from sqlalchemy.dialects import sqlite

        dialect = sqlite.dialect()
    else:
        raise ResvError(
            _("unknown dialect {dialect!r} (use postgresql or sqlite)").format(dialect=dialect_name)
        )
    parts = [
        f"-- resv schema for {dialect_name}; generated by `resv db schema --dialect "
        f"{dialect_name}`. Do not edit by hand: a test compares it with the code."
    ]
    for table in Base.metadata.sorted_tables:
        parts.append(str(CreateTable(table).compile(dialect=dialect)).strip())
        for index in sorted(table.indexes, key=lambda i: i.name or ""):
            parts.append(str(CreateIndex(index).compile(dialect=dialect)).strip())
    parts.extend(EXTRA_DDL[dialect_name])
    return ";\n\n".join(parts) + ";\n"


def create_schema(conn: Any) -> None:
    """Create every table, index, trigger and constraint, and stamp the migration head.

    Runs on the caller's connection and transaction (DDL is transactional on
    both PostgreSQL and SQLite), so a failed initialisation leaves nothing.
    """
    from resv_cli.core.models import Base

    Base.metadata.create_all(conn)
    apply_extra_ddl(conn)
    _seed_reference_data(conn)
    from resv_cli.core import migrations

    migrations.stamp_head(conn)


def apply_extra_ddl(conn: Any) -> None:
    """Run EXTRA_DDL for the connection's dialect (triggers, exclusion constraints)."""
    from resv_cli.core.models import EXTRA_DDL

    for ddl in EXTRA_DDL[conn.dialect.name]:
        if conn.dialect.name == "postgresql":
            # psycopg reads % as a placeholder marker even without parameters
            ddl = ddl.replace("%", "%%")
        conn.exec_driver_sql(ddl)


def _seed_reference_data(conn: Any) -> None:
    from resv_cli.core.models import DEFAULT_CATEGORIES, FacilityCategory

    existing = {row[0] for row in conn.execute(text("SELECT code FROM facility_categories"))}
    rows = [
        {"code": c, "name_ja": n, "is_senior": s}
        for c, n, s in DEFAULT_CATEGORIES
        if c not in existing
    ]
    if rows:
        conn.execute(insert(FacilityCategory), rows)


def is_initialised(engine: Engine) -> bool:
    """Return True when resv's tables exist in this database."""
    try:
        return inspect(engine).has_table("accounts")
    except OperationalError as exc:
        raise ResvError(
            _("cannot open database: {problem}").format(problem=_first_line(exc))
        ) from None


def require_initialised(engine: Engine) -> None:
    if not is_initialised(engine):
        raise NotInitialised(_("this database is not initialised; run `resv db init` first"))


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__


def check_schema(engine: Engine) -> list[str]:
    """Return the differences between the live database and this version's schema.

    Uses Alembic's comparison of the live database with the table definitions,
    checks the migration revision is at head, that the triggers exist, and on
    SQLite runs ``PRAGMA integrity_check``.  An empty list means all is well.
    """
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from resv_cli.core import migrations
    from resv_cli.core.models import Base

    problems: list[str] = []
    with engine.connect() as conn:
        if not inspect(conn).has_table("accounts"):
            return [_("database is not initialised (no resv tables)")]
        mc = MigrationContext.configure(conn, opts={"compare_type": True})
        for diff in compare_metadata(mc, Base.metadata):
            problems.append(_describe_diff(diff))
        current = mc.get_current_revision()
        head = migrations.head_revision()
        if current != head:
            problems.append(
                _("migration revision is {current}, this version needs {head}").format(
                    current=current, head=head
                )
            )
        problems.extend(_check_triggers(conn))
        if engine.dialect.name == "sqlite":
            result = [r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check")]
            if result != ["ok"]:
                problems.extend(f"integrity_check: {r}" for r in result)
            fk = list(conn.exec_driver_sql("PRAGMA foreign_key_check"))
            if fk:
                problems.append(_("foreign_key_check: {n} dangling reference(s)").format(n=len(fk)))
    return problems


def _describe_diff(diff: Any) -> str:
    if isinstance(diff, list):  # column modifications come as a list of tuples
        return "; ".join(_describe_diff(d) for d in diff)
    kind = diff[0]
    obj = diff[-1] if kind.startswith("remove") else diff[1]
    name = getattr(obj, "name", None) or str(obj)
    table = getattr(getattr(obj, "table", None), "name", None)
    where = f"{table}.{name}" if table and table != name else name
    if kind.startswith("modify"):
        return f"{kind}: {diff[2]}.{diff[3]}"
    return f"{kind}: {where}"


def _check_triggers(conn: Any) -> list[str]:
    if conn.dialect.name == "sqlite":
        names = {
            r[0]
            for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='trigger'")
        }
        wanted = {
            "tr_management_periods_no_overlap_insert",
            "tr_management_periods_no_overlap_update",
            "tr_audit_events_no_update",
            "tr_audit_events_no_delete",
            "tr_audit_archives_no_update",
            "tr_audit_archives_no_delete",
        }
    else:
        names = {
            r[0]
            for r in conn.exec_driver_sql(
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal "
                "UNION SELECT conname FROM pg_constraint WHERE contype = 'x'"
            )
        }
        wanted = {
            "tr_audit_events_no_update",
            "tr_audit_events_no_truncate",
            "tr_audit_archives_no_update",
            "tr_audit_archives_no_truncate",
            "ex_management_periods_no_overlap",
        }
    return [
        _("missing trigger or constraint: {name}").format(name=n) for n in sorted(wanted - names)
    ]
