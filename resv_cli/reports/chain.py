"""The audit chain head and its verification, as the report's cover shows them.

Verification belongs to the audit capability (``resv_cli.audit.verify``); the report
only runs it in its own transaction, so the head it prints and the rows it lists
come from the same snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from resv_cli.audit import verify as audit_verify

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


@dataclass(frozen=True)
class ChainStatus:
    ok: bool
    head_seq: int
    head_hash: str
    first_bad_seq: int | None
    message: str  # as ``audit verify`` says it (English report)
    events_checked: int = 0
    reason: str | None = None  # a stable code when not ok (``VerifyResult.reason``)


def chain_status(session: Session) -> ChainStatus:
    """Verify the whole audit history and return its head, in ``session``'s snapshot."""
    result = audit_verify.verify_chain(session)
    head_seq, head_hash = audit_verify.chain_head(session)
    return ChainStatus(
        ok=bool(result.ok),
        head_seq=int(head_seq),
        head_hash=str(head_hash),
        first_bad_seq=result.first_bad_seq,
        message=str(result.message),
        events_checked=int(result.events_checked),
        reason=result.reason,
    )
