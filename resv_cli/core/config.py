"""Where things are: database URL, session file, installation keys."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_SQLITE_FILE = "resv.db"


def database_url(option: str | None) -> str:
    """Return the database URL from ``--db``, ``RESV_DATABASE_URL`` or the default.

    A bare path (no ``://``) is taken as a SQLite file.  ``postgresql://`` URLs
    are given the psycopg 3 driver.
    """
    url = option or os.environ.get("RESV_DATABASE_URL") or DEFAULT_SQLITE_FILE
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser()}"
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def redact_url(url: str) -> str:
    """Return the URL with any password replaced by ``***`` (for messages)."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown without its credentials part
        return url.split("@")[-1]


def config_dir() -> Path:
    from platformdirs import user_config_dir

    return Path(os.environ.get("RESV_CONFIG_DIR") or user_config_dir("resv"))


def session_file() -> Path:
    """Return the session token file (``RESV_SESSION_FILE`` or the config dir)."""
    env = os.environ.get("RESV_SESSION_FILE")
    return Path(env) if env else config_dir() / "session.json"


def audit_key_file() -> Path:
    """Return the installation's audit HMAC key file (kept outside the database)."""
    env = os.environ.get("RESV_AUDIT_KEY_FILE")
    return Path(env) if env else config_dir() / "audit.key"


def data_key_file() -> Path:
    """Return the key-encryption key file that wraps the data keys (kept outside the database)."""
    env = os.environ.get("RESV_DATA_KEY_FILE")
    return Path(env) if env else config_dir() / "data.key"
