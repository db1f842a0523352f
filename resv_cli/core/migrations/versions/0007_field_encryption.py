"""Field encryption (issue 18): the fraud-prone fields sealed, searched by blind index.

Before upgrading, the operator must hold the installation's key-encryption key
(KEK): ``resv key init`` makes the key file (``<config dir>/data.key``, mode 0600;
keep a copy offline, every machine that runs resv needs it), or ``RESV_DATA_KEK``
holds it.  Without one this revision refuses and nothing changes.

- ``data_keys``: a data key and the blind-index key, random, wrapped under the KEK;
- ``registrants``: the address, phone, extension and emergency contact of every
  row are sealed into ``*_enc`` columns (AES-256-GCM, the row's id and the field's
  name as associated data; ``resv_cli.core.fieldcrypt``), 2,000 rows at a time;
  the phone's digits and the date of birth get their blind indexes (``phone_bidx``,
  ``dob_bidx``), whose indexes replace those of ``phone_digits`` and
  ``date_of_birth``; then the clear columns are dropped.  Dates of birth stay in
  clear (``resv key rotate --encrypt-dob`` seals them later).

SQLite rewrites the table without the dropped columns with ``secure_delete`` on,
so the freed pages are zeroed and a copy of the file holds none of the old
values.  PostgreSQL: ``pg_dump`` never holds them, but the table's data files keep
the old row versions until ``VACUUM FULL registrants`` (the guide says to run it).

Each step is skipped where it is done (an empty database built by 0001 from the
current table definitions has the columns; it still gets its keys).

Revision ID: 0007
Revises: 0006
"""

from alembic import op
from sqlalchemy import inspect, text

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BATCH = 2000
_NEW = {
    "date_of_birth_enc": "TEXT",
    "dob_bidx": "VARCHAR(24)",
    "address_enc": "TEXT",
    "phone_enc": "TEXT",
    "phone_bidx": "VARCHAR(24)",
    "phone_extension_enc": "TEXT",
    "emergency_name_enc": "TEXT",
    "emergency_phone_enc": "TEXT",
}
_CLEAR = (
    "address", "phone", "phone_digits", "phone_extension", "emergency_name", "emergency_phone",
)  # fmt: skip
_OLD_INDEXES = ("ix_registrants_phone_digits", "ix_registrants_date_of_birth")
_NEW_INDEXES = {"ix_registrants_dob_bidx": "dob_bidx", "ix_registrants_phone_bidx": "phone_bidx"}


def _provider():  # noqa: ANN202 - a KeyProvider
    from resv_cli.core import kek
    from resv_cli.core.errors import ResvError
    from resv_cli.core.i18n import _

    if kek.from_env() is None and not kek.key_file().exists():
        raise ResvError(
            _(
                "revision 0007 seals the registrants' addresses, phones and emergency contacts "
                "under a key-encryption key kept outside the database, and there is none: run "
                "`resv key init` first (it makes {path}; keep a copy offline), or set "
                "RESV_DATA_KEK; nothing was changed"
            ).format(path=kek.key_file())
        )
    return kek.provider()


def _seal_rows(conn, have: set[str]) -> int:  # noqa: ANN001
    from resv_cli.core import fieldcrypt

    keys = fieldcrypt.load(conn, for_writing=True)
    cols = [c for c in (*_CLEAR, "date_of_birth") if c in have]
    done, last = 0, 0
    while True:
        rows = conn.execute(
            text(
                f"SELECT id, {', '.join(cols)} FROM registrants WHERE id > :last "
                "ORDER BY id LIMIT :n"
            ),
            {"last": last, "n": BATCH},
        ).all()
        if not rows:
            return done
        params = []
        for r in rows:
            stored = keys.stored(int(r[0]), dict(zip(cols, r[1:], strict=True)))
            if not keys.encrypt_dob:  # the date stays as it is; only its tag is new
                stored.pop("date_of_birth", None)
                stored.pop(fieldcrypt.DOB_SEALED, None)
            params.append({**stored, "rid": int(r[0])})
        sets = ", ".join(f"{c} = :{c}" for c in params[0] if c != "rid")
        conn.execute(text(f"UPDATE registrants SET {sets} WHERE id = :rid"), params)
        done += len(rows)
        last = int(rows[-1][0])


def upgrade() -> None:
    from resv_cli.core import clock, fieldcrypt
    from resv_cli.core.models import DataKey

    conn = op.get_bind()
    insp = inspect(conn)
    sqlite = conn.dialect.name == "sqlite"
    if not insp.has_table("data_keys"):
        DataKey.__table__.create(conn)
    have = {c["name"] for c in insp.get_columns("registrants")}
    for column, sql_type in _NEW.items():
        if column not in have:
            op.execute(f"ALTER TABLE registrants ADD COLUMN {column} {sql_type}")
    if not conn.execute(text("SELECT count(*) FROM data_keys")).scalar():
        fieldcrypt.create_keys(conn, _provider(), encrypt_dob=False, now=clock.now())
    indexes = {i["name"] for i in insp.get_indexes("registrants")}
    if any(c in have for c in _CLEAR):
        if sqlite:  # the rewrite without the clear columns zeroes the pages it frees
            conn.exec_driver_sql("PRAGMA secure_delete = ON")
        _seal_rows(conn, have)
        for name in _OLD_INDEXES:
            if name in indexes:
                op.drop_index(name, table_name="registrants")
        for column in _CLEAR:
            if column in have:
                op.execute(f"ALTER TABLE registrants DROP COLUMN {column}")
    elif "ix_registrants_date_of_birth" in indexes:
        op.drop_index("ix_registrants_date_of_birth", table_name="registrants")
    for name, column in _NEW_INDEXES.items():
        if name not in indexes:
            op.create_index(name, "registrants", [column])


def downgrade() -> None:
    raise RuntimeError("field encryption cannot be downgraded")
