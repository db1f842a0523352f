"""What the tests share besides fixtures: the test administrator, PostgreSQL
throwaway databases, running ``resv`` in-process and the ``Installation`` helper.

Test modules import these from here (``from support import run_cli``), never from
``conftest`` or from another test module.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

ADMIN_LOGIN = "it-admin"
ADMIN_NAME = "情報 太郎"
ADMIN_PASSWORD = "Kyou-wa-ii-tenki-desu-ne-42"  # test-only; searched for in leak tests

BACKENDS = ["sqlite", "postgresql"]


def pg_admin_url() -> str | None:
    return os.environ.get("RESV_TEST_PG_URL")


def require_pg() -> str:
    url = pg_admin_url()
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but RESV_TEST_PG_URL is not set: PostgreSQL tests must run")
        pytest.skip("no PostgreSQL server (RESV_TEST_PG_URL unset); run `make test`")
    return url


def psycopg_dsn(sqlalchemy_url: str) -> str:
    from sqlalchemy.engine import make_url

    u = make_url(sqlalchemy_url)
    parts = [f"host={u.host or 'localhost'}", f"port={u.port or 5432}", f"dbname={u.database}"]
    if u.username:
        parts.append(f"user={u.username}")
    if u.password:
        parts.append(f"password={u.password}")
    return " ".join(parts)


@dataclass
class PgDatabase:
    admin_url: str
    name: str

    @property
    def url(self) -> str:
        from sqlalchemy.engine import make_url

        return (
            make_url(self.admin_url).set(database=self.name).render_as_string(hide_password=False)
        )


def create_pg_database(template: str = "template0") -> PgDatabase:
    """A new database: empty (template0), or a copy of an initialised template."""
    import psycopg

    admin = require_pg()
    name = f"resv_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(psycopg_dsn(admin), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE \"{name}\" TEMPLATE \"{template}\" ENCODING 'UTF8'")
    return PgDatabase(admin, name)


def drop_pg_database(db: PgDatabase) -> None:
    import psycopg

    from resv_cli.core.db import get_engine

    get_engine(db.url).dispose()
    with psycopg.connect(psycopg_dsn(db.admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)')


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None

    def __repr__(self) -> str:  # shown by pytest on assertion failures
        return (
            f"CliResult(exit_code={self.exit_code}, stdout={self.stdout[-2000:]!r}, "
            f"stderr={self.stderr[-2000:]!r}, exception={self.exception!r})"
        )


def run_cli(*args: str, input: str | None = None) -> CliResult:
    """Run ``resv ARGS`` in-process (Typer's runner), stdout and stderr apart."""
    from resv_cli.commands.main import app
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, [str(a) for a in args], input=input)
    exc = result.exception
    if isinstance(exc, SystemExit):
        exc = None
    return CliResult(result.exit_code, result.stdout, result.stderr, exc)


@dataclass
class Installation:
    """An initialised database with the city administrator logged in."""

    url: str
    backend: str

    def login(self, login_id: str, password: str, new_password: str | None = None) -> CliResult:
        data = password + "\n" + (new_password + "\n" if new_password else "")
        return run_cli("login", login_id, "--password-stdin", input=data)

    def login_admin(self) -> None:
        result = self.login(ADMIN_LOGIN, ADMIN_PASSWORD)
        assert result.exit_code == 0, result

    def engine(self) -> Any:
        from resv_cli.core.db import get_engine

        return get_engine(self.url)

    def scalar(self, sql: str, **params: Any) -> Any:
        from sqlalchemy import text

        with self.engine().connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def rows(self, sql: str, **params: Any) -> list[Any]:
        from sqlalchemy import text

        with self.engine().connect() as conn:
            return list(conn.execute(text(sql), params))

    def clear_rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        """``rows`` of a ``SELECT a, b, ... FROM registrants [r] ...`` whose list may name
        the sealed fields by their clear names (address, phone, phone_digits,
        phone_extension, emergency_name, emergency_phone, date_of_birth): they come
        back opened, as the services open them for a person allowed to see them."""
        import re

        from sqlalchemy import text

        from resv_cli.core import fieldcrypt, jpnorm

        m = re.match(r"\s*SELECT\s+(.*?)\s+FROM\s+registrants(\s+r\b)?(.*)$", sql, re.S | re.I)
        assert m, sql
        alias = "r." if m.group(2) else ""
        wanted = [c.strip() for c in m.group(1).split(",")]
        bare = [c.removeprefix("r.") for c in wanted]
        opened = ("address", "phone", "phone_extension", "emergency_name", "emergency_phone",
                  "date_of_birth")  # fmt: skip
        plain = [c for c, b in zip(wanted, bare, strict=True) if b not in (*opened, "phone_digits")]
        stored = [f"{alias}{c}" for c in (*fieldcrypt.SEALED_COLUMNS, "date_of_birth")]
        query = f"SELECT {alias}id, {', '.join([*plain, *stored])} FROM registrants{m.group(2) or ''}{m.group(3)}"
        out = []
        with self.engine().connect() as conn:
            keys = fieldcrypt.load(conn)
            for row in conn.execute(text(query), params):
                rid, values = row[0], dict(zip(plain, row[1 : 1 + len(plain)], strict=True))
                names = (*fieldcrypt.SEALED_COLUMNS, "date_of_birth")
                raw = dict(zip(names, row[1 + len(plain) :], strict=True))
                clear = keys.opened(rid, raw, opened)
                phone = clear["phone"]
                clear["phone_digits"] = (jpnorm.digits_of(phone) or None) if phone else None
                out.append(
                    tuple(clear[b] if b in clear else values[c] for c, b in zip(wanted, bare, strict=True))
                )
        return out


def build_wheel(dest: Any) -> Any:
    """Build resv's wheel from a clean copy of the tree (what git tracks or would add).

    A build in the checkout itself reuses its ``build/`` folder, which can hold
    modules that were since moved or removed; the copy has none.
    """
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=root, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    src = Path(dest) / "src"
    for rel in filter(None, listed):
        if (root / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / rel, src / rel)
    dist = Path(dest) / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(dist), str(src)],
        check=True, capture_output=True,
    )  # fmt: skip
    return next(dist.glob("resv-*.whl"))


def disable_audit_triggers(conn: Any) -> None:
    """Switch off the append-only triggers on ``conn``, as a database owner could."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("ALTER TABLE audit_events DISABLE TRIGGER USER")
    else:
        conn.exec_driver_sql("DROP TRIGGER tr_audit_events_no_update")
        conn.exec_driver_sql("DROP TRIGGER tr_audit_events_no_delete")


def enable_audit_triggers(conn: Any) -> None:
    """Put back what ``disable_audit_triggers`` took away (the schema's own DDL)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("ALTER TABLE audit_events ENABLE TRIGGER USER")
        return
    from resv_cli.core.models import EXTRA_DDL

    for ddl in EXTRA_DDL["sqlite"]:
        if ddl.startswith(
            ("CREATE TRIGGER tr_audit_events_no_update", "CREATE TRIGGER tr_audit_events_no_delete")
        ):
            conn.exec_driver_sql(ddl)


def init_and_login() -> None:
    """``db init`` the database RESV_DATABASE_URL names and log its first administrator in."""
    result = run_cli(
        "db", "init", "--admin", ADMIN_LOGIN, "--name", ADMIN_NAME, "--password-stdin",
        input=ADMIN_PASSWORD + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result
    result = run_cli("login", ADMIN_LOGIN, "--password-stdin", input=ADMIN_PASSWORD + "\n")
    assert result.exit_code == 0, result
