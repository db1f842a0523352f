"""Field encryption of the registrants' fraud-prone fields, and their blind indexes.

Sealed: the address, the phone and its extension (a group's representative's
phone is its ``phone``), the emergency contact's name and phone, and the date of
birth when the installation chose it (``resv db init --encrypt-dob``, or later
``resv key rotate --encrypt-dob``; the setting ``encrypt_date_of_birth``).

- Cipher: AES-256-GCM, a random 96-bit nonce per value.  Stored as text,
  ``v1:<key id>:<base64 of nonce | ciphertext | tag>``.
- Associated data: ``resv-field, v1, <table>, <record id>, <field>, <key id>``: a
  ciphertext copied to another row or field, or relabelled with another key,
  does not open (``IntegrityCheckFailed`` naming the record and field, never a
  value).  The record id is allocated before the row is written
  (``allocate_ids``), so every row is inserted sealed, in one statement.
- Keys: random 256-bit data keys in ``data_keys``, wrapped under the key-encryption
  key kept outside the database (``resv_cli.core.kek``).  One is ``active``; a
  ``retiring`` one still opens the values ``resv key rotate`` has not moved yet.
  A writer takes the keys in its transaction (``load(..., for_writing=True)``), so
  a rotation that starts waits for it and every later writer seals under the new key.
  A ``retired`` key never seals again; it stays (wrapped), so that nothing sealed
  under it can be lost: after a finished rotation no value is.
- Blind indexes, for the searches and duplicate checks by phone and date of birth:
  HMAC-SHA-256 of the normalised value (a phone's digits, a date in ISO form) under a
  key per field derived (HKDF) from the installation's index key (a data key of
  purpose ``index``), truncated to ``BLIND_BYTES`` (10) bytes.  Why 10: two different
  values of one installation practically never share a tag (expected false matches
  below 1e-10 over ten million rows), so the lookup stays an exact equality in SQL
  (the scoped search and its count need no decryption); a longer tag would only keep
  more of the keyed hash in every row, index and backup.  What a tag cannot hide is
  equality: rows with the same phone share a tag (that is what finds them).  The
  per-field keys stop a phone's tag from matching a date's or another
  installation's; only the fields that are searched get a tag (not the address or
  the emergency contact).  A date or phone is guessable by trying every value *with
  the index key*: the key, kept like the data keys, is what protects them.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import os
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, text, update

from resv_cli.core.errors import IntegrityCheckFailed, NotInitialised, ResvError
from resv_cli.core.i18n import _
from resv_cli.core.kek import KeyProvider

VERSION = "v1"
NONCE = 12
BLIND_BYTES = 10
DOB_SETTING = "encrypt_date_of_birth"
_AD_HEAD = b"resv-field\x00" + VERSION.encode() + b"\x00"
# the advisory lock writers share and a rotation's start takes alone (PostgreSQL)
KEYS_LOCK = (0x72736B, 1)  # "rsk"

# The registrants' sealed fields: field -> column of its ciphertext.
TABLE = "registrants"
SEALED = {
    "address": "address_enc",
    "phone": "phone_enc",
    "phone_extension": "phone_extension_enc",
    "emergency_name": "emergency_name_enc",
    "emergency_phone": "emergency_phone_enc",
}
DOB = "date_of_birth"
DOB_SEALED = "date_of_birth_enc"
PHONE_TAG = "phone_bidx"
DOB_TAG = "dob_bidx"
# every column a value may be sealed in (the date of birth's only when chosen)
SEALED_COLUMNS = (*SEALED.values(), DOB_SEALED)


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def _invalid_tag() -> type[Exception]:
    from cryptography.exceptions import InvalidTag

    return InvalidTag


def _hmac_pads(key: bytes) -> tuple[Any, Any]:
    """The inner and outer SHA-256 states of HMAC under ``key`` (32 bytes: one block's pad)."""
    block = key.ljust(64, b"\x00")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
    return inner, outer


def associated_data(table: str, rid: int, field_name: str, key_id: str) -> bytes:
    return _AD_HEAD + f"{table}\x00{rid}\x00{field_name}\x00{key_id}".encode()


def _wrap_aad(key_id: str, purpose: str) -> bytes:
    return f"resv data key\x00{VERSION}\x00{key_id}\x00{purpose}".encode()


def broken(table: str, rid: Any, field_name: str, why: str) -> IntegrityCheckFailed:
    """The one error of a sealed value that does not open (names no value)."""
    return IntegrityCheckFailed(
        _("{table} record {id}: the sealed {field} cannot be opened: {why}").format(
            table=table, id=rid, field=field_name, why=why
        )
    )


@dataclass
class FieldKeys:
    """The field-encryption keys of one database, as one transaction read them.

    Keys are unwrapped (the KEK is asked for) only when first used: a command that
    opens nothing and searches no tag needs no KEK.
    """

    rows: dict[str, tuple[str, str, str | None, str | None]]  # id -> (purpose, state, kek, wrapped)
    encrypt_dob: bool
    provider: KeyProvider | None = None
    _aead: dict[str, Any] = field(default_factory=dict)  # unwrapped data keys, by id
    _blind: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    @property
    def active(self) -> str:
        for kid, (purpose, state, _k, _w) in self.rows.items():
            if purpose == "data" and state == "active":
                return kid
        raise ResvError(_("this database has no active data key; see `resv key status`"))

    def _secret(self, kid: str) -> bytes:
        """The key, unwrapped by the KEK (asked for once per ``FieldKeys``, never cached
        beyond it: a process that loses the KEK loses the keys with its next transaction)."""
        purpose, _state, kek_id, wrapped = self.rows[kid]
        assert kek_id is not None and wrapped is not None
        if self.provider is None:
            from resv_cli.core import kek

            self.provider = kek.provider()
        return self.provider.unwrap(kek_id, base64.b64decode(wrapped), _wrap_aad(kid, purpose))

    def unwrap_all(self) -> None:
        """Unwrap every live key now (a status check: the KEK in use opens them all)."""
        for kid, (_purpose, _state, _kek, wrapped) in self.rows.items():
            if wrapped is not None:
                self._secret(kid)

    def aead(self, kid: str) -> Any:
        got = self._aead.get(kid)
        if got is None:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            got = self._aead[kid] = AESGCM(self._secret(kid))
        return got

    # --- sealing ----------------------------------------------------------------

    def sealer(self, table: str = TABLE) -> Callable[[int, str, str], str]:
        """A fast ``seal(record id, field, value)`` under the active key (nonces drawn in bulk)."""
        kid = self.active
        encrypt = self.aead(kid).encrypt
        prefix = f"{VERSION}:{kid}:"
        head = _AD_HEAD + f"{table}\x00".encode()
        tail = f"\x00{kid}".encode()
        pool, pos = b"", 0

        def seal(rid: int, field_name: str, value: str) -> str:
            nonlocal pool, pos
            if pos >= len(pool):  # random nonces, drawn 1,024 at a time
                pool, pos = os.urandom(NONCE * 1024), 0
            nonce = pool[pos : pos + NONCE]
            pos += NONCE
            ad = head + f"{rid}\x00{field_name}".encode() + tail
            return prefix + _b64(nonce + encrypt(nonce, value.encode("utf-8"), ad))

        return seal

    def seal(self, table: str, rid: int, field_name: str, value: str) -> str:
        return self.sealer(table)(rid, field_name, value)

    def key_of(self, token: str) -> str | None:
        """The key id a sealed value names (None: not a sealed value)."""
        parts = token.split(":", 2)
        return parts[1] if len(parts) == 3 and parts[0] == VERSION else None

    def open(self, table: str, rid: Any, field_name: str, token: str) -> str:
        kid = self.key_of(token)
        if kid is None:
            raise broken(table, rid, field_name, _("it is not a sealed value"))
        aead = self._aead.get(kid)
        if aead is None:
            row = self.rows.get(kid)
            if row is None or row[0] != "data" or row[3] is None:
                why = _("it names data key {key}, which this database does not hold")
                raise broken(table, rid, field_name, why.format(key=kid))
            aead = self.aead(kid)
        try:
            blob = binascii.a2b_base64(token[len(VERSION) + len(kid) + 2 :], strict_mode=True)
            plain = aead.decrypt(
                blob[:NONCE], blob[NONCE:], associated_data(table, rid, field_name, kid)
            )
        except (_invalid_tag(), ValueError):
            raise broken(
                table,
                rid,
                field_name,
                _("it was moved from another record or field, or altered"),
            ) from None
        return plain.decode("utf-8")

    # --- blind indexes --------------------------------------------------------------

    def _blind_key(self, field_name: str) -> tuple[Any, Any]:
        """HMAC-SHA-256 of the field's key, as its inner and outer hash states.

        RFC 2104 computed from precomputed pads: the same tag as ``hmac.digest``, about
        three times faster per value, which the importer pays for every record.
        """
        got = self._blind.get(field_name)
        if got is None:
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.kdf.hkdf import HKDF

            index = next(
                (k for k, r in self.rows.items() if r[0] == "index" and r[1] == "active"), None
            )
            if index is None:
                raise ResvError(_("this database has no blind-index key; see `resv key status`"))
            key = HKDF(
                algorithm=hashes.SHA256(),
                length=32,
                salt=None,
                info=f"resv blind index {VERSION} {field_name}".encode(),
            ).derive(self._secret(index))
            got = self._blind[field_name] = _hmac_pads(key)
        return got

    def blind(self, field_name: str, value: str) -> str:
        """The tag of a normalised value (20 hex characters): HMAC-SHA-256, truncated."""
        inner, outer = self._blind.get(field_name) or self._blind_key(field_name)
        h = inner.copy()
        h.update(value.encode("utf-8"))
        o = outer.copy()
        o.update(h.digest())
        return o.digest()[:BLIND_BYTES].hex()

    def phone_tag(self, digits: str | None) -> str | None:
        return self.blind("phone", digits) if digits else None

    def dob_tag(self, day: dt.date | str | None) -> str | None:
        if day is None or day == "":
            return None
        return self.blind(DOB, day if isinstance(day, str) else day.isoformat())

    # --- a registrant's columns -----------------------------------------------------

    def stored(self, rid: int, clear: Mapping[str, Any], table: str = TABLE) -> dict[str, Any]:
        """The columns to store for clear registrant columns (a whole row, or an update's)."""
        seal: Callable[[int, str, str], str] | None = None
        out: dict[str, Any] = {}
        for name, value in clear.items():
            if name in SEALED:
                if value is None:
                    out[SEALED[name]] = None
                else:
                    seal = seal or self.sealer(table)
                    out[SEALED[name]] = seal(rid, name, value)
            elif name == "phone_digits":
                out[PHONE_TAG] = self.phone_tag(value)
            elif name == DOB:
                out[DOB_TAG] = self.dob_tag(value)
                if value is not None and value != "" and self.encrypt_dob:
                    seal = seal or self.sealer(table)
                    iso = value if isinstance(value, str) else value.isoformat()
                    out[DOB], out[DOB_SEALED] = None, seal(rid, DOB, iso)
                else:
                    out[DOB], out[DOB_SEALED] = value, None
            else:
                out[name] = value
        return out

    def opened(
        self, rid: int, row: Any, fields: Iterable[str], table: str = TABLE
    ) -> dict[str, Any]:
        """The clear values of ``fields`` of a stored row (a mapping or an ORM object).

        Only the fields asked for are decrypted: a caller asks only for those the
        access layer lets its person see.
        """
        get: Callable[[str], Any] = (
            row.__getitem__ if isinstance(row, Mapping) else lambda c: getattr(row, c)
        )
        out: dict[str, Any] = {}
        for name in fields:
            if name in SEALED:
                token = get(SEALED[name])
                out[name] = None if token is None else self.open(table, rid, name, token)
            elif name == DOB:
                value = get(DOB)
                token = get(DOB_SEALED)
                if value is None and token is not None:
                    value = dt.date.fromisoformat(self.open(table, rid, DOB, token))
                elif isinstance(value, str):
                    value = dt.date.fromisoformat(value)
                out[name] = value
            else:
                out[name] = get(name)
        return out


def _dialect(conn: Any) -> str:
    from sqlalchemy.orm import Session

    bind = conn.get_bind() if isinstance(conn, Session) else conn
    return str(bind.dialect.name)


def load(conn: Any, *, for_writing: bool = False, provider: KeyProvider | None = None) -> FieldKeys:
    """The keys of the database ``conn`` (a Connection or Session in a transaction).

    ``for_writing``: the caller will seal values.  On PostgreSQL it shares the keys
    lock until its transaction ends, so a rotation's start waits for it (and it
    sees the rotation's new key if that started first); SQLite's single writer
    gives the same order.
    """
    if for_writing and _dialect(conn) == "postgresql":
        conn.execute(
            text("SELECT pg_advisory_xact_lock_shared(:a, :b)"),
            {"a": KEYS_LOCK[0], "b": KEYS_LOCK[1]},
        )
    rows = conn.execute(
        text(
            "SELECT key_id, purpose, state, kek_id, wrapped FROM data_keys "
            "ORDER BY created_at, key_id"
        )
    ).all()
    if not rows:
        raise NotInitialised(
            _("this database has no field-encryption keys: run `resv db upgrade` first")
        )
    setting = conn.execute(
        text("SELECT value FROM settings WHERE key = :k"), {"k": DOB_SETTING}
    ).scalar()
    return FieldKeys(
        {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}, setting == "on", provider=provider
    )


def _new_id(conn: Any) -> str:
    taken = {r[0] for r in conn.execute(text("SELECT key_id FROM data_keys"))}
    while True:
        kid = secrets.token_hex(4)
        if kid not in taken:
            return kid


def add_key(conn: Any, provider: KeyProvider, purpose: str, state: str, now: Any) -> str:
    """Make a random 256-bit key, store it wrapped under the KEK; return its id."""
    from resv_cli.core.models import DataKey

    kid = _new_id(conn)
    kek_id, blob = provider.wrap(secrets.token_bytes(32), _wrap_aad(kid, purpose))
    conn.execute(
        insert(DataKey).values(
            key_id=kid, purpose=purpose, state=state, kek_id=kek_id, wrapped=_b64(blob),
            created_at=now,
        )
    )  # fmt: skip
    return kid


def rewrap(conn: Any, old: KeyProvider, new: KeyProvider) -> list[str]:
    """Wrap every live key again under ``new``'s KEK (the keys themselves unchanged)."""
    done = []
    rows = conn.execute(
        text(
            "SELECT key_id, purpose, kek_id, wrapped FROM data_keys "
            "WHERE wrapped IS NOT NULL ORDER BY created_at, key_id"
        )
    ).all()
    for kid, purpose, kek_id, wrapped in rows:
        aad = _wrap_aad(kid, purpose)
        secret = old.unwrap(kek_id, base64.b64decode(wrapped), aad)
        new_kek, blob = new.wrap(secret, aad)
        conn.execute(
            text("UPDATE data_keys SET kek_id = :e, wrapped = :w WHERE key_id = :k"),
            {"e": new_kek, "w": _b64(blob), "k": kid},
        )
        done.append(kid)
    return done


def set_encrypt_dob(conn: Any, on: bool, now: Any) -> None:
    """Record whether dates of birth are sealed (a setting no ``settings`` command changes)."""
    from resv_cli.core.models import Setting

    value = "on" if on else "off"
    updated = conn.execute(
        update(Setting).where(Setting.key == DOB_SETTING).values(value=value, updated_at=now)
    ).rowcount
    if not updated:
        conn.execute(insert(Setting).values(key=DOB_SETTING, value=value, updated_at=now))


def create_keys(conn: Any, provider: KeyProvider, *, encrypt_dob: bool, now: Any) -> None:
    """The first keys of a database: a data key and the blind-index key (none may exist)."""
    add_key(conn, provider, "data", "active", now)
    add_key(conn, provider, "index", "active", now)
    set_encrypt_dob(conn, encrypt_dob, now)


def allocate_ids(conn: Any, n: int, table: str = TABLE) -> list[int]:
    """``n`` new ids of ``table``, taken before the rows are written (their values are
    sealed with their id).  PostgreSQL: from the table's sequence.  SQLite: above the
    highest id, which is safe because the transaction holds the one write lock
    (BEGIN IMMEDIATE) and inserts these rows before it allocates again."""
    if n <= 0:
        return []
    if _dialect(conn) == "postgresql":
        return [
            int(r[0])
            for r in conn.execute(
                text(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) "
                     "FROM generate_series(1, :n)"),
                {"n": n},
            )
        ]  # fmt: skip
    top = int(conn.execute(text(f"SELECT coalesce(max(id), 0) FROM {table}")).scalar_one())
    return list(range(top + 1, top + n + 1))
