"""The audit key as a procedure: status, the switch-over to the keyed chain, rotation.

City IT only.  Each step is one audited event, chained under the key it starts:

- ``upgrade`` (``audit.key_upgrade``): a history written by resv 0.1 (chain
  version 1, plain SHA-256) is verified, then the key file is pinned to the next
  event and that event, the switch-over, is the first HMAC-chained one.
- ``rotate`` (``audit.key_rotate``): a new key is added to the key file from
  the next event on; the old key stays in the file, so the events it chained are
  still verified, but nothing new is accepted under it.
- ``rotate --lost``: the key file is gone on every machine.  A new file is
  made with the old keys marked lost (their ranges read from the history, the
  only record left) and a new key.  Events under a lost key can no longer be
  checked for edits, only for order and links; ``audit verify`` says so.

The key file is written before the event (the event is chained under the key
the file names); if the step then fails, the previous file is put back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from resv_cli.audit import chain, keys
from resv_cli.audit.vocabulary import A
from resv_cli.core.context import require_role
from resv_cli.core.errors import Conflict, IntegrityCheckFailed, ResvError
from resv_cli.core.i18n import _

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from resv_cli.core.context import Actor


def _history_keys(session: Session) -> list[tuple[str, int]]:
    """``(key_id, first seq)`` of every key the live history names, oldest first."""
    return [
        (str(k), int(first))
        for k, first in session.execute(
            text(
                "SELECT key_id, min(seq) FROM audit_events WHERE key_id IS NOT NULL "
                "GROUP BY key_id ORDER BY min(seq)"
            )
        )
    ]


def status(session: Session, actor: Actor | None) -> dict[str, Any]:
    """Where the key file is, which keys it holds (never their secrets), and the chain's state."""
    actor = require_role(actor, "admin", "monitor", action=A.AUDIT_KEY_STATUS)
    path = keys.key_file()
    head = session.execute(
        text("SELECT seq, key_id FROM audit_events ORDER BY seq DESC LIMIT 1")
    ).first()
    used = _history_keys(session)
    ring = keys.load_optional(path)
    if ring is None:
        named = ", ".join(k for k, _first in used) or _("none")
        raise ResvError(
            _(
                "audit key file {path} is missing (the history names keys: {keys}); copy the "
                "installation's key file there, or, if every copy is lost, run "
                "`resv audit key rotate --lost`"
            ).format(path=path, keys=named)
        )
    missing = [k for k, _first in used if ring.by_id(k) is None]
    notes: list[str] = []
    if ring.keyed_from is None:
        notes.append(_("the history is not keyed yet: run `resv audit key upgrade`"))
    if missing:
        notes.append(
            _(
                "the history names keys this file does not hold ({keys}): "
                "this file is out of date; copy the current one from city IT"
            ).format(keys=", ".join(missing))
        )
    for k in ring.keys:
        if k.lost:
            notes.append(
                _(
                    "key {key} is lost: events from {first} it chained are "
                    "checked for order and links only"
                ).format(key=k.id, first=k.chain_from)
            )
    out = {
        "file": str(path),
        "format": _("0.1 (one key, not pinned)") if ring.legacy else f"v{keys.VERSION}",
        "keyed_from": ring.keyed_from,
        "current_key": ring.current().id,
        "keys": [k.public() for k in ring.keys],
        "head_seq": int(head[0]) if head else None,
        "head_key": head[1] if head else None,
        "notes": notes,
    }
    chain.record(
        session,
        actor,
        A.AUDIT_KEY_STATUS,
        resource_type="audit_key",
        resource_id=out["current_key"],
        detail={"keys": [k.id for k in ring.keys]},
    )
    return out


def _restore(path: Any, previous: bytes | None) -> None:
    from resv_cli.core.files import write_private

    if previous is None:
        path.unlink(missing_ok=True)
    else:
        write_private(path, previous, overwrite=True)


def upgrade(session: Session, actor: Actor | None) -> dict[str, Any]:
    """Switch a 0.1 history to the keyed chain from its next event; return what was done."""
    actor = require_role(actor, "admin", action=A.AUDIT_KEY_UPGRADE)
    ring = keys.load()
    if ring.keyed_from is not None:
        raise Conflict(
            _("the history is already keyed from event {seq}").format(seq=ring.keyed_from),
            action=A.AUDIT_KEY_UPGRADE,
            outcome="failed",
            resource_type="audit_key",
        )
    last_seq, _prev, head_key = chain.lock_and_head(session)
    if head_key is not None:
        raise Conflict(
            _(
                "the history is already keyed (event {seq} is under key {key}) but this "
                "key file does not say from where: copy the current key file from city IT"
            ).format(seq=last_seq, key=head_key),
            action=A.AUDIT_KEY_UPGRADE,
            outcome="failed",
            resource_type="audit_key",
        )
    from resv_cli.audit.verify import verify_chain

    check = verify_chain(session, ring=ring)
    if not check.ok:
        raise IntegrityCheckFailed(
            _("audit history broken, not upgraded: {problem}").format(problem=check.message),
            action=A.AUDIT_KEY_UPGRADE,
            outcome="failed",
            detail={"first_bad_seq": check.first_bad_seq},
        )
    start = last_seq + 1
    key = ring.current()
    pinned = keys.KeyRing(
        ring.path,
        tuple(
            keys.AuditKey(k.id, k.secret, start, k.created_at, k.lost) if k.id == key.id else k
            for k in ring.keys
        ),
    )
    previous = ring.path.read_bytes()
    keys.save(pinned)
    try:
        seq = chain.record(
            session,
            actor,
            A.AUDIT_KEY_UPGRADE,
            resource_type="audit_key",
            resource_id=key.id,
            detail={"key_id": key.id, "chain_from": start, "events_checked": check.events_checked},
        )
        if seq != start:  # the lock is held: nothing else can have been appended
            raise IntegrityCheckFailed(
                _("the switch-over became event {seq}, expected {expected}").format(
                    seq=seq, expected=start
                )
            )
    except BaseException:
        _restore(ring.path, previous)
        raise
    return {"key_id": key.id, "chain_from": start, "events_checked": check.events_checked}


def rotate(session: Session, actor: Actor | None, *, lost: bool = False) -> dict[str, Any]:
    """Chain every event from the next one on under a new key; return what was done."""
    actor = require_role(actor, "admin", action=A.AUDIT_KEY_ROTATE)
    path = keys.key_file()
    ring = keys.load_optional(path)
    last_seq, _prev, head_key = chain.lock_and_head(session)
    start = last_seq + 1
    if lost:
        if ring is not None and any(k.secret for k in ring.keys):
            raise Conflict(
                _(
                    "audit key file {path} still holds a usable key: rotate without --lost "
                    "(and destroy the old copies)"
                ).format(path=path),
                action=A.AUDIT_KEY_ROTATE,
                outcome="failed",
                resource_type="audit_key",
            )
        used = _history_keys(session)
        base = ring or keys.KeyRing(path, ())
        new_ring, key = keys.with_new_key(base, start, lost=tuple(used))
        previous_id = head_key
    else:
        if ring is None:
            keys.load(path)  # raises the missing-file message
            raise AssertionError("unreachable")
        if ring.keyed_from is None:
            raise Conflict(
                _("the history is not keyed yet: run `resv audit key upgrade` first"),
                action=A.AUDIT_KEY_ROTATE,
                outcome="failed",
                resource_type="audit_key",
            )
        old = ring.current()
        if head_key is not None and ring.by_id(head_key) is None:
            raise Conflict(
                _(
                    "the history is chained under key {key}, which this key file does not "
                    "hold: copy the current key file from city IT first"
                ).format(key=head_key)
            )
        new_ring, key = keys.with_new_key(ring, start)
        previous_id = old.id
    previous = path.read_bytes() if path.exists() else None
    keys.save(new_ring)
    try:
        seq = chain.record(
            session,
            actor,
            A.AUDIT_KEY_ROTATE,
            resource_type="audit_key",
            resource_id=key.id,
            detail={
                "key_id": key.id,
                "previous_key_id": previous_id,
                "previous_key_lost": lost,
                "chain_from": start,
            },
        )
        if seq != start:
            raise IntegrityCheckFailed(
                _("the rotation became event {seq}, expected {expected}").format(
                    seq=seq, expected=start
                )
            )
    except BaseException:
        _restore(path, previous)
        raise
    return {
        "key_id": key.id,
        "previous_key_id": previous_id,
        "previous_key_lost": lost,
        "chain_from": start,
        "file": str(path),
    }
