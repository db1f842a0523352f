"""What the monthly report reads from the database, and nothing else.

Every query of the report is here; the sheets only turn what these return into
rows.  The audit history is streamed (a server-side cursor on PostgreSQL), so a
month of millions of events is read in constant memory.  The actions and detail
keys read are the audit vocabulary's (``resv_cli.audit.vocabulary``): only what
the writers really write.  No registrant's address, phone, emergency contact or
date of birth is ever read; names are read only to be masked.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, false, func, or_, select, type_coerce
from sqlalchemy.types import Text

from resv_cli.audit.vocabulary import ACTIONS, A
from resv_cli.core import clock
from resv_cli.core.models import (
    Account,
    AuditEvent,
    Facility,
    ImportBatch,
    Organization,
    RosterEntry,
    SecurityOfficer,
    TrainingRecord,
)
from resv_cli.records import registrants

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from resv_cli.access.enforce import Grant
    from resv_cli.reports.scope import Scope

# actions whose detail or resource the report reads; every "*.export" the vocabulary
# defines is listed with the imports
EXPORT_ACTIONS = tuple(code for code in ACTIONS if code.endswith(".export"))
# Personal-data use per account (flags "untrained", "non_regular").  Not "every action
# with ActionDef.personal": that would add import.batch and import.show.
PERSONAL_PREFIXES = ("registrant.", "booking.")
# the counts the writers record: registrant.search and *.list "results",
# registrant.check_duplicate "matches", audit.list "rows"
RESULT_KEYS = ("results", "matches", "rows")
# registrant.check_duplicate records the matched registrants' internal IDs
MATCH_ID_KEYS = ("registrant_ids",)


def parse_detail(text: str | None) -> dict[str, Any]:
    """An event's detail as a dict ({} when absent or not a JSON object)."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def result_count(detail: dict[str, Any]) -> int | None:
    """The number of results an event's detail records (None: none recorded)."""
    for key in RESULT_KEYS:
        v = detail.get(key)
        if isinstance(v, bool):
            continue
        if isinstance(v, int):
            return v
        if isinstance(v, list):
            return len(v)
    return None


def _minutes(hhmm: str) -> int:
    h, _, m = hhmm.partition(":")
    return int(h) * 60 + int(m)


class ReportData:
    """The month's data in scope, read in the report's transaction."""

    def __init__(
        self, session: Session, grant: Grant, scope: Scope, first: dt.date, nxt: dt.date
    ) -> None:
        self.s = session
        self.grant = grant
        self.scope = scope
        self.nxt = nxt
        self.start = clock.day_start(first)
        self.end = clock.day_start(nxt)
        # facility code -> {"id", "hours": (opens, closes in minutes, "HH:MM", "HH:MM")}
        self.facilities: dict[str, dict[str, Any]] = {}
        self.facility_code_by_id: dict[int, str] = {}
        self._read_facilities()

    def _read_facilities(self) -> None:
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
            self.facilities[r.code] = {"id": r.id, "hours": hours}
        self.facility_code_by_id = {r.id: r.code for r in rows}

    def events(self, *extra: Any) -> Any:
        """The audit table's columns and the condition: this month, in scope, ``extra``."""
        t = AuditEvent.__table__.c
        conds = [t.occurred_at >= self.start, t.occurred_at < self.end, *extra]
        cond = self.scope.events(t)
        if cond is not None:
            conds.append(cond)
        return t, and_(*conds)

    def stream(self, stmt: Any) -> Iterator[Any]:
        # per statement: Connection.execution_options() would change the connection
        # itself, and the audit INSERT afterwards must not run through a cursor
        yield from self.s.connection().execute(
            stmt, execution_options={"stream_results": True, "yield_per": 5000}
        )

    def account_facilities(self) -> dict[int, str]:
        """Account id -> the code of the facility the account works at."""
        out = {}
        for acc_id, fid in self.s.execute(
            select(Account.id, Account.facility_id).where(Account.facility_id.is_not(None))
        ):
            code = None if fid is None else self.facility_code_by_id.get(fid)
            if code:
                out[int(acc_id)] = code
        return out

    @cached_property
    def accounts(self) -> list[dict[str, Any]]:
        """The accounts in scope with their organisation, roster entry, locks, training.

        Each is the account's columns plus ``org_code``, ``org_kind``,
        ``employment_type``, ``roster_status``, ``facility_code``, ``locks_month``,
        ``locks_total`` and ``training`` ((date, course) of the latest, or None).
        """
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
                    ae.action == A.ACCOUNT_LOCK,
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
                .where(ae.action == A.ACCOUNT_LOCK, ae.occurred_at < self.end)
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
        out = []
        for r in s.execute(stmt):
            row = r._asdict()
            row["facility_code"] = (
                self.facility_code_by_id.get(r.facility_id) if r.facility_id else None
            )
            row["training"] = trainings.get(r.id)
            row["locks_month"] = int(locks.get(r.id, 0))
            row["locks_total"] = int(locks_total.get(r.id, 0))
            out.append(row)
        return out

    def organizations(self, on: dt.date) -> list[dict[str, Any]]:
        """The designated managers in scope on ``on``: term, security officer, staff accounts.

        Each: ``code``, ``name``, ``term_start``, ``term_end``, ``officer`` (shown as
        "login-id (name)" or the name given; None: nobody named), ``officer_since``
        and ``staff`` (active operator accounts).  In scope: the report's
        organisation, or with ``--facility`` the managers of the accounts in scope,
        or every designated manager.
        """
        sc = self.scope
        o = Organization
        stmt = select(o.id, o.code, o.name, o.term_start, o.term_end).where(
            o.kind == "designated_manager"
        )
        if sc.org is not None:
            stmt = stmt.where(o.id == sc.org.id)
        elif sc.account_ids is not None:
            ids = select(Account.organization_id).where(
                Account.id.in_(sorted(sc.account_ids) or [-1])
            )
            stmt = stmt.where(o.id.in_(ids))
        staff = dict(
            self.s.execute(
                select(Account.organization_id, func.count())
                .where(Account.status == "active", Account.role == "operator")
                .group_by(Account.organization_id)
            ).all()
        )
        so = SecurityOfficer
        officers: dict[int, tuple[Any, Any, Any]] = {}
        for org_id, since, name, login, display in self.s.execute(
            select(so.organization_id, so.valid_from, so.name, Account.login_id,
                   Account.display_name)
            .outerjoin(Account, Account.id == so.account_id)
            .where(so.valid_from <= on)
            .order_by(so.organization_id, so.valid_from)
        ):  # fmt: skip
            shown = f"{login} ({display})" if login is not None else name
            officers[int(org_id)] = (shown, since, login)  # the latest naming wins
        out = []
        for r in self.s.execute(stmt.order_by(o.code)):
            shown, since, _ = officers.get(int(r.id), (None, None, None))
            out.append(
                {
                    "code": r.code,
                    "name": r.name,
                    "term_start": r.term_start,
                    "term_end": r.term_end,
                    "officer": shown,
                    "officer_since": since,
                    "staff": int(staff.get(r.id, 0)),
                }
            )
        return out

    def activity(self) -> Iterator[Any]:
        """Every event of the month in scope, streamed in seq order.

        Tuples (seq, occurred_at as stored, login_id, organization_code, action,
        resource_type, resource_id, facility_code, outcome, account_id, detail of a
        registrant search or None).
        """
        t, cond = self.events()
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
                case((t.action == A.REGISTRANT_SEARCH, t.detail), else_=None),
            )
            .where(cond)
            .order_by(t.seq)
        )
        return self.stream(stmt)

    def refused(self) -> Iterator[Any]:
        """The month's refused or failed events and account locks in scope, streamed."""
        refused = AuditEvent.outcome.in_(("denied", "failed"))
        t, cond = self.events(or_(refused, AuditEvent.action == A.ACCOUNT_LOCK))
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
        return self.stream(stmt.order_by(t.seq))

    def duplicate_checks(self) -> list[Any]:
        """The month's duplicate-check searches in scope, in seq order."""
        t, cond = self.events(AuditEvent.action == A.REGISTRANT_CHECK_DUPLICATE)
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
        return list(self.s.execute(stmt.order_by(t.seq)))

    def masked_names(self, ids: set[int]) -> dict[int, str]:
        """Registrant id -> masked name (first character + ○○)."""
        return registrants.masked_names(self.s, self.grant, ids)

    def import_batches(self) -> list[Any]:
        """The import batches started this month in scope, with who ran them."""
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
                b.skipped,
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
        return list(self.s.execute(stmt))

    def exports(self) -> Iterator[tuple[Any, dict[str, Any]]]:
        """The month's export events in scope with their parsed detail, in seq order."""
        t, cond = self.events(AuditEvent.action.in_(EXPORT_ACTIONS))
        sc = self.scope
        org = sc.org
        about_org = org is not None and not sc.explicit
        if about_org:
            # an export *about* the organisation (an earlier report with --org), whoever
            # ran it, belongs in its report as well: the month's exports are read and
            # those in scope or naming the organisation in their detail are kept
            t = AuditEvent.__table__.c
            cond = and_(
                t.occurred_at >= self.start,
                t.occurred_at < self.end,
                t.action.in_(EXPORT_ACTIONS),
            )
        for ev in self.s.execute(
            select(
                t.seq, t.occurred_at, t.login_id, t.organization_code, t.action, t.facility_code,
                t.outcome, t.detail,
            )
            .where(cond)
            .order_by(t.seq)
        ):  # fmt: skip
            d = parse_detail(ev.detail)
            if about_org and not (
                ev.organization_code == org.code  # type: ignore[union-attr]
                or ev.facility_code in sc.facility_codes
                or d.get("org") == org.code  # type: ignore[union-attr]
            ):
                continue
            yield ev, d
