"""Roster import (利用者名簿): grant, update and disable a designated manager's staff.

``read_roster`` reads an xlsx or CSV (cp932 or UTF-8, with or without BOM) with
the columns 氏名, フリガナ, 所属施設 (facility code or name), 雇用形態 (正規 /
非正規) and 役割 (operator / 職員, monitor / 閲覧, admin), plus an optional
職員番号 (staff number).  ``plan_roster`` compares it with the organisation's
roster entries and ``apply_roster`` carries the plan out in the caller's one
transaction.  Re-importing the same roster changes nothing; a person missing
from the roster has their account disabled (never deleted).

Login IDs of roster accounts are ``<org-code>-NNNN``: a per-organisation
sequence, one more than the highest number ever issued for that organisation.
Accounts are never deleted, so a number is never issued twice, and the unique
constraint on ``accounts.login_id`` refuses a collision with a concurrent import.

Row numbers in messages are spreadsheet rows: the header is row 1.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from resv_cli.accounts.lifecycle import IssuedCredential, disable_account, grant_account
from resv_cli.accounts.workplaces import set_workplaces
from resv_cli.audit import chain as audit
from resv_cli.core import clock
from resv_cli.core.context import Actor, require_role
from resv_cli.core.errors import InputError
from resv_cli.core.models import Account, Facility, ImportBatch, RosterEntry
from resv_cli.core.normalize import control_problem, kana_key, length_problem, max_len, name_key

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

COLUMNS = {
    "name": ("氏名", "name"),
    "kana": ("フリガナ", "ふりがな", "kana"),
    "facility": ("所属施設", "facility"),
    "employment": ("雇用形態", "employment_type"),
    "role": ("役割", "role"),
    "staff_no": ("職員番号", "staff_no"),
}
REQUIRED = ("name", "kana", "facility", "employment", "role")
# the longest cell of each column as stored (the input rule): the roster entry's
# columns; a facility is named by code or name; the staff number keys the person
PERSON_KEY_MAX = max_len(RosterEntry.person_key)
MAX_LEN = {
    "name": max_len(RosterEntry.full_name),
    "kana": max_len(RosterEntry.kana),
    "facility": max_len(Facility.name),
    "employment": max_len(RosterEntry.employment_type),
    "role": max_len(RosterEntry.role),
    "staff_no": PERSON_KEY_MAX - len("no:"),
}
EMPLOYMENT = {
    "正規": "regular",
    "正社員": "regular",
    "regular": "regular",
    "非正規": "non_regular",
    "契約": "non_regular",
    "パート": "non_regular",
    "non_regular": "non_regular",
    "non-regular": "non_regular",
}
ROLE_ALIASES = {
    "operator": "operator",
    "職員": "operator",
    "窓口": "operator",
    "monitor": "monitor",
    "閲覧": "monitor",
    "admin": "admin",
    "管理者": "admin",
}


class RowProblems(InputError):
    """Several bad rows: the message is the first; ``problems`` lists them all."""

    def __init__(self, problems: list[str], what: str = "changed") -> None:
        first = problems[0]
        if len(problems) > 1:
            first += f" (and {len(problems) - 1} more problems; nothing was {what})"
        super().__init__(first)
        self.problems = problems


@dataclass
class RosterRow:
    """One person on the roster as read from the file (names as given, NFKC-trimmed)."""

    file: str
    row: int
    full_name: str
    kana: str
    facility: str
    employment_type: str
    role: str
    staff_no: str | None = None
    file_sha256: str = field(default="", repr=False)

    @property
    def person_key(self) -> str:
        if self.staff_no:
            return f"no:{self.staff_no}"
        return f"nk:{name_key(self.full_name)}|{kana_key(self.kana)}"


@dataclass
class PlanItem:
    row: int | None
    login_id: str | None
    full_name: str
    kana: str | None
    facility_code: str | None
    employment_type: str
    role: str
    person_key: str
    facility_id: int | None = None
    entry_id: int | None = None
    account_id: int | None = None
    changes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("facility_id", "entry_id", "account_id", "person_key", "kana"):
            d.pop(k)
        d["name"] = d.pop("full_name")
        d["facility"] = d.pop("facility_code")
        return d


@dataclass
class RosterPlan:
    organization_code: str
    organization_id: int
    file: str
    file_sha256: str
    valid_from: dt.date | None
    to_create: list[PlanItem] = field(default_factory=list)
    to_update: list[PlanItem] = field(default_factory=list)
    to_enable: list[PlanItem] = field(default_factory=list)
    to_disable: list[PlanItem] = field(default_factory=list)
    unchanged: list[PlanItem] = field(default_factory=list)

    @property
    def changes_anything(self) -> bool:
        return bool(self.to_create or self.to_update or self.to_enable or self.to_disable)

    def as_dict(self) -> dict[str, Any]:
        return {
            "organization": self.organization_code,
            "file": self.file,
            "valid_from": self.valid_from.isoformat() if self.valid_from else None,
            "to_create": [i.as_dict() for i in self.to_create],
            "to_update": [i.as_dict() for i in self.to_update],
            "to_enable": [i.as_dict() for i in self.to_enable],
            "to_disable": [i.as_dict() for i in self.to_disable],
            "unchanged": [i.as_dict() for i in self.unchanged],
        }

    def summary(self) -> dict[str, int]:
        return {
            "to_create": len(self.to_create),
            "to_update": len(self.to_update),
            "to_enable": len(self.to_enable),
            "to_disable": len(self.to_disable),
            "unchanged": len(self.unchanged),
        }


def _clean(value: str) -> str:
    import unicodedata

    return " ".join(unicodedata.normalize("NFKC", value).replace("\u3000", " ").split())


def read_roster(path: Path) -> list[RosterRow]:
    """Read and check every row; raise one ``InputError`` listing each bad row and column."""
    from resv_cli.importing.reader import has_undecodable, open_source, undecodable_reason

    path = Path(path)
    src = open_source(path)
    fname = path.name
    try:
        index: dict[str, int] = {}
        header_cells = [_clean(h).lower() for h in src.header]
        for key, names in COLUMNS.items():
            for i, h in enumerate(header_cells):
                if h in [n.lower() for n in names]:
                    index[key] = i
                    break
        missing = [COLUMNS[k][0] for k in REQUIRED if k not in index]
        if missing:
            raise InputError(
                f"{fname}: row 1: missing column(s) {', '.join(missing)} "
                f"(found: {', '.join(src.header)})"
            )
        rows: list[RosterRow] = []
        problems: list[str] = []
        for n, raw in enumerate(src, start=2):

            def cell(key: str, raw: list[str] = raw) -> str:
                i = index.get(key)
                return raw[i] if i is not None and i < len(raw) else ""

            bad = [k for k in index if has_undecodable(cell(k))]
            if bad:
                reason = undecodable_reason(cell(bad[0]), src.encoding)
                if not reason.startswith("cell holds"):  # an xlsx error cell, or bytes:
                    reason = f"bytes that are not valid {src.encoding}"
                problems.append(f"{fname}: row {n}, column {COLUMNS[bad[0]][0]}: {reason}")
                continue
            # the input rule: no control character (a wrapped cell's line break is
            # folded by _clean), no cell longer than its column; never the value
            row_problems = []
            for k in index:
                if (why := control_problem(cell(k), line_breaks=True)) is not None:
                    row_problems.append(f"{fname}: row {n}, column {COLUMNS[k][0]}: {why}")
            if row_problems:
                problems.extend(row_problems)
                continue
            values = {k: _clean(cell(k)) for k in COLUMNS}
            for k in index:
                if (why := length_problem(values[k], MAX_LEN[k])) is not None:
                    row_problems.append(f"{fname}: row {n}, column {COLUMNS[k][0]}: {why}")
            for key in REQUIRED:
                if not values[key]:
                    row_problems.append(f"{fname}: row {n}, column {COLUMNS[key][0]}: empty")
            emp = EMPLOYMENT.get(values["employment"].lower())
            if values["employment"] and emp is None:
                row_problems.append(
                    f"{fname}: row {n}, column 雇用形態: must be 正規 (正社員) or 非正規 "
                    f"(契約, パート) (got {values['employment']!r})"
                )
            role = ROLE_ALIASES.get(values["role"].lower())
            if values["role"] and role is None:
                row_problems.append(
                    f"{fname}: row {n}, column 役割: must be operator (職員), monitor (閲覧) "
                    f"or admin (got {values['role']!r})"
                )
            if row_problems:
                problems.extend(row_problems)
                continue
            assert emp is not None and role is not None
            row = RosterRow(
                file=fname,
                row=n,
                full_name=values["name"],
                kana=values["kana"],
                facility=values["facility"],
                employment_type=emp,
                role=role,
                staff_no=values["staff_no"] or None,
            )
            if len(row.person_key) > PERSON_KEY_MAX:
                problems.append(
                    f"{fname}: row {n}, column 氏名+フリガナ: together longer than "
                    f"{PERSON_KEY_MAX - len('nk:|')} characters; give a 職員番号 instead"
                )
                continue
            rows.append(row)
    finally:
        src.close()
    seen: dict[str, int] = {}
    for r in rows:
        if r.person_key in seen:
            col = "職員番号" if r.staff_no else "氏名"
            problems.append(
                f"{fname}: row {r.row}, column {col}: the same person as row {seen[r.person_key]}"
            )
        else:
            seen[r.person_key] = r.row
    if problems:
        raise RowProblems(problems)
    if not rows:
        raise InputError(f"{fname}: the roster has no rows")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    for r in rows:
        r.file_sha256 = digest
    return rows


def _facility_lookup(session: Session) -> tuple[dict[str, Facility], dict[str, list[Facility]]]:
    by_code: dict[str, Facility] = {}
    by_name: dict[str, list[Facility]] = {}
    for fac in session.execute(select(Facility).where(Facility.retired_on.is_(None))).scalars():
        by_code[fac.code.lower()] = fac
        by_name.setdefault(name_key(fac.name), []).append(fac)
    return by_code, by_name


def next_login_numbers(session: Session, org_code: str) -> int:
    """The next free number of the ``<org-code>-NNNN`` sequence."""
    pattern = re.compile(rf"^{re.escape(org_code)}-(\d+)$")
    highest = 0
    prefix = f"{org_code}-"
    for (login,) in session.execute(
        select(Account.login_id).where(
            Account.login_id.like(prefix.replace("_", r"\_") + "%", escape="\\")
        )
    ):
        m = pattern.match(login)
        if m:
            highest = max(highest, int(m.group(1)))
    return highest + 1


def plan_roster(
    session: Session,
    org_code: str,
    rows: list[RosterRow],
    *,
    valid_from: dt.date | None = None,
) -> RosterPlan:
    """Compare the roster with the organisation's entries; change nothing."""
    from resv_cli.core.lookup import organization_by_code

    org = organization_by_code(session, org_code)
    by_code, by_name = _facility_lookup(session)
    fname = rows[0].file if rows else ""
    sha = rows[0].file_sha256 if rows else ""
    plan = RosterPlan(org.code, org.id, fname, sha, valid_from)
    problems = []
    resolved: list[tuple[RosterRow, Facility]] = []
    for r in rows:
        fac = by_code.get(r.facility.lower())
        if fac is None:
            named = by_name.get(name_key(r.facility), [])
            if len(named) > 1:
                problems.append(
                    f"{r.file}: row {r.row}, column 所属施設: {r.facility!r} names "
                    f"{len(named)} facilities; give the code ({', '.join(f.code for f in named)})"
                )
                continue
            fac = named[0] if named else None
        if fac is None:
            problems.append(
                f"{r.file}: row {r.row}, column 所属施設: no facility with code or name "
                f"{r.facility!r}"
            )
            continue
        if r.role in ("admin", "monitor") and org.kind != "city":
            problems.append(
                f"{r.file}: row {r.row}, column 役割: {r.role} is for the city's own staff"
            )
            continue
        resolved.append((r, fac))
    if problems:
        raise RowProblems(problems)

    entries = {
        e.person_key: e
        for e in session.execute(
            select(RosterEntry).where(RosterEntry.organization_id == org.id)
        ).scalars()
    }
    accounts = {
        a.roster_entry_id: a
        for a in session.execute(
            select(Account).where(
                Account.organization_id == org.id, Account.roster_entry_id.is_not(None)
            )
        ).scalars()
    }
    fac_codes = {f.id: f.code for f in by_code.values()}
    next_no = next_login_numbers(session, org.code)
    seen: set[str] = set()
    for r, fac in resolved:
        key = r.person_key
        seen.add(key)
        item = PlanItem(
            row=r.row,
            login_id=None,
            full_name=r.full_name,
            kana=r.kana,
            facility_code=fac.code,
            employment_type=r.employment_type,
            role=r.role,
            person_key=key,
            facility_id=fac.id,
        )
        entry = entries.get(key)
        acc = accounts.get(entry.id) if entry else None
        if entry is None or acc is None:
            item.login_id = f"{org.code}-{next_no:04d}"
            item.entry_id = entry.id if entry else None
            next_no += 1
            plan.to_create.append(item)
            continue
        item.entry_id, item.account_id, item.login_id = entry.id, acc.id, acc.login_id
        if entry.facility_id != fac.id:
            item.changes.append(f"facility {fac_codes.get(entry.facility_id or -1)}->{fac.code}")
        if entry.role != r.role:
            item.changes.append(f"role {entry.role}->{r.role}")
        if entry.employment_type != r.employment_type:
            item.changes.append(f"employment {entry.employment_type}->{r.employment_type}")
        if entry.full_name != r.full_name or (entry.kana or "") != r.kana:
            item.changes.append("name")
        if entry.status == "left":
            if acc.status == "disabled" and acc.status_reason == "left roster":
                plan.to_enable.append(item)
            else:
                item.changes.append(f"account {acc.status}: not re-enabled")
                plan.unchanged.append(item)
        elif item.changes:
            plan.to_update.append(item)
        else:
            plan.unchanged.append(item)
    for key, entry in sorted(entries.items(), key=lambda kv: kv[1].id):
        if key in seen or entry.status != "active":
            continue
        acc = accounts.get(entry.id)
        plan.to_disable.append(
            PlanItem(
                row=None,
                login_id=acc.login_id if acc else None,
                full_name=entry.full_name,
                kana=entry.kana,
                facility_code=fac_codes.get(entry.facility_id or -1),
                employment_type=entry.employment_type,
                role=entry.role,
                person_key=key,
                entry_id=entry.id,
                account_id=acc.id if acc else None,
            )
        )
    return plan


def plan_roster_file(
    session: Session,
    actor: Actor | None,
    path: Path,
    org_code: str,
    *,
    valid_from: dt.date | None = None,
) -> RosterPlan:
    """Read a roster file and plan it against the organisation (admin); change nothing."""
    require_role(actor, "admin", action="account.import_roster")
    return plan_roster(session, org_code, read_roster(path), valid_from=valid_from)


def apply_roster(session: Session, actor: Actor | None, plan: RosterPlan) -> list[IssuedCredential]:
    """Carry out ``plan`` in the caller's transaction; return the one-time passwords issued.

    Applying a plan that changes nothing writes nothing (no batch, no audit event).
    """
    from resv_cli.accounts.lifecycle import _issue

    actor = require_role(actor, "admin", action="account.import_roster")
    if not plan.changes_anything:
        return []
    now = clock.now()
    batch = ImportBatch(
        kind="roster",
        file_name=plan.file[:300],
        file_sha256=plan.file_sha256 or "0" * 64,
        organization_id=plan.organization_id,
        account_id=actor.account_id,
        status="completed",
        records_read=len(plan.to_create)
        + len(plan.to_update)
        + len(plan.to_enable)
        + len(plan.unchanged),
        imported=len(plan.to_create),
        updated=len(plan.to_update) + len(plan.to_enable),
        unchanged=len(plan.unchanged),
        started_at=now,
        finished_at=now,
    )
    session.add(batch)
    session.flush()
    issued: list[IssuedCredential] = []
    for item in plan.to_create:
        entry = session.get(RosterEntry, item.entry_id) if item.entry_id else None
        if entry is None:
            entry = RosterEntry(
                organization_id=plan.organization_id, person_key=item.person_key, created_at=now
            )
            session.add(entry)
        _fill_entry(entry, item, batch.id, now)
        session.flush()
        issued.append(
            grant_account(
                session,
                actor,
                item.login_id or "",
                name=item.full_name,
                org_code=plan.organization_code,
                role=item.role,
                facility_code=item.facility_code,
                valid_from=plan.valid_from,
                roster_entry_id=entry.id,
            )
        )
    for item in plan.to_update + plan.to_enable:
        entry = session.get(RosterEntry, item.entry_id)
        acc = session.get(Account, item.account_id)
        assert entry is not None and acc is not None
        _fill_entry(entry, item, batch.id, now)
        acc.display_name = item.full_name
        acc.role = item.role
        set_workplaces(session, acc, [item.facility_id] if item.facility_id else [])
        acc.updated_at = now
        detail: dict[str, Any] = {"account_id": acc.id, "roster_entry": entry.id, "batch": batch.id}
        if item in plan.to_enable:
            acc.status = "active"
            acc.status_reason = None
            issued.append(_issue(acc, now))
            action = "account.enable"
        else:
            detail["changed"] = [c.split(" ")[0] for c in item.changes]
            action = "account.update"
        audit.record(
            session,
            actor,
            action,
            resource_type="account",
            resource_id=acc.login_id,
            facility_code=item.facility_code,
            detail=detail,
        )
    for item in plan.to_disable:
        entry = session.get(RosterEntry, item.entry_id)
        assert entry is not None
        entry.status = "left"
        entry.import_batch_id = batch.id
        entry.updated_at = now
        acc = session.get(Account, item.account_id) if item.account_id else None
        if acc is not None and acc.status == "active":
            disable_account(session, actor, acc, now, "left roster", "left_roster", batch=batch.id)
    audit.record(
        session,
        actor,
        "account.import_roster",
        resource_type="import_batch",
        resource_id=batch.id,
        detail={
            "organization": plan.organization_code,
            "file_sha256": plan.file_sha256,
            **plan.summary(),
        },
    )
    return issued


def _fill_entry(entry: RosterEntry, item: PlanItem, batch_id: int, now: dt.datetime) -> None:
    entry.full_name = item.full_name
    entry.kana = item.kana
    entry.facility_id = item.facility_id
    entry.employment_type = item.employment_type
    entry.role = item.role
    entry.status = "active"
    entry.import_batch_id = batch_id
    entry.updated_at = now
