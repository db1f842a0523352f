"""Roster import (利用者名簿): grant, update and disable a designated manager's staff.

``read_roster`` (``roster_file.py``) reads an xlsx or CSV (cp932 or UTF-8, with or without BOM) as
managers send it: a title block and submission date may stand above the header
row (found by its column names), blank rows are skipped and a closing 以上 or
合計 row ends the table.  The columns: 氏名, フリガナ, 所属施設 (facility code or
name, half-width kana and spacing variants alike; several separated by 、 , ・ /
or ／, the first being the primary place of work), 雇用形態 (正規 / 非正規 and
the usual words: パート, アルバイト, 嘱託, 派遣 ...) and 役割 (operator / 職員,
monitor / 閲覧, admin), plus an optional 職員番号 (staff number).

``plan_roster`` compares it with the organisation's roster entries: every place
of work must be a facility the organisation manages on the validity start; a
person whose account city IT revoked is "revoked: not re-granted" unless named
with ``re_grant``.  ``apply_roster`` carries the plan out in the caller's one
transaction.  Re-importing the same roster changes nothing; a person missing
from the roster has their account disabled (never deleted).

Login IDs of roster accounts are ``<org-code>-NNNN``: a per-organisation
sequence, one more than the highest number ever issued for that organisation.
Accounts are never deleted, so a number is never issued twice, and the unique
constraint on ``accounts.login_id`` refuses a collision with a concurrent import.

Row numbers in messages are the spreadsheet's rows (a CSV record is a row).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from resv_cli.accounts.lifecycle import IssuedCredential, disable_account, grant_account
from resv_cli.accounts.roster_file import (
    FACILITY_DOT,
    FACILITY_SEPARATORS,
    RosterRow,
    RowProblems,
    read_roster,
)
from resv_cli.accounts.workplaces import set_workplaces
from resv_cli.audit import chain as audit
from resv_cli.core import clock
from resv_cli.core.context import Actor, require_role
from resv_cli.core.errors import InputError
from resv_cli.core.i18n import _
from resv_cli.core.models import Account, Facility, ImportBatch, Organization, RosterEntry
from resv_cli.core.normalize import name_key

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


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
    changes: list[str] = field(default_factory=list)  # as people read them
    changed: list[str] = field(default_factory=list)  # what changed (codes: the audit detail)
    # every place of work, the first (facility_id / facility_code) first
    facility_ids: list[int] = field(default_factory=list)
    facility_codes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in (
            "facility_id",
            "entry_id",
            "account_id",
            "person_key",
            "kana",
            "facility_ids",
            "changed",
        ):
            d.pop(k)
        d["name"] = d.pop("full_name")
        d["facility"] = d.pop("facility_code")
        d["facilities"] = d.pop("facility_codes")
        return d


# plan categories in the order they are shown; "revoked" is a person on the roster
# whose account city IT revoked: not re-granted unless asked (--re-grant)
CATEGORIES = ("to_create", "to_update", "to_enable", "to_disable", "revoked", "unchanged")
LABELS = {
    "to_create": "create",
    "to_update": "update",
    "to_enable": "enable",
    "to_disable": "disable",
    "revoked": "revoked: not re-granted",
    "unchanged": "unchanged",
}


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
    revoked: list[PlanItem] = field(default_factory=list)
    unchanged: list[PlanItem] = field(default_factory=list)
    # 所属施設 the organisation does not manage on the validity start: refused by
    # import-roster at once; a handover plans its roster before its own periods
    # exist, so apply_roster checks again once they do
    unmanaged: list[str] = field(default_factory=list)
    # the day the places of work are checked on (valid_from, else the plan's day)
    check_day: dt.date | None = None

    @property
    def changes_anything(self) -> bool:
        return bool(self.to_create or self.to_update or self.to_enable or self.to_disable)

    def as_dict(self) -> dict[str, Any]:
        return {
            "organization": self.organization_code,
            "file": self.file,
            "valid_from": self.valid_from.isoformat() if self.valid_from else None,
            **{k: [i.as_dict() for i in getattr(self, k)] for k in CATEGORIES},
            "unmanaged": list(self.unmanaged),
        }

    def summary(self) -> dict[str, int]:
        return {k: len(getattr(self, k)) for k in CATEGORIES}


def _change(item: PlanItem, code: str, text: str, before: str = "", after: str = "") -> None:
    """Note one change of a planned account: its code (audited), and as people read it."""
    item.changed.append(code)
    item.changes.append(text.format(before=before, after=after))


def _facility_lookup(session: Session) -> tuple[dict[str, Facility], dict[str, list[Facility]]]:
    by_code: dict[str, Facility] = {}
    by_name: dict[str, list[Facility]] = {}
    for fac in session.execute(select(Facility).where(Facility.retired_on.is_(None))).scalars():
        by_code[fac.code.lower()] = fac
        by_name.setdefault(name_key(fac.name), []).append(fac)
    return by_code, by_name


def _name_facility(
    text: str, by_code: dict[str, Facility], by_name: dict[str, list[Facility]]
) -> list[Facility] | str:
    """The facility ``text`` names (code, or name after NFKC without spaces), or why not."""
    fac = by_code.get(text.lower())
    if fac is not None:
        return [fac]
    named = by_name.get(name_key(text), [])
    if len(named) > 1:
        return _("{text!r} names {n} facilities; give the code ({codes})").format(
            text=text, n=len(named), codes=", ".join(f.code for f in named)
        )
    if named:
        return named
    return _("no facility with code or name {text!r}").format(text=text)


def resolve_facilities(
    text: str, by_code: dict[str, Facility], by_name: dict[str, list[Facility]]
) -> list[Facility] | str:
    """Every facility a 所属施設 cell names, the first first; or the reason it names none.

    Several are separated by 、 , / or ／ (and ・ where the whole does not name
    one facility: a facility's name may hold a ・).
    """
    whole = _name_facility(text, by_code, by_name)
    if not isinstance(whole, str):
        return whole
    parts = [p.strip() for p in FACILITY_SEPARATORS.split(text) if p.strip()]
    if len(parts) <= 1 and not FACILITY_DOT.search(text):
        return whole
    out: list[Facility] = []
    for part in parts:
        found = _name_facility(part, by_code, by_name)
        if isinstance(found, str) and FACILITY_DOT.search(part):
            found = []
            for piece in (q.strip() for q in FACILITY_DOT.split(part)):
                if not piece:
                    continue
                each = _name_facility(piece, by_code, by_name)
                if isinstance(each, str):
                    return each
                found.extend(each)
        if isinstance(found, str):
            return found
        out.extend(f for f in found if f not in out)
    return out or whole


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


def unmanaged_places(
    session: Session,
    org_id: int,
    org_code: str,
    day: dt.date,
    items: Sequence[PlanItem],
    fname: str,
) -> list[str]:
    """A problem for each place of work of ``items`` the organisation does not manage on ``day``."""
    from resv_cli.core.management import facilities_managed_by, managing_organization

    managed = set(facilities_managed_by(session, org_id, day))
    problems = []
    for item in items:
        for fid, code in zip(item.facility_ids, item.facility_codes, strict=True):
            if fid in managed:
                continue
            other = managing_organization(session, fid, day)
            by = session.get(Organization, other).code if other is not None else None
            where = (
                _("row {row}, column 所属施設").format(row=item.row)
                if item.row
                else f"{item.login_id}"
            )
            problem = (
                _("{file}: {where}: {code} is not a facility {org} manages on {day} ({by} does)")
                if by
                else _(
                    "{file}: {where}: {code} is not a facility {org} manages on {day} (nobody does)"
                )
            )
            problems.append(
                problem.format(file=fname, where=where, code=code, org=org_code, day=day, by=by)
            )
    return problems


def plan_roster(
    session: Session,
    org_code: str,
    rows: list[RosterRow],
    *,
    valid_from: dt.date | None = None,
    re_grant: Sequence[str] = (),
) -> RosterPlan:
    """Compare the roster with the organisation's entries; change nothing.

    Refuses a roster that would create accounts already expired (the designation
    has ended: record the renewal first).  Places of work the organisation does not
    manage on ``valid_from`` (else today) are listed in ``plan.unmanaged``:
    ``plan_roster_file`` refuses them, ``apply_roster`` checks again.  A person
    whose account was revoked is in ``plan.revoked`` unless their login ID is in
    ``re_grant`` (then re-enabled with a new one-time password).
    """
    from resv_cli.accounts.orgs import check_validity
    from resv_cli.accounts.workplaces import workplace_ids
    from resv_cli.core.lookup import organization_by_code

    org = organization_by_code(session, org_code)
    by_code, by_name = _facility_lookup(session)
    fname = rows[0].file if rows else ""
    sha = rows[0].file_sha256 if rows else ""
    plan = RosterPlan(org.code, org.id, fname, sha, valid_from)
    plan.check_day = valid_from or clock.today()
    problems = []
    resolved: list[tuple[RosterRow, list[Facility]]] = []
    for r in rows:
        facs = resolve_facilities(r.facility, by_code, by_name)
        if isinstance(facs, str):
            problems.append(
                _("{file}: row {row}, column 所属施設: {problem}").format(
                    file=r.file, row=r.row, problem=facs
                )
            )
            continue
        if r.role in ("admin", "monitor") and org.kind != "city":
            problems.append(
                _("{file}: row {row}, column 役割: {role} is for the city's own staff").format(
                    file=r.file, row=r.row, role=r.role
                )
            )
            continue
        resolved.append((r, facs))
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
    wanted_back = {login.strip() for login in re_grant}
    seen: set[str] = set()
    for r, facs in resolved:
        key = r.person_key
        seen.add(key)
        item = PlanItem(
            row=r.row,
            login_id=None,
            full_name=r.full_name,
            kana=r.kana,
            facility_code=facs[0].code,
            employment_type=r.employment_type,
            role=r.role,
            person_key=key,
            facility_id=facs[0].id,
            facility_ids=[f.id for f in facs],
            facility_codes=[f.code for f in facs],
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
        had = workplace_ids(session, acc.id)
        if had != item.facility_ids:
            before = ",".join(fac_codes.get(i, "?") for i in had) or _("none")
            after = ",".join(item.facility_codes)
            _change(item, "facility", _("facility {before}->{after}"), before, after)
        if entry.role != r.role:
            _change(item, "role", _("role {before}->{after}"), entry.role, r.role)
        if entry.employment_type != r.employment_type:
            was, now_ = entry.employment_type, r.employment_type
            _change(item, "employment", _("employment {before}->{after}"), was, now_)
        if entry.full_name != r.full_name or (entry.kana or "") != r.kana:
            _change(item, "name", _("name"))
        if acc.status == "revoked":
            if acc.login_id in wanted_back:
                wanted_back.discard(acc.login_id)
                item.changes.append(_("re-granted (was revoked)"))
                plan.to_enable.append(item)
            else:
                item.changes.append(
                    _("account revoked: re-grant with --re-grant {login} if intended").format(
                        login=acc.login_id
                    )
                )
                plan.revoked.append(item)
        elif entry.status == "left":
            if acc.status == "disabled" and acc.status_reason == "left roster":
                plan.to_enable.append(item)
            else:
                item.changes.append(
                    (
                        _("account revoked: not re-enabled")
                        if acc.status == "revoked"
                        else _("account disabled: not re-enabled")
                        if acc.status == "disabled"
                        else _("account {status}: not re-enabled")
                    ).format(status=acc.status)
                )
                plan.unchanged.append(item)
        elif item.changes:
            plan.to_update.append(item)
        else:
            plan.unchanged.append(item)
    if wanted_back:
        raise InputError(
            _("--re-grant {logins}: not a revoked person on this roster").format(
                logins=", ".join(sorted(wanted_back))
            )
        )
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
    if plan.to_create:
        # the new accounts' validity: refused when the designation has already ended
        check_validity(org, valid_from, None)
    plan.unmanaged = unmanaged_places(
        session,
        org.id,
        org.code,
        plan.check_day,
        plan.to_create + plan.to_update + plan.to_enable,
        fname,
    )
    return plan


def plan_roster_file(
    session: Session,
    actor: Actor | None,
    path: Path,
    org_code: str,
    *,
    valid_from: dt.date | None = None,
    re_grant: Sequence[str] = (),
) -> RosterPlan:
    """Read a roster file and plan it against the organisation (admin); change nothing.

    Refuses a 所属施設 the organisation does not manage on ``valid_from`` (else
    today), naming file, row and column.
    """
    require_role(actor, "admin", action="account.import_roster")
    plan = plan_roster(
        session, org_code, read_roster(path), valid_from=valid_from, re_grant=re_grant
    )
    if plan.unmanaged:
        raise RowProblems(plan.unmanaged)
    return plan


def apply_roster(session: Session, actor: Actor | None, plan: RosterPlan) -> list[IssuedCredential]:
    """Carry out ``plan`` in the caller's transaction; return the one-time passwords issued.

    Applying a plan that changes nothing writes nothing (no batch, no audit event).
    """
    from resv_cli.accounts.lifecycle import _issue

    actor = require_role(actor, "admin", action="account.import_roster")
    if not plan.changes_anything:
        return []
    # the places of work again, now: a handover opens its periods before its roster
    unmanaged = unmanaged_places(
        session,
        plan.organization_id,
        plan.organization_code,
        plan.check_day or plan.valid_from or clock.today(),
        plan.to_create + plan.to_update + plan.to_enable,
        plan.file,
    )
    if unmanaged:
        raise RowProblems(unmanaged)
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
        + len(plan.revoked)
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
                facility_code=item.facility_codes or item.facility_code,
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
        set_workplaces(session, acc, item.facility_ids)
        acc.updated_at = now
        detail: dict[str, Any] = {"account_id": acc.id, "roster_entry": entry.id, "batch": batch.id}
        if item in plan.to_enable:
            if acc.status == "revoked":
                detail["reason"] = "re_grant"  # --re-grant: city IT asked for it by name
            acc.status = "active"
            acc.status_reason = None
            issued.append(_issue(acc, now))
            action = "account.enable"
        else:
            detail["changed"] = list(item.changed)
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
