"""Indexes of ``registrants`` that their queries read (issue 17 part 2).

- drop ``ix_registrants_name_key``: no query needs it (below);
- replace ``ix_registrants_kana_key`` by ``(facility_id, kana_key)``: the kana
  search is scoped by facility like the name search, and SQLite (no statistics)
  read every registrant of the scope's facilities instead of the bare kana index.

Every read of a registrant's name key is scoped to facilities (the search's scope
list, the importer's facility, the counter's facility), which the index on
``(facility_id, name_key)`` serves; the single-column index only cost every insert
and update.  Each secondary index left names its query in ``resv_cli/core/personal.py``
(checked with the query plans by ``tests/test_registrant_indexes.py``).

The index is dropped only where it is present (an empty database built by 0001 from
the current table definitions never had it).

Revision ID: 0006
Revises: 0005
"""

from alembic import op
from sqlalchemy import inspect

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_DROP = ("ix_registrants_name_key", "ix_registrants_kana_key")
_KANA = "ix_registrants_facility_id_kana_key"


def upgrade() -> None:
    present = {i["name"] for i in inspect(op.get_bind()).get_indexes("registrants")}
    for name in _DROP:
        if name in present:
            op.drop_index(name, table_name="registrants")
    if _KANA not in present:
        op.create_index(_KANA, "registrants", ["facility_id", "kana_key"])


def downgrade() -> None:
    op.drop_index(_KANA, table_name="registrants")
    op.create_index("ix_registrants_kana_key", "registrants", ["kana_key"])
    op.create_index("ix_registrants_name_key", "registrants", ["name_key"])
