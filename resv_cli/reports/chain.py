"""The audit chain head and its verification, as the report's cover shows them.

The audit capability owns verification (``resv_cli.audit_verify.verify_chain`` and
``chain_head``).  Until that module is merged, ``chain_status`` falls back to a plain
sequential recomputation with ``resv_cli.audit.canonical_form``/``event_hash``.
TODO(lead): remove ``_fallback_status`` once ``resv_cli.audit_verify`` is on main.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


@dataclass(frozen=True)
class ChainStatus:
    ok: bool
    head_seq: int
    head_hash: str
    first_bad_seq: int | None
    message: str
    verifier: str  # which implementation answered


def chain_status(session: Session) -> ChainStatus:
    """Verify the whole audit history and return its head, in ``session``'s snapshot."""
    import importlib

    try:
        audit_verify: Any = importlib.import_module("resv_cli.audit_verify")
    except ModuleNotFoundError as exc:
        if exc.name != "resv_cli.audit_verify":
            raise
        return _fallback_status(session)
    result: Any = audit_verify.verify_chain(session)
    head_seq, head_hash = audit_verify.chain_head(session)
    return ChainStatus(
        ok=bool(result.ok),
        head_seq=int(head_seq),
        head_hash=str(head_hash),
        first_bad_seq=result.first_bad_seq,
        message=str(result.message),
        verifier="resv_cli.audit_verify",
    )


def _fallback_status(session: Session) -> ChainStatus:
    from resv_cli import audit
    from resv_cli.models import AuditArchive, AuditEvent

    t = AuditEvent.__table__.c
    archived = session.execute(
        select(AuditArchive.last_seq, AuditArchive.last_hash).order_by(AuditArchive.last_seq)
    ).all()
    anchors = {int(seq): str(h) for seq, h in archived}
    expected_seq: int | None = None
    prev = audit.GENESIS
    head_seq, head_hash = 0, audit.GENESIS
    if archived:
        head_seq, head_hash = int(archived[-1][0]), str(archived[-1][1])
    last = session.execute(select(t.seq, t.hash).order_by(t.seq.desc()).limit(1)).first()
    if last is not None:
        head_seq, head_hash = int(last[0]), str(last[1])

    def bad(seq: int, message: str) -> ChainStatus:
        return ChainStatus(False, head_seq, head_hash, seq, message, "fallback")

    stmt = select(
        t.seq,
        t.occurred_at,
        t.account_id,
        t.login_id,
        t.organization_code,
        t.action,
        t.resource_type,
        t.resource_id,
        t.facility_code,
        t.outcome,
        t.detail,
        t.prev_hash,
        t.hash,
    ).order_by(t.seq)
    options = {"stream_results": True, "yield_per": 5000}
    for row in session.connection().execute(stmt, execution_options=options):
        seq = int(row.seq)
        if expected_seq is None:
            # the first stored event follows genesis or the newest archive before it
            prev = anchors.get(seq - 1, audit.GENESIS if seq == 1 else "")
        elif seq != expected_seq:
            return bad(seq, f"sequence gap: expected {expected_seq}, found {seq}")
        if row.prev_hash != prev:
            return bad(seq, f"event {seq} does not follow the event before it")
        digest = audit.event_hash(
            audit.canonical_form(
                seq,
                audit.format_time(row.occurred_at),
                row.account_id,
                row.login_id,
                row.organization_code,
                row.action,
                row.resource_type,
                row.resource_id,
                row.facility_code,
                row.outcome,
                row.detail,
                row.prev_hash,
            )
        )
        if digest != row.hash:
            return bad(seq, f"event {seq} was changed after it was recorded")
        prev = digest
        expected_seq = seq + 1
    return ChainStatus(
        ok=True,
        head_seq=head_seq,
        head_hash=head_hash,
        first_bad_seq=None,
        message=f"chain intact up to event {head_seq}",
        verifier="fallback",
    )
