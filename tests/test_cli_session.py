"""resv db init, login, logout, whoami: the foundation's flows and their errors."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat

from support import ADMIN_LOGIN, ADMIN_PASSWORD, run_cli

from resv_cli.core import clock
from resv_cli.core.errors import (
    EXIT_ALREADY_INITIALISED,
    EXIT_AUTH_FAILED,
    EXIT_NOT_INITIALISED,
    EXIT_NOT_LOGGED_IN,
    EXIT_SESSION_EXPIRED,
)

LOGIN_FAILED = "Error: login failed: wrong login ID or password"


def test_init_login_whoami(installation, cli):
    result = cli("whoami", "--format", "json")
    assert result.exit_code == 0, result
    info = json.loads(result.stdout)
    assert info["login_id"] == ADMIN_LOGIN
    assert info["role"] == "admin"
    assert info["organization"] == "city"
    # data on stdout only, talk on stderr
    assert "Logged" not in result.stdout


def test_second_init_refused(installation, cli):
    result = cli("db", "init", "--admin", "other", "--password-stdin", input="x" * 20 + "\n")
    assert result.exit_code == EXIT_ALREADY_INITIALISED
    assert (
        result.stderr.strip() == "Error: this database is already initialised; nothing was changed"
    )
    assert installation.scalar("SELECT count(*) FROM accounts") == 1


def test_wrong_password_and_unknown_id_look_the_same(installation, cli):
    cli("logout")
    wrong = installation.login(ADMIN_LOGIN, "not the right password at all")
    unknown = installation.login("no-such-person", ADMIN_PASSWORD)
    assert wrong.exit_code == unknown.exit_code == EXIT_AUTH_FAILED
    assert wrong.stderr == unknown.stderr
    assert wrong.stderr.startswith(LOGIN_FAILED)
    assert len(wrong.stderr.strip().splitlines()) == 1
    # both attempts are audited as failures, without the typed values
    rows = installation.rows(
        "SELECT login_id, outcome, detail FROM audit_events WHERE action='auth.login' ORDER BY seq"
    )
    failed = [r for r in rows if r.outcome == "failed"]
    assert len(failed) == 2
    assert failed[0].login_id == ADMIN_LOGIN
    assert failed[1].login_id is None and "login_id_hmac" in failed[1].detail
    assert "no-such-person" not in "".join(r.detail for r in rows)


def test_no_session(installation, cli):
    cli("logout")
    result = cli("whoami")
    assert result.exit_code == EXIT_NOT_LOGGED_IN
    assert result.stderr.strip() == "Error: not logged in to this database: run `resv login` first"


def test_expired_session(installation, cli, monkeypatch):
    later = clock.now() + dt.timedelta(hours=13)
    monkeypatch.setattr(clock, "now", lambda: later)
    result = cli("whoami")
    assert result.exit_code == EXIT_SESSION_EXPIRED
    assert result.stderr.strip() == "Error: your session has expired: run `resv login` again"


def test_logout_ends_the_session_in_the_database(installation, cli):
    token_file = installation_session_file()
    token = next(iter(json.loads(token_file.read_text()).values()))["token"]
    assert cli("logout").exit_code == 0
    # the old token no longer works even if someone kept a copy of the file
    from resv_cli.accounts.sessions import save_token

    save_token(installation.url, token)
    result = cli("whoami")
    assert result.exit_code == EXIT_SESSION_EXPIRED
    assert "session has ended" in result.stderr


def installation_session_file():
    from resv_cli.core.config import session_file

    return session_file()


def test_session_file_is_private_and_holds_no_password(installation):
    path = installation_session_file()
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode == 0o600
    text = path.read_text()
    assert ADMIN_PASSWORD not in text
    token = next(iter(json.loads(text).values()))["token"]
    # only the hash of the token is in the database
    assert installation.scalar("SELECT count(*) FROM sessions WHERE token_hash = :t", t=token) == 0
    import hashlib

    assert (
        installation.scalar(
            "SELECT count(*) FROM sessions WHERE token_hash = :t",
            t=hashlib.sha256(token.encode()).hexdigest(),
        )
        == 1
    )


def test_not_initialised(db_url, cli):
    for command in (["whoami"], ["db", "check"]):  # db check too: 9, not 8 (schema drift)
        result = cli(*command)
        assert result.exit_code == EXIT_NOT_INITIALISED, command
        assert (
            result.stderr.strip()
            == "Error: this database is not initialised; run `resv db init` first"
        )


def test_init_rejects_weak_password(db_url, cli):
    result = cli("db", "init", "--admin", "it-admin", "--password-stdin", input="short\n")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: password too short: at least 15 characters are required"
    )
    from resv_cli.core.db import get_engine, is_initialised

    assert not is_initialised(get_engine(db_url))


def test_password_is_never_an_argument(cli):
    result = run_cli("login", "it-admin", "--password", "secret")
    assert result.exit_code == 2
    assert "No such option" in result.stderr


def test_db_option_takes_a_plain_path(tmp_path, cli):
    path = tmp_path / "city.db"
    result = cli(
        "--db",
        str(path),
        "db",
        "init",
        "--admin",
        "a1",
        "--password-stdin",
        input=ADMIN_PASSWORD + "\n",
    )
    assert result.exit_code == 0, result
    assert path.exists()


def test_a_revoked_persons_old_session_is_refused_and_recorded(installation, cli):
    import factories
    from sqlalchemy import text

    inst = installation
    factories.make_org(inst, "inzai-fm")
    factories.make_account(inst, "fm-gone", "inzai-fm", "operator")
    assert inst.login("fm-gone", factories.DEFAULT_PASSWORD).exit_code == 0
    with inst.engine().begin() as conn:  # revoked while the session is still open
        conn.execute(text("UPDATE accounts SET status = 'revoked' WHERE login_id = 'fm-gone'"))
    r = cli("whoami")
    assert (r.exit_code, r.stderr.strip()) == (
        EXIT_SESSION_EXPIRED,
        "Error: your session has ended: run `resv login` again",
    )
    with inst.engine().begin() as conn:  # and once its sessions are ended too
        conn.execute(
            text(
                "UPDATE sessions SET ended_at = created_at, end_reason = 'revoked' WHERE "
                "account_id = (SELECT id FROM accounts WHERE login_id = 'fm-gone')"
            )
        )
    r = cli("registrant", "search", "--name", "誰か")
    assert (r.exit_code, r.stderr.strip()) == (
        EXIT_SESSION_EXPIRED,
        "Error: your session has ended: run `resv login` again",
    )
    events = inst.rows(
        "SELECT action, outcome, login_id, organization_code, detail FROM audit_events "
        "WHERE action = 'auth.session' ORDER BY seq"
    )
    assert [(e[0], e[1], e[2], e[3], json.loads(e[4])["reason"]) for e in events] == [
        ("auth.session", "denied", "fm-gone", "inzai-fm", "revoked"),
        ("auth.session", "denied", "fm-gone", "inzai-fm", "session_revoked"),
    ]


def test_times_a_person_reads_are_japan_time(installation, cli, tmp_path):
    """The login message and the one-time-password workbook show JST, not UTC."""
    import datetime as dt

    import openpyxl

    from resv_cli.core import clock

    instant = dt.datetime(2026, 12, 2, 15, 30, tzinfo=dt.UTC)  # 00:30 JST on 3 December
    assert clock.shown(instant) == "2026-12-03 00:30 JST"
    r = installation.login("it-admin", "Kyou-wa-ii-tenki-desu-ne-42")
    assert r.exit_code == 0, r
    assert r.stderr.rstrip().endswith(" JST.") and "UTC" not in r.stderr
    out = tmp_path / "c.xlsx"
    r = cli("account", "grant", "it-new", "--name", "新井 一郎", "--org", "city", "--role",
            "monitor", "--credentials-out", str(out))  # fmt: skip
    assert r.exit_code == 0, r
    rows = list(openpyxl.load_workbook(out, read_only=True).worksheets[0].values)
    assert rows[0][3] == "有効期限 (日本時間) / expires (JST)"
    assert rows[1][3].endswith(" JST")
