"""The audit history (利用履歴): append one event, in the caller's transaction.

Two chain versions
------------------

- **version 2 (keyed)**, every event of a new installation and every event after
  the switch-over of an upgraded one (``resv audit key upgrade``): ``key_id``
  names a key of the audit key ring (``resv_cli.audit.keys``, kept outside the
  database) and ``hash`` is the lowercase hex HMAC-SHA-256, under that key, of the
  canonical form followed by U+001F and the ``key_id``.  Writing the database
  is not enough to forge it.
- **version 1**, events written by resv 0.1 before the switch-over: ``key_id``
  is NULL and ``hash`` is the plain SHA-256 of the canonical form.

The key file pins where the keyed chain starts (``chain_from``), so rewriting
keyed events as version 1 is caught as well.  Both versions are verified.

Canonical form -- what each event's MAC (or, version 1, SHA-256) is taken of
----------------------------------------------------------------------------

The twelve fields, in this fixed order::

    seq, occurred_at, account_id, login_id, organization_code, action,
    resource_type, resource_id, facility_code, outcome, detail, prev_hash

each written as text and joined by U+001F (UNIT SEPARATOR); the result is
hashed as UTF-8 and ``hash`` is the lowercase hex SHA-256 digest.

- integers are plain decimal; NULL is written as the four letters ``None``;
- ``occurred_at`` is ``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC (always six
  fractional digits, no zone suffix);
- ``detail`` is the stored detail text itself (JSON with sorted keys and no
  spaces, written once by ``record``); it is hashed as stored, never re-parsed;
- the first event's ``prev_hash`` is 64 zeros, or the last hash of the newest
  archive once earlier events were archived (``resv audit archive``).

To keep the encoding unambiguous without escaping, no field value may contain
U+001F or any other control character, and no text field may be exactly
``None``: ``record`` refuses such values (JSON escapes control characters in
``detail``), and ``verify`` reports a stored event that breaks either rule as
altered.  So different events always have different canonical forms.

Why this form: ``resv audit verify`` reads each row as the driver returns it
(only the timestamp is formatted in SQL on PostgreSQL) and builds the form
with one C-level ``str.join(map(str, row))``, then hashes and compares.  It
never re-serialises JSON, which costs about 5x more on a million rows.
``bench/bench_audit.py`` measured verify over 1,000,000 events at 1.70x
(SQLite) and 1.98x (PostgreSQL) of a bare loop that runs the same SELECT and
hashes one stored text per row (medians of 3, a heavily loaded 2-core machine).

Appends are serialised (PostgreSQL: a transaction-level advisory lock; SQLite:
every write transaction is ``BEGIN IMMEDIATE``), so the chain never forks.

No password, token or personal value may enter ``detail``: such values are
stored as a keyed hash (``keyed_hash``, HMAC-SHA256 with the current audit key,
kept outside the database).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import text

from resv_cli.audit import keys, vocabulary
from resv_cli.core import clock
from resv_cli.core.errors import ResvError
from resv_cli.core.i18n import _

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.orm import Session

    from resv_cli.core.context import Actor

GENESIS = "0" * 64
ADVISORY_LOCK_KEY = 0x7265_7376  # "resv"

# Keys that must never appear in a detail, whatever their value.  Personal or
# secret values go in as ``<name>_hmac`` through ``keyed_hash``.
FORBIDDEN_DETAIL_KEYS = frozenset(
    {
        "password",
        "new_password",
        "token",
        "otp",
        "name",
        "kana",
        "address",
        "phone",
        "date_of_birth",
        "dob",
        "emergency_name",
        "emergency_phone",
        "representative_name",
        "query",
        "term",
    }
)
MAX_DETAIL_CHARS = 4000


def format_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_detail(detail: dict[str, Any] | None) -> str:
    detail = detail or {}
    bad = sorted(k for k in detail if k.lower() in FORBIDDEN_DETAIL_KEYS)
    if bad:
        # a programming error, never user input: refuse rather than leak
        raise ValueError(f"audit detail may not carry {', '.join(bad)}")
    out = json.dumps(detail, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    if len(out) > MAX_DETAIL_CHARS:
        raise ValueError("audit detail too large")
    return out


FIELDS = (
    "seq",
    "occurred_at",
    "account_id",
    "login_id",
    "organization_code",
    "action",
    "resource_type",
    "resource_id",
    "facility_code",
    "outcome",
    "detail",
    "prev_hash",
)
SEP = "\x1f"
NULL_TEXT = "None"  # str(None): how NULL appears in the canonical form
CANONICAL_TIME = "%Y-%m-%d %H:%M:%S.%f"
_CONTROL = frozenset(chr(c) for c in range(32)) | {"\x7f"}


def canonical_time(value: dt.datetime) -> str:
    """``occurred_at`` as it appears in the canonical form (UTC, microseconds)."""
    return value.astimezone(dt.UTC).strftime(CANONICAL_TIME)


def canonical_text(values: tuple[Any, ...] | list[Any]) -> str:
    """Return the canonical form (see module docstring) of the twelve field values."""
    return SEP.join(map(str, values))


def well_formed(values: tuple[Any, ...] | list[Any], canon: str) -> bool:
    """True unless a value could blur the encoding (a separator inside, or text 'None')."""
    return canon.count(SEP) == len(FIELDS) - 1 and NULL_TEXT not in values


def check_field_text(name: str, value: str | None) -> None:
    if value is None:
        return
    if value == NULL_TEXT or any(c in _CONTROL for c in value):
        # a programming error, never user input reaching here unchecked
        raise ValueError(f"audit field {name} may not be {NULL_TEXT!r} or hold control characters")


def canonical_form(
    seq: int,
    occurred_at: str,
    account_id: int | None,
    login_id: str | None,
    organization_code: str | None,
    action: str,
    resource_type: str | None,
    resource_id: str | None,
    facility_code: str | None,
    outcome: str,
    detail: str,
    prev_hash: str,
) -> bytes:
    return canonical_text(
        (
            seq,
            occurred_at,
            account_id,
            login_id,
            organization_code,
            action,
            resource_type,
            resource_id,
            facility_code,
            outcome,
            detail,
            prev_hash,
        )
    ).encode("utf-8")


def verify_select_sql(dialect_name: str, table: str = "audit_events") -> str:
    """The SELECT verify streams: the twelve canonical fields as text, key_id, hash."""
    if dialect_name == "postgresql":
        time_expr = "to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"
    else:
        time_expr = "occurred_at"  # stored by SQLAlchemy as exactly this text
    cols = [time_expr if f == "occurred_at" else f for f in FIELDS]
    return f"SELECT {', '.join(cols)}, key_id, hash FROM {table} ORDER BY seq"


# what an archive file keeps of each event (``resv audit archive``)
ARCHIVED = (*FIELDS, "key_id", "hash")


def event_hash(canonical: bytes) -> str:
    """Version 1: the plain SHA-256 of the canonical form."""
    return hashlib.sha256(canonical).hexdigest()


def event_mac(mac_key: bytes, canonical: bytes, key_id: str) -> str:
    """Version 2: HMAC-SHA-256 of the canonical form, U+001F and the key ID."""
    return hmac.digest(mac_key, canonical + SEP_BYTES + key_id.encode("ascii"), "sha256").hex()


SEP_BYTES = SEP.encode("ascii")


def lock_and_head(session: Session) -> tuple[int, str, str | None]:
    """Serialise appends; return the head ``(seq, hash, key_id)`` to chain onto."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_LOCK_KEY})
    row = conn.execute(
        text("SELECT seq, hash, key_id FROM audit_events ORDER BY seq DESC LIMIT 1")
    ).first()
    if row is not None:
        return int(row[0]), str(row[1]), row[2]
    arch = conn.execute(
        text("SELECT last_seq, last_hash FROM audit_archives ORDER BY last_seq DESC LIMIT 1")
    ).first()
    if arch is not None:
        return int(arch[0]), str(arch[1]), None
    return 0, GENESIS, None


def key_for_event(ring: keys.KeyRing, seq: int, head_key_id: str | None) -> keys.AuditKey | None:
    """The key to chain event ``seq`` under (None: version 1, history not keyed yet).

    The key file decides; a history already keyed under a key this file does
    not hold means the file is out of date (the key was rotated elsewhere), and
    writing under an older key would be refused by every up-to-date verifier.
    """
    if head_key_id is not None and ring.by_id(head_key_id) is None:
        raise ResvError(
            _(
                "the audit history is chained under key {key}, which the key file "
                "{path} does not hold: copy the current key file from city IT "
                "(`resv audit key status` shows it)"
            ).format(key=head_key_id, path=ring.path)
        )
    key = ring.in_force(seq)
    if key is None and head_key_id is not None:
        key = ring.by_id(head_key_id)  # a 0.1 file on a machine not yet given the new one
    if key is not None and key.secret is None:
        raise ResvError(
            _("audit key {key} is lost; run `resv audit key rotate --lost` (city IT guide)").format(
                key=key.id
            )
        )
    return key


def record(
    session: Session,
    actor: Actor | None,
    action: str,
    *,
    resource_type: str | None = None,
    resource_id: str | int | None = None,
    facility_code: str | None = None,
    outcome: str = "allowed",
    detail: dict[str, Any] | None = None,
    login_id: str | None = None,
    account_id: int | None = None,
    organization_code: str | None = None,
) -> int:
    """Append one audit event in ``session``'s transaction; return its sequence number.

    If the insert fails, the exception propagates and the caller's transaction
    (and so the action) is rolled back: no action without its event.
    """
    vocabulary.check(action, outcome, detail or ())
    detail_text = canonical_detail(detail)
    occurred = clock.now()
    occurred_text = canonical_time(occurred)
    if actor is not None:
        account_id = actor.account_id
        login_id = actor.login_id
        organization_code = actor.organization_code
    elif account_id is not None and organization_code is None:
        # an event about an account outside a session (a lock, a password change at
        # login): the account's organisation, so that a report for that organisation
        # (report monthly --org) shows it
        organization_code = session.execute(
            text(
                "SELECT o.code FROM accounts a JOIN organizations o ON o.id = a.organization_id "
                "WHERE a.id = :i"
            ),
            {"i": account_id},
        ).scalar()
    rid = None if resource_id is None else str(resource_id)
    for name, value in (
        ("login_id", login_id),
        ("organization_code", organization_code),
        ("action", action),
        ("resource_type", resource_type),
        ("resource_id", rid),
        ("facility_code", facility_code),
    ):
        check_field_text(name, value)
    ring = keys.load()
    last_seq, prev, head_key = lock_and_head(session)
    seq = last_seq + 1
    key = key_for_event(ring, seq, head_key)
    canon = canonical_form(
        seq,
        occurred_text,
        account_id,
        login_id,
        organization_code,
        action,
        resource_type,
        rid,
        facility_code,
        outcome,
        detail_text,
        prev,
    )
    digest = event_hash(canon) if key is None else event_mac(key.mac_key, canon, key.id)
    from resv_cli.core.models import AuditEvent

    table = cast("Table", AuditEvent.__table__)
    session.execute(
        table.insert(),
        {
            "seq": seq,
            "occurred_at": occurred,
            "account_id": account_id,
            "login_id": login_id,
            "organization_code": organization_code,
            "action": action,
            "resource_type": resource_type,
            "resource_id": rid,
            "facility_code": facility_code,
            "outcome": outcome,
            "detail": detail_text,
            "prev_hash": prev,
            "key_id": None if key is None else key.id,
            "hash": digest,
        },
    )
    return seq


# --- keyed hashes for personal values ------------------------------------------


def ensure_audit_key() -> bool:
    """Make sure a key ring for a new, empty history exists; True if a file was created."""
    return keys.create_for_new_history()[1]


def keyed_hash(value: str) -> str:
    """Return HMAC-SHA256 (hex) of ``value`` under the installation key.

    Lets an auditor with the key test whether an event concerned a given value
    (a search term, a login ID typed at a failed login) without the history
    holding the value itself.
    """
    import unicodedata

    norm = unicodedata.normalize("NFC", value).strip()
    key = keys.load().current()
    return hmac.new(key.mac_key, norm.encode("utf-8"), hashlib.sha256).hexdigest()
