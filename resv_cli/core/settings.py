"""Installation settings stored in the ``settings`` table, with safe defaults."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from resv_cli.core import clock
from resv_cli.core.errors import InputError
from resv_cli.core.i18n import _
from resv_cli.core.models import Setting

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

# key -> (default, minimum, maximum, description)
KNOWN: dict[str, tuple[int, int, int, str]] = {
    "password_min_length": (15, 8, 64, "minimum password length (never below 8)"),
    "password_min_score": (
        3,
        2,
        4,
        "lowest zxcvbn strength estimate (0-4) a new password may have (never below 2)",
    ),
    "session_hours": (12, 1, 24, "hours a login session lasts"),
    "duplicate_check_per_hour": (30, 1, 1000, "duplicate checks per account per hour"),
    "bulk_view_threshold": (
        50,
        1,
        100000,
        "registrants viewed per account per day that raise a flag",
    ),
    "dormant_days": (90, 1, 3650, "days without login after which an account is dormant"),
}


def get_int(s: Session, key: str) -> int:
    default, lo, hi, _what = KNOWN[key]
    raw = s.execute(select(Setting.value).where(Setting.key == key)).scalar_one_or_none()
    if raw is None:
        return default
    try:
        return min(max(int(raw), lo), hi)
    except ValueError:
        return default


def set_int(s: Session, key: str, value: int) -> None:
    if key not in KNOWN:
        raise InputError(
            _("unknown setting {key!r}; known: {known}").format(
                key=key, known=", ".join(sorted(KNOWN))
            )
        )
    _default, lo, hi, _what = KNOWN[key]
    if not lo <= value <= hi:
        raise InputError(_("{key} must be between {lo} and {hi}").format(key=key, lo=lo, hi=hi))
    row = s.get(Setting, key)
    if row is None:
        s.add(Setting(key=key, value=str(value), updated_at=clock.now()))
    else:
        row.value = str(value)
        row.updated_at = clock.now()


def password_min_length(s: Session) -> int:
    return get_int(s, "password_min_length")


def password_min_score(s: Session) -> int:
    return get_int(s, "password_min_score")
