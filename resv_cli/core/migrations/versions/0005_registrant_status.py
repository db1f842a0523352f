"""Registrant status and card validity (issue 15 part 6); the importer's skipped count.

- ``registrants.status`` (active, suspended, deleted; every existing registrant is
  active), ``status_since`` and ``status_reason``;
- ``registrants.card_valid_from`` / ``card_valid_until``: the registration card's
  validity (有効期限), NULL where none was recorded;
- ``import_batches.skipped``: records a batch did not import by design (deleted
  registrations of a legacy file), 0 for earlier batches.

Each column is added only where it is missing (an empty database built by 0001
from the current table definitions already has them), with the check constraints
the table definitions give.

Revision ID: 0005
Revises: 0004
"""

from alembic import op
from sqlalchemy import inspect

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_STATUS_CHECK = (
    "CONSTRAINT ck_registrants_status CHECK (status IN ('active', 'suspended', 'deleted'))"
)
_VALIDITY_CHECK = (
    "CONSTRAINT ck_registrants_card_validity CHECK (card_valid_until IS NULL OR "
    "card_valid_from IS NULL OR card_valid_until >= card_valid_from)"
)


def upgrade() -> None:
    conn = op.get_bind()
    insp = inspect(conn)
    sqlite = conn.dialect.name == "sqlite"
    have = {c["name"] for c in insp.get_columns("registrants")}
    add = "ALTER TABLE registrants ADD COLUMN"
    if "status" not in have:
        op.execute(f"{add} status VARCHAR(16) DEFAULT 'active' NOT NULL {_STATUS_CHECK}")
    if "status_since" not in have:
        op.execute(f"{add} status_since DATE")
    if "status_reason" not in have:
        op.execute(f"{add} status_reason VARCHAR(200)")
    if "card_valid_from" not in have:
        op.execute(f"{add} card_valid_from DATE")
    if "card_valid_until" not in have:
        # SQLite adds no constraint to a table but with a column; PostgreSQL adds it apart
        op.execute(f"{add} card_valid_until DATE" + (f" {_VALIDITY_CHECK}" if sqlite else ""))
        if not sqlite:
            op.execute(f"ALTER TABLE registrants ADD {_VALIDITY_CHECK}")
    if "skipped" not in {c["name"] for c in insp.get_columns("import_batches")}:
        op.execute("ALTER TABLE import_batches ADD COLUMN skipped INTEGER DEFAULT 0 NOT NULL")


def downgrade() -> None:
    raise RuntimeError("registrant status cannot be downgraded")
