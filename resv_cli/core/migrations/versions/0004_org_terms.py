"""Reserved: organisation terms, renewals and the information security officer (issue 15 part 3).

Filled in by the change that adds these columns; until then a no-op step, so the
revision chain stays linear while the parts are built.

Revision ID: 0004
Revises: 0003
"""

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    raise RuntimeError("cannot be downgraded")
