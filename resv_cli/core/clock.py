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


def shown(instant: dt.datetime) -> str:
    """An instant as a person in Japan reads it: ``2026-12-02 20:47 JST`` (stored in UTC)."""
    return instant.astimezone(JST).strftime("%Y-%m-%d %H:%M JST")


def parse_date(text: str, *, what: str = "date") -> dt.date:
    """Parse a date typed on the command line, in any form the importer accepts.

    ISO (2017-04-01), 2017/4/1, 20170401, 2017年4月1日 and the era forms staff read
    from insurance cards (平成29年4月1日, H29.4.1, 昭和8年12月24日, S8.12.24).
    """
    from resv_cli.core.errors import InputError
    from resv_cli.core.i18n import _
    from resv_cli.core.jpnorm import DATE_FORMS, NOT_A_DATE, FieldError
    from resv_cli.core.jpnorm import parse_date as parse_any

    try:
        return parse_any(text)
    except FieldError as exc:
        if exc.reason == NOT_A_DATE:
            raise InputError(
                _("{what} must be a date like {forms}, got {text!r}").format(
                    what=what, forms=DATE_FORMS, text=text
                )
            ) from None
        raise InputError(
            _("{what}: {reason}, got {text!r}").format(what=what, reason=exc, text=text)
        ) from None
