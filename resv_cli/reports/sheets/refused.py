"""Refused attempts: denied and failed events and account locks, each with a category.

Counts them per account and facility in ``ctx.refusals`` for the refusals chart.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from resv_cli.audit.vocabulary import A
from resv_cli.reports.data import parse_detail
from resv_cli.reports.scope import jst_or_none
from resv_cli.reports.sheets.base import Col, Table, num

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
        num("seq"),
        Col("time", 20),
        Col("login_id", 18),
        Col("org_code", 12),
        Col("category", 22),
        Col("action", 26),
        Col("resource", 22),
        Col("facility_code", 16),
        Col("outcome", 10),
        Col("reason", 30),
    )

    def rows(self, ctx: ReportContext) -> Iterator[list[Any]]:
        L = ctx.L
        actions, outcomes = ctx.code("action"), ctx.code("outcome")
        reasons, resources = ctx.code("refusal_reason"), ctx.code("resource_type")
        counts = ctx.refusals
        for r in ctx.data.refused():
            reason = parse_detail(r.detail).get("reason")
            rtype = resources.get(r.resource_type, r.resource_type)
            resource = f"{rtype}:{r.resource_id}" if rtype and r.resource_id else None
            login = r.login_id or L("unknown_id")
            kind = "lock" if r.action == A.ACCOUNT_LOCK else r.outcome
            counts[(login, r.facility_code, kind)] += 1
            yield [
                r.seq,
                jst_or_none(r.occurred_at),
                login,
                r.organization_code,
                L(category(r.action, r.outcome, reason)),
                actions.get(r.action, r.action),
                resource,
                r.facility_code,
                outcomes.get(r.outcome, r.outcome),
                None if reason is None else reasons.get(str(reason), str(reason)),
            ]
