"""When a designated manager's designation term (指定期間) deserves a warning.

One rule for `resv org list|show` and the monthly report: the term has ended, or
ends within ``TERM_WARNING_DAYS`` days, so the renewal should be recorded
(`resv org renew`) before the manager's staff accounts expire.
"""

from __future__ import annotations

import datetime as dt

from resv_cli.core.i18n import _

TERM_WARNING_DAYS = 90


def days_left(kind: str, term_end: dt.date | None, today: dt.date) -> int | None:
    """Days from ``today`` to the term's last day (negative: ended); None: no warning due."""
    if kind != "designated_manager" or term_end is None:
        return None
    days = (term_end - today).days
    return days if days <= TERM_WARNING_DAYS else None


def term_warning(code: str, kind: str, term_end: dt.date | None, today: dt.date) -> str | None:
    """What to tell city IT about an organisation's term on ``today`` (None: nothing)."""
    days = days_left(kind, term_end, today)
    if days is None:
        return None
    todo = _("record the renewal with `resv org renew {code} --until ...`").format(code=code)
    if days < 0:
        return _("{code}'s designation ended on {end}: {todo}").format(
            code=code, end=term_end, todo=todo
        )
    return _("{code}'s designation ends on {end} (in {days} days): {todo}").format(
        code=code, end=term_end, days=days, todo=todo
    )
