"""The key-encryption key (KEK): kept outside the database, it wraps the data keys.

The registrants' sealed fields are encrypted under *data keys*
(``resv_cli.core.fieldcrypt``); the database holds those keys only wrapped
(AES-256-GCM) under the KEK, so a copy of the database alone -- a backup, a dump,
a stolen file -- opens none of them.  Where the KEK comes from is a ``KeyProvider``:

- ``RESV_DATA_KEK`` in the environment (64 hex characters, e.g. from a secrets
  manager when the service starts); ``RESV_DATA_KEK_NEW`` holds the next one while
  ``resv key rewrap`` moves the data keys under it;
- otherwise the key file ``RESV_DATA_KEY_FILE`` (default ``<config dir>/data.key``),
  mode 0600, a small JSON document like the audit key's::

    {"format": "resv-data-kek", "version": 1,
     "keys": [{"id": "e1a2b3c4d5e6f7a8", "secret": "<64 hex>", "created_at": "..."}]}

  The last key wraps; an earlier one is left only by an interrupted ``key rewrap``
  (running it again finishes it and drops the old key).

A KMS or an HSM is one more ``KeyProvider``: ``wrap`` and ``unwrap`` under a key it
never hands out; nothing else changes.

Losing the KEK (every copy of the file, or the variable's value) loses every
sealed field for good: there is no way around it.  Keep an offline copy
(docs/guide-city-it.md, "Field encryption keys").
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from resv_cli.core.errors import InputError, IntegrityCheckFailed, ResvError
from resv_cli.core.i18n import _

FORMAT = "resv-data-kek"
VERSION = 1
ENV_KEK = "RESV_DATA_KEK"
ENV_KEK_NEW = "RESV_DATA_KEK_NEW"
NONCE = 12
_ID_PREFIX = b"resv data kek id\x00"


def kek_id_of(secret: bytes) -> str:
    """The public identifier of a KEK: 16 hex characters derived from it (one-way)."""
    return "e" + hashlib.sha256(_ID_PREFIX + secret).hexdigest()[:15]


class KeyProvider(Protocol):
    """Wraps and unwraps data keys under a key-encryption key it keeps to itself."""

    @property
    def source(self) -> str:
        """Where the KEK is, for messages (a file path, a variable name; never the key)."""
        ...

    def current_id(self) -> str:
        """The KEK that ``wrap`` uses."""
        ...

    def wrap(self, key: bytes, aad: bytes) -> tuple[str, bytes]:
        """(KEK id, the wrapped key), bound to ``aad``."""
        ...

    def unwrap(self, kek_id: str, blob: bytes, aad: bytes) -> bytes:
        """The key ``wrap`` wrapped (ResvError when this provider cannot)."""
        ...


@dataclass(frozen=True)
class Kek:
    id: str
    secret: bytes
    created_at: str | None = None


@dataclass(frozen=True)
class LocalKeks:
    """KEKs held by this process: from the key file or the environment."""

    source: str
    keys: tuple[Kek, ...]
    path: Path | None = None  # the key file they were read from

    def current_id(self) -> str:
        return self.keys[-1].id

    def by_id(self, kek_id: str) -> Kek | None:
        return next((k for k in self.keys if k.id == kek_id), None)

    def wrap(self, key: bytes, aad: bytes) -> tuple[str, bytes]:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        kek = self.keys[-1]
        nonce = os.urandom(NONCE)
        return kek.id, nonce + AESGCM(kek.secret).encrypt(nonce, key, aad)

    def unwrap(self, kek_id: str, blob: bytes, aad: bytes) -> bytes:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        kek = self.by_id(kek_id)
        if kek is None:
            raise ResvError(
                _(
                    "the data keys of this database are wrapped under the key-encryption key "
                    "{kek}, which {source} does not hold: use the installation's current key "
                    "file (or finish `resv key rewrap`)"
                ).format(kek=kek_id, source=self.source)
            )
        try:
            return AESGCM(kek.secret).decrypt(blob[:NONCE], blob[NONCE:], aad)
        except InvalidTag:
            raise IntegrityCheckFailed(
                _(
                    "a data key of this database does not unwrap under the key-encryption key "
                    "{kek}: its wrapped form was altered"
                ).format(kek=kek_id)
            ) from None

    def to_json(self) -> bytes:
        doc = {
            "format": FORMAT,
            "version": VERSION,
            "keys": [
                {"id": k.id, "secret": k.secret.hex(), "created_at": k.created_at}
                for k in self.keys
            ],
        }
        return (json.dumps(doc, indent=1) + "\n").encode("utf-8")


def key_file() -> Path:
    from resv_cli.core.config import data_key_file

    return data_key_file()


def _now_text() -> str:
    from resv_cli.core import clock

    return clock.now().astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_kek() -> Kek:
    secret = secrets.token_bytes(32)
    return Kek(kek_id_of(secret), secret, _now_text())


def _secret(value: object) -> bytes | None:
    if not isinstance(value, str) or len(value) != 64:
        return None
    try:
        return bytes.fromhex(value)
    except ValueError:
        return None


def parse(path: Path, raw: bytes) -> LocalKeks:
    """Parse a key file's bytes; refuse anything malformed, naming the file (never a secret)."""
    try:
        doc = json.loads(raw.decode("utf-8"))
    except ValueError:
        raise ResvError(_("data key file {path} is not valid JSON").format(path=path)) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ResvError(_("data key file {path} is not a resv data key file").format(path=path))
    if doc.get("version") != VERSION:
        raise ResvError(
            _("data key file {path}: version {version!r} is not supported").format(
                path=path, version=doc.get("version")
            )
        )
    entries = doc.get("keys")
    if not isinstance(entries, list) or not entries:
        raise ResvError(_("data key file {path} lists no keys").format(path=path))
    keys: list[Kek] = []
    for n, e in enumerate(entries, start=1):
        secret = _secret(e.get("secret")) if isinstance(e, dict) else None
        if secret is None:
            raise ResvError(
                _("data key file {path}, key {n}: secret missing or not 64 hex digits").format(
                    path=path, n=n
                )
            )
        if e.get("id") != kek_id_of(secret):
            raise ResvError(
                _("data key file {path}, key {n}: id does not match its secret").format(
                    path=path, n=n
                )
            )
        keys.append(Kek(e["id"], secret, e.get("created_at")))
    return LocalKeks(str(path), tuple(keys), path)


def load_file(path: Path | None = None) -> LocalKeks:
    """Read the key file; refuse a missing, malformed or group/world-readable one."""
    from resv_cli.core.files import read_key_file

    path = path or key_file()
    raw = read_key_file(
        path,
        what=_("data key file"),
        missing=_(
            "data key file {path} is missing: copy the installation's key file there, or set "
            "RESV_DATA_KEY_FILE or RESV_DATA_KEK (a new installation makes it with "
            "`resv key init`)"
        ),
    )
    return parse(path, raw)


def from_env(name: str = ENV_KEK) -> LocalKeks | None:
    """The KEK a variable holds (None when unset); refuse a value that is not 64 hex digits."""
    value = os.environ.get(name)
    if value is None or not value.strip():
        return None
    secret = _secret(value.strip().lower())
    if secret is None:
        raise InputError(
            _("{name} must hold 64 hex digits (a 256-bit key, e.g. `openssl rand -hex 32`)").format(
                name=name
            )
        )
    return LocalKeks(name, (Kek(kek_id_of(secret), secret),))


def provider() -> LocalKeks:
    """The installation's KEK: ``RESV_DATA_KEK`` when set, else the key file."""
    return from_env() or load_file()


def save(keks: LocalKeks) -> None:
    """Replace the key file atomically (never through a symlink), mode 0600."""
    from resv_cli.core.files import write_private

    assert keks.path is not None
    write_private(keks.path, keks.to_json(), overwrite=True, make_parents=True)


def ensure() -> tuple[LocalKeks, bool]:
    """The installation's KEK, making the key file when there is neither it nor the variable.

    Returns (the KEK, whether a file was created).  An existing file is read (and
    must be valid); it is never replaced.
    """
    env = from_env()
    if env is not None:
        return env, False
    path = key_file()
    if path.exists() or path.is_symlink():
        return load_file(path), False
    keks = LocalKeks(str(path), (new_kek(),), path)
    from resv_cli.core.files import write_private

    write_private(path, keks.to_json(), make_parents=True)
    return keks, True


def init_file() -> LocalKeks:
    """Make the key file with a new random KEK (``resv key init``).

    Refused when ``RESV_DATA_KEK`` is set (the KEK comes from it) or the file exists
    (it may be the only copy of the key that opens a database: never replaced).
    """
    from resv_cli.core.errors import Conflict

    if from_env() is not None:
        raise InputError(
            _("RESV_DATA_KEK is set: the key-encryption key comes from it; no file was made")
        )
    path = key_file()
    if path.exists() or path.is_symlink():
        raise Conflict(
            _("data key file {path} already exists; nothing was changed").format(path=path)
        )
    keks, _created = ensure()
    return keks
