"""Organisation terms, renewals and the information security officer (issue 15 part 3).

- ``organization_terms``: every designation period (指定期間) of a designated
  manager, so a renewal (``resv org renew``) never erases the previous term.  Each
  organisation's existing term becomes its first period (source ``migration``).
- ``security_officers``: the 情報セキュリティ対策責任者 each organisation named,
  dated (``resv org update --security-officer``).  Nobody is named after the
  upgrade: the report flags designated managers with staff accounts and no officer.

Each step is skipped where it is already done (an empty database built by 0001
from the current table definitions).

Revision ID: 0004
Revises: 0003
"""

from alembic import op
from sqlalchemy import inspect

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from resv_cli.core.models import OrganizationTerm, SecurityOfficer

    conn = op.get_bind()
    insp = inspect(conn)
    if not insp.has_table("organization_terms"):
        OrganizationTerm.__table__.create(conn)
        op.execute(
            "INSERT INTO organization_terms "
            "(organization_id, term_start, term_end, source, created_at, updated_at) "
            "SELECT id, term_start, term_end, 'migration', created_at, created_at "
            "FROM organizations WHERE term_start IS NOT NULL AND term_end IS NOT NULL"
        )
    if not insp.has_table("security_officers"):
        SecurityOfficer.__table__.create(conn)


def downgrade() -> None:
    raise RuntimeError("organisation terms cannot be downgraded")
