"""Refusals and reasons of the core and services areas read in Japanese (issue 16).

With ``RESV_LANG=ja`` the same refusal keeps its exit code and its codes (audit
details, a verify ``reason``) while the sentence a person reads is Japanese; the
English of the other tests is unchanged.
"""

from __future__ import annotations

import pytest
from factories import DEFAULT_PASSWORD, make_account, make_facility, make_org
from sqlalchemy import text
from support import ADMIN_LOGIN, disable_audit_triggers

from resv_cli.core.errors import (
    EXIT_AUTH_FAILED,
    EXIT_DENIED,
    EXIT_FAILED,
    EXIT_INTEGRITY,
    InputError,
)


@pytest.fixture
def ja(monkeypatch):
    monkeypatch.setenv("RESV_LANG", "ja")


def test_role_refusal_in_japanese_keeps_exit_code_and_audit_codes(installation, cli, ja):
    make_org(installation, "inzai-fm")
    make_facility(installation, "chuo-rojin", "senior_welfare_centre")
    make_account(installation, "fm-sato", "inzai-fm", facility="chuo-rojin")
    assert installation.login("fm-sato", DEFAULT_PASSWORD).exit_code == 0
    r = cli("account", "list")
    assert r.exit_code == EXIT_DENIED
    assert r.stderr == (
        "エラー: 権限がありません: account.list には admin または monitor のロールが必要です"
        "（現在のロール: operator）。\n"
    )
    # the refusal is audited with the same codes as in English
    last = installation.rows(
        "SELECT action, outcome, detail FROM audit_events ORDER BY seq DESC LIMIT 1"
    )[0]
    assert (last[0], last[1]) == ("account.list", "denied")
    assert '"reason":"role"' in last[2]


def test_unknown_facility_and_failed_login_in_japanese(installation, cli, ja):
    make_org(installation, "inzai-fm")
    r = cli(
        "account", "grant", "fm-new", "--name", "佐藤 美咲", "--org", "inzai-fm",
        "--role", "operator", "--facility", "nosuch",
    )  # fmt: skip
    assert r.exit_code == EXIT_FAILED
    assert (
        "エラー: コード 'nosuch' の施設はありません（`resv facility list` で確認できます）。"
        in r.stderr
    )
    wrong = cli("login", ADMIN_LOGIN, "--password-stdin", input="not-the-password\n")
    assert wrong.exit_code == EXIT_AUTH_FAILED
    assert wrong.stderr.startswith("エラー: ログインに失敗しました: ログインIDかパスワードが違うか")


def test_organisation_refusal_in_japanese(installation, cli, ja):
    r = cli("org", "add", "inzai-fm", "株式会社いんざい施設管理", "--kind", "designated-manager")
    assert r.exit_code == EXIT_FAILED
    assert r.stderr == (
        "エラー: 指定管理者には指定期間が必要です。--term-start と --term-end を指定してください。\n"
    )


def test_broken_history_in_japanese_keeps_its_reason_code(installation, cli, ja):
    from resv_cli.audit.verify import verify_chain

    for _n in range(3):
        assert cli("audit", "anchor").exit_code == 0
    with installation.engine().begin() as conn:
        disable_audit_triggers(conn)
        conn.execute(text("UPDATE audit_events SET outcome = 'denied' WHERE seq = 3"))
    r = cli("audit", "verify")
    assert r.exit_code == EXIT_INTEGRITY
    assert (
        "エラー: 利用履歴が壊れています: 記録 3 が改ざんされています（ハッシュ不一致）" in r.stderr
    )
    result = verify_chain(installation.engine())
    assert (result.ok, result.first_bad_seq, result.reason) == (False, 3, "altered")


def test_date_and_field_reasons_in_japanese(ja):
    from resv_cli.core import clock
    from resv_cli.records import fields

    with pytest.raises(InputError) as exc:
        clock.parse_date("いつか", what="--on")
    assert str(exc.value).startswith("--on には 2017-04-01, 2017/4/1")
    cleaned = fields.clean(
        {"kind": "個人", "name": "山田 花子", "kana": "yamada", "date_of_birth": "S99.1.1"},
        clock.today(),
    )
    assert cleaned.message() == (
        "--kana: フリガナはカナで入力してください; "
        "--dob: 元号の範囲外の日付です（昭和は 1926-12-25 から 1989-01-07 まで）"
    )


def test_weak_password_and_zxcvbn_advice_in_japanese(ja):
    from resv_cli.accounts import passwords

    with pytest.raises(InputError) as exc:
        passwords.check_policy("qwertyuiopasdfgh", login_id="fm-sato")
    assert str(exc.value).startswith("パスワードが推測されやすすぎます（強度 ")
    # zxcvbn's own feedback, looked up in resv's catalogue
    assert "さらに1〜2語加えてください。" in str(exc.value)


def test_reason_codes_stay_english_identities(ja):
    """Code that tells reasons apart compares the English reason, never the message."""
    from resv_cli.core import jpnorm

    with pytest.raises(jpnorm.FieldError) as exc:
        jpnorm.parse_date("nonsense")
    assert exc.value.reason == jpnorm.NOT_A_DATE
    assert str(exc.value) == "認識できる形式の日付ではありません"


def test_each_too_long_reason_names_its_column_length():
    from resv_cli.records import fields

    for reason, limit in fields.LIMITS.items():
        assert f" longer than {limit} characters" in reason, reason
