"""Baseline: the schema of resv 0.1.

A database created by ``resv db init`` is stamped at this revision.  Upgrading an
empty database through Alembic creates the same schema, so ``resv db upgrade``
also works as a first install.  Later revisions change the schema step by step;
this one must then stay frozen (copy the DDL here before the first release that
changes a table).

Revision ID: 0001
Revises:
"""

from alembic import op
from sqlalchemy import inspect

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    from resv_cli.core.db import _seed_reference_data, apply_extra_ddl
    from resv_cli.core.models import Base

    conn = op.get_bind()
    if inspect(conn).has_table("accounts"):
        return
    Base.metadata.create_all(conn)
    apply_extra_ddl(conn)
    _seed_reference_data(conn)


def downgrade() -> None:
    raise RuntimeError("the baseline cannot be downgraded")
