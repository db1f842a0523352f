"""Refused attempts: denied and failed events and account locks, each with a category."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from resv_cli.audit.vocabulary import A
from resv_cli.reports.data import parse_detail
from resv_cli.reports.scope import jst_or_none
from resv_cli.reports.sheets.base import Table

if TYPE_CHECKING:
    from resv_cli.reports.context import ReportContext


# The detail "reason" codes the writers record, by what they mean to a reviewer.
# Scope: the person asked for data outside what they may reach (their places of
# work, the exception rule).  Business: a rule of the service refused a request the
# person was entitled to make (a second certificate, a taken slot, a likely
# duplicate registration, ...), whether the writer recorded it as denied or failed.
SCOPE_REASONS = frozenset({"out_of_scope", "scope", "not_eligible"})
BUSINESS_REASONS = frozenset(
    {
        "duplicate",
        "already_holds",
        "likely_duplicate",
        "slot_taken",
        "already_cancelled",
        "login_id_taken",
        "already_revoked",
        "own_account",
    }
)


def category(action: str, outcome: str, reason: Any) -> str:
    """The label key of the kind of refusal (the one place refusals are classified)."""
    if action == A.ACCOUNT_LOCK:
        return "cat.lockout"
    if action == A.AUTH_LOGIN:
        return "cat.login_failed"
    if action == A.AUTH_SESSION:  # a revoked, disabled or expired person's old session
        return "cat.session_refused"
    if reason == "role":
        return "cat.role"
    if reason == "rate_limit":
        return "cat.rate_limit"
    if reason in BUSINESS_REASONS:
        return "cat.business"
    # a denial for any other (or an unknown) reason is looked at as a scope question
    if reason in SCOPE_REASONS or outcome == "denied":
        return "cat.scope"
    return "cat.failed"


class Refused(Table):
    key = "sheet.refused"
    counted_as = "refused"
    columns = (
        ("seq", 10),
        ("time", 20),
        ("login_id", 18),
        ("org_code", 12),
        ("category", 18),
        ("action", 26),
        ("resource", 22),
        ("facility_code", 16),
        ("outcome", 10),
        ("reason", 28),
    )

    def rows(self, ctx: ReportContext) -> Iterator[list[Any]]:
        L = ctx.L
        for r in ctx.data.refused():
            reason = parse_detail(r.detail).get("reason")
            resource = (
                f"{r.resource_type}:{r.resource_id}" if r.resource_type and r.resource_id else None
            )
            yield [
                r.seq,
                jst_or_none(r.occurred_at),
                r.login_id or L("unknown_id"),
                r.organization_code,
                L(category(r.action, r.outcome, reason)),
                r.action,
                resource,
                r.facility_code,
                r.outcome,
                None if reason is None else str(reason),
            ]
