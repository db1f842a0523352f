"""Accounts: every account in scope, its roster entry, locks, password age, training."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from resv_cli.reports.scope import JST, jst_or_none
from resv_cli.reports.sheets.base import Col, Table, num

if TYPE_CHECKING:
    from resv_cli.reports.context import ReportContext


class Accounts(Table):
    key = "sheet.accounts"
    counted_as = "accounts"
    columns = (
        Col("org_code", 12),
        Col("login_id", 18),
        Col("display_name", 16),
        Col("role", 16),
        Col("facility", 16),
        Col("roster", 12),
        Col("employment", 10),
        Col("status", 10),
        Col("valid_from", 18),
        Col("valid_until", 18),
        Col("last_login", 20),
        num("password_age", 12),
        num("locks_month", 12),
        num("locks_total", 12),
        Col("last_training", 18),
        Col("training_course", 24),
    )

    def rows(self, ctx: ReportContext) -> Iterator[list[Any]]:
        L = ctx.L
        roles, states = ctx.code("role"), ctx.code("account_status")
        today = ctx.generated.astimezone(JST).date()
        for r in ctx.data.accounts:
            training = r["training"]
            age = None
            if r["password_changed_at"] is not None:
                age = (today - r["password_changed_at"].astimezone(JST).date()).days
            emp = L(f"emp.{r['employment_type']}") if r["employment_type"] else None
            roster = (
                f"#{r['roster_entry_id']}"
                if r["roster_entry_id"] is not None
                else (L("roster_none") if r["org_kind"] == "designated_manager" else None)
            )
            yield [
                r["org_code"],
                r["login_id"],
                r["display_name"],
                roles.get(r["role"], r["role"]),
                r["facility_code"],
                roster,
                emp,
                states.get(r["status"], r["status"]),
                r["valid_from"],
                r["valid_until"],
                jst_or_none(r["last_login_at"]),
                age,
                r["locks_month"],
                r["locks_total"],
                training[0] if training else None,
                training[1] if training else None,
            ]
