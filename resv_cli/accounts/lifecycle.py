"""Accounts: one login ID per person, granted by city IT (admin).

Lifecycle: ``grant_account`` issues a random one-time password (160 bits,
valid 72 hours, must be replaced at first login) -> the person logs in and sets
their own password -> ``revoke_account`` / ``disable_dormant`` / the roster
import disable it; accounts are never deleted, so a login ID is never reused.

Only hashes are stored; a one-time password exists in plaintext only in the
``IssuedCredential`` returned to the caller, who shows it once or writes it to
a 0600 file.  Audit details never hold a password or a person's name.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, or_, select

from resv_cli.accounts import passwords
from resv_cli.accounts.orgs import check_validity
from resv_cli.accounts.workplaces import set_workplaces
from resv_cli.audit import chain as audit
from resv_cli.audit.vocabulary import A
from resv_cli.core import clock
from resv_cli.core.context import Actor, require_role
from resv_cli.core.errors import AuthenticationFailed, Conflict, InputError, NotFound
from resv_cli.core.i18n import N_, _, ngettext
from resv_cli.core.lookup import facility_by_code, organization_by_code
from resv_cli.core.models import ROLES, Account, Facility, Organization, RosterEntry
from resv_cli.core.normalize import check_text, max_len

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

ONE_TIME_PASSWORD_HOURS = 72
LOGIN_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
STATUS_FILTERS = ("active", "disabled", "revoked", "locked", "expired", "one-time")
OPERATORS_ONLY = N_("--all-managed-facilities is for operators (the manager's staff)")


@dataclass(frozen=True)
class IssuedCredential:
    """A login ID and its one-time password, to be shown once or written to a 0600 file."""

    login_id: str
    one_time_password: str = ""
    expires_at: dt.datetime | None = None
    display_name: str = ""

    def __repr__(self) -> str:  # never print the password by accident
        return f"IssuedCredential(login_id={self.login_id!r}, expires_at={self.expires_at!r})"


def get_account(session: Session, login_id: str, *, for_update: bool = False) -> Account:
    q = select(Account).where(Account.login_id == login_id.strip())
    if for_update:
        q = q.with_for_update()
    acc = session.execute(q).scalar_one_or_none()
    if acc is None:
        raise NotFound(_("no account with login ID {login!r}").format(login=login_id.strip()))
    return acc


def _issue(account: Account, now: dt.datetime) -> IssuedCredential:
    otp = passwords.generate_one_time_password()
    account.password_hash = passwords.hash_password(otp)
    account.must_change_password = True
    account.temp_password_expires_at = now + dt.timedelta(hours=ONE_TIME_PASSWORD_HOURS)
    account.password_changed_at = now
    return IssuedCredential(
        login_id=account.login_id,
        one_time_password=otp,
        expires_at=account.temp_password_expires_at,
        display_name=account.display_name,
    )


def grant_account(
    session: Session,
    actor: Actor | None,
    login_id: str,
    *,
    name: str,
    org_code: str,
    role: str,
    facility_code: str | Sequence[str] | None = None,
    valid_from: dt.date | None = None,
    valid_until: dt.date | None = None,
    roster_entry_id: int | None = None,
    all_managed_facilities: bool = False,
) -> IssuedCredential:
    """Create one person's account with a one-time password (admin).

    ``facility_code`` is the place of work (所属施設), or several: an operator
    acts only there (``resv_cli.accounts.workplaces``), unless
    ``all_managed_facilities`` grants every facility its organisation manages
    (explicit, and recorded in the event).  ``valid_until`` defaults to the end
    of a designated manager's term.  The admin and monitor roles are for the
    city's own staff only.
    """

    require_role(actor, "admin", action="account.grant")
    login_id = login_id.strip()
    if not LOGIN_ID_RE.match(login_id):
        raise InputError(
            _(
                "login ID must be 3-64 characters: lower-case letters, digits, '.', '_' or '-', "
                "starting with a letter or digit (got {login!r})"
            ).format(login=login_id)
        )
    if role not in ROLES:
        raise InputError(_("--role must be one of {known}").format(known=", ".join(ROLES)))
    name = check_text("--name", name, max_len=max_len(Account.display_name))
    if not name:
        raise InputError(_("--name is empty"))
    org = organization_by_code(session, org_code)
    if role in ("admin", "monitor") and org.kind != "city":
        raise InputError(
            _("the {role} role is for the city's own staff; {code} is a designated manager").format(
                role=role, code=org.code
            )
        )
    valid_from, valid_until = check_validity(org, valid_from, valid_until)
    codes = [facility_code] if isinstance(facility_code, str) else list(facility_code or ())
    places = [facility_by_code(session, c) for c in dict.fromkeys(codes)]
    fac = places[0] if places else None
    if all_managed_facilities and role != "operator":
        raise InputError(_(OPERATORS_ONLY))
    if session.execute(select(Account.id).where(Account.login_id == login_id)).first():
        raise Conflict(
            _("login ID {login!r} is already taken (IDs are never reused)").format(login=login_id),
            action="account.grant",
            resource_type="account",
            resource_id=login_id,
            outcome="failed",
            detail={"reason": "login_id_taken"},
        )
    now = clock.now()
    acc = Account(
        login_id=login_id,
        display_name=name,
        organization_id=org.id,
        role=role,
        facility_id=fac.id if fac else None,
        all_managed_facilities=all_managed_facilities,
        roster_entry_id=roster_entry_id,
        status="active",
        valid_from=valid_from,
        valid_until=valid_until,
        failed_attempts=0,
        lock_count=0,
        created_at=now,
        updated_at=now,
    )
    cred = _issue(acc, now)
    session.add(acc)
    session.flush()
    set_workplaces(session, acc, [p.id for p in places])
    detail: dict[str, Any] = {
        "account_id": acc.id,
        "organization": org.code,
        "role": role,
        "valid_from": valid_from.isoformat() if valid_from else None,
        "valid_until": valid_until.isoformat() if valid_until else None,
        "roster_entry": roster_entry_id,
    }
    if len(places) > 1:
        detail["facilities"] = [p.code for p in places]
    if all_managed_facilities:
        detail["all_managed_facilities"] = True
    audit.record(
        session,
        actor,
        "account.grant",
        resource_type="account",
        resource_id=login_id,
        facility_code=fac.code if fac else None,
        detail=detail,
    )
    return cred


def update_account(
    session: Session,
    actor: Actor | None,
    login_id: str,
    *,
    facility_codes: Sequence[str] | None = None,
    all_managed_facilities: bool | None = None,
) -> dict[str, Any]:
    """Change an account's places of work and/or its organisation-wide grant (admin).

    ``facility_codes`` replaces every place of work (an empty list removes
    them); ``all_managed_facilities`` grants (True) or withdraws (False) access
    to every facility the organisation manages.  Recorded as ``account.update``
    with what changed.
    """
    require_role(actor, "admin", action=A.ACCOUNT_UPDATE)
    acc = get_account(session, login_id, for_update=True)
    detail: dict[str, Any] = {"account_id": acc.id}
    if facility_codes is not None:
        places = [facility_by_code(session, c) for c in dict.fromkeys(facility_codes)]
        if set_workplaces(session, acc, [p.id for p in places]):
            detail["facilities"] = [p.code for p in places]
    if all_managed_facilities is not None and all_managed_facilities != acc.all_managed_facilities:
        if all_managed_facilities and acc.role != "operator":
            raise InputError(_(OPERATORS_ONLY))
        acc.all_managed_facilities = all_managed_facilities
        detail["all_managed_facilities"] = all_managed_facilities
    if len(detail) == 1:
        detail["noop"] = True
    else:
        acc.updated_at = clock.now()
    audit.record(
        session, actor, A.ACCOUNT_UPDATE, resource_type="account", resource_id=acc.login_id,
        detail=detail,
    )  # fmt: skip
    from resv_cli.accounts.workplaces import workplace_codes

    return {
        "login_id": acc.login_id,
        "facilities": workplace_codes(session, acc.id),
        "all_managed_facilities": acc.all_managed_facilities,
        "changed": len(detail) > 1 and "noop" not in detail,
    }


def reset_password(session: Session, actor: Actor | None, login_id: str) -> IssuedCredential:
    """Issue a new one-time password, clear a lock and end every session (admin)."""
    from resv_cli.accounts.sessions import end_sessions

    require_role(actor, "admin", action="account.reset_password")
    acc = get_account(session, login_id, for_update=True)
    if acc.status != "active":
        raise Conflict(
            (
                _("account {login} is revoked; a password cannot be issued for it")
                if acc.status == "revoked"
                else _("account {login} is disabled; a password cannot be issued for it")
                if acc.status == "disabled"
                else _("account {login} is {status}; a password cannot be issued for it")
            ).format(login=acc.login_id, status=acc.status)
        )
    now = clock.now()
    cred = _issue(acc, now)
    acc.failed_attempts = 0
    acc.locked_until = None
    acc.updated_at = now
    ended = end_sessions(session, acc.id, "password_reset")
    audit.record(
        session,
        actor,
        "account.reset_password",
        resource_type="account",
        resource_id=acc.login_id,
        detail={"account_id": acc.id, "sessions_ended": ended},
    )
    return cred


def revoke_account(
    session: Session, actor: Actor | None, login_id: str, reason: str | None = None
) -> dict[str, Any]:
    """Disable an account at once and end its sessions (admin); it is never deleted."""
    from resv_cli.accounts.sessions import end_sessions

    actor = require_role(actor, "admin", action="account.revoke")
    if reason is not None:
        reason = check_text("--reason", reason, max_len=max_len(Account.status_reason))
    acc = get_account(session, login_id, for_update=True)
    if acc.id == actor.account_id:
        raise InputError(
            _("you cannot revoke your own account; ask another administrator"),
            action="account.revoke",
            resource_type="account",
            resource_id=acc.login_id,
            outcome="failed",
            detail={"reason": "own_account"},
        )
    if acc.status == "revoked":
        raise Conflict(
            _("account {login} is already revoked").format(login=acc.login_id),
            action="account.revoke",
            resource_type="account",
            resource_id=acc.login_id,
            outcome="failed",
            detail={"reason": "already_revoked"},
        )
    now = clock.now()
    acc.status = "revoked"
    acc.status_reason = reason or "revoked by city IT"
    acc.updated_at = now
    ended = end_sessions(session, acc.id, "revoked")
    audit.record(
        session,
        actor,
        "account.revoke",
        resource_type="account",
        resource_id=acc.login_id,
        detail={"account_id": acc.id, "sessions_ended": ended},
    )
    return {"login_id": acc.login_id, "status": acc.status, "sessions_ended": ended}


def unlock_account(session: Session, actor: Actor | None, login_id: str) -> dict[str, Any]:
    """Lift a lockout and reset the failure counters, including the doubling (admin)."""
    require_role(actor, "admin", action="account.unlock")
    acc = get_account(session, login_id, for_update=True)
    now = clock.now()
    was_locked = acc.locked_until is not None and acc.locked_until > now
    acc.locked_until = None
    acc.failed_attempts = 0
    acc.lock_count = 0
    acc.updated_at = now
    audit.record(
        session,
        actor,
        "account.unlock",
        resource_type="account",
        resource_id=acc.login_id,
        detail={"account_id": acc.id, "was_locked": was_locked},
    )
    return {"login_id": acc.login_id, "was_locked": was_locked}


def _dormant_clause(days: int, now: dt.datetime) -> Any:
    cutoff = now - dt.timedelta(days=days)
    return or_(
        Account.last_login_at < cutoff,
        and_(Account.last_login_at.is_(None), Account.created_at < cutoff),
    )


def disable_dormant(
    session: Session, actor: Actor | None, days: int, *, dry_run: bool = False
) -> list[dict[str, Any]]:
    """Disable active accounts with no login for ``days`` days (never the caller's own)."""

    actor = require_role(actor, "admin", action="account.disable_dormant")
    if days < 1:
        raise InputError(_("--days must be at least 1"))
    now = clock.now()
    accs = (
        session.execute(
            select(Account)
            .where(Account.status == "active", Account.id != actor.account_id)
            .where(_dormant_clause(days, now))
            .order_by(Account.login_id)
            .with_for_update()
        )
        .scalars()
        .all()
    )
    out = []
    for acc in accs:
        out.append(
            {"login_id": acc.login_id, "last_login_at": acc.last_login_at, "status": "disabled"}
        )
        if dry_run:
            continue
        disable_account(
            session, actor, acc, now, f"dormant: no login for {days} days", "dormant", days=days
        )
    # the sweep itself, also when it finds nobody or only lists (a read of login history)
    audit.record(
        session,
        actor,
        "account.disable_dormant",
        resource_type="account",
        detail={"days": days, "dry_run": dry_run, "results": len(out)},
    )
    return out


def disable_account(
    session: Session,
    actor: Actor,
    acc: Account,
    now: dt.datetime,
    status_reason: str,
    reason: str,
    **detail: Any,
) -> None:
    """Disable an account (never delete it), end its sessions and record it."""
    from resv_cli.accounts.sessions import end_sessions

    acc.status = "disabled"
    acc.status_reason = status_reason
    acc.updated_at = now
    ended = end_sessions(session, acc.id, "disabled")
    audit.record(
        session,
        actor,
        "account.disable",
        resource_type="account",
        resource_id=acc.login_id,
        detail={"account_id": acc.id, "reason": reason, **detail, "sessions_ended": ended},
    )


def _state(acc: Account, now: dt.datetime) -> str:
    from resv_cli.accounts.sessions import account_usable

    if acc.locked_until is not None and acc.locked_until > now and acc.status == "active":
        return "locked"
    why = account_usable(acc, now)
    return why or "active"


def _row(acc: Account, org_code: str, fac_code: str | None, now: dt.datetime) -> dict[str, Any]:
    if acc.must_change_password:
        exp = acc.temp_password_expires_at
        pw = "one-time, expired" if exp is not None and exp <= now else "one-time"
    else:
        pw = "set"
    return {
        "login_id": acc.login_id,
        "name": acc.display_name,
        "organization": org_code,
        "role": acc.role,
        "facility": fac_code,
        "status": acc.status,
        "state": _state(acc, now),
        "password": pw,
        "valid_from": acc.valid_from,
        "valid_until": acc.valid_until,
        "last_login_at": acc.last_login_at,
        "roster_entry": acc.roster_entry_id,
    }


def list_accounts(
    session: Session,
    actor: Actor | None,
    *,
    org_code: str | None = None,
    status: str | None = None,
    dormant_days: int | None = None,
) -> list[dict[str, Any]]:
    """Accounts with their state (admin, monitor); never a password hash."""

    require_role(actor, "admin", "monitor", action="account.list")
    now = clock.now()
    q = (
        select(Account, Organization.code, Facility.code)
        .join(Organization, Organization.id == Account.organization_id)
        .outerjoin(Facility, Facility.id == Account.facility_id)
        .order_by(Organization.code, Account.login_id)
    )
    if org_code:
        q = q.where(Account.organization_id == organization_by_code(session, org_code).id)
    if status and status not in STATUS_FILTERS:
        raise InputError(
            _("--status must be one of {known}").format(known=", ".join(STATUS_FILTERS))
        )
    if status in ("active", "disabled", "revoked"):
        q = q.where(Account.status == status)
    if dormant_days is not None:
        if dormant_days < 1:
            raise InputError(_("--dormant must be at least 1 day"))
        q = q.where(Account.status == "active", _dormant_clause(dormant_days, now))
    rows = [_row(a, oc, fc, now) for a, oc, fc in session.execute(q).all()]
    if status == "locked":
        rows = [r for r in rows if r["state"] == "locked"]
    elif status == "expired":
        rows = [r for r in rows if r["state"] in ("expired", "not_yet_valid")]
    elif status == "one-time":
        rows = [r for r in rows if r["password"].startswith("one-time")]
    # staff names and login history: a read of personal data, so it is recorded
    audit.record(
        session,
        actor,
        "account.list",
        resource_type="account",
        detail={
            "organization": org_code,
            "status": status,
            "dormant_days": dormant_days,
            "results": len(rows),
        },
    )
    return rows


def show_account(session: Session, actor: Actor | None, login_id: str) -> dict[str, Any]:
    """One account in full (admin, monitor; anyone for their own), never its hash."""
    from resv_cli.core.models import LoginSession, TrainingRecord

    if actor is None or actor.login_id != login_id.strip():
        require_role(actor, "admin", "monitor", action="account.show")
    acc = get_account(session, login_id)
    now = clock.now()
    org = session.get(Organization, acc.organization_id)
    fac = session.get(Facility, acc.facility_id) if acc.facility_id else None
    assert org is not None
    row = _row(acc, org.code, fac.code if fac else None, now)
    row["status_reason"] = acc.status_reason
    row["employment_type"] = None
    if acc.roster_entry_id is not None:
        entry = session.get(RosterEntry, acc.roster_entry_id)
        if entry is not None:
            row["employment_type"] = entry.employment_type
            row["roster_status"] = entry.status
    row["password_changed_at"] = acc.password_changed_at
    row["one_time_password_expires_at"] = (
        acc.temp_password_expires_at if acc.must_change_password else None
    )
    row["failed_attempts"] = acc.failed_attempts
    row["locked_until"] = acc.locked_until if acc.locked_until and acc.locked_until > now else None
    row["lock_count"] = acc.lock_count
    row["open_sessions"] = session.execute(
        select(func.count())
        .select_from(LoginSession)
        .where(
            LoginSession.account_id == acc.id,
            LoginSession.ended_at.is_(None),
            LoginSession.expires_at > now,
        )
    ).scalar_one()
    last = session.execute(
        select(TrainingRecord.course, TrainingRecord.completed_on)
        .where(TrainingRecord.account_id == acc.id)
        .order_by(TrainingRecord.completed_on.desc())
        .limit(1)
    ).first()
    row["last_training"] = f"{last[1]} {last[0]}" if last else None
    row["created_at"] = acc.created_at
    audit.record(
        session,
        actor,
        "account.show",
        resource_type="account",
        resource_id=acc.login_id,
        detail={"account_id": acc.id},
    )
    return row


def check_new_password(session: Session, account: Account, password: str) -> None:
    """Apply the one password policy to a password ``account``'s person chose.

    ``passwords.check_policy`` with what is known of the person: the login ID, the
    name, the reading from their roster entry, their organisation's code and name,
    and the installation's minimum length and strength.  Raises ``InputError``
    naming the rule, never the password.
    """
    from resv_cli.core import settings

    org = session.get(Organization, account.organization_id)
    entry = session.get(RosterEntry, account.roster_entry_id) if account.roster_entry_id else None
    passwords.check_policy(
        password,
        login_id=account.login_id,
        name=account.display_name,
        kana=entry.kana if entry is not None else None,
        organization=(org.code, org.name) if org is not None else (),
        min_length=settings.password_min_length(session),
        min_score=settings.password_min_score(session),
    )


def change_own_password(engine: Engine, actor: Actor, current: str, new: str) -> int:
    """Change the actor's own password and end their other sessions; return how many.

    While the account is locked the change is refused without the current password
    being checked (so it neither counts nor can succeed).  A wrong current password
    counts towards the lockout like a failed login (it is committed even though the
    change is refused); a change resets the count.
    """
    from resv_cli.accounts.sessions import _set_password, end_sessions, register_failure
    from resv_cli.core.db import transaction

    now = clock.now()
    refusal: str | None = None
    with transaction(engine) as s:
        acc = s.execute(
            select(Account).where(Account.id == actor.account_id).with_for_update()
        ).scalar_one()
        if acc.locked_until is not None and acc.locked_until > now:
            audit.record(
                s,
                None,
                "account.password_change",
                outcome="failed",
                detail={"reason": "locked"},
                account_id=acc.id,
                login_id=acc.login_id,
                resource_type="account",
                resource_id=acc.id,
            )
            minutes = max(1, -(-int((acc.locked_until - now).total_seconds()) // 60))
            refusal = ngettext(
                "password not changed: the account is locked after too many wrong passwords; "
                "try again in {n} minute or ask city IT",
                "password not changed: the account is locked after too many wrong passwords; "
                "try again in {n} minutes or ask city IT",
                minutes,
            ).format(n=minutes)
        else:
            ok, _rehash = passwords.verify(current, acc.password_hash)
            if not ok:
                register_failure(
                    s, acc, now, reason="wrong_password", action="account.password_change"
                )
                refusal = _("password not changed: the current password is wrong")
                if acc.locked_until is not None and acc.locked_until > now:
                    refusal = _(
                        "password not changed: the current password is wrong; "
                        "the account is now locked after too many wrong passwords"
                    )
    # the transaction above committed the refusal, its counter and its audit event
    if refusal is not None:
        raise AuthenticationFailed(refusal)
    with transaction(engine) as s:
        acc = s.execute(
            select(Account).where(Account.id == actor.account_id).with_for_update()
        ).scalar_one()
        _set_password(s, acc, new, now)
        acc.failed_attempts = 0
        acc.updated_at = now
        ended = end_sessions(s, acc.id, "password_changed", keep=actor.session_id)
    return ended


def password_policy(
    session: Session,
    actor: Actor | None,
    min_length: int | None = None,
    min_score: int | None = None,
) -> dict[str, Any]:
    """The password and lockout policy, from the constants that enforce it.

    With ``min_length`` or ``min_score``, set the minimum password length or
    strength estimate first (admin, audited).
    """
    from resv_cli.accounts import passwords
    from resv_cli.accounts.sessions import LOCK_MINUTES, MAX_FAILURES
    from resv_cli.core import settings

    for key, value in (("password_min_length", min_length), ("password_min_score", min_score)):
        if value is None:
            continue
        actor = require_role(actor, "admin", action="account.policy")
        settings.set_int(session, key, value)
        audit.record(
            session,
            actor,
            "account.policy",
            resource_type="setting",
            resource_id=key,
            detail={"value": value},
        )
    return {
        "min_length": settings.password_min_length(session),
        "max_length": passwords.MAX_LENGTH,
        "invisible_characters": _("refused (control, format, line separators, unassigned)"),
        "min_strength": _(
            "zxcvbn score {n} of 4 (the login ID, names and organisation count as guessable)"
        ).format(n=settings.password_min_score(session)),
        "context_words": _(
            "refused: the login ID, the person's name (kanji, kana, romaji), the "
            "organisation's code and name, resv"
        ),
        "hash": _("argon2id m={m} KiB t={t} p={p} (older hashes upgraded at login)").format(
            m=passwords.ARGON2_MEMORY_KIB,
            t=passwords.ARGON2_TIME_COST,
            p=passwords.ARGON2_PARALLELISM,
        ),
        "common_passwords_blocked": len(passwords.common_passwords()),
        "lockout": _("{n} failures -> {minutes} min, doubling per further lock").format(
            n=MAX_FAILURES, minutes=LOCK_MINUTES
        ),
        "one_time_password": _("{bits} bits, {hours} hours, must be changed at first login").format(
            bits=passwords.ONE_TIME_PASSWORD_BITS, hours=ONE_TIME_PASSWORD_HOURS
        ),
    }
