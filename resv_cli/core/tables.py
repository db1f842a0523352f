"""SQLAlchemy Core views of the tables the session check reads, without the ORM.

Every command checks the caller's session before it does anything else (``resv
whoami`` does nothing more).  Importing the ORM models (``core/models.py``)
builds the mappers of every table, which costs more than the command itself, so
the check reads these Core ``Table`` objects instead: the columns it reads of
``sessions``, ``accounts`` and ``organizations``, on a ``MetaData`` of their own.

``core/models.py`` stays the one schema definition (DDL, migrations, ``db
check``): ``tests/test_startup.py`` fails when a column here differs from the
model's column of the same name (type, length, nullability, primary key).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Column, Date, DateTime, Integer, MetaData, String, Table
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC timestamps on every backend (the one definition; models use it).

    PostgreSQL stores ``timestamptz``; SQLite stores the UTC wall time as text and
    this type re-attaches UTC when reading, so code never sees a naive datetime.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


metadata = MetaData()

organizations = Table(
    "organizations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(32), nullable=False),
    Column("kind", String(32), nullable=False),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("login_id", String(64), nullable=False),
    Column("display_name", String(200), nullable=False),
    Column("organization_id", Integer, nullable=False),
    Column("role", String(16), nullable=False),
    Column("facility_id", Integer),
    Column("must_change_password", Boolean, nullable=False),
    Column("status", String(16), nullable=False),
    Column("valid_from", Date),
    Column("valid_until", Date),
)

login_sessions = Table(
    "sessions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, nullable=False),
    Column("token_hash", String(64), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
    Column("end_reason", String(32)),
)
