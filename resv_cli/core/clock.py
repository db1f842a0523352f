"""The one source of "now" and "today" for services.

Everything that depends on the date (validity, management periods, lockouts,
expiry) asks this module, so tests can move time by monkeypatching ``now``.
The city's calendar day is Japan's: "today" is the date in Asia/Tokyo.
"""

from __future__ import annotations

import datetime as dt

JST = dt.timezone(dt.timedelta(hours=9), "JST")


def now() -> dt.datetime:
    """Return the current instant, timezone-aware, in UTC."""
    return dt.datetime.now(dt.UTC)


def today() -> dt.date:
    """Return the city's calendar day (Asia/Tokyo)."""
    return now().astimezone(JST).date()


def day_start(day: dt.date) -> dt.datetime:
    """The UTC instant at which the city's calendar day ``day`` begins (00:00 JST)."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=JST).astimezone(dt.UTC)


def parse_date(text: str, *, what: str = "date") -> dt.date:
    """Parse an ISO date (YYYY-MM-DD) given on the command line."""
    from resv_cli.core.errors import InputError

    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"{what} must be a date like 2017-04-01, got {text!r}") from None
