"""Normalise one legacy record: raw strings -> R (``record.R_FIELDS``) or its rejects.

``build_normaliser`` compiles, once per file, the function that turns the raw
fields of one record into R, or into the list of (column label, reason) that
reject it.  Every field has its rule below.  They run in one fixed order (control
characters and external characters first, then the fields in the order of R, the
representative's length last), so a record's rejects are always listed in the
same order (the rejects file and ``merge_rejects`` depend on it).  The normalisers of one
field's text are in ``jpnorm``.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from resv_cli.core import jpnorm
from resv_cli.core.i18n import N_, _
from resv_cli.core.jpnorm import FieldError
from resv_cli.core.normalize import CONTROL_EXCEPT_LINE_BREAKS, nfc_one_line
from resv_cli.importing.mapping import Mapping
from resv_cli.importing.reader import has_undecodable, undecodable_reason
from resv_cli.importing.record import Reject
from resv_cli.records import fields

# (R or None, rejects, the registration number of a rejected record); no R and no
# rejects: a deleted registration with a problem, skipped (never imported anyway)
Normalised = tuple[tuple[Any, ...] | None, list[Reject], str | None]
# a field's rule: (row, rejects) -> the field's value(s); appends its rejects
Rule = Callable[[list[str], list[Reject]], Any]

# the text fields stored as written, checked for private-use characters (外字)
STORED_AS_WRITTEN = ("legacy_no", "name", "group_name", "kana", "address", "emergency_name",
                     "representative_name", "status_reason")  # fmt: skip
# the hint of a date column's reject when the cell holds no digit (a word for "none")
SENTINEL_HINT = N_("a word for none (なし, 未設定) goes in [options] empty of the mapping file")
_DOB_CACHE_SIZE = 20_000


@dataclass(frozen=True)
class Normaliser:
    """The per-record function of one file, and what it knows of the file's columns."""

    normalise: Callable[[list[str]], Normalised]
    # the registration number of a record rejected before normalising (or None)
    legacy_of: Callable[[list[str]], str | None]
    # the fields of R this file gives (indices): --on-conflict update compares and
    # replaces only these; a field the file has no column for keeps its stored value
    present: tuple[int, ...]


# --- the rules of the fields ----------------------------------------------------------


def _gaiji_rule(m: Mapping) -> Rule:
    """A reject for each text field stored as written that holds an external character (外字)."""
    text_fields = [(m.label(f), m.getters[f]) for f in STORED_AS_WRITTEN if f in m.getters]

    def gaiji(row: list[str], rejects: list[Reject]) -> None:
        for label, get in text_fields:
            try:
                fields.external_characters(get(row))
            except FieldError as exc:
                rejects.append((label, str(exc)))

    return gaiji


def _control_rule(m: Mapping) -> Rule:
    """A reject for each mapped field holding a control character (the input rule).

    A line break is a wrapped cell and is folded by the field's rule; any other
    control character (a NUL, say) is refused with its code point and position.
    """
    getters = [(m.label(f), get) for f, get in m.getters.items()]
    if m.era_getter is not None:
        era = m.era_getter
        getters.append((m.label("date_of_birth"), lambda row: "\n".join(era(row))))

    def control(row: list[str], rejects: list[Reject]) -> None:
        for label, get in getters:
            try:
                fields.control_characters(get(row))
            except FieldError as exc:
                rejects.append((label, str(exc)))

    return control


def _kind_rule(m: Mapping, default_kind: str | None) -> Rule:
    get_kind = m.getters.get("kind")
    kind_values = {**jpnorm.KIND_VALUES, **m.kind_values}
    label = m.label("kind")
    if default_kind is not None:
        otherwise = default_kind
    elif m.getters.get("group_name") is not None and m.getters.get("name") is None:
        otherwise = "group"
    else:
        otherwise = "individual"

    bad_kind = _("区分 must be 個人 or 団体")

    def kind(row: list[str], rejects: list[Reject]) -> str:
        if get_kind is not None and (raw := get_kind(row).strip()):
            value = kind_values.get(raw.lower())
            if value is None:
                rejects.append((label, bad_kind))
                return "individual"
            return value
        return otherwise

    return kind


def _legacy_rule(m: Mapping) -> Rule:
    """The registration number: width folded, otherwise kept as written."""
    get_legacy = m.getters.get("legacy_no")
    label = m.label("legacy_no")
    too_long = _(fields.LEGACY_NO_TOO_LONG)

    def legacy_no(row: list[str], rejects: list[Reject]) -> str:
        legacy = get_legacy(row).strip() if get_legacy is not None else ""
        if legacy and not legacy.isascii():
            legacy = unicodedata.normalize("NFKC", legacy).strip()
        if len(legacy) > fields.LEGACY_NO_MAX:
            rejects.append((label, too_long))
        return legacy

    return legacy_no


def _names_rule(m: Mapping) -> Callable[[list[str], str, list[Reject]], tuple[str, str, str]]:
    """(name, its search key, representative): a group's name is its group name, if given."""
    g = m.getters
    get_name, get_group, get_rep = g.get("name"), g.get("group_name"), g.get("representative_name")
    name_label, group_label = m.label("name"), m.label("group_name")
    nfc = nfc_one_line

    def names(row: list[str], kind: str, rejects: list[Reject]) -> tuple[str, str, str]:
        person = get_name(row) if get_name is not None else ""
        rep = nfc(get_rep(row)) if get_rep is not None else ""
        label = name_label
        if kind == "group":
            group = get_group(row) if get_group is not None else ""
            if group.strip():
                name, label = nfc(group), group_label
                if not rep and person.strip():
                    rep = nfc(person)
            else:
                name = nfc(person)
        else:
            name = nfc(person)
        try:
            return (*fields.name(name), rep)
        except FieldError as exc:
            rejects.append((label, str(exc)))
            return name, "", rep

    return names


def _representative_too_long(m: Mapping) -> Rule:
    """The reject of a representative name over 200 characters, under its column.

    The name comes from its own column, or (a group) from the person's name column.
    """
    get_rep = m.getters.get("representative_name")
    rep_label, name_label = m.label("representative_name"), m.label("name")
    reason = _(fields.REPRESENTATIVE_TOO_LONG)

    def too_long(row: list[str], rejects: list[Reject]) -> None:
        given = get_rep is not None and get_rep(row).strip()
        rejects.append((rep_label if given else name_label, reason))

    return too_long


def _dob_rule(m: Mapping, today: dt.date) -> Rule:
    """The date of birth as ISO text (or None): one column, or an era's four columns."""
    get_dob, get_era = m.getters.get("date_of_birth"), m.era_getter
    label = m.label("date_of_birth")
    cache: dict[Any, Any] = {}

    def parsed(raw: Any) -> Any:
        try:
            d = fields.date_of_birth(raw, today)
            # ISO text on both databases: SQLite stores it so, PostgreSQL's COPY
            # and parameters read it into the date column
            value: Any = d.isoformat()
        except FieldError as exc:
            value = exc
        if len(cache) < _DOB_CACHE_SIZE:
            cache[raw] = value
        return value

    def date_of_birth(row: list[str], rejects: list[Reject]) -> str | None:
        raw: Any
        if get_era is not None:
            parts = get_era(row)
            if not any(p.strip() for p in parts):
                return None
            raw = tuple(parts)
        elif get_dob is None or not (raw := get_dob(row).strip()):
            return None
        dob = cache.get(raw)  # never None: ISO text or the FieldError
        if dob is None:
            dob = parsed(raw)
        if isinstance(dob, FieldError):
            rejects.append((label, str(dob)))
            return None
        return dob

    return date_of_birth


def _optional_rule(
    m: Mapping, field: str, convert: Callable[[str], Any], *, empty: Any = None
) -> Rule:
    """A field that may be blank: ``empty`` when blank, else ``convert(raw)`` or a reject.

    ``convert`` is the field's rule in ``resv_cli.records.fields``; it raises
    ``FieldError`` with the reason.
    """
    get = m.getters.get(field)
    label = m.label(field)

    def rule(row: list[str], rejects: list[Reject]) -> Any:
        if get is None or not (raw := get(row).strip()):
            return empty
        try:
            return convert(raw)
        except FieldError as exc:
            rejects.append((label, str(exc)))
            return empty

    return rule


def _status_rule(m: Mapping) -> Rule:
    """active (also for a blank cell or no column), suspended or deleted."""
    get = m.getters.get("status")
    label = m.label("status")
    codes = m.status_values

    def status(row: list[str], rejects: list[Reject]) -> str:
        if get is None or not (raw := get(row).strip()):
            return "active"
        try:
            return fields.status(raw, codes)
        except FieldError as exc:
            rejects.append(
                (label, _("{reason}; map the file's code in [values.status]").format(reason=exc))
            )
            return "active"

    return status


def _date_rule(m: Mapping, field: str, convert: Callable[[str], dt.date]) -> Rule:
    """An optional date column as ISO text (or None); a word with no digit gets a hint."""
    get = m.getters.get(field)
    label = m.label(field)

    def rule(row: list[str], rejects: list[Reject]) -> str | None:
        if get is None or not (raw := get(row).strip()):
            return None
        try:
            return convert(raw).isoformat()
        except FieldError as exc:
            if any(c.isdigit() for c in raw):
                rejects.append((label, str(exc)))
            else:
                hinted = _("{reason}; {hint}").format(reason=exc, hint=_(SENTINEL_HINT))
                rejects.append((label, hinted))
            return None

    return rule


# --- the record -----------------------------------------------------------------------


def _blank(row: list[str]) -> str:
    return ""


def _cached(convert: Callable[[str], Any], size: int = 1 << 14) -> Callable[[str], Any]:
    """``convert`` memoised per raw text (a value, or the FieldError it raised).

    For the fields whose values repeat in a ledger (names of contacts, dates, kinds);
    the memo stops growing at ``size`` (memory stays flat whatever the file).
    """
    memo: dict[str, Any] = {}
    get = memo.get

    def cached(raw: str) -> Any:
        value = get(raw)
        if value is None:
            try:
                value = convert(raw)
            except FieldError as exc:
                value = exc
            if len(memo) < size:
                memo[raw] = value
        if isinstance(value, FieldError):
            raise FieldError(str(value))
        return value

    return cached


def build_normaliser(
    m: Mapping, header: list[str], default_kind: str | None, today: dt.date
) -> Normaliser:
    """Compile the per-record function: raw strings -> (R or None, rejects, legacy no).

    The fields the file gives are read by index and normalised inline (the hot path
    of an import: one call per record, not one per field); a field without a column
    costs nothing.  The order of the checks, and so of a record's rejects, is the
    fixed order the module docstring gives.
    """
    width = len(header)
    g = m.getters
    gaiji = _gaiji_rule(m)
    control = _control_rule(m)
    has_control = CONTROL_EXCEPT_LINE_BREAKS.search
    kind_of = _kind_rule(m, default_kind)
    legacy_no = _legacy_rule(m)
    names = _names_rule(m)
    date_of_birth = _dob_rule(m, today)
    emergency_name = _cached(fields.emergency_name)
    representative_too_long = _representative_too_long(m)
    # columns most files lack: their rule runs only when the file has the column
    status = _status_rule(m) if g.get("status") is not None else None
    status_since = (
        _date_rule(m, "status_since", lambda raw: fields.status_since(raw, today))
        if g.get("status_since") is not None
        else None
    )
    status_reason = (
        _optional_rule(m, "status_reason", fields.status_reason)
        if g.get("status_reason") is not None
        else None
    )
    valid_from = (
        _date_rule(m, "card_valid_from", fields.card_valid_from)
        if g.get("card_valid_from") is not None
        else None
    )
    valid_until = (
        _date_rule(m, "card_valid_until", fields.card_valid_until)
        if g.get("card_valid_until") is not None
        else None
    )
    until_label = m.label("card_valid_until")
    validity_order = _(fields.CARD_VALIDITY_ORDER)
    get_kana, kana_label = g.get("kana", _blank), m.label("kana")
    get_postal, postal_label = g.get("postal_code", _blank), m.label("postal_code")
    get_address, address_label = g.get("address", _blank), m.label("address")
    get_phone, phone_label = g.get("phone", _blank), m.label("phone")
    get_em_name, em_name_label = g.get("emergency_name", _blank), m.label("emergency_name")
    get_em_phone, em_phone_label = g.get("emergency_phone", _blank), m.label("emergency_phone")
    reading, postal_code, address = fields.reading, fields.postal_code, fields.address
    phone, emergency_phone = fields.phone, fields.emergency_phone
    rep_max = fields.REPRESENTATIVE_MAX
    private_use = jpnorm.PRIVATE_USE.search
    empties = m.empty_values

    def normalise(row: list[str]) -> Normalised:
        if empties:
            row = [("" if v.strip() in empties else v) for v in row]
        if len(row) != width:
            if len(row) > width and not "".join(row[width:]).strip():
                del row[width:]  # trailing comma(s)
            else:
                n = len(row)
                while n > width and not row[n - 1].strip():
                    n -= 1
                # no registration number: the fields do not line up with the header,
                # so the one under its heading may be anything (a name, say)
                bad = _("record has {n} fields, the header has {width}").format(n=n, width=width)
                return None, [("", bad)], None
        rejects: list[Reject] = []
        # one scan of the whole record for each check; the fields only when it hits
        joined = "\n".join(row)
        if has_control(joined):
            control(row, rejects)
        if private_use(joined):
            gaiji(row, rejects)
        kind = kind_of(row, rejects)
        legacy = legacy_no(row, rejects)
        name, nkey, rep = names(row, kind, rejects)
        kana_value = kkey = None
        if raw := get_kana(row).strip():
            try:
                kana_value, kkey = reading(raw)
            except FieldError as exc:
                rejects.append((kana_label, str(exc)))
        dob = date_of_birth(row, rejects)
        postal = None
        if raw := get_postal(row).strip():
            try:
                postal = postal_code(raw)
            except FieldError as exc:
                rejects.append((postal_label, str(exc)))
        addr = None
        if raw := get_address(row).strip():
            try:
                addr = address(raw)
            except FieldError as exc:
                rejects.append((address_label, str(exc)))
        tel = digits = ext = None
        if raw := get_phone(row).strip():
            try:
                tel, digits, ext = phone(raw)
            except FieldError as exc:
                rejects.append((phone_label, str(exc)))
        em_name = None
        if raw := get_em_name(row).strip():
            try:
                em_name = emergency_name(raw)
            except FieldError as exc:
                rejects.append((em_name_label, str(exc)))
        em_tel = None
        if raw := get_em_phone(row).strip():
            try:
                em_tel = emergency_phone(raw)
            except FieldError as exc:
                rejects.append((em_phone_label, str(exc)))
        state = status(row, rejects) if status is not None else "active"
        since = status_since(row, rejects) if status_since is not None else None
        why = status_reason(row, rejects) if status_reason is not None else None
        card_from = valid_from(row, rejects) if valid_from is not None else None
        card_until = valid_until(row, rejects) if valid_until is not None else None
        if card_from and card_until and card_until < card_from:  # ISO text: date order
            rejects.append((until_label, validity_order))
        if len(rep) > rep_max:
            representative_too_long(row, rejects)
        if rejects:
            if state == "deleted":
                return None, [], legacy or None  # not imported whatever its problems
            return None, rejects, legacy or None
        return (
            kind, legacy or None, name, nkey, kana_value, kkey, dob, postal, addr, tel, digits,
            ext, em_name, em_tel, rep or None, card_from, card_until, state, since, why,
        ), rejects, None  # fmt: skip

    get_legacy = m.getters.get("legacy_no")

    def legacy_of(row: list[str]) -> str | None:
        if empties:
            row = [("" if v.strip() in empties else v) for v in row]
        if len(row) > width and any(v.strip() for v in row[width:]):
            return None  # the fields do not line up: the value may be a name
        try:
            value = get_legacy(row).strip() if get_legacy is not None else ""
        except IndexError:
            return None
        return value if value and not has_undecodable(value) else None

    return Normaliser(normalise, legacy_of, _present(m, default_kind))


def _present(m: Mapping, default_kind: str | None) -> tuple[int, ...]:
    """The indices of R that the file gives (a field and the keys derived from it)."""
    g = m.getters
    kind, name, group = g.get("kind"), g.get("name"), g.get("group_name")
    has = {
        0: kind is not None or default_kind is not None,
        1: True,
        2: name is not None or group is not None,
        4: g.get("kana") is not None,
        6: g.get("date_of_birth") is not None or m.era_getter is not None,
        7: g.get("postal_code") is not None,
        8: g.get("address") is not None,
        9: g.get("phone") is not None,
        12: g.get("emergency_name") is not None,
        13: g.get("emergency_phone") is not None,
        14: g.get("representative_name") is not None or (group is not None and name is not None),
        15: g.get("card_valid_from") is not None,
        16: g.get("card_valid_until") is not None,
        17: g.get("status") is not None,
        18: g.get("status_since") is not None,
        19: g.get("status_reason") is not None,
    }
    with_keys = {2: (3,), 4: (5,), 9: (10, 11)}  # a field and what is derived from it
    return tuple(sorted(
        j for i, given in has.items() if given for j in (i, *with_keys.get(i, ()))
    ))  # fmt: skip


# --- rejects ----------------------------------------------------------------------------


def merge_rejects(rejects: list[Reject]) -> list[Reject]:
    """One reject per column label (the rejects table has one row per record and column).

    Two reasons can share a label: two headings of one name, one column mapped to
    two fields, or two checks of one field.  Labels and reasons are cut to the
    table's widths (a heading can be any length).
    """
    merged: dict[str, str] = {}
    for col, reason in rejects:
        col = col[:100]
        merged[col] = f"{merged[col]}; {reason}" if col in merged else reason
    return [(col, reason if len(reason) <= 300 else reason[:299] + "…")
            for col, reason in merged.items()]  # fmt: skip


def fit_legacy(value: str | None) -> str | None:
    """A registration number as the rejects table can hold it (64 characters)."""
    if value is None or len(value) <= 64:
        return value
    return value[:63] + "…"


def undecodable_rejects(row: list[str], header: list[str], encoding: str | None) -> list[Reject]:
    """A reject for each field with bytes the file's encoding could not decode."""
    out = []
    for i, v in enumerate(row):
        if has_undecodable(v):
            col = header[i] if i < len(header) else _("column {n}").format(n=i + 1)
            out.append((col, undecodable_reason(v, encoding)))
    return out


def row_is_clean(row: list[str]) -> bool:
    """Whether every field of the row was decoded (has no surrogate escape)."""
    # surrogate escapes only appear for undecodable bytes; the common case is ASCII
    # or text whose UTF-8 re-encoding succeeds (surrogates cannot be encoded)
    for v in row:
        if not v.isascii():
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                return False
    return True
