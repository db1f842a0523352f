"""resv org / account: grant, first login, expiry, validity, lockout, revoke, reset, passwd.

Runs on SQLite and PostgreSQL (the ``installation`` fixture).
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from factories import DEFAULT_PASSWORD, make_account, make_facility, make_org

from resv_cli.accounts.sessions import LOGIN_FAILED
from resv_cli.core import clock
from resv_cli.core.errors import (
    EXIT_AUTH_FAILED,
    EXIT_DENIED,
    EXIT_FAILED,
    EXIT_SESSION_EXPIRED,
)

NEW_PW = "Hajimete-no-jibun-no-pass-7"
TERM = ("2017-04-01", "2032-03-31")


@pytest.fixture
def city(installation, cli):
    """An initialised database with a designated manager and two facilities."""
    r = cli(
        "org", "add", "inzai-fm", "株式会社いんざい施設管理", "--kind", "designated-manager",
        "--term-start", TERM[0], "--term-end", TERM[1],
    )  # fmt: skip
    assert r.exit_code == 0, r
    make_facility(installation, "chuo-rojin", "senior_welfare_centre", name="中央老人福祉センター")
    make_facility(installation, "chiiki-fukushi", "welfare_centre", name="地域福祉センター")
    return installation


def grant(cli, login_id, *extra):
    r = cli(
        "account", "grant", login_id, "--name", "佐藤 美咲", "--org", "inzai-fm",
        "--role", "operator", "--facility", "chuo-rojin", "--format", "json", *extra,
    )  # fmt: skip
    assert r.exit_code == 0, r
    [cred] = json.loads(r.stdout)
    return cred


def shift_clock(monkeypatch, delta: dt.timedelta) -> None:
    real = clock.now.__wrapped__ if hasattr(clock.now, "__wrapped__") else clock.now

    def fake() -> dt.datetime:
        return real() + delta

    fake.__wrapped__ = real  # type: ignore[attr-defined]
    monkeypatch.setattr(clock, "now", fake)


def audit_actions(inst, since: int = 0) -> list[tuple[str, str]]:
    return [
        (r[0], r[1])
        for r in inst.rows(
            "SELECT action, outcome FROM audit_events WHERE seq > :s ORDER BY seq", s=since
        )
    ]


# --- organisations ------------------------------------------------------------------


def test_org_add_list_show(city, cli):
    r = cli("org", "list", "--format", "json")
    assert r.exit_code == 0, r
    orgs = {o["code"]: o for o in json.loads(r.stdout)}
    assert orgs["inzai-fm"]["kind"] == "designated_manager"
    assert orgs["inzai-fm"]["term_start"] == TERM[0] and orgs["inzai-fm"]["term_end"] == TERM[1]
    r = cli("org", "show", "inzai-fm", "--format", "json")
    assert json.loads(r.stdout)["in_term_today"] is True

    r = cli("org", "add", "kita-fm", "北総管理", "--kind", "designated-manager")
    assert r.exit_code == EXIT_FAILED
    assert "needs its designation term" in r.stderr
    r = cli("org", "add", "inzai-fm", "x", "--kind", "city")
    assert r.exit_code == EXIT_FAILED and "already exists" in r.stderr
    r = cli("org", "show", "nope")
    assert r.exit_code == EXIT_FAILED and "no organisation with code 'nope'" in r.stderr


def test_every_command_checks_the_role_and_audits_the_refusal(city, cli):
    make_account(city, "fm-staff", "inzai-fm")
    assert city.login("fm-staff", DEFAULT_PASSWORD).exit_code == 0
    before = city.scalar("SELECT max(seq) FROM audit_events")
    for args, action in [
        (["org", "add", "x-fm", "X", "--kind", "city"], "org.add"),
        (["org", "list"], "org.list"),
        (["account", "list"], "account.list"),
        (["account", "grant", "abc", "--name", "a", "--org", "city", "--role", "admin"],
         "account.grant"),
        (["account", "unlock", "it-admin"], "account.unlock"),
        (["account", "revoke", "it-admin"], "account.revoke"),
        (["account", "reset-password", "it-admin"], "account.reset_password"),
        (["account", "disable-dormant", "--days", "1"], "account.disable_dormant"),
        (["account", "import-roster", "x.csv", "--org", "inzai-fm"], "account.import_roster"),
        (["training", "list"], "training.list"),
        (["account", "policy", "--min-length", "8"], "account.policy"),
    ]:  # fmt: skip
        r = cli(*args)
        assert r.exit_code == EXIT_DENIED, (args, r)
        assert f"permission denied: {action} needs the" in r.stderr, r
        assert "(you are operator)" in r.stderr
    denied = city.rows(
        "SELECT action, login_id FROM audit_events WHERE seq > :s AND outcome = 'denied'",
        s=before,
    )
    assert len(denied) == 11
    assert all(login == "fm-staff" for _, login in denied)
    # and one's own account is visible to oneself
    r = cli("account", "show", "fm-staff")
    assert r.exit_code == 0 and "fm-staff" in r.stdout


# --- grant and first login -----------------------------------------------------------


@pytest.mark.production_hash  # asserts the production argon2id cost
def test_grant_then_forced_change_at_first_login(city, cli):
    cred = grant(cli, "fm-sato")
    otp = cred["one_time_password"]
    assert len(otp.replace("-", "")) == 28
    row = city.rows(
        "SELECT password_hash, must_change_password, temp_password_expires_at, valid_until, "
        "role FROM accounts WHERE login_id = 'fm-sato'"
    )[0]
    assert row[0].startswith("$argon2id$v=19$m=19456,t=2,p=1$") and otp not in row[0]
    assert row[1] is True or row[1] == 1
    assert str(row[3]) == TERM[1]  # valid_until defaults to the end of the term
    # the grant is audited without the password or the name
    detail = city.scalar(
        "SELECT detail FROM audit_events WHERE action = 'account.grant' ORDER BY seq DESC"
    )
    assert otp not in detail and "佐藤" not in detail

    # one-time password alone: refused, a new password is required
    r = city.login("fm-sato", otp)
    assert r.exit_code == EXIT_FAILED
    assert "a new password must be set at first login" in r.stderr
    # a weak new password is refused with the reason
    r = city.login("fm-sato", otp, "fm-sato-password-123")
    assert r.exit_code == EXIT_FAILED and "must not contain the login ID" in r.stderr
    r = city.login("fm-sato", otp, NEW_PW)
    assert r.exit_code == 0, r
    assert "Password set." in r.stderr
    assert city.scalar("SELECT must_change_password FROM accounts WHERE login_id='fm-sato'") in (
        False,
        0,
    )
    # the one-time password is single-use
    r = city.login("fm-sato", otp)
    assert r.exit_code == EXIT_AUTH_FAILED and LOGIN_FAILED in r.stderr
    assert city.login("fm-sato", NEW_PW).exit_code == 0


def test_one_time_password_expires_after_72_hours(city, cli, monkeypatch):
    cred = grant(cli, "fm-late")
    shift_clock(monkeypatch, dt.timedelta(hours=72, minutes=1))
    r = city.login("fm-late", cred["one_time_password"], NEW_PW)
    assert r.exit_code == EXIT_AUTH_FAILED
    assert LOGIN_FAILED in r.stderr
    reason = city.scalar(
        "SELECT detail FROM audit_events WHERE action='auth.login' AND outcome='failed' "
        "ORDER BY seq DESC"
    )
    assert "one_time_password_expired" in reason


def test_one_time_password_still_works_at_71_hours(city, cli, monkeypatch):
    cred = grant(cli, "fm-ontime")
    shift_clock(monkeypatch, dt.timedelta(hours=71))
    assert city.login("fm-ontime", cred["one_time_password"], NEW_PW).exit_code == 0


def test_grant_refusals(city, cli):
    grant(cli, "fm-dup")
    r = cli("account", "grant", "fm-dup", "--name", "x", "--org", "inzai-fm", "--role", "operator")
    assert r.exit_code == EXIT_FAILED and "already taken" in r.stderr
    r = cli("account", "grant", "fm-adm", "--name", "x", "--org", "inzai-fm", "--role", "admin")
    assert r.exit_code == EXIT_FAILED and "for the city's own staff" in r.stderr
    r = cli(
        "account", "grant", "fm-long", "--name", "x", "--org", "inzai-fm", "--role", "operator",
        "--valid-until", "2033-01-01",
    )  # fmt: skip
    assert r.exit_code == EXIT_FAILED and "after the end of inzai-fm's designation term" in r.stderr
    r = cli("account", "grant", "Bad ID", "--name", "x", "--org", "inzai-fm", "--role", "operator")
    assert r.exit_code == EXIT_FAILED and "login ID must be" in r.stderr
    r = cli(
        "account", "grant", "fm-x", "--name", "x", "--org", "inzai-fm", "--role", "operator",
        "--facility", "nowhere",
    )  # fmt: skip
    assert r.exit_code == EXIT_FAILED and "no facility with code 'nowhere'" in r.stderr
    assert city.scalar("SELECT count(*) FROM accounts WHERE login_id <> 'it-admin'") == 1


def test_grant_writes_credentials_file_0600(city, cli, tmp_path):
    import openpyxl

    out = tmp_path / "one.xlsx"
    r = cli(
        "account", "grant", "fm-file", "--name", "伊藤 翔太", "--org", "inzai-fm",
        "--role", "operator", "--credentials-out", str(out),
    )  # fmt: skip
    assert r.exit_code == 0, r
    assert r.stdout == ""  # not on the terminal when written to a file
    assert out.stat().st_mode & 0o777 == 0o600
    ws = openpyxl.load_workbook(out).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[1][0] == "fm-file" and rows[1][1] == "伊藤 翔太"
    assert city.login("fm-file", rows[1][2], NEW_PW).exit_code == 0
    # an existing file is never overwritten
    r = cli(
        "account", "grant", "fm-file2", "--name", "x", "--org", "inzai-fm", "--role", "operator",
        "--credentials-out", str(out),
    )  # fmt: skip
    assert r.exit_code == EXIT_FAILED and "already exists" in r.stderr
    # the file is an xlsx workbook, so a name that says otherwise is refused before any work
    csv_name = tmp_path / "one.csv"
    r = cli(
        "account", "grant", "fm-file3", "--name", "x", "--org", "inzai-fm", "--role", "operator",
        "--credentials-out", str(csv_name),
    )  # fmt: skip
    assert (r.exit_code, r.stderr) == (
        EXIT_FAILED,
        f"Error: {csv_name}: --credentials-out must name a new .xlsx file\n",
    )
    assert not csv_name.exists()
    assert city.scalar("SELECT count(*) FROM accounts WHERE login_id = 'fm-file3'") == 0


# --- validity ------------------------------------------------------------------------


def test_validity_window(city, cli):
    today = clock.today()
    make_account(city, "fm-future", "inzai-fm", valid_from=today + dt.timedelta(days=1))
    make_account(city, "fm-past", "inzai-fm", valid_until=today - dt.timedelta(days=1))
    make_account(city, "fm-now", "inzai-fm", valid_from=today, valid_until=today)
    for login in ("fm-future", "fm-past"):
        r = city.login(login, DEFAULT_PASSWORD)
        assert r.exit_code == EXIT_AUTH_FAILED and LOGIN_FAILED in r.stderr
    assert city.login("fm-now", DEFAULT_PASSWORD).exit_code == 0


def test_session_stops_working_when_validity_ends(city, cli):
    from sqlalchemy import text

    make_account(city, "fm-ends", "inzai-fm", valid_until=clock.today())
    assert city.login("fm-ends", DEFAULT_PASSWORD).exit_code == 0
    assert cli("whoami").exit_code == 0
    # the validity ends while the session is open (e.g. the term was shortened)
    with city.engine().begin() as conn:
        conn.execute(
            text("UPDATE accounts SET valid_until = :d WHERE login_id = 'fm-ends'"),
            {"d": clock.today() - dt.timedelta(days=1)},
        )
    r = cli("whoami")
    assert r.exit_code == EXIT_SESSION_EXPIRED and "session has ended" in r.stderr


# --- lockout -------------------------------------------------------------------------


def test_lockout_after_five_failures_doubling_and_unlock(city, cli, monkeypatch):
    make_account(city, "fm-lock", "inzai-fm")
    unknown = city.login("no-such-person", "whatever-password")
    assert unknown.exit_code == EXIT_AUTH_FAILED
    for i in range(5):
        r = city.login("fm-lock", f"wrong-password-{i}")
        assert (r.exit_code, r.stderr) == (unknown.exit_code, unknown.stderr)
    assert city.scalar("SELECT lock_count FROM accounts WHERE login_id='fm-lock'") == 1
    # locked: even the right password gets the identical message
    r = city.login("fm-lock", DEFAULT_PASSWORD)
    assert (r.exit_code, r.stderr) == (unknown.exit_code, unknown.stderr)
    # 15 minutes later it opens again
    shift_clock(monkeypatch, dt.timedelta(minutes=14))
    assert city.login("fm-lock", DEFAULT_PASSWORD).exit_code == EXIT_AUTH_FAILED
    shift_clock(monkeypatch, dt.timedelta(minutes=15, seconds=1))
    assert city.login("fm-lock", DEFAULT_PASSWORD).exit_code == 0
    # the next lock lasts 30 minutes
    for i in range(5):
        city.login("fm-lock", f"wrong-again-{i}")
    locked_until, lock_count = city.rows(
        "SELECT locked_until, lock_count FROM accounts WHERE login_id='fm-lock'"
    )[0]
    assert lock_count == 2
    if isinstance(locked_until, str):
        locked_until = dt.datetime.fromisoformat(locked_until).replace(tzinfo=dt.UTC)
    remaining = locked_until - clock.now()
    assert dt.timedelta(minutes=29) < remaining <= dt.timedelta(minutes=30)
    locks = city.rows("SELECT detail FROM audit_events WHERE action='account.lock' ORDER BY seq")
    assert [json.loads(d[0])["minutes"] for d in locks] == [15, 30]

    city.login_admin()
    r = cli("account", "unlock", "fm-lock")
    assert r.exit_code == 0 and "unlocked (was locked)" in r.stderr
    assert city.login("fm-lock", DEFAULT_PASSWORD).exit_code == 0
    actions = {a for a, _ in audit_actions(city)}
    assert {"auth.login", "account.lock", "account.unlock"} <= actions
    failed = city.scalar(
        "SELECT count(*) FROM audit_events WHERE action='auth.login' AND outcome='failed'"
    )
    assert failed == 1 + 5 + 2 + 5  # unknown, 5 wrong, 2 while locked, 5 wrong


def test_unknown_id_is_audited_without_the_typed_text(city):
    r = city.login("Kyou-wa-typo-password", "x")
    assert r.exit_code == EXIT_AUTH_FAILED
    detail, login_id = city.rows(
        "SELECT detail, login_id FROM audit_events WHERE outcome='failed' ORDER BY seq DESC"
    )[0]
    assert login_id is None and "Kyou-wa-typo" not in detail and "login_id_hmac" in detail


# --- rehash at login -----------------------------------------------------------------


@pytest.mark.production_hash  # asserts the production argon2id cost
def test_bcrypt_hash_is_rehashed_to_argon2id_at_login(city):
    from passlib.hash import bcrypt

    make_account(city, "fm-legacy", "inzai-fm")
    with city.engine().begin() as conn:
        from sqlalchemy import text

        conn.execute(
            text("UPDATE accounts SET password_hash = :h WHERE login_id = 'fm-legacy'"),
            {"h": bcrypt.using(rounds=4).hash(DEFAULT_PASSWORD)},
        )
    assert city.scalar("SELECT password_hash FROM accounts WHERE login_id='fm-legacy'").startswith(
        "$2b$"
    )
    assert city.login("fm-legacy", DEFAULT_PASSWORD).exit_code == 0
    h = city.scalar("SELECT password_hash FROM accounts WHERE login_id='fm-legacy'")
    assert h.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    detail = city.scalar(
        "SELECT detail FROM audit_events WHERE action='auth.login' AND outcome='allowed' "
        "ORDER BY seq DESC"
    )
    assert json.loads(detail)["rehashed"] is True
    assert city.login("fm-legacy", DEFAULT_PASSWORD).exit_code == 0


# --- revoke, reset, passwd --------------------------------------------------------------


def open_sessions(inst, login_id: str) -> int:
    return inst.scalar(
        "SELECT count(*) FROM sessions s JOIN accounts a ON a.id = s.account_id "
        "WHERE a.login_id = :l AND s.ended_at IS NULL",
        l=login_id,
    )


def test_revoke_disables_at_once_and_ends_sessions(city, cli):
    make_account(city, "fm-gone", "inzai-fm")
    assert city.login("fm-gone", DEFAULT_PASSWORD).exit_code == 0
    assert open_sessions(city, "fm-gone") == 1
    city.login_admin()
    r = cli("account", "revoke", "fm-gone", "--reason", "left the company")
    assert r.exit_code == 0 and "1 session(s) ended" in r.stderr
    assert open_sessions(city, "fm-gone") == 0
    assert city.scalar("SELECT status FROM accounts WHERE login_id='fm-gone'") == "revoked"
    r = city.login("fm-gone", DEFAULT_PASSWORD)
    assert r.exit_code == EXIT_AUTH_FAILED and LOGIN_FAILED in r.stderr
    city.login_admin()
    r = cli("account", "revoke", "it-admin")
    assert r.exit_code == EXIT_FAILED and "cannot revoke your own account" in r.stderr


def test_reset_password_issues_one_time_password_and_ends_all_sessions(city, cli):
    make_account(city, "fm-forgot", "inzai-fm")
    city.login("fm-forgot", DEFAULT_PASSWORD)
    city.login("fm-forgot", DEFAULT_PASSWORD)
    assert open_sessions(city, "fm-forgot") == 2
    city.login_admin()
    r = cli("account", "reset-password", "fm-forgot", "--format", "json")
    assert r.exit_code == 0, r
    otp = json.loads(r.stdout)[0]["one_time_password"]
    assert open_sessions(city, "fm-forgot") == 0
    assert city.login("fm-forgot", DEFAULT_PASSWORD).exit_code == EXIT_AUTH_FAILED
    assert city.login("fm-forgot", otp, NEW_PW).exit_code == 0


def test_passwd_changes_own_password_and_ends_other_sessions(city, cli):
    make_account(city, "fm-self", "inzai-fm", name="渡邉 由美子")
    city.login("fm-self", DEFAULT_PASSWORD)
    city.login("fm-self", DEFAULT_PASSWORD)  # the current session (the token on file)
    assert open_sessions(city, "fm-self") == 2
    r = cli("account", "passwd", "--password-stdin", input=f"{DEFAULT_PASSWORD}\n{NEW_PW}\n")
    assert r.exit_code == 0, r
    assert "1 other session(s) ended" in r.stderr
    assert open_sessions(city, "fm-self") == 1
    assert cli("whoami").exit_code == 0  # this session goes on
    assert city.login("fm-self", DEFAULT_PASSWORD).exit_code == EXIT_AUTH_FAILED
    assert city.login("fm-self", NEW_PW).exit_code == 0


def test_passwd_refusals(city, cli):
    make_account(city, "fm-pw", "inzai-fm", name="山崎 さくら")
    city.login("fm-pw", DEFAULT_PASSWORD)
    r = cli("account", "passwd", "--password-stdin", input=f"not-my-password!!\n{NEW_PW}\n")
    assert r.exit_code == EXIT_AUTH_FAILED and "password not changed" in r.stderr
    assert city.scalar("SELECT failed_attempts FROM accounts WHERE login_id='fm-pw'") == 1
    for bad, why in [
        ("short-1", "at least 15"),
        ("山崎のひみつのあいことば-2026", "must not contain the person's name"),
        (DEFAULT_PASSWORD, "must differ from the current one"),
    ]:
        r = cli("account", "passwd", "--password-stdin", input=f"{DEFAULT_PASSWORD}\n{bad}\n")
        assert r.exit_code == EXIT_FAILED and why in r.stderr, (bad, r)
    r = cli("account", "passwd", "--password-stdin", input=f"{DEFAULT_PASSWORD}\n")
    assert r.exit_code == EXIT_FAILED and "needs two lines" in r.stderr


def test_policy_setting_lowers_minimum_never_below_8(city, cli):
    r = cli("account", "policy", "--min-length", "7")
    assert r.exit_code == EXIT_FAILED and "between 8 and 64" in r.stderr
    assert cli("account", "policy", "--min-length", "10").exit_code == 0
    make_account(city, "fm-ten", "inzai-fm")
    city.login("fm-ten", DEFAULT_PASSWORD)
    r = cli("account", "passwd", "--password-stdin", input=f"{DEFAULT_PASSWORD}\ntea-garden9\n")
    assert r.exit_code == 0, r


# --- list, show, dormant ---------------------------------------------------------------


def test_list_show_never_show_a_hash(city, cli):
    make_account(city, "fm-a", "inzai-fm", facility="chuo-rojin")
    grant(cli, "fm-b")
    r = cli("account", "list", "--org", "inzai-fm", "--format", "json")
    assert r.exit_code == 0
    rows = {a["login_id"]: a for a in json.loads(r.stdout)}
    assert set(rows) == {"fm-a", "fm-b"}
    assert rows["fm-b"]["password"] == "one-time"
    r = cli("account", "list", "--status", "one-time", "--format", "json")
    assert [a["login_id"] for a in json.loads(r.stdout)] == ["fm-b"]
    r = cli("account", "show", "fm-a")
    assert r.exit_code == 0 and "chuo-rojin" in r.stdout
    for out in (r.stdout, cli("account", "list", "--format", "csv").stdout):
        assert "$argon2" not in out and "password_hash" not in out
    r = cli("account", "list", "--status", "weird")
    assert r.exit_code == EXIT_FAILED and "--status must be one of" in r.stderr


def test_dormant_listing_and_disable(city, cli):
    old = clock.now() - dt.timedelta(days=120)
    make_account(city, "fm-sleepy", "inzai-fm", last_login_at=old)
    make_account(city, "fm-new", "inzai-fm")
    make_account(city, "fm-never", "inzai-fm")
    with city.engine().begin() as conn:
        from sqlalchemy import text

        conn.execute(
            text("UPDATE accounts SET created_at = :t WHERE login_id='fm-never'"),
            {"t": old.replace(tzinfo=None) if city.backend == "sqlite" else old},
        )
    r = cli("account", "list", "--dormant", "90", "--format", "json")
    assert sorted(a["login_id"] for a in json.loads(r.stdout)) == ["fm-never", "fm-sleepy"]
    r = cli("account", "disable-dormant", "--days", "90", "--dry-run")
    assert r.exit_code == 0 and "2 account(s) would be disabled" in r.stderr
    assert city.scalar("SELECT count(*) FROM accounts WHERE status='disabled'") == 0
    r = cli("account", "disable-dormant", "--days", "90")
    assert r.exit_code == 0 and "2 account(s) disabled" in r.stderr
    assert city.scalar("SELECT count(*) FROM accounts WHERE status='disabled'") == 2
    assert city.scalar("SELECT status FROM accounts WHERE login_id='fm-new'") == "active"
    assert city.scalar("SELECT status FROM accounts WHERE login_id='it-admin'") == "active"
    r = city.login("fm-sleepy", DEFAULT_PASSWORD)
    assert r.exit_code == EXIT_AUTH_FAILED
    assert city.scalar("SELECT count(*) FROM accounts") == 4  # disabled, never deleted


def test_valid_until_defaults_to_term_end_and_an_ended_term_cannot_log_in(installation, cli):
    make_org(installation, "other-fm", term=(dt.date(2020, 4, 1), dt.date(2025, 3, 31)))
    # issue 15: an account born expired is refused, saying what to do
    r = cli(
        "account", "grant", "of-1", "--name", "x", "--org", "other-fm", "--role", "operator",
        "--format", "json",
    )  # fmt: skip
    assert (r.exit_code, r.stderr) == (
        EXIT_FAILED,
        "Error: other-fm's designation ended on 2025-03-31: record the renewal with "
        "`resv org renew other-fm --until ...` first\n",
    )
    assert installation.scalar("SELECT count(*) FROM accounts WHERE login_id='of-1'") == 0
    # the term is corrected: the default is its end; once that day is past, no login
    assert cli("org", "update", "other-fm", "--term-end", "2099-03-31").exit_code == 0
    r = cli(
        "account", "grant", "of-1", "--name", "x", "--org", "other-fm", "--role", "operator",
        "--format", "json",
    )  # fmt: skip
    assert r.exit_code == 0, r
    assert installation.scalar("SELECT valid_until FROM accounts WHERE login_id='of-1'") in (
        dt.date(2099, 3, 31),
        "2099-03-31",
    )
    from sqlalchemy import text

    with installation.engine().begin() as conn:
        conn.execute(text("UPDATE accounts SET valid_until = '2025-03-31' WHERE login_id='of-1'"))
    r = installation.login("of-1", json.loads(r.stdout)[0]["one_time_password"], NEW_PW)
    assert r.exit_code == EXIT_AUTH_FAILED  # the account's last day has passed
