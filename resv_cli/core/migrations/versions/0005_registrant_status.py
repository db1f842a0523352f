"""Reserved: registrant status and card validity (issue 15 part 6).

Filled in by the change that adds these columns; until then a no-op step, so the
revision chain stays linear while the parts are built.

Revision ID: 0005
Revises: 0004
"""

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    raise RuntimeError("cannot be downgraded")
