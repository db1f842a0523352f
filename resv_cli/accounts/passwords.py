"""Password hashing and policy (NIST SP 800-63B rev. 4, OWASP ASVS).

argon2id through passlib's ``CryptContext`` (the maintained ``libpass`` fork),
at least OWASP's minimum parameters (m=19 MiB, t=2, p=1).  bcrypt hashes from a
legacy system verify, and are rehashed to argon2id at the next login.
Passwords are NFKC-normalised before hashing, so the same password typed with
full-width characters on a Japanese IME matches.
"""

from __future__ import annotations

import functools
import secrets
import unicodedata
from typing import Any

ARGON2_MEMORY_KIB = 19_456
ARGON2_TIME_COST = 2
ARGON2_PARALLELISM = 1
MIN_LENGTH_DEFAULT = 15
MIN_LENGTH_FLOOR = 8
MAX_LENGTH = 128
# 28 symbols of a 57-symbol alphabet: > 163 bits, stated as 160
ONE_TIME_PASSWORD_BITS = 160


@functools.lru_cache(maxsize=1)
def crypt_context() -> Any:
    from passlib.context import CryptContext

    return CryptContext(
        schemes=["argon2", "bcrypt"],
        deprecated=["bcrypt"],
        argon2__type="ID",
        argon2__memory_cost=ARGON2_MEMORY_KIB,
        argon2__rounds=ARGON2_TIME_COST,
        argon2__parallelism=ARGON2_PARALLELISM,
    )


def normalise(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def hash_password(password: str) -> str:
    return crypt_context().hash(normalise(password))


def verify(password: str, stored_hash: str | None) -> tuple[bool, str | None]:
    """Check a password; return (ok, new_hash_if_the_stored_one_is_outdated)."""
    if not stored_hash:
        # spend the same time as a real check, so a missing hash is not told apart
        crypt_context().dummy_verify()
        return False, None
    try:
        return crypt_context().verify_and_update(normalise(password), stored_hash)
    except (ValueError, TypeError):
        return False, None


def dummy_verify() -> None:
    crypt_context().dummy_verify()


def generate_one_time_password() -> str:
    """Return a random one-time password of 160 bits (32 base32-like characters).

    Unambiguous characters only (no 0/O, 1/l/I), grouped by fours for reading aloud.
    """
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789abcdefghijkmnopqrstuvwxyz"
    # 57 symbols: 28 chars give > 163 bits
    raw = "".join(secrets.choice(alphabet) for _ in range(28))
    return "-".join(raw[i : i + 4] for i in range(0, 28, 4))


@functools.lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The most common passwords (shipped list, lower-cased, NFKC)."""
    from importlib import resources

    try:
        data = resources.files("resv_cli.data").joinpath("common-passwords.txt").read_text("utf-8")
    except FileNotFoundError:
        return frozenset()
    return frozenset(
        normalise(line.strip()).lower()
        for line in data.splitlines()
        if line.strip() and not line.startswith("#")
    )


def check_policy(
    password: str,
    *,
    login_id: str | None = None,
    name: str | None = None,
    min_length: int = MIN_LENGTH_DEFAULT,
) -> None:
    """Raise ``InputError`` with the reason when ``password`` breaks the policy.

    No composition rules (NIST SP 800-63B): length, a block-list of common
    passwords, and no password containing the login ID or the person's name.
    The message never repeats the password.
    """
    from resv_cli.core.errors import InputError

    min_length = max(min_length, MIN_LENGTH_FLOOR)
    pw = normalise(password)
    if len(pw) < min_length:
        raise InputError(f"password too short: at least {min_length} characters are required")
    if len(pw) > MAX_LENGTH:
        raise InputError(f"password too long: at most {MAX_LENGTH} characters")
    if any(unicodedata.category(ch) == "Cc" for ch in pw):
        raise InputError("password must not contain control characters")
    low = pw.lower()
    if low in common_passwords() or low.strip() in common_passwords():
        raise InputError("password is on the list of commonly used passwords")
    if login_id and len(login_id) >= 3 and normalise(login_id).lower() in low:
        raise InputError("password must not contain the login ID")
    if name:
        for part in normalise(name).lower().replace("\u3000", " ").split():
            if len(part) >= 2 and part in low:
                raise InputError("password must not contain the person's name")
        compact = normalise(name).lower().replace(" ", "").replace("\u3000", "")
        if len(compact) >= 2 and compact in low:
            raise InputError("password must not contain the person's name")
    if len(set(pw)) < 4:
        raise InputError("password is too repetitive")
