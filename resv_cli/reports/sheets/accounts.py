"""Accounts: every account in scope, its roster entry, locks, password age, training."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from resv_cli.reports.scope import JST, jst_or_none
from resv_cli.reports.sheets.base import Table

if TYPE_CHECKING:
    from resv_cli.reports.context import ReportContext


class Accounts(Table):
    key = "sheet.accounts"
    counted_as = "accounts"
    columns = (
        ("org_code", 12),
        ("login_id", 18),
        ("display_name", 16),
        ("role", 10),
        ("facility", 16),
        ("roster", 12),
        ("employment", 10),
        ("status", 10),
        ("valid_from", 12),
        ("valid_until", 12),
        ("last_login", 20),
        ("password_age", 10),
        ("locks_month", 10),
        ("locks_total", 10),
        ("last_training", 12),
        ("training_course", 24),
    )

    def rows(self, ctx: ReportContext) -> Iterator[list[Any]]:
        L = ctx.L
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
                r["role"],
                r["facility_code"],
                roster,
                emp,
                r["status"],
                r["valid_from"],
                r["valid_until"],
                jst_or_none(r["last_login_at"]),
                age,
                r["locks_month"],
                r["locks_total"],
                training[0] if training else None,
                training[1] if training else None,
            ]
