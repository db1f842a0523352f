"""The language people read: gettext catalogues, one language per process.

Every user-facing string is written in English in the code and looked up here::

    from resv_cli.core.i18n import _, N_, ngettext

    raise InputError(_("{file}: row {row}, column {column}: {problem}").format(...))
    help=N_("Show tracebacks on errors.")   # marked here, translated when shown

``_`` translates now; ``N_`` only marks a string for extraction (help texts and
module-level constants, translated where they are shown).  Placeholders are
``str.format`` names, never f-strings (an f-string is formatted before it can be
looked up).  The catalogues are ``resv_cli/locale/ja/*.po`` (one per area of the
code, see ``scripts/catalogues.py``), compiled into ``resv.mo`` by ``make
catalogues`` and by the wheel build.

The language: ``set_language`` (the root ``--lang``), else ``RESV_LANG``, else the
locale (``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``, ``LANG``: ``ja_JP.UTF-8`` is
Japanese), else English.  JSON and CSV keys, codes and exit codes never change
with it.  Click's and Typer's own strings (``Usage:``, ``Missing option``) read the
same catalogue through the process's gettext text domain.

``RESV_I18N_MISSES=FILE`` (tests) appends every string looked up in Japanese that
the catalogue lacks, so a run can prove it showed no untranslated text.
"""

from __future__ import annotations

import gettext as _gettext
import os
from collections.abc import Mapping
from pathlib import Path

LANGS = ("ja", "en")
DOMAIN = "resv"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"

_current: str | None = None
_catalogues: dict[str, _gettext.NullTranslations] = {}


def language_from_env(environ: Mapping[str, str] | None = None) -> str:
    """``ja`` or ``en`` from ``RESV_LANG``, else the locale variables, else ``en``."""
    environ = os.environ if environ is None else environ
    for var in ("RESV_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = (environ.get(var) or "").strip()
        if value:
            # LANGUAGE may list several (ja:en); the first decides
            return "ja" if value.split(":")[0].lower().startswith("ja") else "en"
    return "en"


def set_language(lang: str | None) -> str:
    """Use ``lang`` (``ja``/``en``; ``None``: from the environment) from now on."""
    global _current
    lang = language_from_env() if lang is None else lang
    if lang not in LANGS:
        raise ValueError(f"language must be one of {LANGS}, got {lang!r}")
    _current = lang
    # click and Typer call gettext.gettext (the process's text domain), whose
    # language comes from LANGUAGE: point both at this catalogue and language
    _gettext.bindtextdomain(DOMAIN, str(LOCALE_DIR))
    _gettext.textdomain(DOMAIN)
    os.environ["LANGUAGE"] = lang
    return lang


def language() -> str:
    """The language in use (decided from the environment on first use)."""
    return _current if _current is not None else set_language(None)


def _catalogue() -> _gettext.NullTranslations:
    lang = language()
    found = _catalogues.get(lang)
    if found is None:
        found = _gettext.translation(DOMAIN, str(LOCALE_DIR), languages=[lang], fallback=True)
        _catalogues[lang] = found
    return found


def _missed(key: str) -> None:
    path = os.environ.get("RESV_I18N_MISSES")
    if path and language() != "en":
        with open(path, "a", encoding="utf-8") as out:
            out.write(key.replace("\n", "\\n") + "\n")


def _(message: str) -> str:
    """``message`` in the current language."""
    if not message:
        return message
    catalogue = _catalogue()
    found = catalogue.gettext(message)
    if found is message and language() != "en":
        _missed(message)
    return found


gettext = _


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for ``n`` in the current language."""
    found = _catalogue().ngettext(singular, plural, n)
    if language() != "en" and found in (singular, plural):
        _missed(singular)
    return found


def pgettext(context: str, message: str) -> str:
    """``message`` in ``context`` (e.g. ``column``): the same English word may differ."""
    found = _catalogue().pgettext(context, message)
    if found is message and language() != "en":
        _missed(f"{context}|{message}")
    return found


def N_(message: str) -> str:
    """Mark ``message`` for the catalogue without translating it (translated when shown)."""
    return message


def NC_(context: str, message: str) -> str:
    """Mark ``message`` in ``context`` for the catalogue (``pgettext`` when shown)."""
    return message


def reset_for_tests() -> None:
    """Forget the chosen language and loaded catalogues (tests switch languages)."""
    global _current
    _current = None
    _catalogues.clear()


if __name__ == "__main__":  # `python -m resv_cli.core.i18n`: the language resv would use
    print(language_from_env())
