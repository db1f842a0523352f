"""The personal-data tables: registrants (利用者), certificates and bookings.

Only ``resv_cli.access`` and ``resv_cli.records`` import this module (an
import-linter contract in ``pyproject.toml``); every other package reads or writes
these rows through the services of ``resv_cli.records``, which ask the access
layer first.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from resv_cli.core.models import (
    BOOKING_STATUSES,
    CERTIFICATE_KINDS,
    REGISTRANT_KINDS,
    Base,
    BigId,
    UTCDateTime,
    one_of,
)

# The fields a registrant is made of, in the order people read them: the one list
# that scope rules (which fields a rule reveals), the counter's options, the
# validator and the record a person is shown are built from.
REGISTRANT_FIELDS = (
    "kind",
    "name",
    "kana",
    "date_of_birth",
    "postal_code",
    "address",
    "phone",
    "emergency_name",
    "emergency_phone",
    "representative_name",
    "card_valid_from",
    "card_valid_until",
)
# the longest clear value of each sealed field (its column holds the ciphertext)
SEALED_MAX = {
    "address": 300,
    "phone": 40,
    "phone_extension": 10,
    "emergency_name": 200,
    "emergency_phone": 40,
}
# a registration's state (登録状態); deletion is a state, never a deleted row
REGISTRANT_STATUSES = ("active", "suspended", "deleted")
# the columns of that state, set by ``registrant suspend|reinstate|delete`` and the importer
STATUS_FIELDS = ("status", "status_since", "status_reason")


class Registrant(Base):
    """利用者: an individual (個人登録) or a group (団体登録) registered at a facility.

    ``name`` is stored as received (NFC); ``name_key`` and ``kana_key`` are the
    folded search keys (width, spacing, kana form, variant kanji).  The address,
    phone, emergency contact (and, when chosen, date of birth) are sealed per field
    under the installation's data key, searched by blind index
    (``resv_cli.core.fieldcrypt``); read them through ``FieldKeys.opened``.  ``status``
    (active, suspended, deleted) with the day it took effect and why; a deleted
    registration stays as a row (its bookings and the history name it).
    """

    __tablename__ = "registrants"
    __table_args__ = (
        CheckConstraint(one_of("kind", REGISTRANT_KINDS), name="kind"),
        CheckConstraint(one_of("status", REGISTRANT_STATUSES), name="status"),
        CheckConstraint(
            "card_valid_until IS NULL OR card_valid_from IS NULL "
            "OR card_valid_until >= card_valid_from",
            name="card_validity",
        ),
        # Each secondary index names the query that needs it; tests/test_registrant_indexes.py
        # checks the plans (a new index needs a query there).  None on name_key alone:
        # every read of a name key is scoped to facilities (0006 dropped it).
        #
        # importing (RegistrantStore.by_legacy): WHERE facility_id = ? AND legacy_no IN (...)
        UniqueConstraint("facility_id", "legacy_no"),
        # registrant search --name (search_query): WHERE facility_id IN (scope) AND
        # name_key >= ? AND name_key < ? (prefix); the importer's RegistrantStore.by_person
        # and key_rows: WHERE facility_id = ? AND name_key = ? (or id <= ?)
        Index(None, "facility_id", "name_key"),
        # registrant search --kana (search_query): WHERE facility_id IN (scope) AND
        # kana_key >= ? AND kana_key < ? (prefix); scoped like the name search, so it
        # leads with facility_id (SQLite has no statistics to prefer a bare kana_key index)
        Index(None, "facility_id", "kana_key"),
        # registrant search --dob (search_query): WHERE dob_bidx = ? (the date's blind index)
        Index(None, "dob_bidx"),
        # registrant search --phone (search_query): WHERE phone_bidx = ? (the digits' blind index)
        Index(None, "phone_bidx"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"))
    kind: Mapped[str] = mapped_column(String(16))
    legacy_no: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200))
    kana: Mapped[str | None] = mapped_column(String(200))
    kana_key: Mapped[str | None] = mapped_column(String(200))
    # the date of birth in clear, or NULL when the installation seals it (date_of_birth_enc)
    date_of_birth: Mapped[dt.date | None] = mapped_column(Date)
    date_of_birth_enc: Mapped[str | None] = mapped_column(Text)
    dob_bidx: Mapped[str | None] = mapped_column(String(24))  # blind index of the date
    postal_code: Mapped[str | None] = mapped_column(String(8))
    # sealed fields (resv_cli.core.fieldcrypt): "v1:<key id>:<base64>", AES-256-GCM
    address_enc: Mapped[str | None] = mapped_column(Text)
    phone_enc: Mapped[str | None] = mapped_column(Text)
    phone_bidx: Mapped[str | None] = mapped_column(String(24))  # blind index of its digits
    phone_extension_enc: Mapped[str | None] = mapped_column(Text)
    emergency_name_enc: Mapped[str | None] = mapped_column(Text)
    emergency_phone_enc: Mapped[str | None] = mapped_column(Text)
    # group registrants (団体登録): the group name is ``name``; its representative
    representative_name: Mapped[str | None] = mapped_column(String(200))
    # 登録状態: only an active registrant can book; a deleted one is hidden from search
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    status_since: Mapped[dt.date | None] = mapped_column(Date)  # the day it took effect
    status_reason: Mapped[str | None] = mapped_column(String(200))
    # 有効期限 of the registration card (inclusive days; NULL: not recorded)
    card_valid_from: Mapped[dt.date | None] = mapped_column(Date)
    card_valid_until: Mapped[dt.date | None] = mapped_column(Date)
    # an aborted import (RegistrantStore.delete_batch): DELETE ... WHERE import_batch_id = ?
    import_batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"), index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Certificate(Base):
    """A user card (利用者カード, groups) or senior certificate (登録証, individuals)."""

    __tablename__ = "certificates"
    __table_args__ = (
        CheckConstraint(one_of("kind", CERTIFICATE_KINDS), name="kind"),
        UniqueConstraint("kind", "number"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    registrant_id: Mapped[int] = mapped_column(ForeignKey("registrants.id"), index=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    number: Mapped[str] = mapped_column(String(32))
    issued_on: Mapped[dt.date] = mapped_column(Date)
    issued_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    revoked_on: Mapped[dt.date | None] = mapped_column(Date)
    override_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Booking(Base):
    """施設貸出: a room lent to a registrant for a time slot."""

    __tablename__ = "bookings"
    __table_args__ = (
        CheckConstraint(one_of("status", BOOKING_STATUSES), name="status"),
        CheckConstraint("ends_at > starts_at", name="slot"),
        Index(None, "facility_id", "starts_at"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"))
    registrant_id: Mapped[int] = mapped_column(ForeignKey("registrants.id"), index=True)
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="booked")
    purpose: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
