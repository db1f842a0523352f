"""Table definitions (SQLAlchemy 2.x declarative) for every entity of the glossary.

``schema.sql`` is generated from these definitions plus ``EXTRA_DDL`` (triggers,
exclusion constraints) by ``resv db schema``; ``tests/test_schema.py`` fails when
the two drift apart.

Conventions:
* every timestamp is a timezone-aware UTC instant (``UTCDateTime``); dates that a
  person reads as a calendar day (validity, management periods, birth dates) are
  ``Date``;
* ``valid_until``/``until`` dates are *inclusive* (the last day something holds);
  ``NULL`` means open-ended;
* personal data lives only in ``registrants`` (and in the staff roster, whose names
  the city needs to grant accounts).  Nothing personal goes into ``audit_events``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.expression import false

from resv_cli.core.tables import UTCDateTime

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# 64-bit keys on PostgreSQL; SQLite needs plain INTEGER for rowid aliasing.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def one_of(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


def validity_check() -> CheckConstraint:
    """Inclusive validity dates (valid_from .. valid_until): the end is not before the start."""
    return CheckConstraint(
        "valid_until IS NULL OR valid_from IS NULL OR valid_until >= valid_from",
        name="validity",
    )


ORG_KINDS = ("city", "designated_manager")
ROLES = ("admin", "monitor", "operator")
ACCOUNT_STATUSES = ("active", "disabled", "revoked")
EMPLOYMENT_TYPES = ("regular", "non_regular")
REGISTRANT_KINDS = ("individual", "group")
BOOKING_STATUSES = ("booked", "cancelled")
CERTIFICATE_KINDS = ("senior_certificate", "user_card")
SCOPE_SUBJECTS = ("organization", "account", "role")
SCOPE_RESOURCES = ("registrants", "bookings")
SCOPE_ACTIONS = ("register", "view", "search", "update", "lend")
OUTCOMES = ("allowed", "denied", "failed")
BATCH_KINDS = ("registrants", "roster", "facilities", "training")
BATCH_STATUSES = ("running", "completed", "aborted", "dry_run")


class Setting(Base):
    """Installation settings (password policy, rate limits, ...), one row per key."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


DATA_KEY_PURPOSES = ("data", "index")
DATA_KEY_STATES = ("active", "retiring", "retired")


class DataKey(Base):
    """A key of the field encryption, wrapped by the key-encryption key kept outside.

    ``data``: AES-256-GCM keys of the sealed registrant fields, one ``active`` (new
    values), ``retiring`` while ``resv key rotate`` moves their values to the active
    one, then ``retired`` (it never seals again; no value is left under it).
    ``index``: the key the blind indexes are derived from.  See
    ``resv_cli.core.fieldcrypt``.
    """

    __tablename__ = "data_keys"
    __table_args__ = (
        CheckConstraint(one_of("purpose", DATA_KEY_PURPOSES), name="purpose"),
        CheckConstraint(one_of("state", DATA_KEY_STATES), name="state"),
    )
    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(12))
    kek_id: Mapped[str | None] = mapped_column(String(16))  # the KEK that wrapped it
    wrapped: Mapped[str | None] = mapped_column(Text)  # base64 (nonce | AES-GCM of the key)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Organization(Base):
    """The city (実施機関) or a designated manager company (指定管理者)."""

    __tablename__ = "organizations"
    __table_args__ = (
        CheckConstraint(one_of("kind", ORG_KINDS), name="kind"),
        CheckConstraint(
            "term_end IS NULL OR term_start IS NULL OR term_end >= term_start", name="term"
        ),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    # designation term (指定期間) of a designated manager
    term_start: Mapped[dt.date | None] = mapped_column(Date)
    term_end: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class OrganizationTerm(Base):
    """One designation period (指定期間) of a designated manager; renewals add rows.

    ``organizations.term_start``/``term_end`` hold the current span (the latest
    period, back to the start of an unbroken run of periods); these rows keep every
    period as designated, so a renewal never erases the previous term.
    """

    __tablename__ = "organization_terms"
    __table_args__ = (
        CheckConstraint("term_end >= term_start", name="term"),
        UniqueConstraint("organization_id", "term_start"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    term_start: Mapped[dt.date] = mapped_column(Date)
    term_end: Mapped[dt.date] = mapped_column(Date)
    # how the period was recorded: add (org add), renew (org renew), migration (0004)
    source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class SecurityOfficer(Base):
    """情報セキュリティ対策責任者 an organisation named, from ``valid_from`` on.

    The latest row whose ``valid_from`` is on or before a day is the officer on that
    day.  A person of the organisation: preferably its account (``account_id``),
    else a name as the manager gave it (``name``); exactly one of the two.
    """

    __tablename__ = "security_officers"
    __table_args__ = (
        CheckConstraint("(account_id IS NULL) <> (name IS NULL)", name="one_person"),
        UniqueConstraint("organization_id", "valid_from"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    name: Mapped[str | None] = mapped_column(String(200))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class FacilityCategory(Base):
    """施設分類; scope rules can name a category instead of single facilities."""

    __tablename__ = "facility_categories"
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name_ja: Mapped[str] = mapped_column(String(100))
    # senior categories are the only ones the duplicate-check exception spans
    is_senior: Mapped[bool] = mapped_column(Boolean, default=False)


DEFAULT_CATEGORIES: tuple[tuple[str, str, bool], ...] = (
    ("sports", "体育施設", False),
    ("culture_hall", "文化ホール", False),
    ("community_centre", "公民館・コミュニティセンター", False),
    ("welfare_centre", "福祉センター", False),
    ("senior_welfare_centre", "老人福祉センター", True),
    ("senior_rest_house", "老人憩いの家", True),
    ("children_centre", "子どもセンター・児童館", False),
    ("workshop", "福祉作業所", False),
    ("complex", "複合施設", False),
    ("room", "部屋・室", False),
    ("office", "庁舎・事務所", False),
    ("library", "図書館", False),
    ("park", "公園", False),
    ("school", "学校", False),
    ("other", "その他", False),
)


class Facility(Base):
    """A facility (施設); ``parent_id`` links rooms to facilities and facilities to complexes."""

    __tablename__ = "facilities"
    __table_args__ = (
        CheckConstraint(
            "(opens_at IS NULL AND closes_at IS NULL) OR "
            "(opens_at IS NOT NULL AND closes_at IS NOT NULL AND opens_at < closes_at)",
            name="hours",
        ),
        CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
        UniqueConstraint("source_lg_code", "source_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kana: Mapped[str | None] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(ForeignKey("facility_categories.code"), index=True)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("facilities.id", ondelete="RESTRICT"), index=True
    )
    address: Mapped[str | None] = mapped_column(String(300))
    phone: Mapped[str | None] = mapped_column(String(40))
    # opening hours as 'HH:MM' (zero-padded, so text comparison is time order)
    opens_at: Mapped[str | None] = mapped_column(String(5))
    closes_at: Mapped[str | None] = mapped_column(String(5))
    hours_note: Mapped[str | None] = mapped_column(Text)
    latitude: Mapped[str | None] = mapped_column(String(20))
    longitude: Mapped[str | None] = mapped_column(String(20))
    # provenance when loaded from a 公共施設一覧 open-data file
    source_lg_code: Mapped[str | None] = mapped_column(String(6))
    source_id: Mapped[str | None] = mapped_column(String(64))
    retired_on: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ManagementPeriod(Base):
    """管理期間: which organisation runs a facility from ``valid_from`` to ``valid_until``.

    Periods of one facility never overlap: an exclusion constraint on PostgreSQL
    and triggers on SQLite (see ``EXTRA_DDL``).
    """

    __tablename__ = "management_periods"
    __table_args__ = (
        CheckConstraint("valid_until IS NULL OR valid_until >= valid_from", name="range"),
        Index(None, "facility_id", "valid_from"),
        Index(None, "organization_id", "valid_from"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id", ondelete="RESTRICT"))
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_until: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(String(200))


class RosterEntry(Base):
    """One person on a roster (利用者名簿) a designated manager submitted."""

    __tablename__ = "roster_entries"
    __table_args__ = (
        CheckConstraint(one_of("employment_type", EMPLOYMENT_TYPES), name="employment_type"),
        CheckConstraint(one_of("role", ROLES), name="role"),
        CheckConstraint(one_of("status", ("active", "left")), name="status"),
        UniqueConstraint("organization_id", "person_key"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    # stable key of the person within the organisation's rosters (staff number,
    # or a normalised name+reading when the roster has none)
    person_key: Mapped[str] = mapped_column(String(200))
    full_name: Mapped[str] = mapped_column(String(200))
    kana: Mapped[str | None] = mapped_column(String(200))
    facility_id: Mapped[int | None] = mapped_column(ForeignKey("facilities.id"))
    employment_type: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(8), default="active")
    # the roster import that last touched this entry; a plain reference (no foreign
    # key) because import_batches -> accounts -> roster_entries would be a cycle
    import_batch_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Account(Base):
    """One person's login (ID). Never shared."""

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint(one_of("role", ROLES), name="role"),
        CheckConstraint(one_of("status", ACCOUNT_STATUSES), name="status"),
        validity_check(),
        CheckConstraint("failed_attempts >= 0", name="failed_attempts"),
        Index(None, "organization_id", "status"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    login_id: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    role: Mapped[str] = mapped_column(String(16))
    # 所属施設: the person's (first) place of work; every place is in account_workplaces
    facility_id: Mapped[int | None] = mapped_column(ForeignKey("facilities.id"))
    # an explicit, audited grant: every facility the organisation manages, not only
    # the places of work (resv account grant|update --all-managed-facilities)
    all_managed_facilities: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    roster_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("roster_entries.id"), unique=True
    )
    password_hash: Mapped[str | None] = mapped_column(String(255))
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # a one-time password issued by the city must be replaced at first login
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    temp_password_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="active")
    status_reason: Mapped[str | None] = mapped_column(String(200))
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_until: Mapped[dt.date | None] = mapped_column(Date)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    lock_count: Mapped[int] = mapped_column(Integer, default=0)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class TrainingRecord(Base):
    """研修記録: a person's privacy/security training."""

    __tablename__ = "training_records"
    __table_args__ = (UniqueConstraint("account_id", "course", "completed_on"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    course: Mapped[str] = mapped_column(String(200))
    completed_on: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class LoginSession(Base):
    """A login: only the SHA-256 of the random token is stored."""

    __tablename__ = "sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(32))


class AccountWorkplace(Base):
    """A place of work (所属施設) of an account; an operator acts only at these.

    An operator's scope from management periods is the facilities its
    organisation manages on the day *and* that are one of its places of work (or
    inside one: a centre's rooms, a complex's centres), unless the account has
    the organisation-wide grant.  The roster's 所属施設 may list several.
    """

    __tablename__ = "account_workplaces"
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    facility_id: Mapped[int] = mapped_column(
        ForeignKey("facilities.id"), primary_key=True, index=True
    )


class ScopeRule(Base):
    """An explicit scope rule (利用範囲) beyond management periods.

    Exactly one of ``facility_code`` / ``facility_category`` names the facilities.
    ``actions`` is a comma-separated subset of SCOPE_ACTIONS, ``fields`` an
    optional comma-separated list of the only fields the rule reveals.
    """

    __tablename__ = "scope_rules"
    __table_args__ = (
        CheckConstraint(one_of("subject_type", SCOPE_SUBJECTS), name="subject_type"),
        CheckConstraint(one_of("resource", SCOPE_RESOURCES), name="resource"),
        CheckConstraint(
            "(facility_code IS NULL) <> (facility_category IS NULL)", name="one_target"
        ),
        validity_check(),
        UniqueConstraint("name"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    subject_type: Mapped[str] = mapped_column(String(16))
    subject_ref: Mapped[str] = mapped_column(String(64))
    actions: Mapped[str] = mapped_column(String(100))
    resource: Mapped[str] = mapped_column(String(16))
    facility_code: Mapped[str | None] = mapped_column(String(40))
    facility_category: Mapped[str | None] = mapped_column(ForeignKey("facility_categories.code"))
    fields: Mapped[str | None] = mapped_column(String(400))
    purpose: Mapped[str | None] = mapped_column(String(200))
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_until: Mapped[dt.date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(16), default="cli")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class DuplicateCheckRule(Base):
    """The purpose-bound exception (重複発行防止のための検索), as a rule city IT grants.

    Staff whose place of work is ``from_facility_code``, while their organisation
    manages it, may check whether a person already holds a senior certificate at
    the facilities of ``over_category`` (or, when it is empty, of every senior
    category), seeing only match / facility / certificate number and date, for
    ``purpose``, between the validity dates.  Nobody has it unless a rule says so;
    ``resv scope add --kind duplicate-check`` and policy files create it.
    """

    __tablename__ = "duplicate_check_rules"
    __table_args__ = (
        validity_check(),
        UniqueConstraint("name"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    from_facility_code: Mapped[str] = mapped_column(String(40))
    over_category: Mapped[str | None] = mapped_column(ForeignKey("facility_categories.code"))
    purpose: Mapped[str] = mapped_column(String(200))
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_until: Mapped[dt.date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(16), default="cli")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ImportBatch(Base):
    """One run of an importer: the file's SHA-256, who ran it, counts, checkpoint."""

    __tablename__ = "import_batches"
    __table_args__ = (
        CheckConstraint(one_of("kind", BATCH_KINDS), name="kind"),
        CheckConstraint(one_of("status", BATCH_STATUSES), name="status"),
        Index(None, "file_sha256"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    file_name: Mapped[str] = mapped_column(String(300))
    file_sha256: Mapped[str] = mapped_column(String(64))
    facility_id: Mapped[int | None] = mapped_column(ForeignKey("facilities.id"))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    status: Mapped[str] = mapped_column(String(16))
    options: Mapped[str | None] = mapped_column(Text)  # canonical JSON of the options
    records_read: Mapped[int] = mapped_column(Integer, default=0)
    imported: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    # records not imported by design (a deleted registration of a legacy file)
    skipped: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # last record number committed: ``import resume`` continues after it
    checkpoint: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ImportReject(Base):
    """A rejected or duplicate record: number, column, reason; no personal data."""

    __tablename__ = "import_rejects"
    __table_args__ = (
        CheckConstraint(one_of("kind", ("rejected", "duplicate")), name="kind"),
        UniqueConstraint("batch_id", "record_no", "column_name"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("import_batches.id", ondelete="CASCADE"))
    record_no: Mapped[int] = mapped_column(Integer)
    column_name: Mapped[str] = mapped_column(String(100), default="")
    kind: Mapped[str] = mapped_column(String(16), default="rejected")
    reason: Mapped[str] = mapped_column(String(300))
    legacy_no: Mapped[str | None] = mapped_column(String(64))


class AuditEvent(Base):
    """利用履歴: one recorded use or refused attempt; append-only and hash-chained.

    ``hash`` is the HMAC-SHA-256, under the audit key ``key_id`` (kept outside the
    database), of the canonical form (see ``resv_cli.audit.chain``), which includes
    ``prev_hash``; events of resv 0.1 have no ``key_id`` and a plain SHA-256.
    UPDATE and DELETE are refused by triggers.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        CheckConstraint(one_of("outcome", OUTCOMES), name="outcome"),
        Index(None, "occurred_at"),
        Index(None, "account_id", "occurred_at"),
        Index(None, "facility_code", "occurred_at"),
        Index(None, "action", "occurred_at"),
    )
    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # the person: id plus a snapshot of the login ID and organisation code
    account_id: Mapped[int | None] = mapped_column(Integer)
    login_id: Mapped[str | None] = mapped_column(String(64))
    organization_code: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    resource_type: Mapped[str | None] = mapped_column(String(32))
    resource_id: Mapped[str | None] = mapped_column(String(64))
    facility_code: Mapped[str | None] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(8))
    detail: Mapped[str] = mapped_column(Text)  # canonical JSON text, hashed as stored
    prev_hash: Mapped[str] = mapped_column(String(64))
    # the audit key the MAC is under (resv_cli.audit.keys); NULL: a 0.1 event (SHA-256)
    key_id: Mapped[str | None] = mapped_column(String(16))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditArchive(Base):
    """A range of events moved to an archive file by ``resv audit archive``."""

    __tablename__ = "audit_archives"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_seq: Mapped[int] = mapped_column(BigId)
    last_seq: Mapped[int] = mapped_column(BigId)
    last_hash: Mapped[str] = mapped_column(String(64))
    file_name: Mapped[str] = mapped_column(String(300))
    file_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


# DDL that SQLAlchemy's table definitions cannot express, per dialect.  Applied by
# ``db.create_schema`` and printed by ``resv db schema`` (so it is in schema.sql).
EXTRA_DDL: dict[str, list[str]] = {
    "postgresql": [
        "CREATE EXTENSION IF NOT EXISTS btree_gist",
        # management periods of one facility never overlap (inclusive bounds)
        "ALTER TABLE management_periods ADD CONSTRAINT ex_management_periods_no_overlap "
        "EXCLUDE USING gist (facility_id WITH =, "
        "daterange(valid_from, valid_until, '[]') WITH &&)",
        # The audit history is append-only, even for the table owner.  The one
        # exception is `resv audit archive`: in a transaction that has set
        # resv.audit_archive = 'on' (SET LOCAL), it may delete events already
        # covered by a row of audit_archives (a prefix written to a file first).
        # The runtime role has no DELETE privilege at all (grant-runtime-role).
        "CREATE FUNCTION resv_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "  IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'audit_events'\n"
        "     AND current_setting('resv.audit_archive', true) = 'on' THEN\n"
        "    IF OLD.seq <= (SELECT max(last_seq) FROM audit_archives) THEN\n"
        "      RETURN OLD;\n"
        "    END IF;\n"
        "  END IF;\n"
        "  RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP;\n"
        "END;\n"
        "$$",
        "CREATE TRIGGER tr_audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION resv_audit_append_only()",
        "CREATE TRIGGER tr_audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION resv_audit_append_only()",
        "CREATE TRIGGER tr_audit_archives_no_update BEFORE UPDATE OR DELETE ON audit_archives "
        "FOR EACH ROW EXECUTE FUNCTION resv_audit_append_only()",
        "CREATE TRIGGER tr_audit_archives_no_truncate BEFORE TRUNCATE ON audit_archives "
        "FOR EACH STATEMENT EXECUTE FUNCTION resv_audit_append_only()",
    ],
    "sqlite": [
        "CREATE TRIGGER tr_management_periods_no_overlap_insert "
        "BEFORE INSERT ON management_periods\n"
        "WHEN EXISTS (SELECT 1 FROM management_periods p WHERE p.facility_id = NEW.facility_id"
        " AND p.valid_from <= COALESCE(NEW.valid_until, '9999-12-31')"
        " AND NEW.valid_from <= COALESCE(p.valid_until, '9999-12-31'))\n"
        "BEGIN SELECT RAISE(ABORT, 'management periods of a facility must not overlap'); END",
        "CREATE TRIGGER tr_management_periods_no_overlap_update "
        "BEFORE UPDATE ON management_periods\n"
        "WHEN EXISTS (SELECT 1 FROM management_periods p WHERE p.facility_id = NEW.facility_id"
        " AND p.id <> OLD.id"
        " AND p.valid_from <= COALESCE(NEW.valid_until, '9999-12-31')"
        " AND NEW.valid_from <= COALESCE(p.valid_until, '9999-12-31'))\n"
        "BEGIN SELECT RAISE(ABORT, 'management periods of a facility must not overlap'); END",
        "CREATE TRIGGER tr_audit_events_no_update BEFORE UPDATE ON audit_events\n"
        "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only (UPDATE refused)'); END",
        # DELETE only of events already covered by an archive record (the prefix
        # `resv audit archive` wrote to a file in the same transaction).
        "CREATE TRIGGER tr_audit_events_no_delete BEFORE DELETE ON audit_events\n"
        "WHEN OLD.seq > COALESCE((SELECT max(last_seq) FROM audit_archives), 0)\n"
        "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only (DELETE refused)'); END",
        "CREATE TRIGGER tr_audit_archives_no_update BEFORE UPDATE ON audit_archives\n"
        "BEGIN SELECT RAISE(ABORT, 'audit_archives is append-only (UPDATE refused)'); END",
        "CREATE TRIGGER tr_audit_archives_no_delete BEFORE DELETE ON audit_archives\n"
        "BEGIN SELECT RAISE(ABORT, 'audit_archives is append-only (DELETE refused)'); END",
    ],
}


# The personal-data tables live in their own module, which only the access layer and
# records/ import (an import-linter contract); importing it here registers them in
# the metadata that creates and checks the schema.
from resv_cli.core import personal as _personal  # noqa: E402,F401
