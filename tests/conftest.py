"""Fixtures: a fresh real database per test, on SQLite and on PostgreSQL.

Every test that takes ``db_url`` (or a fixture built on it) runs twice: once on a
new SQLite file and once on a new database of the PostgreSQL server named by
``RESV_TEST_PG_URL`` (``make test`` starts a throwaway one).  Without that server
the PostgreSQL half is skipped, except under ``CI=true``, where it fails.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support import (
    BACKENDS,
    Installation,
    PgDatabase,
    create_pg_database,
    drop_pg_database,
    init_and_login,
    run_cli,
)


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Slow tests first (stable otherwise): with ``-n`` they start at once instead of
    last, and ``--dist worksteal`` (make test) spreads the rest around them."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_addoption(parser: Any) -> None:
    parser.addoption(
        "--backend",
        action="append",
        choices=BACKENDS,
        help="run database tests only on this backend (repeatable; default both)",
    )


def pytest_generate_tests(metafunc: Any) -> None:
    if "backend" in metafunc.fixturenames and not any(
        m.name == "parametrize" and "backend" in m.args[0]
        for m in metafunc.definition.iter_markers()
    ):
        chosen = metafunc.config.getoption("backend") or BACKENDS
        metafunc.parametrize("backend", chosen, scope="function")


# A test-only password hash cost.  argon2id at the production cost (m=19 MiB, t=2)
# takes tens of milliseconds per hash, and the suite hashes and verifies thousands of
# passwords (every factory account, login and grant).  In-process tests use the
# cheapest argon2id instead; the production parameters keep their own tests, marked
# ``production_hash`` (tests/test_passwords.py), and nothing outside the tests can
# lower them (this is a monkeypatch of the test process only, not a setting).
TEST_ARGON2 = {"memory_cost": 64, "rounds": 1, "parallelism": 1}


@functools.lru_cache(maxsize=1)
def _test_crypt_context() -> Any:
    from passlib.context import CryptContext

    return CryptContext(
        schemes=["argon2", "bcrypt"],
        deprecated=["bcrypt"],
        argon2__type="ID",
        argon2__memory_cost=TEST_ARGON2["memory_cost"],
        argon2__rounds=TEST_ARGON2["rounds"],
        argon2__parallelism=TEST_ARGON2["parallelism"],
    )


@pytest.fixture(autouse=True)
def test_hash_cost(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("production_hash") is None:
        from resv_cli.accounts import passwords

        monkeypatch.setattr(passwords, "crypt_context", _test_crypt_context)


@pytest.fixture(autouse=True)
def english_by_default(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests read English unless they ask for Japanese (RESV_LANG=ja or --lang ja),
    whatever the machine's locale; the language is decided afresh in each test."""
    from resv_cli.core import i18n

    monkeypatch.setenv("RESV_LANG", "en")
    monkeypatch.delenv("LANGUAGE", raising=False)  # set_language exports it; put back after
    i18n.reset_for_tests()
    yield
    i18n.reset_for_tests()


@pytest.fixture(autouse=True)
def isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Session file and audit key in the test's own directory, never the user's."""
    cfg = tmp_path / "config"
    monkeypatch.setenv("RESV_CONFIG_DIR", str(cfg))
    monkeypatch.delenv("RESV_SESSION_FILE", raising=False)
    monkeypatch.delenv("RESV_AUDIT_KEY_FILE", raising=False)
    monkeypatch.delenv("RESV_DATA_KEY_FILE", raising=False)
    monkeypatch.delenv("RESV_DATA_KEK", raising=False)
    monkeypatch.delenv("RESV_DATA_KEK_NEW", raising=False)
    monkeypatch.delenv("RESV_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    return cfg


@dataclass
class Template:
    """An initialised database with the administrator logged in, built once per backend.

    ``installation`` copies it for each test (a SQLite file copy; PostgreSQL's
    CREATE DATABASE ... TEMPLATE) with its audit key and session token: the same
    state ``db init`` and ``login`` leave, without paying for them in every test.
    """

    url: str
    token: str
    audit_key: bytes
    data_key: bytes  # the key-encryption key file that wraps its data keys
    sqlite_path: Path | None = None
    pg: PgDatabase | None = None


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Template]]:
    made: dict[str, Template] = {}
    yield made
    for tpl in made.values():
        if tpl.pg is not None:
            drop_pg_database(tpl.pg)


def _template(made: dict[str, Template], backend: str, base: Path) -> Template:
    if backend in made:
        return made[backend]
    from resv_cli.accounts.sessions import stored_token
    from resv_cli.core.config import audit_key_file, data_key_file
    from resv_cli.core.db import get_engine

    pg = None
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RESV_CONFIG_DIR", str(base / "config"))
        mp.delenv("RESV_SESSION_FILE", raising=False)
        mp.delenv("RESV_AUDIT_KEY_FILE", raising=False)
        mp.delenv("RESV_DATA_KEY_FILE", raising=False)
        if backend == "sqlite":
            url = f"sqlite:///{base / 'template.db'}"
        else:
            pg = create_pg_database()
            url = pg.url
        mp.setenv("RESV_DATABASE_URL", url)
        init_and_login()
        token = stored_token(url)
        assert token
        tpl = Template(
            url, token, audit_key_file().read_bytes(), data_key_file().read_bytes(), pg=pg
        )
        get_engine(url).dispose()
        get_engine.cache_clear()
    if backend == "sqlite":
        import sqlite3

        tpl.sqlite_path = base / "template.db"
        con = sqlite3.connect(tpl.sqlite_path)  # fold the WAL into the file before copying
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.close()
    made[backend] = tpl
    return tpl


@pytest.fixture
def db_url(
    backend: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """URL of a new database on ``backend``; also set as RESV_DATABASE_URL.

    Empty, unless the test uses ``installation``: then a copy of the template.
    """
    tpl = None
    if "installation" in request.fixturenames:
        made = request.getfixturevalue("templates")
        tpl = _template(made, backend, tmp_path_factory.mktemp(f"template-{backend}"))
    if backend == "sqlite":
        path = tmp_path / "test.db"
        if tpl is not None and tpl.sqlite_path is not None:
            shutil.copyfile(tpl.sqlite_path, path)
        url = f"sqlite:///{path}"
        monkeypatch.setenv("RESV_DATABASE_URL", url)
        yield url
        from resv_cli.core.db import get_engine

        get_engine(url).dispose()
        get_engine.cache_clear()
    else:
        db = create_pg_database(tpl.pg.name if tpl is not None and tpl.pg else "template0")
        monkeypatch.setenv("RESV_DATABASE_URL", db.url)
        try:
            yield db.url
        finally:
            drop_pg_database(db)
            from resv_cli.core.db import get_engine

            get_engine.cache_clear()


@pytest.fixture
def cli() -> Any:
    return run_cli


@pytest.fixture
def installation(db_url: str, backend: str, templates: dict[str, Template]) -> Installation:
    """An initialised database with the city administrator logged in (a template copy)."""
    from resv_cli.accounts.sessions import save_token
    from resv_cli.core.config import audit_key_file, data_key_file
    from resv_cli.core.files import write_private

    tpl = templates[backend]
    write_private(audit_key_file(), tpl.audit_key, overwrite=True, make_parents=True)
    write_private(data_key_file(), tpl.data_key, overwrite=True, make_parents=True)
    save_token(db_url, tpl.token)
    return Installation(db_url, backend)
