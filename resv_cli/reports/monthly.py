"""The monthly monitoring report (月次モニタリング報告): an auditor's xlsx pack.

``write_monthly_report`` reads the month's data straight from the tables and writes a
workbook with openpyxl in write-only mode (constant memory; the audit history is
streamed with a server-side cursor on PostgreSQL).  Sheets, in order:

1. cover: period, organisation, facilities, who generated it and when, the audit
   chain head and the result of verifying it, counts per kind of event, flags raised,
   and a chart of daily activity;
2. accounts of the organisation;
3. activity: every event of the month in scope (split over sheets past the row
   limit);
4. refused attempts; 5. duplicate-check searches; 6. imports and exports;
7. flags, each with blank columns for the reviewer.

Scope: with ``--org`` the events of that organisation's accounts plus every event at
a facility it managed during the month (child rooms included); with ``--facility``
the events at those facilities plus the facility-less events (logins) of the
accounts working there; with neither, everything.

Times are shown in Japan time (the city's clock); the month is a JST calendar month.
No registrant's address, phone, emergency contact or date of birth is ever read: a
registrant appears as internal ID plus a masked name (first character + ○○).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, false, func, or_, select, type_coerce
from sqlalchemy.types import Text

from resv_cli.audit import chain as audit
from resv_cli.core import clock, settings
from resv_cli.core.context import require_role
from resv_cli.core.errors import InputError, NotFound, PermissionDenied
from resv_cli.core.models import (
    Account,
    AuditEvent,
    Facility,
    ImportBatch,
    ManagementPeriod,
    Organization,
    Registrant,
    RosterEntry,
    TrainingRecord,
)
from resv_cli.reports.chain import ChainStatus, chain_status
from resv_cli.reports.labels import LANGS, Labels
from resv_cli.reports.xlsx import EXCEL_MAX_ROWS, CellSanitiser, Column, TableSheet

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from resv_cli.core.context import Actor

JST = clock.JST
ACTION = "report.export"
LOCK_ACTIONS = ("account.lock", "account.locked")
LOGIN_ACTIONS = ("auth.login", "login", "login.failed")
SESSION_ACTION = "auth.session"  # a revoked, disabled or expired person's old session
VIEW_ACTION = "registrant.view"
SEARCH_ACTION = "registrant.search"
DUPLICATE_ACTION = "registrant.check_duplicate"
PERSONAL_PREFIXES = ("registrant.", "booking.")
RESULT_KEYS = ("result_count", "results", "matches", "match_count", "count", "rows")
MATCH_ID_KEYS = ("registrant_ids", "matched_ids", "matches_ids", "registrant_id")
MASK = "○○"
_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass
class MonthlyOptions:
    month: str
    output: Path
    org_code: str | None = None
    facility_codes: list[str] = field(default_factory=list)
    lang: str = "ja"
    max_rows: int = EXCEL_MAX_ROWS  # a parameter so tests can split at a few rows


@dataclass
class MonthlyReport:
    path: Path
    temp_path: Path
    sha256: str
    rows: dict[str, int]
    flags: dict[str, int]
    chain: ChainStatus
    audit_seq: int

    def publish(self) -> Path:
        """Rename the finished temporary file to its name (after the commit)."""
        os.replace(self.temp_path, self.path)
        return self.path

    def discard(self) -> None:
        self.temp_path.unlink(missing_ok=True)


def mask_name(name: str | None) -> str:
    """First character and ○○: enough to tell two matches apart, not to identify."""
    name = (name or "").strip()
    return (name[0] if name else "") + MASK


def parse_month(text: str) -> tuple[dt.date, dt.date]:
    """Return the first day of the month and the first day of the next."""
    m = _MONTH_RE.match(text.strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise InputError(f"--month must be a month like 2026-05, got {text!r}")
    first = dt.date(int(m.group(1)), int(m.group(2)), 1)
    nxt = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, nxt


def _jst_start(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=JST).astimezone(dt.UTC)


def _to_jst(value: Any) -> dt.datetime:
    """A stored instant (SQLite text in UTC, or an aware datetime) as naive Japan time."""
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value[:19]) + _NINE_HOURS
    return value.astimezone(JST).replace(tzinfo=None, microsecond=0)


_NINE_HOURS = dt.timedelta(hours=9)


def _jst_or_none(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else value.astimezone(JST).replace(tzinfo=None, microsecond=0)


def _minutes(hhmm: str) -> int:
    h, _, m = hhmm.partition(":")
    return int(h) * 60 + int(m)


def _detail(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _result_count(detail: dict[str, Any]) -> int | None:
    for key in RESULT_KEYS:
        v = detail.get(key)
        if isinstance(v, bool):
            continue
        if isinstance(v, int):
            return v
        if isinstance(v, list):
            return len(v)
    return None


@dataclass
class _Scope:
    org: Organization | None
    facility_ids: set[int] | None  # None: every facility
    facility_codes: list[str]
    account_ids: set[int] | None  # None: every account

    explicit: bool  # facilities named with --facility

    def events(self, t: Any) -> Any:
        """SQL condition for the events in scope (None: every event)."""
        codes = self.facility_codes
        at_facility = t.facility_code.in_(codes) if codes else false()
        if self.explicit:
            accounts = sorted(self.account_ids or ())
            no_facility = and_(
                t.facility_code.is_(None),
                t.account_id.in_(accounts) if accounts else false(),
            )
            return or_(at_facility, no_facility)
        if self.org is not None:
            return or_(t.organization_code == self.org.code, at_facility)
        return None


class _Aggregates:
    """What the one pass over the activity learns for the cover and the flags."""

    def __init__(self) -> None:
        self.daily: dict[dt.date, list[int]] = defaultdict(lambda: [0, 0])
        self.by_action: Counter[tuple[str, str]] = Counter()
        # (account key, facility code, day) -> [count, first, last, first seq]
        self.out_of_hours: dict[tuple[Any, str, dt.date], list[Any]] = {}
        self.viewed: dict[tuple[Any, dt.date], set[str]] = defaultdict(set)
        self.listed: Counter[tuple[Any, dt.date]] = Counter()
        self.first_seq: dict[tuple[Any, dt.date], int] = {}
        self.personal: Counter[int] = Counter()  # account id -> personal-data actions
        self.logins: dict[Any, str] = {}  # account key -> login ID shown


def write_monthly_report(
    session: Session, actor: Actor | None, options: MonthlyOptions
) -> MonthlyReport:
    """Write the month's report to a 0600 temporary file beside ``options.output``.

    Records ``report.export`` (month, organisation, SHA-256, row counts) in the
    session's transaction.  The caller publishes the file after committing.
    """
    actor = require_role(actor, "monitor", "admin", action=ACTION)
    first, nxt = parse_month(options.month)
    if options.lang not in LANGS:
        raise InputError(f"--lang must be one of {', '.join(LANGS)}, got {options.lang!r}")
    output = Path(options.output)
    if output.suffix.lower() != ".xlsx":
        raise InputError(f"--output must name an .xlsx file, got {str(output)!r}")
    if not output.parent.is_dir():
        raise InputError(f"--output: directory {str(output.parent)!r} does not exist")
    if output.is_dir():
        raise InputError(f"--output: {str(output)!r} is a directory")
    scope = _resolve_scope(session, actor, options, first, nxt)
    from resv_cli.reports.xlsx import reserve_private

    try:
        temp = reserve_private(output)
    except OSError as exc:
        raise InputError(f"cannot write {str(output)!r}: {exc.strerror or exc}") from None
    try:
        chain = chain_status(session)
        writer = _ReportWriter(session, actor, options, scope, first, nxt, chain)
        return writer.run(output, temp)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _resolve_scope(
    s: Session, actor: Actor, options: MonthlyOptions, first: dt.date, nxt: dt.date
) -> _Scope:
    org: Organization | None = None
    code = options.org_code
    if actor.organization_kind == "designated_manager":
        # a designated manager's monitor reports on its own organisation only
        if code is not None and code != actor.organization_code:
            raise PermissionDenied(
                f"permission denied: you may report on {actor.organization_code} only",
                action=ACTION,
                outcome="denied",
                detail={"reason": "scope", "org": code, "month": options.month},
            )
        code = actor.organization_code
    if code is not None:
        org = s.execute(select(Organization).where(Organization.code == code)).scalar_one_or_none()
        if org is None:
            raise NotFound(f"organisation {code!r} not found")
    last = nxt - dt.timedelta(days=1)
    facility_ids: set[int] | None = None
    explicit = bool(options.facility_codes)
    if explicit:
        facility_ids = set()
        for fcode in options.facility_codes:
            fid = s.execute(select(Facility.id).where(Facility.code == fcode)).scalar()
            if fid is None:
                raise NotFound(f"facility {fcode!r} not found")
            facility_ids.add(int(fid))
    elif org is not None:
        mp = ManagementPeriod
        facility_ids = {
            int(fid)
            for fid in s.execute(
                select(mp.facility_id).where(
                    mp.organization_id == org.id,
                    mp.valid_from <= last,
                    or_(mp.valid_until.is_(None), mp.valid_until >= first),
                )
            ).scalars()
        }
    if facility_ids is not None:
        facility_ids = _with_children(s, facility_ids)
    codes: list[str] = []
    if facility_ids:
        codes = sorted(
            s.execute(select(Facility.code).where(Facility.id.in_(facility_ids))).scalars()
        )
    acc = select(Account.id)
    account_ids: set[int] | None = None
    if org is not None or explicit:
        if org is not None:
            acc = acc.where(Account.organization_id == org.id)
        if explicit:
            acc = acc.where(Account.facility_id.in_(facility_ids or {-1}))
        account_ids = {int(a) for a in s.execute(acc).scalars()}
    return _Scope(org, facility_ids, codes, account_ids, explicit)


def _with_children(s: Session, ids: set[int]) -> set[int]:
    result = set(ids)
    frontier = set(ids)
    while frontier:
        kids = {
            int(k)
            for k in s.execute(
                select(Facility.id).where(Facility.parent_id.in_(frontier))
            ).scalars()
        } - result
        result |= kids
        frontier = kids
    return result


class _ReportWriter:
    def __init__(
        self,
        session: Session,
        actor: Actor,
        options: MonthlyOptions,
        scope: _Scope,
        first: dt.date,
        nxt: dt.date,
        chain: ChainStatus,
    ) -> None:
        self.s = session
        self.actor = actor
        self.o = options
        self.scope = scope
        self.first = first
        self.nxt = nxt
        self.last_day = nxt - dt.timedelta(days=1)
        self.start = _jst_start(first)
        self.end = _jst_start(nxt)
        self.chain = chain
        self.L = Labels(options.lang)
        self.generated = clock.now()
        # the day the report describes: the month's last day, or today if earlier
        self.ref_day = min(self.last_day, clock.today())
        self.bulk_threshold = settings.get_int(session, "bulk_view_threshold")
        self.dormant_days = settings.get_int(session, "dormant_days")
        self.agg = _Aggregates()
        self.facilities = self._facility_table()

    # -- data helpers ------------------------------------------------------------

    def _facility_table(self) -> dict[str, dict[str, Any]]:
        rows = self.s.execute(
            select(
                Facility.id,
                Facility.code,
                Facility.parent_id,
                Facility.opens_at,
                Facility.closes_at,
            )
        ).all()
        by_id = {r.id: r for r in rows}
        out: dict[str, dict[str, Any]] = {}
        for r in rows:
            hours_row = r
            seen = 0
            # a room without hours of its own keeps its building's hours
            while hours_row.opens_at is None and hours_row.parent_id in by_id and seen < 10:
                hours_row = by_id[hours_row.parent_id]
                seen += 1
            hours = None
            if hours_row.opens_at and hours_row.closes_at:
                hours = (
                    _minutes(hours_row.opens_at),
                    _minutes(hours_row.closes_at),
                    hours_row.opens_at,
                    hours_row.closes_at,
                )
            out[r.code] = {"id": r.id, "hours": hours}
        self.facility_code_by_id = {r.id: r.code for r in rows}
        return out

    def _events(self, *extra: Any) -> Any:
        t = AuditEvent.__table__.c
        conds = [t.occurred_at >= self.start, t.occurred_at < self.end, *extra]
        cond = self.scope.events(t)
        if cond is not None:
            conds.append(cond)
        return t, and_(*conds)

    def _stream(self, stmt: Any) -> Iterator[Any]:
        # per statement: Connection.execution_options() would change the connection
        # itself, and the audit INSERT afterwards must not run through a cursor
        yield from self.s.connection().execute(
            stmt, execution_options={"stream_results": True, "yield_per": 5000}
        )

    # -- the run -------------------------------------------------------------------

    def run(self, output: Path, temp: Path) -> MonthlyReport:
        from openpyxl import Workbook

        from resv_cli.reports.xlsx import make_styles, save_private

        L = self.L
        wb = Workbook(write_only=True)
        self.styles = make_styles(wb)
        cover = wb.create_sheet(L("sheet.cover"))
        accounts = self._table(wb, "sheet.accounts", _ACCOUNT_COLS)
        activity = self._table(wb, "sheet.activity", _ACTIVITY_COLS, split=True)
        refused = self._table(wb, "sheet.refused", _REFUSED_COLS)
        dup = self._table(wb, "sheet.duplicate", _DUP_COLS)
        imports = self._table(wb, "sheet.imports", _IMPORT_COLS)
        flags = self._table(wb, "sheet.flags", _FLAG_COLS)

        account_rows = self._write_accounts(accounts)
        self._write_activity(activity)
        self._write_refused(refused)
        self._write_duplicates(dup)
        self._write_imports(imports)
        flag_counts = self._write_flags(flags, account_rows)
        tables = {
            "accounts": accounts,
            "activity": activity,
            "refused": refused,
            "duplicate_checks": dup,
            "imports_exports": imports,
            "flags": flags,
        }
        rows = {name: t.rows_written for name, t in tables.items()}
        self._write_cover(cover, flag_counts)
        for t in tables.values():
            t.close()
        # continuation sheets of the activity were created last: put them in place
        wb._sheets = [
            cover,
            *accounts.sheets,
            *activity.sheets,
            *refused.sheets,
            *dup.sheets,
            *imports.sheets,
            *flags.sheets,
        ]
        digest = save_private(wb, temp)
        seq = audit.record(
            self.s,
            self.actor,
            ACTION,
            resource_type="report",
            resource_id=self.o.month,
            detail={
                "month": self.o.month,
                "org": self.scope.org.code if self.scope.org else None,
                "facilities": list(self.o.facility_codes),
                "lang": self.o.lang,
                "file": output.name,
                "sha256": digest,
                "rows": rows,
                "flags": flag_counts,
                "chain_head_seq": self.chain.head_seq,
                "chain_ok": self.chain.ok,
            },
        )
        return MonthlyReport(output, temp, digest, rows, flag_counts, self.chain, seq)

    def _table(self, wb: Any, key: str, cols: Any, split: bool = False) -> TableSheet:
        L = self.L
        columns = [Column(L(k), w) for k, w in cols]
        return TableSheet(
            wb,
            L(key),
            columns,
            self.styles,
            max_rows=self.o.max_rows if split else EXCEL_MAX_ROWS,
        )

    # -- accounts ----------------------------------------------------------------

    def _write_accounts(self, table: TableSheet) -> list[dict[str, Any]]:
        s = self.s
        a = Account
        stmt = (
            select(
                a.id,
                a.login_id,
                a.display_name,
                a.role,
                a.facility_id,
                a.roster_entry_id,
                a.status,
                a.valid_from,
                a.valid_until,
                a.last_login_at,
                a.password_changed_at,
                a.lock_count,
                a.created_at,
                Organization.code.label("org_code"),
                Organization.kind.label("org_kind"),
                RosterEntry.employment_type,
                RosterEntry.status.label("roster_status"),
            )
            .join(Organization, Organization.id == a.organization_id)
            .outerjoin(RosterEntry, RosterEntry.id == a.roster_entry_id)
            .order_by(Organization.code, a.login_id)
        )
        if self.scope.account_ids is not None:
            stmt = stmt.where(a.id.in_(sorted(self.scope.account_ids) or [-1]))
        ae = AuditEvent.__table__.c
        locks: dict[Any, int] = dict(
            s.execute(
                select(ae.account_id, func.count())
                .where(
                    ae.action.in_(LOCK_ACTIONS),
                    ae.occurred_at >= self.start,
                    ae.occurred_at < self.end,
                )
                .group_by(ae.account_id)
            ).all()
        )
        # in total: every lock recorded up to the month's end (the account's lock_count
        # is reset by `account unlock`, so it could be lower than this month's)
        locks_total: dict[Any, int] = dict(
            s.execute(
                select(ae.account_id, func.count())
                .where(ae.action.in_(LOCK_ACTIONS), ae.occurred_at < self.end)
                .group_by(ae.account_id)
            ).all()
        )
        trainings: dict[int, tuple[dt.date, str]] = {}
        tr = TrainingRecord
        for acc_id, done, course in s.execute(
            select(tr.account_id, tr.completed_on, tr.course)
            .where(tr.completed_on < self.nxt)
            .order_by(tr.account_id, tr.completed_on)
        ):
            trainings[int(acc_id)] = (done, course)  # the latest wins (ordered)
        L = self.L
        out = []
        today = self.generated.astimezone(JST).date()
        for r in s.execute(stmt):
            fac = self.facility_code_by_id.get(r.facility_id) if r.facility_id else None
            training = trainings.get(r.id)
            age = None
            if r.password_changed_at is not None:
                age = (today - r.password_changed_at.astimezone(JST).date()).days
            emp = L(f"emp.{r.employment_type}") if r.employment_type else None
            roster = (
                f"#{r.roster_entry_id}"
                if r.roster_entry_id is not None
                else (L("roster_none") if r.org_kind == "designated_manager" else None)
            )
            table.append(
                [
                    r.org_code,
                    r.login_id,
                    r.display_name,
                    r.role,
                    fac,
                    roster,
                    emp,
                    r.status,
                    r.valid_from,
                    r.valid_until,
                    _jst_or_none(r.last_login_at),
                    age,
                    int(locks.get(r.id, 0)),
                    int(locks_total.get(r.id, 0)),
                    training[0] if training else None,
                    training[1] if training else None,
                ]
            )
            row = r._asdict()
            row["facility_code"] = fac
            row["training"] = training
            out.append(row)
        return out

    # -- activity ------------------------------------------------------------------

    def _write_activity(self, table: TableSheet) -> None:
        t, cond = self._events()
        stmt = (
            select(
                t.seq,
                type_coerce(t.occurred_at, Text()),
                t.login_id,
                t.organization_code,
                t.action,
                t.resource_type,
                t.resource_id,
                t.facility_code,
                t.outcome,
                t.account_id,
                case((t.action == SEARCH_ACTION, t.detail), else_=None),
            )
            .where(cond)
            .order_by(t.seq)
        )
        agg = self.agg
        daily = agg.daily
        by_action = agg.by_action
        ooh = agg.out_of_hours
        fac_info = self.facilities
        acc_fac = self._account_facilities()
        append = table.append
        for (
            seq,
            occ,
            login,
            orgc,
            action,
            rtype,
            rid,
            fac,
            outcome,
            acc_id,
            sdetail,
        ) in self._stream(stmt):
            when = _to_jst(occ)
            day = when.date()
            daily[day][0 if outcome == "allowed" else 1] += 1
            by_action[(action, outcome)] += 1
            resource = f"{rtype}:{rid}" if rtype and rid is not None else rtype or rid
            append([seq, when, login, orgc, action, resource, fac, outcome])
            key = acc_id if acc_id is not None else login
            where = fac or acc_fac.get(acc_id)
            if where is not None:
                info = fac_info.get(where)
                hours = info["hours"] if info else None
                if hours is not None:
                    minute = when.hour * 60 + when.minute
                    if minute < hours[0] or minute >= hours[1]:
                        k = (key, where, day)
                        hit = ooh.get(k)
                        if hit is None:
                            ooh[k] = [1, when, when, seq]
                            agg.logins[key] = login
                        else:
                            hit[0] += 1
                            hit[2] = when
            if outcome == "allowed" and action.startswith(PERSONAL_PREFIXES):
                if acc_id is not None:
                    agg.personal[acc_id] += 1
                if action == VIEW_ACTION and rid is not None:
                    agg.viewed[(key, day)].add(rid)
                    agg.first_seq.setdefault((key, day), seq)
                    agg.logins[key] = login
                elif action == SEARCH_ACTION:
                    n = _result_count(_detail(sdetail))
                    if n:
                        agg.listed[(key, day)] += n
                        agg.first_seq.setdefault((key, day), seq)
                        agg.logins[key] = login

    def _account_facilities(self) -> dict[int, str]:
        out = {}
        for acc_id, fid in self.s.execute(
            select(Account.id, Account.facility_id).where(Account.facility_id.is_not(None))
        ):
            code = self.facility_code_by_id.get(fid)
            if code:
                out[int(acc_id)] = code
        return out

    # -- refused attempts ------------------------------------------------------------

    def _write_refused(self, table: TableSheet) -> None:
        t, cond = self._events(or_(t_outcome_refused(), AuditEvent.action.in_(LOCK_ACTIONS)))
        stmt = select(
            t.seq,
            t.occurred_at,
            t.login_id,
            t.organization_code,
            t.action,
            t.resource_type,
            t.resource_id,
            t.facility_code,
            t.outcome,
            t.detail,
        ).where(cond)
        L = self.L
        for r in self._stream(stmt.order_by(t.seq)):
            d = _detail(r.detail)
            reason = d.get("reason")
            if r.action in LOCK_ACTIONS:
                cat = "cat.lockout"
            elif r.action in LOGIN_ACTIONS:
                cat = "cat.login_failed"
            elif r.action == SESSION_ACTION:
                cat = "cat.session_refused"
            elif reason == "role":
                cat = "cat.role"
            elif r.outcome == "denied":
                cat = "cat.scope"
            else:
                cat = "cat.failed"
            resource = (
                f"{r.resource_type}:{r.resource_id}" if r.resource_type and r.resource_id else None
            )
            table.append(
                [
                    r.seq,
                    _jst_or_none(r.occurred_at),
                    r.login_id or L("unknown_id"),
                    r.organization_code,
                    L(cat),
                    r.action,
                    resource,
                    r.facility_code,
                    r.outcome,
                    None if reason is None else str(reason),
                ]
            )

    # -- duplicate checks -------------------------------------------------------------

    def _write_duplicates(self, table: TableSheet) -> None:
        t, cond = self._events(AuditEvent.action == DUPLICATE_ACTION)
        stmt = select(
            t.seq,
            t.occurred_at,
            t.login_id,
            t.facility_code,
            t.outcome,
            t.resource_type,
            t.resource_id,
            t.detail,
        ).where(cond)
        rows = []
        wanted: set[int] = set()
        for r in self.s.execute(stmt.order_by(t.seq)):
            d = _detail(r.detail)
            ids: list[int] = []
            for key in MATCH_ID_KEYS:
                v = d.get(key)
                vals = v if isinstance(v, list) else [v]
                ids += [int(x) for x in vals if isinstance(x, int | str) and str(x).isdigit()]
            if r.resource_type == "registrant" and r.resource_id and r.resource_id.isdigit():
                ids.append(int(r.resource_id))
            ids = sorted(set(ids))
            wanted.update(ids)
            # the reason the user gave ("purpose"); older events kept it under "reason"
            reason = d.get("purpose", d.get("reason"))
            rows.append((r, reason, _result_count(d), ids))
        names: dict[int, str] = {}
        if wanted:
            # the name only, to mask it: never address, phone, contact or birth date
            for rid, name in self.s.execute(
                select(Registrant.id, Registrant.name).where(Registrant.id.in_(sorted(wanted)))
            ):
                names[int(rid)] = mask_name(name)
        for r, reason, count, ids in rows:
            matched = ", ".join(f"{i} {names.get(i, MASK)}" for i in ids) or None
            table.append(
                [
                    r.seq,
                    _jst_or_none(r.occurred_at),
                    r.login_id,
                    r.facility_code,
                    r.outcome,
                    None if reason is None else str(reason),
                    count,
                    matched,
                ]
            )

    # -- imports and exports --------------------------------------------------------

    def _write_imports(self, table: TableSheet) -> None:
        b = ImportBatch
        stmt = (
            select(
                b.id,
                b.kind,
                b.file_name,
                b.file_sha256,
                b.facility_id,
                b.status,
                b.records_read,
                b.imported,
                b.updated,
                b.rejected,
                b.duplicates,
                b.started_at,
                b.finished_at,
                Account.login_id,
            )
            .outerjoin(Account, Account.id == b.account_id)
            .where(b.started_at >= self.start, b.started_at < self.end)
            .order_by(b.started_at, b.id)
        )
        sc = self.scope
        if sc.facility_ids is not None or sc.org is not None:
            conds: list[Any] = []
            if sc.facility_ids:
                conds.append(b.facility_id.in_(sorted(sc.facility_ids)))
            if sc.org is not None and not sc.explicit:
                conds.append(b.organization_id == sc.org.id)
            if sc.account_ids:
                conds.append(b.account_id.in_(sorted(sc.account_ids)))
            stmt = stmt.where(or_(*conds) if conds else false())
        L = self.L
        entries: list[tuple[dt.datetime, int, list[Any]]] = []
        for r in self.s.execute(stmt):
            when = _jst_or_none(r.started_at)
            assert when is not None
            entries.append(
                (
                    when,
                    0,
                    [
                        L("import"),
                        when,
                        r.login_id,
                        r.kind,
                        r.file_name,
                        r.file_sha256,
                        self.facility_code_by_id.get(r.facility_id) if r.facility_id else None,
                        r.status,
                        r.records_read,
                        r.imported,
                        r.updated,
                        r.rejected,
                        r.duplicates,
                        _jst_or_none(r.finished_at),
                    ],
                )
            )
        t, cond = self._events(AuditEvent.action.like("%.export"))
        sc = self.scope
        about_org = sc.org is not None and not sc.explicit
        if about_org:
            # an export *about* the organisation (an earlier report with --org), whoever
            # ran it, belongs in its report as well: the month's exports are read and
            # those in scope or naming the organisation in their detail are kept
            t = AuditEvent.__table__.c
            cond = and_(
                t.occurred_at >= self.start, t.occurred_at < self.end, t.action.like("%.export")
            )
        for ev in self.s.execute(
            select(
                t.seq, t.occurred_at, t.login_id, t.organization_code, t.action, t.facility_code,
                t.outcome, t.detail,
            )
            .where(cond)
            .order_by(t.seq)
        ):  # fmt: skip
            d = _detail(ev.detail)
            if about_org and not (
                ev.organization_code == sc.org.code  # type: ignore[union-attr]
                or ev.facility_code in sc.facility_codes
                or d.get("org") == sc.org.code  # type: ignore[union-attr]
            ):
                continue
            rows = d.get("rows")
            if isinstance(rows, dict):
                rows = sum(v for v in rows.values() if isinstance(v, int))
            elif not isinstance(rows, int) or isinstance(rows, bool):
                rows = _result_count(d)
            file_name = d.get("file") or d.get("file_name")
            when = _jst_or_none(ev.occurred_at)
            assert when is not None
            entries.append(
                (
                    when,
                    1,
                    [
                        L("export"),
                        when,
                        ev.login_id,
                        ev.action,
                        None if file_name is None else str(file_name),
                        None if d.get("sha256") is None else str(d.get("sha256")),
                        ev.facility_code,
                        ev.outcome,
                        rows,
                        None,
                        None,
                        None,
                        None,
                        None,
                    ],
                )
            )
        entries.sort(key=lambda e: (e[0], e[1]))
        for _, _, row in entries:
            table.append(row)

    # -- flags ----------------------------------------------------------------------

    def _write_flags(self, table: TableSheet, accounts: list[dict[str, Any]]) -> dict[str, int]:
        L = self.L
        agg = self.agg
        counts: Counter[str] = Counter()
        n = 0

        def flag(kind: str, day: Any, login: Any, fac: Any, text: str, value: Any, ev: Any):
            nonlocal n
            n += 1
            counts[kind] += 1
            table.append([n, L(f"flag.{kind}"), day, login, fac, text, value, ev, None, None])

        login_of = {a["id"]: a["login_id"] for a in accounts}
        for (key, fac, day), (cnt, first, last, seq) in sorted(
            agg.out_of_hours.items(), key=lambda kv: (kv[0][2], str(kv[0][1]), kv[1][3])
        ):
            hours = self.facilities[fac]["hours"]
            text = L(
                "d.out_of_hours",
                n=cnt,
                first=first.strftime("%H:%M"),
                last=last.strftime("%H:%M"),
                opens=hours[2],
                closes=hours[3],
            )
            flag("out_of_hours", day, login_of.get(key, agg.logins.get(key)), fac, text, cnt, seq)
        keys = sorted(
            set(agg.viewed) | set(agg.listed), key=lambda k: (k[1], agg.first_seq.get(k, 0))
        )
        for key in keys:
            views = len(agg.viewed.get(key, ()))
            listed = agg.listed.get(key, 0)
            if views + listed > self.bulk_threshold:
                acc, day = key
                text = L("d.bulk_view", views=views, listed=listed, threshold=self.bulk_threshold)
                login = login_of.get(acc, agg.logins.get(acc))
                flag("bulk_view", day, login, None, text, views + listed, agg.first_seq.get(key))
        ref = self.ref_day
        dormant_before = ref - dt.timedelta(days=self.dormant_days)
        training_since = _months_before(ref, 12)
        for a in accounts:
            if a["status"] != "active":
                continue
            login, fac = a["login_id"], a["facility_code"]
            if a["org_kind"] == "designated_manager" and a["roster_entry_id"] is None:
                flag("not_on_roster", ref, login, fac, L("d.not_on_roster"), None, None)
            elif a["roster_status"] == "left":
                flag("left_roster", ref, login, fac, L("d.left_roster"), None, None)
            if a["valid_until"] is not None and a["valid_until"] < ref:
                text = L("d.expired", until=a["valid_until"].isoformat())
                flag("expired", ref, login, fac, text, None, None)
            last_login = a["last_login_at"]
            if last_login is not None:
                last_day = last_login.astimezone(JST).date()
                if last_day < dormant_before:
                    days = (ref - last_day).days
                    text = L("d.dormant", last=last_day.isoformat(), days=days)
                    flag("dormant", ref, login, fac, text, days, None)
            else:
                created = a["created_at"].astimezone(JST).date()
                if created < dormant_before:
                    text = L("d.never", created=created.isoformat())
                    flag("dormant", ref, login, fac, text, (ref - created).days, None)
            used = agg.personal.get(a["id"], 0)
            if a["role"] == "operator" or used:
                training = a["training"]
                if training is None or training[0] < training_since:
                    why = L("why.role") if a["role"] == "operator" else L("why.used")
                    last_t = training[0].isoformat() if training else L("none")
                    text = L("d.untrained", why=why, last=last_t)
                    flag("untrained", ref, login, fac, text, None, None)
            if a["employment_type"] == "non_regular":
                text = L("d.non_regular", role=a["role"], n=used)
                flag("non_regular", ref, login, fac, text, used, None)
        return {k: counts.get(k, 0) for k in FLAG_KINDS}

    # -- cover ----------------------------------------------------------------------

    def _write_cover(self, ws: Any, flag_counts: dict[str, int]) -> None:
        from openpyxl.cell.cell import WriteOnlyCell
        from openpyxl.chart import BarChart, Reference

        from resv_cli.reports.xlsx import setup_print

        L = self.L
        styles = self.styles
        for col, width in zip("ABCDEF", (38, 20, 12, 12, 12, 3), strict=True):
            ws.column_dimensions[col].width = width
        setup_print(ws, title_rows=None, grid=False)
        clean = CellSanitiser(ws)
        row_no = 0

        def put(*values: Any, style: str | None = None) -> int:
            nonlocal row_no
            cells = []
            for v in values:
                v = clean(v)
                if style and not hasattr(v, "coordinate"):
                    c = WriteOnlyCell(ws, value=v)
                    c.style = styles[style]
                    v = c
                cells.append(v)
            ws.append(cells)
            row_no += 1
            return row_no

        org = self.scope.org
        put(f"{L('title')} {self.o.month}", style="title")
        put()
        put(L("month"), self.o.month)
        put(L("period"), f"{self.first.isoformat()} – {self.last_day.isoformat()}")
        put(L("organization"), f"{org.code} {org.name}" if org else L("all_orgs"))
        facilities = self.scope.facility_codes
        put(
            L("facilities"),
            ", ".join(facilities) if self.scope.facility_ids is not None else L("all_facilities"),
        )
        put(L("generated_at"), _jst_or_none(self.generated))
        put(L("generated_by"), f"{self.actor.login_id} ({self.actor.role})")
        put(L("chain_head_seq"), self.chain.head_seq)
        put(L("chain_head_hash"), self.chain.head_hash)
        verdict = L("chain_ok") if self.chain.ok else L("chain_bad")
        put(L("chain_result"), f"{verdict}: {self.chain.message}")
        put(L("setting.bulk"), self.bulk_threshold)
        put(L("setting.dormant"), self.dormant_days)
        put(L("signoff"), None)
        put()
        put(L("counts"), style="bold")
        counts_row = put(
            L("action"), L("allowed"), L("denied"), L("failed"), L("total"), style="header"
        )
        actions = sorted({a for a, _ in self.agg.by_action})
        grand = Counter[str]()
        for action in actions:
            vals = [self.agg.by_action.get((action, o), 0) for o in ("allowed", "denied", "failed")]
            for o, v in zip(("allowed", "denied", "failed"), vals, strict=True):
                grand[o] += v
            put(action, *vals, sum(vals))
        put(L("total"), grand["allowed"], grand["denied"], grand["failed"], sum(grand.values()))
        put()
        put(L("flags"), style="bold")
        put(L("flag"), L("count"), style="header")
        for kind in FLAG_KINDS:
            put(L(f"flag.{kind}"), flag_counts[kind])
        put()
        put(L("daily"), style="bold")
        header_row = put(L("date"), L("allowed"), L("refused"), L("total"), style="header")
        day = self.first
        while day < self.nxt:
            ok, bad = self.agg.daily.get(day, (0, 0))
            put(day, ok, bad, ok + bad)
            day += dt.timedelta(days=1)
        last_row = row_no
        chart = BarChart()
        chart.type = "col"
        chart.grouping = "stacked"
        chart.overlap = 100
        chart.title = L("chart_title")
        chart.y_axis.title = L("count")
        chart.x_axis.title = L("date")
        chart.x_axis.number_format = "d"
        data = Reference(ws, min_col=2, max_col=3, min_row=header_row, max_row=last_row)
        cats = Reference(ws, min_col=1, min_row=header_row + 1, max_row=last_row)
        chart.add_data(data, titles_from_data=True)
        chart.set_categories(cats)
        chart.height = 7
        chart.width = 15
        # beside the counts table: on the first printed page, and one page wide
        ws.add_chart(chart, f"G{counts_row}")


FLAG_KINDS = (
    "out_of_hours",
    "bulk_view",
    "not_on_roster",
    "left_roster",
    "expired",
    "dormant",
    "untrained",
    "non_regular",
)


def t_outcome_refused() -> Any:
    return AuditEvent.outcome.in_(("denied", "failed"))


def _months_before(day: dt.date, months: int) -> dt.date:
    y, m = divmod(day.year * 12 + day.month - 1 - months, 12)
    m += 1
    import calendar

    return dt.date(y, m, min(day.day, calendar.monthrange(y, m)[1]))


_ACCOUNT_COLS = (
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
_ACTIVITY_COLS = (
    ("seq", 10),
    ("time", 20),
    ("login_id", 18),
    ("org_code", 12),
    ("action", 26),
    ("resource", 22),
    ("facility_code", 16),
    ("outcome", 10),
)
_REFUSED_COLS = (
    ("seq", 10),
    ("time", 20),
    ("login_id", 18),
    ("org_code", 12),
    ("category", 18),
    ("action", 26),
    ("resource", 22),
    ("facility_code", 16),
    ("outcome", 10),
    ("reason", 28),
)
_DUP_COLS = (
    ("seq", 10),
    ("time", 20),
    ("login_id", 18),
    ("facility_code", 16),
    ("outcome", 10),
    ("purpose", 30),
    ("results", 10),
    ("matched", 36),
)
_IMPORT_COLS = (
    ("direction", 8),
    ("time", 20),
    ("login_id", 18),
    ("kind", 16),
    ("file_name", 28),
    ("sha256", 20),
    ("facility_code", 16),
    ("status", 10),
    ("records", 10),
    ("imported", 10),
    ("updated", 10),
    ("rejected", 10),
    ("duplicates", 10),
    ("finished", 20),
)
_FLAG_COLS = (
    ("seq", 6),
    ("flag", 26),
    ("date", 12),
    ("account", 18),
    ("facility_code", 16),
    ("detail", 50),
    ("value", 8),
    ("evidence", 12),
    ("finding", 36),
    ("reviewer", 16),
)
