"""Signed anchor files: a head of the history that a monitor signs and keeps.

An anchor (``SEQ:HASH``) kept outside the database proves later that no event up
to it was cut off or changed.  A signed anchor file adds who took it and when,
and cannot be altered without the monitor's private key; anyone can check it
with the monitor's public key alone, without the database or the audit key.

- The monitor makes a key pair once: ``resv audit signing-key --private-out
  monitor-anchor.key --public-out monitor-anchor.pub`` (Ed25519, from the
  ``cryptography`` package).  The private key stays with the monitor (mode 0600);
  the public key is handed to whoever will check anchors.
- ``resv audit anchor --output FILE --signing-key monitor-anchor.key`` writes::

      {"format": "resv-audit-anchor", "version": 1, "seq": 1234,
       "hash": "<64 hex>", "taken_at": "2026-12-01T09:00:00.000000Z",
       "taken_by": "monitor-1", "public_key": "<fingerprint>",
       "signature": "<base64 Ed25519 signature>"}

  The signature is over the other fields as canonical JSON (sorted keys, no
  spaces, UTF-8).
- ``resv audit check-anchor FILE --public-key monitor-anchor.pub`` checks the
  signature only; ``resv audit verify --anchor-file FILE --public-key ...``
  checks the history against it.  The public key embedded as a fingerprint is
  informative: a file re-signed with another key fails against the monitor's.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from resv_cli.core.errors import InputError, IntegrityCheckFailed
from resv_cli.core.i18n import _

FORMAT = "resv-audit-anchor"
VERSION = 1
PUBLIC_PREFIX = "resv-anchor-ed25519"
SIGNED_FIELDS = ("format", "version", "seq", "hash", "taken_at", "taken_by", "public_key")


def _canonical(doc: dict[str, Any]) -> bytes:
    body = {k: doc[k] for k in SIGNED_FIELDS}
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def fingerprint(raw_public: bytes) -> str:
    return "SHA256:" + base64.b64encode(hashlib.sha256(raw_public).digest()).decode().rstrip("=")


def create_signing_key(private_out: Path, public_out: Path) -> str:
    """Write a new Ed25519 key pair (private 0600, never overwritten); return the fingerprint."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from resv_cli.core.files import write_private

    for p in (private_out, public_out):
        if p.exists() or p.is_symlink():
            raise InputError(_("{path} already exists; choose a new file").format(path=p))
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    raw_pub = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    fp = fingerprint(raw_pub)
    write_private(private_out, pem)
    line = f"{PUBLIC_PREFIX} {base64.b64encode(raw_pub).decode()} {fp}\n"
    write_private(public_out, line.encode("ascii"))
    return fp


def load_signing_key(path: Path) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise InputError(_("{path}: no such signing key file").format(path=path)) from None
    except (ValueError, TypeError):
        raise InputError(
            _("{path}: not an unencrypted PEM private key").format(path=path)
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(
            _("{path}: not an Ed25519 key (make one with `resv audit signing-key`)").format(
                path=path
            )
        )
    return key


def load_public(path: Path) -> tuple[Any, str]:
    """Read a public key file written by ``create_signing_key``; return (key, fingerprint)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        parts = path.read_text(encoding="ascii").split()
    except FileNotFoundError:
        raise InputError(_("{path}: no such public key file").format(path=path)) from None
    except (UnicodeDecodeError, OSError):
        raise InputError(_("{path}: not a resv anchor public key").format(path=path)) from None
    try:
        if len(parts) < 2 or parts[0] != PUBLIC_PREFIX:
            raise ValueError
        raw = base64.b64decode(parts[1], validate=True)
        key = Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise InputError(
            _("{path}: not a resv anchor public key (line 1 must start {prefix})").format(
                path=path, prefix=PUBLIC_PREFIX
            )
        ) from None
    return key, fingerprint(raw)


def sign_anchor(
    seq: int, digest: str, taken_at: str, taken_by: str, signing_key: Path
) -> tuple[bytes, str]:
    """Return the signed anchor file's bytes and the signing key's fingerprint."""
    from cryptography.hazmat.primitives import serialization

    key = load_signing_key(signing_key)
    raw_pub = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    doc: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "seq": seq,
        "hash": digest,
        "taken_at": taken_at,
        "taken_by": taken_by,
        "public_key": fingerprint(raw_pub),
    }
    doc["signature"] = base64.b64encode(key.sign(_canonical(doc))).decode()
    return (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode(), doc["public_key"]


def read_signed_anchor(path: Path, public_key: Path) -> dict[str, Any]:
    """Check ``path``'s signature with the monitor's public key; return its fields.

    A file that is not an anchor is bad input (exit 2); a well-formed anchor
    whose signature fails is evidence of tampering (exit 8).
    """
    from cryptography.exceptions import InvalidSignature

    pub, fp = load_public(public_key)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(_("{path}: no such anchor file").format(path=path)) from None
    except (ValueError, UnicodeDecodeError):
        raise InputError(_("{path}: not a resv anchor file (not JSON)").format(path=path)) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InputError(_("{path}: not a resv anchor file").format(path=path))
    if doc.get("version") != VERSION:
        raise InputError(
            _("{path}: anchor file version {version!r} is not supported").format(
                path=path, version=doc.get("version")
            )
        )
    missing = [k for k in (*SIGNED_FIELDS, "signature") if k not in doc]
    if missing:
        raise InputError(
            _("{path}: anchor file lacks {keys}").format(path=path, keys=", ".join(missing))
        )
    seq, digest = doc["seq"], doc["hash"]
    if type(seq) is not int or seq < 0 or not isinstance(digest, str) or len(digest) != 64:
        raise InputError(_("{path}: anchor file has a malformed seq or hash").format(path=path))
    try:
        signature = base64.b64decode(str(doc["signature"]), validate=True)
        pub.verify(signature, _canonical(doc))
    except (InvalidSignature, ValueError):
        raise IntegrityCheckFailed(
            _(
                "{path}: the signature does not verify with {public_key} ({fingerprint}); "
                "the anchor was altered or signed with another key"
            ).format(path=path, public_key=public_key, fingerprint=fp)
        ) from None
    return {k: doc[k] for k in SIGNED_FIELDS}
