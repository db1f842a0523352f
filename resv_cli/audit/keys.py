"""The audit key ring: the secret keys the history is chained under, kept outside the database.

Why a key: each event's ``hash`` is an HMAC-SHA-256 of its canonical form (see
``resv_cli.audit.chain``) under the installation's audit key.  Someone who can
write the database but does not hold the key cannot edit, delete, insert,
renumber or reorder events and compute matching MACs, so ``resv audit verify``
catches every such change without any anchor.

The key file (``RESV_AUDIT_KEY_FILE``, default ``<config dir>/audit.key``, mode
0600) is a small JSON document::

    {"format": "resv-audit-keys", "version": 2,
     "keys": [{"id": "k1a2b...", "secret": "<64 hex>", "chain_from": 1,
               "created_at": "2026-12-02T03:00:00.000000Z", "lost": false}]}

- ``chain_from`` is the first event sequence number chained under that key; the
  key in force for event ``s`` is the one with the largest ``chain_from <= s``.
  Because this lives outside the database, rewriting keyed events as unkeyed
  ones (a "downgrade") is caught too.
- a *lost* key keeps its ``id`` and ``chain_from`` but no secret: events under it
  are checked for continuity only (see ``resv audit key rotate --lost``).

A file written by resv 0.1 holds one hex line: that is read as one key with no
``chain_from`` (history not yet keyed, see ``resv audit key upgrade``).  The HMAC
key bytes are the hex text itself, as 0.1's ``keyed_hash`` used them, so keyed
hashes of search terms stay comparable across the upgrade.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from resv_cli.core.errors import InputError, ResvError
from resv_cli.core.i18n import _

FORMAT = "resv-audit-keys"
VERSION = 2
ID_PREFIX = b"resv audit key id\x00"


def key_file() -> Path:
    from resv_cli.core.config import audit_key_file

    return audit_key_file()


def key_id_of(secret: str) -> str:
    """The public identifier of a key: 16 hex characters derived from it (one-way)."""
    return "k" + hashlib.sha256(ID_PREFIX + secret.encode("ascii")).hexdigest()[:15]


@dataclass(frozen=True)
class AuditKey:
    id: str
    secret: str | None  # hex text; None once lost
    chain_from: int | None  # None: a 0.1 key file, history not keyed yet
    created_at: str | None = None
    lost: bool = False

    @property
    def mac_key(self) -> bytes:
        if self.secret is None:
            raise ResvError(
                _("audit key {key} is lost; it cannot write or check events").format(key=self.id)
            )
        return self.secret.encode("ascii")

    def public(self) -> dict[str, Any]:
        """Everything but the secret (for status output and audit details)."""
        return {
            "id": self.id,
            "chain_from": self.chain_from,
            "created_at": self.created_at,
            "lost": self.lost,
        }


@dataclass(frozen=True)
class KeyRing:
    path: Path
    keys: tuple[AuditKey, ...] = field(default_factory=tuple)
    legacy: bool = False  # read from a 0.1 one-line file

    @property
    def keyed_from(self) -> int | None:
        """The first event the key file says is keyed (None: not keyed yet)."""
        starts = [k.chain_from for k in self.keys if k.chain_from is not None]
        return min(starts) if starts else None

    def by_id(self, key_id: str) -> AuditKey | None:
        for k in self.keys:
            if k.id == key_id:
                return k
        return None

    def in_force(self, seq: int) -> AuditKey | None:
        """The key event ``seq`` must be chained under, per this file (None: unkeyed)."""
        best: AuditKey | None = None
        for k in self.keys:
            if k.chain_from is not None and k.chain_from <= seq:
                if best is None or k.chain_from > (best.chain_from or 0):
                    best = k
        return best

    def current(self) -> AuditKey:
        """The newest key that still has its secret (for new events and keyed hashes)."""
        usable = [k for k in self.keys if k.secret is not None]
        if not usable:
            raise ResvError(
                _(
                    "audit key file {path} holds no usable key; "
                    "see `resv audit key rotate --lost` in the city IT guide"
                ).format(path=self.path)
            )
        return max(usable, key=lambda k: k.chain_from or 0)

    def to_json(self) -> bytes:
        doc = {
            "format": FORMAT,
            "version": VERSION,
            "keys": [
                {
                    "id": k.id,
                    "secret": k.secret,
                    "chain_from": k.chain_from,
                    "created_at": k.created_at,
                    "lost": k.lost,
                }
                for k in self.keys
            ],
        }
        return (json.dumps(doc, indent=1) + "\n").encode("utf-8")


def _now_text() -> str:
    from resv_cli.core import clock

    return clock.now().astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_key(chain_from: int | None) -> AuditKey:
    secret = secrets.token_hex(32)
    return AuditKey(key_id_of(secret), secret, chain_from, _now_text())


def _is_hex(value: Any, length: int | None = None) -> bool:
    return (
        isinstance(value, str)
        and (length is None or len(value) == length)
        and all(c in "0123456789abcdef" for c in value)
    )


def parse(path: Path, raw: bytes) -> KeyRing:
    """Parse a key file's bytes (either format); refuse anything malformed, naming the file."""
    text_value = raw.decode("utf-8", errors="replace").strip()
    if not text_value.startswith("{"):
        if len(text_value) < 32 or not _is_hex(text_value.lower()):
            raise ResvError(
                _("audit key file {path} is not a resv audit key (too short or not hex)").format(
                    path=path
                )
            )
        return KeyRing(path, (AuditKey(key_id_of(text_value), text_value, None),), legacy=True)
    try:
        doc = json.loads(text_value)
    except ValueError:
        raise ResvError(_("audit key file {path} is not valid JSON").format(path=path)) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ResvError(_("audit key file {path} is not a resv audit key file").format(path=path))
    if doc.get("version") != VERSION:
        raise ResvError(
            _("audit key file {path}: version {version!r} is not supported").format(
                path=path, version=doc.get("version")
            )
        )
    keys: list[AuditKey] = []
    entries = doc.get("keys")
    if not isinstance(entries, list) or not entries:
        raise ResvError(_("audit key file {path} lists no keys").format(path=path))
    for n, e in enumerate(entries, start=1):
        where = _("audit key file {path}, key {n}").format(path=path, n=n)
        if not isinstance(e, dict):
            raise ResvError(_("{where}: not an object").format(where=where))
        secret, kid, start = e.get("secret"), e.get("id"), e.get("chain_from")
        lost = bool(e.get("lost", False))
        if not isinstance(kid, str) or not kid:
            raise ResvError(_("{where}: id missing").format(where=where))
        if lost:
            secret = None
        elif not _is_hex(secret) or len(secret) < 32:
            raise ResvError(_("{where}: secret missing or not hex").format(where=where))
        elif key_id_of(secret) != kid:
            raise ResvError(_("{where}: id does not match its secret").format(where=where))
        if start is not None and (type(start) is not int or start < 1):
            raise ResvError(
                _("{where}: chain_from must be a positive whole number").format(where=where)
            )
        keys.append(AuditKey(kid, secret, start, e.get("created_at"), lost))
    starts = [k.chain_from for k in keys if k.chain_from is not None]
    if len(starts) != len(set(starts)):
        raise ResvError(
            _("audit key file {path}: two keys start at the same event").format(path=path)
        )
    return KeyRing(path, tuple(keys))


def load(path: Path | None = None) -> KeyRing:
    """Read the key ring; refuse a missing, malformed or group/world-readable file."""
    from resv_cli.core.files import read_key_file

    path = path or key_file()
    raw = read_key_file(
        path,
        what=_("audit key file"),
        missing=_(
            "audit key file {path} is missing; copy the installation's key file there "
            "or set RESV_AUDIT_KEY_FILE"
        ),
    )
    return parse(path, raw)


def load_optional(path: Path | None = None) -> KeyRing | None:
    path = path or key_file()
    if not path.exists() and not path.is_symlink():
        return None
    return load(path)


def save(ring: KeyRing) -> None:
    """Replace the key file atomically (never through a symlink), mode 0600."""
    from resv_cli.core.files import write_private

    write_private(ring.path, ring.to_json(), overwrite=True, make_parents=True)


def create_for_new_history() -> tuple[KeyRing, bool]:
    """The key ring for a new, empty history: keyed from event 1.

    A missing file is created; a 0.1 file is turned into a ring keyed from 1; a
    ring already keyed from event 1 by one key is used as is.  Any other ring
    belongs to another history and is refused.
    """
    path = key_file()
    ring = load_optional(path)
    if ring is None:
        ring = KeyRing(path, (new_key(1),))
        save(ring)
        return ring, True
    if ring.legacy:
        ring = KeyRing(path, (replace(ring.keys[0], chain_from=1, created_at=_now_text()),))
        save(ring)
        return ring, False
    if len(ring.keys) == 1 and ring.keys[0].chain_from == 1:
        return ring, False
    raise InputError(
        _(
            "audit key file {path} belongs to another history (it has rotated keys); "
            "set RESV_AUDIT_KEY_FILE to a new file for this database"
        ).format(path=path)
    )


def with_new_key(
    ring: KeyRing, chain_from: int, *, lost: tuple[tuple[str, int], ...] = ()
) -> tuple[KeyRing, AuditKey]:
    """Return the ring with a new current key starting at ``chain_from``.

    ``lost`` adds lost keys ``(id, chain_from)`` when the old file itself was lost
    (their ranges come from the history, the only record left).
    """
    key = new_key(chain_from)
    lost_keys = tuple(
        AuditKey(kid, None, start, None, True) for kid, start in lost if ring.by_id(kid) is None
    )
    return KeyRing(ring.path, (*ring.keys, *lost_keys, key)), key
