"""Alembic migrations, driven programmatically (no alembic.ini needed by users).

``resv db init`` creates the schema from the table definitions and stamps the
head revision; ``resv db upgrade`` runs ``alembic upgrade head`` so a later
release can change a live shared database.  Revision 0001 is the baseline: the
schema of release 0.1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def alembic_config(connection: Any) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def stamp_head(connection: Any) -> None:
    from alembic import command

    command.stamp(alembic_config(connection), "head")


def current_revision(connection: Any) -> str | None:
    from alembic.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def upgrade(connection: Any) -> tuple[str | None, str]:
    """Apply pending migrations; return (revision before, revision after)."""
    from alembic import command

    before = current_revision(connection)
    if connection.dialect.name == "postgresql":
        # row-level security (`resv db rls apply`) is forced on the tables' owner too:
        # a migration, run by the owner with no person acting, declares its maintenance
        # so it may read and rewrite every row (access/rls.py: resv_rls_maintenance)
        connection.exec_driver_sql("SELECT set_config('resv.maintenance', 'on', true)")
    command.upgrade(alembic_config(connection), "head")
    return before, head_revision()
