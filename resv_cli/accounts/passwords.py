"""Password hashing and policy (NIST SP 800-63B rev. 4, OWASP ASVS).

argon2id through passlib's ``CryptContext`` (the maintained ``libpass`` fork),
at least OWASP's minimum parameters (m=19 MiB, t=2, p=1).  bcrypt hashes from a
legacy system verify, and are rehashed to argon2id at the next login.
Passwords are NFKC-normalised before hashing, so the same password typed with
full-width characters on a Japanese IME matches.
"""

from __future__ import annotations

import functools
import re
import secrets
import unicodedata
from typing import Any

from resv_cli.core.i18n import N_, _, language
from resv_cli.core.normalize import VARIANT_KANJI, to_katakana

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
    raw = "".join(secrets.choice(alphabet) for _i in range(28))
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


PRODUCT_NAMES = ("resv",)
MIN_SCORE_DEFAULT = 3
# zxcvbn's estimate grows faster than linearly with the length; a longer password
# is judged by its first 72 characters (zxcvbn's own limit), which is plenty
ZXCVBN_MAX_LENGTH = 72
# invisible and formatting characters: controls, format (zero-width, bidi),
# line and paragraph separators, surrogates, and code points not assigned yet
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Cn"})
# what people put between the words of a name or an ID
_SEPARATORS = re.compile(r"[\s\u3000\u30fb\uff65\u00b7・･,，、.．\-_'’/\\]+")
_VARIANTS = str.maketrans(VARIANT_KANJI)
_IDEOGRAPH = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def _fold(text: str) -> str:
    """Compare form: NFKC, variant kanji, katakana, case-folded, no separators."""
    text = unicodedata.normalize("NFKC", text).translate(_VARIANTS)
    return to_katakana(_SEPARATORS.sub("", text)).casefold()


def _words(text: str | None) -> list[str]:
    """The text as a whole and each word of it, folded (a name: family, given, both)."""
    if not text:
        return []
    parts = [_fold(p) for p in _SEPARATORS.split(unicodedata.normalize("NFKC", text))]
    return list(dict.fromkeys(w for w in (_fold(text), *parts) if w))


# the legal form of a company name is not what identifies it: いんざい施設管理 is
# checked on its own, without 株式会社 (NFKC writes ㈱ as (株))
_LEGAL_FORMS = re.compile(
    r"株式会社|有限会社|合同会社|合資会社|合名会社|(?:一般|公益)(?:社団|財団)法人"
    r"|社会福祉法人|特定非営利活動法人|NPO法人|\([株有合]\)"
)


def _org_words(text: str | None) -> list[str]:
    if not text:
        return []
    words = _words(text) + _words(_LEGAL_FORMS.sub(" ", unicodedata.normalize("NFKC", text)))
    return [w for w in words if not _LEGAL_FORMS.fullmatch(w)]


def _long_enough(word: str) -> bool:
    # three letters or kana; a two-kanji family name (鈴木) is a whole word too
    return len(word) >= 3 or (len(word) == 2 and bool(_IDEOGRAPH.search(word)))


def check_policy(
    password: str,
    *,
    login_id: str | None = None,
    name: str | None = None,
    kana: str | None = None,
    organization: tuple[str | None, ...] = (),
    min_length: int = MIN_LENGTH_DEFAULT,
    min_score: int = MIN_SCORE_DEFAULT,
) -> None:
    """Raise ``InputError`` naming the rule when ``password`` breaks the policy.

    The one policy of every password a person chooses (first login, ``account
    passwd``, ``db init``).  No composition rules (NIST SP 800-63B rev. 4), in
    this order: no invisible or formatting character (categories Cc, Cf, Zl, Zp,
    Cs and unassigned); length after NFKC; not a commonly used password; not
    containing the login ID, the person's name (as written, its kana reading or
    the reading in romaji, Hepburn or Kunrei, long vowels in any spelling), the
    organisation's code or name, or the product's name -- compared after NFKC,
    case-insensitively and ignoring separators, for words of at least three
    characters (two kanji); not too repetitive; and a zxcvbn strength estimate of
    at least ``min_score`` (0-4), given those same words, else its feedback.
    The message never repeats the password.
    """
    from resv_cli.accounts.romaji import name_patterns
    from resv_cli.core.errors import InputError

    min_length = max(min_length, MIN_LENGTH_FLOOR)
    pw = normalise(password)
    for ch in pw:
        if unicodedata.category(ch) in INVISIBLE_CATEGORIES:
            raise InputError(
                _(
                    "password must not contain invisible or formatting characters "
                    "(found U+{code:04X}); type it again without them"
                ).format(code=ord(ch))
            )
    if len(pw) < min_length:
        raise InputError(
            _("password too short: at least {n} characters are required").format(n=min_length)
        )
    if len(pw) > MAX_LENGTH:
        raise InputError(_("password too long: at most {n} characters").format(n=MAX_LENGTH))
    low = pw.lower()
    if low in common_passwords() or low.strip() in common_passwords():
        raise InputError(_("password is on the list of commonly used passwords"))
    folded = _fold(pw)

    def contains(words: list[str]) -> bool:
        return any(_long_enough(w) and w in folded for w in words)

    if login_id and len(login_id.strip()) >= 3 and contains([_fold(login_id)]):
        raise InputError(_("password must not contain the login ID"))
    names = _words(name) + _words(kana)
    if contains(names):
        raise InputError(_("password must not contain the person's name"))
    readings = [w for w in names if not _IDEOGRAPH.search(w)]
    romaji = name_patterns(readings)
    if any(p.search(folded) for _hepburn, p in romaji):
        raise InputError(_("password must not contain the person's name (in romaji)"))
    org_words = list(dict.fromkeys(w for o in organization for w in _org_words(o)))
    if contains(org_words):
        raise InputError(_("password must not contain the organisation's code or name"))
    if contains(list(PRODUCT_NAMES)):
        raise InputError(_("password must not contain the product's name (resv)"))
    if len(set(pw)) < 4:
        raise InputError(_("password is too repetitive"))
    inputs = [
        w
        for w in (login_id, *names, *(h for h, _pattern in romaji), *org_words, *PRODUCT_NAMES)
        if w
    ]
    score, advice = strength(pw, inputs)
    if score < min_score:
        weak = (
            _(
                "password is too easy to guess (strength {score} of 4, at least {min} "
                "required): {advice}"
            )
            if advice
            else _("password is too easy to guess (strength {score} of 4, at least {min} required)")
        )
        raise InputError(weak.format(score=score, min=min_score, advice=advice))


def strength(password: str, user_inputs: list[str]) -> tuple[int, str]:
    """zxcvbn's score (0-4) and its feedback in one line (never the password)."""
    from zxcvbn import zxcvbn

    language()  # zxcvbn reads its feedback through gettext: the language is decided first
    result = zxcvbn(password[:ZXCVBN_MAX_LENGTH], user_inputs=user_inputs)
    feedback = result.get("feedback") or {}
    parts = [feedback.get("warning") or "", *(feedback.get("suggestions") or [])]
    advice = " ".join(" ".join(p.split()) for p in parts if p and p.strip())
    return int(result["score"]), advice


# zxcvbn (pinned, constraints.txt) writes its feedback through ``gettext.gettext``,
# which reads resv's catalogue (``resv_cli.core.i18n.set_language``): its strings,
# marked here, are translated in services.po.
ZXCVBN_FEEDBACK = (
    N_("Use a few words, avoid common phrases."),
    N_("No need for symbols, digits, or uppercase letters."),
    N_("Add another word or two. Uncommon words are better."),
    N_("Straight rows of keys are easy to guess."),
    N_("Short keyboard patterns are easy to guess."),
    N_("Use a longer keyboard pattern with more turns."),
    N_('Repeats like "aaa" are easy to guess.'),
    N_('Repeats like "abcabcabc" are only slightly harder to guess than "abc".'),
    N_("Avoid repeated words and characters."),
    N_('Sequences like "abc" or "6543" are easy to guess.'),
    N_("Avoid sequences."),
    N_("Recent years are easy to guess."),
    N_("Avoid recent years."),
    N_("Avoid years that are associated with you."),
    N_("Dates are often easy to guess."),
    N_("Avoid dates and years that are associated with you."),
    N_("This is a top-10 common password."),
    N_("This is a top-100 common password."),
    N_("This is a very common password."),
    N_("This is similar to a commonly used password."),
    N_("A word by itself is easy to guess."),
    N_("Names and surnames by themselves are easy to guess."),
    N_("Common names and surnames are easy to guess."),
    N_("Capitalization doesn't help very much."),
    N_("All-uppercase is almost as easy to guess as all-lowercase."),
    N_("Reversed words aren't much harder to guess."),
    N_("Predictable substitutions like '@' instead of 'a' don't help very much."),
)
