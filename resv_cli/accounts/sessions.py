"""Log in, log out, and find who is acting.

``resv login`` stores a random token in a user-only (0600) session file, one entry
per database; the database keeps only the token's SHA-256 and an expiry.  Every
later command presents the token and acts as that person.

Authentication writes its own transactions (a failed attempt, its counter and
its audit event must be kept even though the login is refused).

Every command runs ``current_actor``; it reads Core tables (``core/tables.py``),
so this module imports the ORM models, password hashing and the audit chain only
inside the functions that write (login, logout, lockout), not at the top.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from resv_cli.core import clock
from resv_cli.core.context import Actor
from resv_cli.core.errors import (
    AuthenticationFailed,
    InputError,
    NotLoggedIn,
    ResvError,
    SessionExpired,
)
from resv_cli.core.i18n import N_, _

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine
    from sqlalchemy.orm import Session

    from resv_cli.core.models import Account

SESSION_HOURS = 12
MAX_FAILURES = 5
LOCK_MINUTES = 15
LOGIN_FAILED = N_(
    "login failed: wrong login ID or password, or the account is locked, expired or "
    "disabled (ask city IT if this persists)"
)

SESSION_ENDED = N_("your session has ended: run `resv login` again")


class PasswordChangeRequired(ResvError):
    """The one-time password was right, but a new password must be set now."""


@dataclass
class LoginResult:
    token: str
    actor: Actor
    expires_at: dt.datetime
    password_changed: bool


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def _database_key(url: str) -> str:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    ident = f"{u.get_backend_name()}|{u.host or ''}|{u.port or ''}|{u.database or ''}"
    return hashlib.sha256(ident.encode()).hexdigest()[:24]


# --- the session file -------------------------------------------------------------


def _read_session_file() -> dict[str, Any]:
    """Read the session file; refuse one that others can read (as ssh refuses a key)."""
    import os
    import stat

    from resv_cli.core.config import session_file

    path = session_file()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        if path.is_symlink():
            raise ResvError(
                _(
                    "session file {path} is a symbolic link; refusing to use it "
                    "(remove it and run `resv login`)"
                ).format(path=path)
            ) from None
        raise ResvError(
            _("session file {path} is unreadable: {problem}").format(
                path=path, problem=exc.strerror or exc
            )
        ) from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if st.st_mode & 0o077:
            raise ResvError(
                _(
                    "session file {path} is open to other users (mode {mode:04o}): run "
                    "`chmod 600 {path}`, then `resv login` again if someone may have copied it"
                ).format(path=path, mode=stat.S_IMODE(st.st_mode))
            )
        if st.st_uid != os.getuid():
            raise ResvError(
                _("session file {path} belongs to another user; refusing to use it").format(
                    path=path
                )
            )
        raw = fh.read()
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError:
        raise ResvError(
            _("session file {path} is unreadable; remove it and run `resv login`").format(path=path)
        ) from None
    return data if isinstance(data, dict) else {}


def _write_session_file(data: dict[str, Any]) -> None:
    from resv_cli.core.config import session_file
    from resv_cli.core.files import write_private

    # replaced atomically (0600), never through a symbolic link
    write_private(
        session_file(),
        json.dumps(data, indent=1).encode("utf-8"),
        overwrite=True,
        make_parents=True,
    )


def save_token(url: str, token: str) -> None:
    data = _read_session_file()
    data[_database_key(url)] = {"token": token}
    _write_session_file(data)


def stored_token(url: str) -> str | None:
    entry = _read_session_file().get(_database_key(url))
    if isinstance(entry, dict) and isinstance(entry.get("token"), str):
        return str(entry["token"])
    return None


def forget_token(url: str) -> None:
    data = _read_session_file()
    if data.pop(_database_key(url), None) is not None:
        _write_session_file(data)


# --- actors -----------------------------------------------------------------------


def actor_for(session: Session, account: Account, session_id: int | None = None) -> Actor:
    from resv_cli.core.models import Organization

    org = session.get(Organization, account.organization_id)
    assert org is not None
    return Actor(
        account_id=account.id,
        login_id=account.login_id,
        display_name=account.display_name,
        organization_id=org.id,
        organization_code=org.code,
        organization_kind=org.kind,
        role=account.role,
        facility_id=account.facility_id,
        session_id=session_id,
    )


def account_usable(account: Account | Any, now: dt.datetime) -> str | None:
    """Return why the account cannot act now, or None when it can.

    ``account``: an ``Account``, or a row with its ``status``, ``valid_from`` and
    ``valid_until`` (the session check reads Core rows).
    """
    today = now.astimezone(clock.JST).date()
    if account.status != "active":
        return account.status
    if account.valid_from and today < account.valid_from:
        return "not_yet_valid"
    if account.valid_until and today > account.valid_until:
        return "expired"
    return None


@dataclass(frozen=True)
class LoggedIn:
    """The result of the session check: who acts, and until when the session lasts."""

    actor: Actor
    expires_at: dt.datetime


def current_actor(session: Session | Connection, url: str) -> Actor:
    """Return the logged-in actor for this database, or raise NotLoggedIn/SessionExpired."""
    return check_session(session, url).actor


def check_session(session: Session | Connection, url: str) -> LoggedIn:
    """Check this database's stored token; raise NotLoggedIn/SessionExpired when it fails.

    One query on the Core tables of ``core/tables.py`` (the session, its account and
    the account's organisation), so checking a session never loads the ORM.
    """
    from sqlalchemy import Connection

    from resv_cli.core.db import bind_session, present_session
    from resv_cli.core.tables import accounts, login_sessions, organizations

    token = stored_token(url)
    bind_session(None)  # nobody acts until the session is verified
    if not token:
        raise NotLoggedIn(_("not logged in to this database: run `resv login` first"))
    ls, acc, org = login_sessions.c, accounts.c, organizations.c
    query = (
        select(
            ls.id.label("session_id"),
            ls.expires_at,
            ls.ended_at,
            ls.end_reason,
            acc.id.label("account_id"),
            acc.login_id,
            acc.display_name,
            acc.role,
            acc.facility_id,
            acc.must_change_password,
            acc.status,
            acc.valid_from,
            acc.valid_until,
            org.id.label("organization_id"),
            org.code.label("organization_code"),
            org.kind.label("organization_kind"),
        )
        .select_from(
            login_sessions.outerjoin(accounts, acc.id == ls.account_id).outerjoin(
                organizations, org.id == acc.organization_id
            )
        )
        .where(ls.token_hash == token_hash(token))
    )
    bind = session if isinstance(session, Connection) else session.get_bind()
    if bind.dialect.name == "postgresql":
        # the same query presents the token to row-level security for this transaction
        # (resv.session_token, SET LOCAL; core/db.py bind_session binds the later ones)
        query = query.add_columns(present_session(token).label("presented"))
    row = session.execute(query).one_or_none()
    now = clock.now()
    if row is None or row.account_id is None:
        raise SessionExpired(_(SESSION_ENDED))

    def refused(reason: str) -> dict[str, Any]:
        # a known person trying to act on a session that no longer counts (revoked,
        # disabled, expired, ended): the monitor sees the attempt
        return {
            "action": "auth.session",
            "outcome": "denied",
            "account_id": row.account_id,
            "login_id": row.login_id,
            "resource_type": "account",
            "resource_id": row.account_id,
            "detail": {"reason": reason, "session": row.session_id},
        }

    if row.ended_at is not None:
        raise SessionExpired(
            _(SESSION_ENDED),
            **refused(f"session_{row.end_reason or 'ended'}"),
        )
    if row.expires_at <= now:
        raise SessionExpired(
            _("your session has expired: run `resv login` again"), **refused("session_expired")
        )
    if (why := account_usable(row, now)) is not None:
        raise SessionExpired(_(SESSION_ENDED), **refused(why))
    if row.must_change_password:
        raise SessionExpired(_("a new password must be set: run `resv login` again"))
    assert row.organization_id is not None
    actor = Actor(
        account_id=row.account_id,
        login_id=row.login_id,
        display_name=row.display_name,
        organization_id=row.organization_id,
        organization_code=row.organization_code,
        organization_kind=row.organization_kind,
        role=row.role,
        facility_id=row.facility_id,
        session_id=row.session_id,
    )
    bind_session(token)  # row-level security: this session acts in later transactions
    return LoggedIn(actor=actor, expires_at=row.expires_at)


# --- login / logout -----------------------------------------------------------------


def _record_failure(s: Session, login_id: str, account_id: int | None, reason: str) -> None:
    from resv_cli.audit import chain as audit
    from resv_cli.core.models import Account, Organization

    detail: dict[str, Any] = {"reason": reason}
    if account_id is None:
        # the typed ID may be a mistyped password: keep only its keyed hash
        detail["login_id_hmac"] = audit.keyed_hash(login_id)
        audit.record(s, None, "auth.login", outcome="failed", detail=detail)
    else:
        acct = s.get(Account, account_id)
        assert acct is not None
        org = s.get(Organization, acct.organization_id)
        audit.record(
            s,
            None,
            "auth.login",
            outcome="failed",
            detail=detail,
            account_id=acct.id,
            login_id=acct.login_id,
            organization_code=org.code if org else None,
            resource_type="account",
            resource_id=acct.id,
        )


def register_failure(
    s: Session, account: Account, now: dt.datetime, *, reason: str, action: str = "auth.login"
) -> None:
    """Count a wrong password (the row is locked by the caller); lock at the 5th.

    The lock lasts 15 minutes, doubling with each further lock (30, 60, ...).
    """
    from resv_cli.audit import chain as audit

    account.failed_attempts += 1
    if action == "auth.login":
        _record_failure(s, account.login_id, account.id, reason)
    else:
        audit.record(
            s,
            None,
            action,
            outcome="failed",
            detail={"reason": reason},
            account_id=account.id,
            login_id=account.login_id,
            resource_type="account",
            resource_id=account.id,
        )
    if account.failed_attempts >= MAX_FAILURES:
        account.lock_count += 1
        minutes = LOCK_MINUTES * 2 ** (account.lock_count - 1)
        account.locked_until = now + dt.timedelta(minutes=minutes)
        account.failed_attempts = 0
        audit.record(
            s,
            None,
            "account.lock",
            resource_type="account",
            resource_id=account.id,
            account_id=account.id,
            login_id=account.login_id,
            outcome="allowed",
            detail={"minutes": minutes, "lock_count": account.lock_count},
        )
    account.updated_at = now


def login(
    engine: Engine,
    login_id: str,
    password: str,
    new_password: str | None = None,
) -> LoginResult:
    """Authenticate and open a session; return its token (to be saved by the caller).

    An unknown ID, a wrong password, a locked, disabled or expired account all
    fail with the same message and exit code.  Five consecutive failures lock
    the account for 15 minutes, doubling with each further lock.  The counter is
    updated under a row lock, so concurrent processes cannot lose a failure.
    """
    from resv_cli.accounts import passwords
    from resv_cli.audit import chain as audit
    from resv_cli.core.db import transaction
    from resv_cli.core.models import Account, LoginSession

    login_id = login_id.strip()
    now = clock.now()
    failure: str | None = None
    with transaction(engine) as s:
        account = s.execute(
            select(Account).where(Account.login_id == login_id).with_for_update()
        ).scalar_one_or_none()
        if account is None:
            passwords.dummy_verify()
            _record_failure(s, login_id, None, "unknown_id")
            failure = "unknown_id"
        elif account.locked_until is not None and account.locked_until > now:
            passwords.dummy_verify()
            _record_failure(s, login_id, account.id, "locked")
            failure = "locked"
        else:
            ok, new_hash = passwords.verify(password, account.password_hash)
            if not ok:
                register_failure(s, account, now, reason="wrong_password")
                failure = "wrong_password"
            else:
                why = account_usable(account, now)
                if why is None and account.must_change_password:
                    exp = account.temp_password_expires_at
                    if exp is not None and exp <= now:
                        why = "one_time_password_expired"
                if why is not None:
                    _record_failure(s, login_id, account.id, why)
                    failure = why
    # the transaction above committed the counters and the audit event
    if failure is not None:
        raise AuthenticationFailed(_(LOGIN_FAILED))

    with transaction(engine) as s:
        account = s.execute(
            select(Account).where(Account.login_id == login_id).with_for_update()
        ).scalar_one()
        changed = False
        if account.must_change_password:
            if new_password is None:
                raise PasswordChangeRequired(
                    _("this is a one-time password: a new password must be set at first login")
                )
            _set_password(s, account, new_password, now)
            changed = True
        elif new_hash:
            account.password_hash = new_hash  # upgraded hash (e.g. bcrypt -> argon2id)
        account.failed_attempts = 0
        account.locked_until = None
        account.last_login_at = now
        account.updated_at = now
        token = secrets.token_urlsafe(32)
        expires = now + dt.timedelta(hours=SESSION_HOURS)
        row = LoginSession(
            account_id=account.id,
            token_hash=token_hash(token),
            created_at=now,
            expires_at=expires,
            last_seen_at=now,
        )
        s.add(row)
        s.flush()
        actor = actor_for(s, account, row.id)
        audit.record(
            s,
            actor,
            "auth.login",
            resource_type="account",
            resource_id=account.id,
            detail={"session": row.id, "rehashed": bool(new_hash), "password_set": changed},
        )
    return LoginResult(token=token, actor=actor, expires_at=expires, password_changed=changed)


def _set_password(s: Session, account: Account, new_password: str, now: dt.datetime) -> None:
    """Set a password the person chose, after the one policy (``check_new_password``)."""
    from resv_cli.accounts import passwords
    from resv_cli.accounts.lifecycle import check_new_password
    from resv_cli.audit import chain as audit

    check_new_password(s, account, new_password)
    ok, _rehash = passwords.verify(new_password, account.password_hash)
    if ok:
        raise InputError(_("the new password must differ from the current one"))
    account.password_hash = passwords.hash_password(new_password)
    account.password_changed_at = now
    account.must_change_password = False
    account.temp_password_expires_at = None
    audit.record(
        s,
        None,
        "account.password_change",
        resource_type="account",
        resource_id=account.id,
        account_id=account.id,
        login_id=account.login_id,
    )


def end_sessions(s: Session, account_id: int, reason: str, *, keep: int | None = None) -> int:
    """End every open session of an account (but ``keep``); return how many were ended."""
    from resv_cli.core.models import LoginSession

    now = clock.now()
    q = update(LoginSession).where(
        LoginSession.account_id == account_id, LoginSession.ended_at.is_(None)
    )
    if keep is not None:
        q = q.where(LoginSession.id != keep)
    result = s.execute(q.values(ended_at=now, end_reason=reason))
    return int(getattr(result, "rowcount", 0) or 0)


def logout(s: Session, actor: Actor) -> None:
    from resv_cli.audit import chain as audit
    from resv_cli.core.models import LoginSession

    if actor.session_id is not None:
        row = s.get(LoginSession, actor.session_id)
        if row is not None and row.ended_at is None:
            row.ended_at = clock.now()
            row.end_reason = "logout"
    audit.record(s, actor, "auth.logout", resource_type="account", resource_id=actor.account_id)


def whoami(logged_in: LoggedIn) -> dict[str, Any]:
    """Who is logged in, and until when: all from the session check, no further query."""
    actor = logged_in.actor
    return {
        "login_id": actor.login_id,
        "name": actor.display_name,
        "organization": actor.organization_code,
        "role": actor.role,
        "session_expires_at": logged_in.expires_at,
    }
