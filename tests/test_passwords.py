"""Password policy and hashing (no database): NIST SP 800-63B rev. 4 / OWASP ASVS rules."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resv_cli.accounts import passwords
from resv_cli.core.errors import InputError

# this module checks the production argon2id parameters, not the suite's cheap ones
pytestmark = pytest.mark.production_hash


def reason(password: str, **kw: object) -> str:
    with pytest.raises(InputError) as exc:
        passwords.check_policy(password, **kw)  # type: ignore[arg-type]
    msg = str(exc.value)
    assert password not in msg  # the reason never repeats the password
    return msg


def test_length_rules():
    assert "at least 15" in reason("short-but-ok-1")  # 14 characters
    passwords.check_policy("a" * 3 + "correct horse b")  # 18 chars, no composition rules
    passwords.check_policy("x1" + "a-quiet-afternoon-by-the-river-" * 2)  # 64 characters
    passwords.check_policy("k" + "ab-cd" * 25)  # 126: well above the 64 asked for
    assert "at most 128" in reason("ab-cd" * 26)


def test_a_setting_may_lower_the_minimum_but_never_below_8():
    passwords.check_policy("quiet-tea1", min_length=10)
    assert "at least 8" in reason("qu-tea1", min_length=4)


def test_no_composition_rules_all_lower_case_passphrase_is_fine():
    passwords.check_policy("the quick brown fox jumps")


def test_common_passwords_list_is_shipped_and_used():
    common = passwords.common_passwords()
    assert len(common) == 3000
    assert {"password", "123456", "qwerty", "iloveyou"} <= common
    assert "commonly used" in reason("iloveyou", min_length=8)
    assert "commonly used" in reason("ILOVEYOU", min_length=8)  # case-insensitive
    # full-width input is NFKC-normalised before the check
    assert "commonly used" in reason("ｉｌｏｖｅｙｏｕ", min_length=8)


def test_login_id_and_name_are_refused_with_the_reason():
    assert "login ID" in reason("my-id-is-inzai-fm-0001!", login_id="inzai-fm-0001")
    assert "name" in reason("suzuki-hanako-secret-x", name="Suzuki Hanako")
    assert "name" in reason("鈴木花子のひみつのあいことばをきめました", name="鈴木 花子")


def test_nfkc_normalisation_before_hashing():
    h = passwords.hash_password("ＡＢＣ－ｐａｓｓｐｈｒａｓｅ－１２３")
    ok, _ = passwords.verify("ABC-passphrase-123", h)
    assert ok


def test_argon2id_parameters_at_least_owasp_minimum():
    h = passwords.hash_password("a-long-enough-passphrase")
    assert h.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_bcrypt_hash_verifies_and_asks_for_rehash():
    from passlib.hash import bcrypt

    old = bcrypt.using(rounds=4).hash("legacy-system-passphrase")
    ok, new_hash = passwords.verify("legacy-system-passphrase", old)
    assert ok and new_hash is not None and new_hash.startswith("$argon2id$")
    ok, new_hash = passwords.verify("wrong-passphrase-here", old)
    assert not ok and new_hash is None


def test_weaker_argon2_parameters_are_rehashed():
    from passlib.hash import argon2

    weak = argon2.using(memory_cost=1024, rounds=1, parallelism=1).hash("weak-params-pass")
    ok, new_hash = passwords.verify("weak-params-pass", weak)
    assert ok and new_hash is not None and "m=19456,t=2,p=1" in new_hash


def test_one_time_password_has_at_least_128_bits():
    otp = passwords.generate_one_time_password()
    raw = otp.replace("-", "")
    assert len(raw) == 28
    assert 28 * math.log2(57) >= 128
    assert len({passwords.generate_one_time_password() for _ in range(200)}) == 200
    passwords.check_policy(otp)  # passes our own policy


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=200))
def test_policy_messages_never_contain_the_password(pw: str):
    try:
        passwords.check_policy(pw, login_id="inzai-fm-0001", name="佐藤 美咲")
    except InputError as exc:
        if len(pw) >= 4:
            assert pw not in str(exc)
