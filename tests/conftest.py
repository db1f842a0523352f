"""Fixtures: a fresh real database per test, on SQLite and on PostgreSQL.

Every test that takes ``db_url`` (or a fixture built on it) runs twice: once on a
new SQLite file and once on a new database of the PostgreSQL server named by
``RESV_TEST_PG_URL`` (``make test`` starts a throwaway one).  Without that server
the PostgreSQL half is skipped, except under ``CI=true``, where it fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import (
    ADMIN_LOGIN,
    ADMIN_NAME,
    ADMIN_PASSWORD,
    BACKENDS,
    Installation,
    create_pg_database,
    drop_pg_database,
    run_cli,
)


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


@pytest.fixture(autouse=True)
def isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Session file and audit key in the test's own directory, never the user's."""
    cfg = tmp_path / "config"
    monkeypatch.setenv("RESV_CONFIG_DIR", str(cfg))
    monkeypatch.delenv("RESV_SESSION_FILE", raising=False)
    monkeypatch.delenv("RESV_AUDIT_KEY_FILE", raising=False)
    monkeypatch.delenv("RESV_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    return cfg


@pytest.fixture
def db_url(backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """URL of a new, empty database on ``backend``; also set as RESV_DATABASE_URL."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.db'}"
        monkeypatch.setenv("RESV_DATABASE_URL", url)
        yield url
        from resv_cli.core.db import get_engine

        get_engine(url).dispose()
        get_engine.cache_clear()
    else:
        db = create_pg_database()
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
def installation(db_url: str, backend: str) -> Installation:
    result = run_cli(
        "db",
        "init",
        "--admin",
        ADMIN_LOGIN,
        "--name",
        ADMIN_NAME,
        "--password-stdin",
        input=ADMIN_PASSWORD + "\n",
    )
    assert result.exit_code == 0, result
    inst = Installation(db_url, backend)
    inst.login_admin()
    return inst
