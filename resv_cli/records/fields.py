"""The one validator of registrant fields: the counter, the importer and every option.

Each function takes the text a person typed or a legacy file holds and returns
what is stored, or raises ``FieldError`` whose message is the reason (never the
value: a reason may be written to a rejects file, an error line or the audit
history).  The legacy importer (``resv_cli.importing.normalise``) applies them to
each record; ``registrant add`` and ``update`` apply them to each option through
``clean``, so a value is accepted or refused, and stored, the same way wherever
it enters.  The text normalisers they build on are in ``resv_cli.core.jpnorm``.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass
from typing import Any

from resv_cli.core import jpnorm
from resv_cli.core.i18n import N_, _
from resv_cli.core.jpnorm import FieldError, refuse
from resv_cli.core.normalize import control_problem, max_len, name_key, nfc_one_line
from resv_cli.core.personal import REGISTRANT_STATUSES, SEALED_MAX, Registrant

__all__ = ["FieldError", "GAIJI_REASON", "OPTIONS", "STATUS_VALUES", "Cleaned", "clean"]

# the longest values, from the registrants table's columns (the one place they are set;
# a sealed field's column holds its ciphertext: its limit is in SEALED_MAX beside it)
NAME_MAX = max_len(Registrant.name)
READING_MAX = max_len(Registrant.kana)
ADDRESS_MAX = SEALED_MAX["address"]
EMERGENCY_NAME_MAX = SEALED_MAX["emergency_name"]
REPRESENTATIVE_MAX = max_len(Registrant.representative_name)
LEGACY_NO_MAX = max_len(Registrant.legacy_no)
STATUS_REASON_MAX = max_len(Registrant.status_reason)
# The reasons: English, marked for the catalogue and translated when a value is
# refused (``refuse``); the importer shows them with ``_()``.  A limit is written
# in its reason (a msgid is a literal); tests/test_i18n_services.py checks that
# each names its column's length.
GAIJI_REASON = N_(
    "contains an external character (外字) with no standard code; write it with a standard "
    "character"
)
NAME_TOO_LONG = N_("name longer than 200 characters")
READING_TOO_LONG = N_("reading longer than 200 characters")
ADDRESS_TOO_LONG = N_("address longer than 300 characters")
EMERGENCY_NAME_TOO_LONG = N_("emergency contact name longer than 200 characters")
REPRESENTATIVE_TOO_LONG = N_("representative name longer than 200 characters")
LEGACY_NO_TOO_LONG = N_("registration number longer than 64 characters")
STATUS_REASON_TOO_LONG = N_("status reason longer than 200 characters")
CARD_VALIDITY_ORDER = N_("card validity ends before it starts")
# each "too long" reason and the limit it names
LIMITS = {
    NAME_TOO_LONG: NAME_MAX,
    READING_TOO_LONG: READING_MAX,
    ADDRESS_TOO_LONG: ADDRESS_MAX,
    EMERGENCY_NAME_TOO_LONG: EMERGENCY_NAME_MAX,
    REPRESENTATIVE_TOO_LONG: REPRESENTATIVE_MAX,
    LEGACY_NO_TOO_LONG: LEGACY_NO_MAX,
    STATUS_REASON_TOO_LONG: STATUS_REASON_MAX,
}

# the option of ``registrant add`` / ``update`` that gives each field
OPTIONS = {
    "kind": "--kind",
    "name": "--name",
    "kana": "--kana",
    "date_of_birth": "--dob",
    "postal_code": "--postal-code",
    "address": "--address",
    "phone": "--phone",
    "emergency_name": "--emergency-name",
    "emergency_phone": "--emergency-phone",
    "representative_name": "--representative",
    "card_valid_from": "--card-valid-from",
    "card_valid_until": "--card-valid-until",
}

STATUSES = REGISTRANT_STATUSES  # active, suspended, deleted (for the importer)
# the words legacy files and staff use for a registration's state (登録状態); a
# mapping file's [values.status] adds its own codes
STATUS_VALUES = {
    "active": "active", "有効": "active", "利用中": "active", "登録中": "active",
    "正常": "active", "在籍": "active",
    "suspended": "suspended", "停止": "suspended", "利用停止": "suspended",
    "休止": "suspended", "停止中": "suspended", "一時停止": "suspended",
    "deleted": "deleted", "削除": "deleted", "抹消": "deleted", "登録抹消": "deleted",
    "退会": "deleted", "削除済": "deleted", "削除済み": "deleted", "廃止": "deleted",
}  # fmt: skip
STATUS_WORDS = N_("active (有効), suspended (停止) or deleted (削除)")


def external_characters(text: str) -> None:
    """Refuse a private-use character (外字 of a cp932 file): no other system can show it."""
    if jpnorm.PRIVATE_USE.search(text):
        raise refuse(GAIJI_REASON)


def control_characters(text: str) -> None:
    """Refuse a control character (the input rule of ``resv_cli.core.normalize``).

    Line breaks are let through: every text field of a registrant folds them (a
    wrapped cell of a legacy file); the reason gives the code point and position.
    """
    reason = control_problem(text, line_breaks=True)
    if reason is not None:
        raise FieldError(reason)


def kind(text: str) -> str:
    """individual or group, from the words files and staff use (個人, 団体, 1, 2, ...)."""
    return jpnorm.kind(text)


def name(text: str) -> tuple[str, str]:
    """(the name as stored, its search key): NFC, one line, 1-200 characters."""
    value = nfc_one_line(text)
    if not value:
        raise refuse(N_("name is empty"))
    if len(value) > NAME_MAX:
        raise refuse(NAME_TOO_LONG)
    return value, name_key(value)


def reading(text: str) -> tuple[str, str]:
    """(the reading in full-width katakana, its search key)."""
    value, key = jpnorm.reading(text)
    if len(value) > READING_MAX:
        raise refuse(READING_TOO_LONG)
    return value, key


def date_of_birth(raw: str | tuple[str, str, str, str] | dt.date, today: dt.date) -> dt.date:
    """A date of birth in any form (和暦 too), not in the future, not before 1868."""
    return jpnorm.date_of_birth(raw, today)


postal_code = jpnorm.postal_code  # NNN-NNNN from any width, dash or 〒


def address(text: str) -> str:
    """The address with digits and dashes folded, at most 300 characters."""
    value = jpnorm.address(text)
    if len(value) > ADDRESS_MAX:
        raise refuse(ADDRESS_TOO_LONG)
    return value


phone = jpnorm.phone  # (as stored, its digits, extension)


def emergency_name(text: str) -> str:
    """The emergency contact's name (family), NFC, one line, at most 200 characters."""
    value = nfc_one_line(text)
    if len(value) > EMERGENCY_NAME_MAX:
        raise refuse(EMERGENCY_NAME_TOO_LONG)
    return value


# a phone's reasons, said of the emergency contact's phone
EMERGENCY_PHONE_REASONS = {
    jpnorm.PHONE_CHARACTERS: N_(
        "emergency phone number has characters other than digits and dashes"
    ),
    jpnorm.PHONE_DIGITS: N_("emergency phone number must have 10 or 11 digits starting with 0"),
}


def emergency_phone(text: str) -> str:
    """The emergency contact's phone; an extension stays with the number (no column)."""
    try:
        tel, _digits, ext = jpnorm.phone(text)
    except FieldError as exc:
        raise refuse(EMERGENCY_PHONE_REASONS.get(exc.reason, exc.reason)) from None
    return f"{tel} 内線{ext}" if ext else tel


def representative_name(text: str) -> str:
    """A group's representative (団体の代表者), NFC, one line, at most 200 characters."""
    value = nfc_one_line(text)
    if len(value) > REPRESENTATIVE_MAX:
        raise refuse(REPRESENTATIVE_TOO_LONG)
    return value


def _date(raw: str | dt.date, what: str) -> dt.date:
    if isinstance(raw, dt.date):
        return raw
    try:
        return jpnorm.parse_date(raw)
    except FieldError as exc:
        raise FieldError(f"{_(what)}: {jpnorm.date_reason(exc)}", exc.reason) from None


def card_valid_from(raw: str | dt.date) -> dt.date:
    """The first day of the registration card's validity (和暦 too)."""
    return _date(raw, N_("card valid from"))


def card_valid_until(raw: str | dt.date) -> dt.date:
    """The last day of the registration card's validity, 有効期限 (和暦 too)."""
    return _date(raw, N_("card valid until"))


def card_validity(valid_from: dt.date | None, valid_until: dt.date | None) -> None:
    """Refuse a validity that ends before it starts (either end may be unrecorded)."""
    if valid_from is not None and valid_until is not None and valid_until < valid_from:
        raise refuse(CARD_VALIDITY_ORDER)


def status(text: str, extra: dict[str, str] | None = None) -> str:
    """active, suspended or deleted, from the words files and staff use (有効, 停止, 削除, ...).

    ``extra``: a legacy file's own codes (a mapping file's ``[values.status]``),
    keys folded as ``status_word`` folds them.
    """
    word = status_word(text)
    value = (extra or {}).get(word) or STATUS_VALUES.get(word)
    if value is None:
        reason = N_("status must be {words}")
        raise FieldError(_(reason).format(words=_(STATUS_WORDS)), reason)
    return value


def status_word(text: str) -> str:
    """A status word as looked up: NFKC (width folded), no spaces, lower case."""
    return "".join(unicodedata.normalize("NFKC", text).split()).lower()


def status_since(raw: str | dt.date, today: dt.date) -> dt.date:
    """The day a status took effect: a date (和暦 too), not in the future."""
    value = _date(raw, N_("status date"))
    if value > today:
        raise refuse(N_("status date is in the future (record a change when it takes effect)"))
    return value


def status_reason(text: str) -> str:
    """Why a status was set, NFC, one line, at most 200 characters."""
    value = nfc_one_line(text)
    if len(value) > STATUS_REASON_MAX:
        raise refuse(STATUS_REASON_TOO_LONG)
    return value


# the columns computed from a field, stored beside it
DERIVED = {
    "name": ("name_key",),
    "kana": ("kana_key",),
    "phone": ("phone_digits", "phone_extension"),
}


@dataclass
class Cleaned:
    """The registrant's columns after the rules, for the fields that were given."""

    columns: dict[str, Any]
    problems: list[tuple[str, str]]  # (field, reason)

    def message(self) -> str:
        """One line naming each refused option and its reason."""
        return "; ".join(f"{OPTIONS.get(f, f)}: {why}" for f, why in self.problems)


# every field that is always given (a blank one is refused, never a clearing)
REQUIRED = ("kind", "name")


def clean(values: dict[str, Any], today: dt.date) -> Cleaned:
    """Apply the rules to the given fields (None: not given); collect every refusal.

    Returns the registrant columns to store: ``name`` with ``name_key``, ``kana``
    with ``kana_key``, ``phone`` with ``phone_digits`` and ``phone_extension``.
    A card validity that ends before it starts is refused (both given here; the
    caller checks one given against the other stored).
    A blank optional field clears it (update), with the columns derived from it.
    """
    rules: dict[str, Any] = {
        "kind": kind,
        "name": name,
        "kana": reading,
        "date_of_birth": lambda raw: date_of_birth(raw, today),
        "postal_code": postal_code,
        "address": address,
        "phone": phone,
        "emergency_name": emergency_name,
        "emergency_phone": emergency_phone,
        "representative_name": representative_name,
        "card_valid_from": card_valid_from,
        "card_valid_until": card_valid_until,
    }
    out: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for field, rule in rules.items():
        raw = values.get(field)
        if raw is None:
            continue
        columns = (field, *DERIVED.get(field, ()))
        if isinstance(raw, str) and not raw.strip() and field not in REQUIRED:
            out.update(dict.fromkeys(columns))
            continue
        try:
            if isinstance(raw, str):
                control_characters(raw)
                external_characters(raw)
            value = rule(raw)
        except FieldError as exc:
            problems.append((field, str(exc)))
            continue
        out.update(zip(columns, value if len(columns) > 1 else (value,), strict=True))
    try:
        card_validity(out.get("card_valid_from"), out.get("card_valid_until"))
    except FieldError as exc:
        problems.append(("card_valid_until", str(exc)))
    return Cleaned(out, problems)
