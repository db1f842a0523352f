"""Training records (研修記録): who completed which privacy/security course, when."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from resv_cli.accounts.lifecycle import get_account
from resv_cli.audit import chain as audit
from resv_cli.core import clock, jpnorm
from resv_cli.core.context import Actor, require_role
from resv_cli.core.errors import Conflict, InputError
from resv_cli.core.i18n import _
from resv_cli.core.models import Account, Organization, TrainingRecord
from resv_cli.core.normalize import check_text, max_len, text_problem

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

COLUMNS = {
    "login_id": ("ログインid", "ログインID", "login_id", "login id"),
    "course": ("研修名", "course"),
    "on": ("受講日", "completed_on", "date"),
}


def _check_course(course: str) -> str:
    limit = max_len(TrainingRecord.course)
    course = " ".join(check_text("--course", course, max_len=limit).split())
    if not course:
        raise InputError(_("--course is empty"))
    return course


def record_training(
    session: Session, actor: Actor | None, login_id: str, course: str, on: dt.date
) -> dict[str, Any]:
    """Record that a person completed a course on a day (admin)."""
    require_role(actor, "admin", action="training.record")
    course = _check_course(course)
    if on > clock.today():
        raise InputError(_("--on {day} is in the future").format(day=on))
    acc = get_account(session, login_id)
    exists = session.execute(
        select(TrainingRecord.id).where(
            TrainingRecord.account_id == acc.id,
            TrainingRecord.course == course,
            TrainingRecord.completed_on == on,
        )
    ).first()
    if exists:
        raise Conflict(
            _("{login} already has {course!r} on {day}").format(
                login=acc.login_id, course=course, day=on
            )
        )
    rec = TrainingRecord(account_id=acc.id, course=course, completed_on=on, created_at=clock.now())
    session.add(rec)
    session.flush()
    audit.record(
        session,
        actor,
        "training.record",
        resource_type="account",
        resource_id=acc.login_id,
        detail={"account_id": acc.id, "course": course, "on": on.isoformat()},
    )
    return {"login_id": acc.login_id, "course": course, "completed_on": on}


def list_training(
    session: Session,
    actor: Actor | None,
    *,
    login_id: str | None = None,
    org_code: str | None = None,
    since: dt.date | None = None,
) -> list[dict[str, Any]]:
    """Training records, newest first (admin, monitor)."""
    from resv_cli.core.lookup import organization_by_code

    require_role(actor, "admin", "monitor", action="training.list")
    q = (
        select(TrainingRecord, Account.login_id, Organization.code)
        .join(Account, Account.id == TrainingRecord.account_id)
        .join(Organization, Organization.id == Account.organization_id)
        .order_by(TrainingRecord.completed_on.desc(), Account.login_id, TrainingRecord.course)
    )
    if login_id:
        q = q.where(TrainingRecord.account_id == get_account(session, login_id).id)
    if org_code:
        q = q.where(Account.organization_id == organization_by_code(session, org_code).id)
    if since:
        q = q.where(TrainingRecord.completed_on >= since)
    rows = [
        {"login_id": lid, "organization": oc, "course": t.course, "completed_on": t.completed_on}
        for t, lid, oc in session.execute(q).all()
    ]
    audit.record(
        session,
        actor,
        "training.list",
        resource_type="training_record",
        detail={"login_id": login_id, "organization": org_code, "results": len(rows)},
    )
    return rows


def import_training(
    session: Session, actor: Actor | None, path: Path, *, dry_run: bool = False
) -> dict[str, int]:
    """Import records from an xlsx/CSV sheet (ログインID, 研修名, 受講日); all or nothing.

    A record already present is counted as unchanged, so a re-import adds nothing.
    """
    from resv_cli.importing.reader import has_undecodable, open_source

    actor = require_role(actor, "admin", action="training.import")
    path = Path(path)
    src = open_source(path)
    fname = path.name
    problems: list[str] = []
    wanted: list[tuple[int, str, str, dt.date]] = []

    def cell(row: int, column: str, problem: str) -> str:
        return _("{file}: row {row}, column {column}: {problem}").format(
            file=fname, row=row, column=column, problem=problem
        )

    try:
        header = [h.strip().lower() for h in src.header]
        index: dict[str, int] = {}
        for key, names in COLUMNS.items():
            for i, h in enumerate(header):
                if h in [n.lower() for n in names]:
                    index[key] = i
                    break
        missing = [COLUMNS[k][1] for k in COLUMNS if k not in index]
        if missing:
            raise InputError(
                _("{file}: row 1: missing column(s) {missing}").format(
                    file=fname, missing=", ".join(missing)
                )
            )
        labels = {"login_id": "ログインID", "course": "研修名", "on": "受講日"}
        limits = {"login_id": Account.login_id, "course": TrainingRecord.course}
        for n, raw in enumerate(src, start=2):
            vals = {k: (raw[i].strip() if i < len(raw) else "") for k, i in index.items()}
            bad = [k for k, v in vals.items() if not v or has_undecodable(v)]
            if bad:
                problems.append(cell(n, labels[bad[0]], _("empty or unreadable")))
                continue
            try:
                on = jpnorm.parse_date(vals["on"])
            except jpnorm.FieldError as exc:
                why = _("{reason} (got {value!r})").format(
                    reason=jpnorm.date_reason(exc), value=vals["on"]
                )
                problems.append(cell(n, "受講日", why))
                continue
            if on > clock.today():
                problems.append(cell(n, "受講日", _("{day} is in the future").format(day=on)))
                continue
            bad_text = [
                (labels[k], why)
                for k in ("login_id", "course")
                if (why := text_problem(vals[k], max_len(limits[k])))
            ]
            if bad_text:
                problems.append(cell(n, *bad_text[0]))
                continue
            wanted.append((n, vals["login_id"], " ".join(vals["course"].split()), on))
    finally:
        src.close()
    ids = {
        lid: aid
        for lid, aid in session.execute(
            select(Account.login_id, Account.id).where(Account.login_id.in_({w[1] for w in wanted}))
        ).all()
    }
    for n, lid, _course, _on in wanted:
        if lid not in ids:
            problems.append(cell(n, "ログインID", _("no account {login!r}").format(login=lid)))
    if problems:
        from resv_cli.accounts.roster_file import RowProblems

        raise RowProblems(problems, "imported")
    existing = {
        (a, c, d)
        for a, c, d in session.execute(
            select(
                TrainingRecord.account_id, TrainingRecord.course, TrainingRecord.completed_on
            ).where(TrainingRecord.account_id.in_(set(ids.values())))
        ).all()
    }
    added = unchanged = 0
    now = clock.now()
    for _n, lid, course, on in wanted:
        record_key = (ids[lid], course, on)
        if record_key in existing:
            unchanged += 1
            continue
        existing.add(record_key)
        added += 1
        if not dry_run:
            session.add(
                TrainingRecord(account_id=ids[lid], course=course, completed_on=on, created_at=now)
            )
    if added and not dry_run:
        session.flush()
        audit.record(
            session,
            actor,
            "training.import",
            resource_type="file",
            resource_id=fname[:100],
            detail={"added": added, "unchanged": unchanged},
        )
    return {"read": len(wanted), "added": added, "unchanged": unchanged}
