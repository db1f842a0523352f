"""Issue 14, passwords (NIST SP 800-63B rev. 4): invisible characters, context words,
the strength estimate, and ``account passwd`` on a locked account.

The rules without a database first, then each reproduced problem through the CLI,
on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json

import pytest
from factories import DEFAULT_PASSWORD, make_account, make_facility, make_org
from sqlalchemy import text
from sqlalchemy.orm import Session
from support import ADMIN_NAME

from resv_cli.accounts import passwords
from resv_cli.accounts.romaji import name_patterns, spellings
from resv_cli.core import clock
from resv_cli.core.errors import EXIT_AUTH_FAILED, EXIT_FAILED, InputError
from resv_cli.core.models import RosterEntry

GOOD_NEW = "Hajimete-no-jibun-no-pass-7"
ZERO_WIDTH = "\u200b" * 12 + "abcd"  # 16 characters, 4 of them visible


def reason(password: str, **kw: object) -> str:
    with pytest.raises(InputError) as exc:
        passwords.check_policy(password, **kw)  # type: ignore[arg-type]
    msg = str(exc.value)
    assert password not in msg  # a policy error never repeats the password
    return msg


# --- the rules (no database) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("char", "code"),
    [
        ("\u200b", "U+200B"),  # zero-width space (Cf)
        ("\u202e", "U+202E"),  # right-to-left override (Cf)
        ("\u00ad", "U+00AD"),  # soft hyphen (Cf)
        ("\u2028", "U+2028"),  # line separator (Zl)
        ("\u2029", "U+2029"),  # paragraph separator (Zp)
        ("\x07", "U+0007"),  # bell (Cc)
        ("\u0378", "U+0378"),  # unassigned
    ],
)
def test_invisible_and_formatting_characters_are_refused_before_the_length_rule(char, code):
    msg = reason(char * 12 + "abcd")
    assert msg.startswith("password must not contain invisible or formatting characters")
    assert code in msg
    # also inside a password that is long and strong otherwise
    assert "invisible" in reason(f"Kaze-no-naka{char}-no-Sakura-2026")


def test_twelve_zero_width_spaces_and_abcd_do_not_pass_the_length_rule():
    assert "invisible or formatting characters (found U+200B)" in reason(ZERO_WIDTH)


def test_a_weak_password_is_refused_with_zxcvbns_feedback_in_one_line():
    msg = reason("password1234567890")
    assert msg.startswith("password is too easy to guess (strength 1 of 4, at least 3 required): ")
    assert "similar to a commonly used password" in msg and "\n" not in msg
    # the score is a setting: a lower one lets it through, never below what is asked
    passwords.check_policy("Kaze-no-naka-no-Sakura-2026", min_score=4)
    assert "at least 4 required" in reason("abcdefghijk-12345", min_score=4)


@pytest.mark.parametrize(
    "password",
    [
        "satou-misaki-no-aikotoba",  # Hepburn with ou
        "Sato-no-atarashii-pass-2017",  # long vowel dropped
        "SATOH.kaze.no.naka.2026",  # oh, upper case, dots between
        "kaze-no-naka-no-misaki-77",  # the given name
        "さとうの-あたらしい-ぱす-2017",  # the reading in hiragana
        "ｓａｔｏｏ－ｋａｚｅ－ｎｏ－ｎａｋａ",  # full-width, oo
    ],
)
def test_the_persons_name_in_kanji_kana_or_romaji_is_refused(password):
    msg = reason(password, name="佐藤 美咲", kana="サトウ ミサキ")
    assert "must not contain the person's name" in msg


def test_kanji_name_and_its_parts_of_two_kanji_are_refused():
    assert "name" in reason("佐藤のひみつのあいことばをきめました", name="佐藤 美咲")
    assert "name" in reason("鈴木花子のひみつのあいことばをきめました", name="鈴木 花子")


@pytest.mark.parametrize(
    ("kana", "password"),
    [
        ("タカハシ", "takahasi-no-pass-kimeta-99"),  # si for shi
        ("ツチヤ", "tutiya-no-pass-kimeta-99"),  # tu, ti
        ("フジタ", "huzita-no-pass-kimeta-99"),  # hu, zi
        ("キョウコ", "kyoko-no-pass-kimeta-99"),
        ("シンイチ", "sinichi-no-pass-kimeta-99"),
        ("ハットリ", "hattori-no-pass-kimeta-99"),
        ("ユーコ", "yuko-no-pass-kimeta-99"),
    ],
)
def test_romaji_variants(kana, password):
    assert "romaji" in reason(password, kana=kana)


def test_romaji_spellings_table():
    assert spellings("サトウ") == ("satou", "sato(?:u|o|h)?")
    assert spellings("しんいち")[0] == "shinichi"
    assert spellings("マッチャ")[0] == "matcha"
    assert spellings("佐藤") is None  # kanji: no reading here
    # a name of fewer than three letters is not checked (ユ -> yu)
    assert name_patterns(["ユ", "ケン"])[0][0] == "ken" and len(name_patterns(["ユ"])) == 0


def test_login_id_organisation_and_product_are_refused_ignoring_separators():
    assert "login ID" in reason("my.inzai_fm0001.kaze-no-oto", login_id="inzai-fm-0001")
    org = ("inzai-fm", "株式会社いんざい施設管理")
    assert "organisation" in reason("InzaiFM-no-kaze-no-oto-22", organization=org)
    assert "organisation" in reason("いんざい施設管理のあいことば-2026", organization=org)
    assert "product's name (resv)" in reason("my-R.E.S.V-kaze-no-oto-22")


def test_a_good_passphrase_passes_with_all_the_context():
    passwords.check_policy(
        "Kaze-no-naka-no-Sakura-2026",
        login_id="inzai-fm-0001",
        name="佐藤 美咲",
        kana="サトウ ミサキ",
        organization=("inzai-fm", "株式会社いんざい施設管理"),
    )


# --- through the CLI (SQLite and PostgreSQL) -------------------------------------------


@pytest.fixture
def fm(installation, cli):
    make_org(installation, "inzai-fm", name="株式会社いんざい施設管理")
    make_facility(installation, "chuo-rojin", "senior_welfare_centre")
    return installation


def _roster_account(inst, login_id: str, name: str, kana: str) -> None:
    """An account granted from a roster entry (so its reading is known)."""
    now = clock.now()
    with Session(inst.engine()) as s, s.begin():
        org_id = s.execute(text("SELECT id FROM organizations WHERE code='inzai-fm'")).scalar_one()
        entry = RosterEntry(
            organization_id=org_id, person_key=f"no:{login_id}", full_name=name, kana=kana,
            employment_type="regular", role="operator", created_at=now, updated_at=now,
        )  # fmt: skip
        s.add(entry)
        s.flush()
        roster_entry_id = entry.id
    make_account(inst, login_id, "inzai-fm", name=name, roster_entry_id=roster_entry_id)


def _passwd(cli, current: str, new: str):
    return cli("account", "passwd", "--password-stdin", input=f"{current}\n{new}\n")


def _account(inst, login_id: str) -> tuple:
    return tuple(
        inst.rows(
            "SELECT failed_attempts, password_hash, locked_until FROM accounts WHERE login_id = :l",
            l=login_id,
        )[0]
    )


def test_first_login_refuses_zero_width_password(fm, cli):
    r = cli(
        "account", "grant", "fm-new", "--name", "新人 職員", "--org", "inzai-fm",
        "--role", "operator", "--format", "json",
    )  # fmt: skip
    assert r.exit_code == 0, r
    otp = json.loads(r.stdout)[0]["one_time_password"]
    r = fm.login("fm-new", otp, ZERO_WIDTH)
    assert r.exit_code == EXIT_FAILED
    assert (
        "Error: password must not contain invisible or formatting characters (found U+200B)"
        in r.stderr
    )
    assert fm.scalar("SELECT must_change_password FROM accounts WHERE login_id='fm-new'")
    r = fm.login("fm-new", otp, "password1234567890")
    assert r.exit_code == EXIT_FAILED and "password is too easy to guess" in r.stderr
    assert fm.login("fm-new", otp, GOOD_NEW).exit_code == 0


def test_passwd_refuses_weak_and_own_name_in_romaji(fm, cli):
    _roster_account(fm, "inzai-fm-0001", "佐藤 美咲", "サトウ ミサキ")
    assert fm.login("inzai-fm-0001", DEFAULT_PASSWORD).exit_code == 0
    r = _passwd(cli, DEFAULT_PASSWORD, "password1234567890")
    assert r.exit_code == EXIT_FAILED
    assert "Error: password is too easy to guess (strength 1 of 4, at least 3 required)" in r.stderr
    assert "password1234567890" not in r.stderr + r.stdout
    r = _passwd(cli, DEFAULT_PASSWORD, "Sato-no-atarashii-pass-2017")
    assert r.exit_code == EXIT_FAILED
    assert "Error: password must not contain the person's name (in romaji)" in r.stderr
    r = _passwd(cli, DEFAULT_PASSWORD, "Inzai-FM-no-kaze-no-oto-22")
    assert r.exit_code == EXIT_FAILED
    assert "Error: password must not contain the organisation's code or name" in r.stderr
    assert _passwd(cli, DEFAULT_PASSWORD, GOOD_NEW).exit_code == 0


def test_passwd_wrong_current_says_so_and_success_resets_the_counter(fm, cli):
    make_account(fm, "fm-pw", "inzai-fm")
    assert fm.login("fm-pw", DEFAULT_PASSWORD).exit_code == 0
    for n in (1, 2):
        r = _passwd(cli, "not-my-password!!", GOOD_NEW)
        assert r.exit_code == EXIT_AUTH_FAILED
        assert r.stderr == "Error: password not changed: the current password is wrong\n"
        assert "login ID" not in r.stderr
        assert _account(fm, "fm-pw")[0] == n
    r = _passwd(cli, DEFAULT_PASSWORD, GOOD_NEW)
    assert r.exit_code == 0, r
    assert _account(fm, "fm-pw")[0] == 0


def test_passwd_on_a_locked_account_is_refused_without_checking_the_password(fm, cli, monkeypatch):
    make_account(fm, "fm-lock", "inzai-fm")
    assert fm.login("fm-lock", DEFAULT_PASSWORD).exit_code == 0
    for _ in range(4):
        assert _passwd(cli, "not-my-password!!", GOOD_NEW).exit_code == EXIT_AUTH_FAILED
    r = _passwd(cli, "not-my-password!!", GOOD_NEW)  # the fifth locks the account
    assert r.exit_code == EXIT_AUTH_FAILED
    assert "the current password is wrong; the account is now locked" in r.stderr
    before = _account(fm, "fm-lock")
    assert before[2] is not None
    checked: list[str] = []
    real_verify = passwords.verify

    def spy(password: str, stored: str | None):
        checked.append("verify")
        return real_verify(password, stored)

    monkeypatch.setattr(passwords, "verify", spy)
    for current in ("not-my-password!!", DEFAULT_PASSWORD):  # neither is checked
        r = _passwd(cli, current, GOOD_NEW)
        assert r.exit_code == EXIT_AUTH_FAILED
        assert r.stderr.startswith(
            "Error: password not changed: the account is locked after too many wrong "
            "passwords; try again in 15 minutes"
        ), r
    assert checked == []
    assert _account(fm, "fm-lock") == before  # counter, hash and lock unchanged
    refused = fm.rows(
        "SELECT detail FROM audit_events WHERE action = 'account.password_change' "
        "AND outcome = 'failed' ORDER BY seq"
    )
    assert [json.loads(d[0])["reason"] for d in refused][-2:] == ["locked", "locked"]


def test_admin_policy_sets_the_strength_score(fm, cli):
    r = cli("account", "policy", "--min-score", "1")
    assert r.exit_code == EXIT_FAILED and "password_min_score must be between 2 and 4" in r.stderr
    r = cli("account", "policy", "--min-score", "4", "--format", "json")
    assert r.exit_code == 0, r
    assert json.loads(r.stdout)["min_strength"].startswith("zxcvbn score 4 of 4")


def test_every_path_that_sets_a_password_calls_the_one_policy(fm, cli, monkeypatch, tmp_path):
    calls: list[dict[str, object]] = []
    real = passwords.check_policy

    def spy(password: str, **kw: object) -> None:
        calls.append(kw)
        real(password, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(passwords, "check_policy", spy)
    # first login
    r = cli(
        "account", "grant", "fm-first", "--name", "新人 職員", "--org", "inzai-fm",
        "--role", "operator", "--format", "json",
    )  # fmt: skip
    otp = json.loads(r.stdout)[0]["one_time_password"]
    assert fm.login("fm-first", otp, GOOD_NEW).exit_code == 0
    assert calls[-1]["organization"] == ("inzai-fm", "株式会社いんざい施設管理")
    assert calls[-1]["login_id"] == "fm-first" and calls[-1]["min_score"] == 3
    # account passwd
    assert _passwd(cli, GOOD_NEW, "Kaze-no-naka-no-Sakura-2026").exit_code == 0
    assert len(calls) == 2 and calls[-1]["login_id"] == "fm-first"
    # db init (the first administrator's password) on a new database
    monkeypatch.setenv("RESV_DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    r = cli(
        "db", "init", "--admin", "it-admin", "--name", ADMIN_NAME, "--password-stdin",
        input="password1234567890\n",
    )  # fmt: skip
    assert r.exit_code == EXIT_FAILED and "password is too easy to guess" in r.stderr
    assert len(calls) == 3 and calls[-1]["login_id"] == "it-admin"


def test_without_a_reading_a_kanji_name_has_no_romaji():
    # kanji need a dictionary to be read: an account granted by hand (no roster
    # reading) is checked against its name as written only
    passwords.check_policy("Sato-no-atarashii-pass-2017", login_id="fm-x", name="佐藤 美咲")
