"""Per-person scope (issue 15): places of work, the organisation-wide grant, the exception rule.

- ``account_workplaces``: every place of work (所属施設) of an account; an operator
  acts only at these (within what its organisation manages).  Each account's
  existing ``facility_id`` becomes its first place of work.
- ``accounts.all_managed_facilities``: the explicit organisation-wide grant.
- ``duplicate_check_rules``: the central centre's exception as data.  Nobody has
  it after the upgrade: city IT grants it with ``resv scope add --kind
  duplicate-check`` (the upgrade guide says so).

Each step is skipped where it is already done (an empty database built by 0001
from the current table definitions).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy import inspect

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    insp = inspect(conn)
    if not insp.has_table("account_workplaces"):
        op.create_table(
            "account_workplaces",
            sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), primary_key=True),
            sa.Column("facility_id", sa.Integer, sa.ForeignKey("facilities.id"), primary_key=True),
        )
        op.create_index("ix_account_workplaces_facility_id", "account_workplaces", ["facility_id"])
        op.execute(
            "INSERT INTO account_workplaces (account_id, facility_id) "
            "SELECT id, facility_id FROM accounts WHERE facility_id IS NOT NULL"
        )
    if "all_managed_facilities" not in {c["name"] for c in insp.get_columns("accounts")}:
        op.add_column(
            "accounts",
            sa.Column(
                "all_managed_facilities", sa.Boolean, nullable=False, server_default=sa.false()
            ),
        )
    if not insp.has_table("duplicate_check_rules"):
        from resv_cli.core.models import DuplicateCheckRule

        DuplicateCheckRule.__table__.create(conn)


def downgrade() -> None:
    raise RuntimeError("per-person scope cannot be downgraded")
