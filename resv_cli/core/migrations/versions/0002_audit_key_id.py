"""The keyed audit chain: ``audit_events.key_id`` (issue 14).

Events written before this revision keep ``key_id`` NULL and their plain SHA-256
(chain version 1); ``resv audit key upgrade`` then records the switch-over event
from which every event is an HMAC under the audit key named by ``key_id``.

The baseline (0001) builds an empty database from the current table
definitions, which already have the column; so this step adds it only where it
is missing (a database created by resv 0.1).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy import inspect

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    columns = {c["name"] for c in inspect(conn).get_columns("audit_events")}
    if "key_id" not in columns:
        op.add_column("audit_events", sa.Column("key_id", sa.String(16), nullable=True))


def downgrade() -> None:
    raise RuntimeError("the keyed audit chain cannot be downgraded")
