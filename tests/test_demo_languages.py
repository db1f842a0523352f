"""`make demo` speaks the language resv speaks: all Japanese with RESV_LANG=ja, English with en.

scripts/demo.sh decides the language once, by resv's own rule (`python -m
resv_cli.core.i18n`), and every heading (`step`) and remark (`say`) of the demo
carries both texts.  The Japanese run must show no untranslated English sentence
on stdout or stderr: what may stay English in Japanese output is listed in
``KEPT_AS_IS`` with the reason.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "scripts" / "demo.sh"
PARTS = sorted((ROOT / "scripts" / "demo.d").glob("*.sh"))
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def _command_names() -> list[str]:
    import typer.main
    from resv_cli.commands.main import app

    names: set[str] = set()

    def walk(cmd) -> None:
        for name, sub in (getattr(cmd, "commands", None) or {}).items():
            names.add(name)
            walk(sub)

    walk(typer.main.get_command(app))
    return sorted(names, key=len, reverse=True)


def kept_as_is() -> list[tuple[str, str]]:
    """(pattern, why) of what stays as it is in Japanese output, applied in order."""
    commands = "|".join(map(re.escape, _command_names()))
    return [
        (r"`[^`\n]*`", "a command to type, quoted as code"),
        (r"\b[a-z][a-z0-9+]*://\S*", "database URLs and other URLs"),
        (r'"[^"\n]*"\s*:\s*(?:true|false|null\b)?', "JSON keys (and JSON literals)"),
        (r'"[\w.:@+*-]*"', "JSON and TOML values that are codes"),
        (r"SHA256:\S+", "a public key's fingerprint, as ssh-keygen writes it"),
        (r"\S*/\S*", "file paths"),
        (
            r"[\w.-]+\.(?:csv|xlsx|json|jsonl|toml|txt|db|key|pub|gz|sha256|tmp)\b",
            "file names",
        ),
        (rf"\bresv(?:\s+(?:{commands})\b)*", "resv's command names"),
        (r"(?<![\w-])--?[A-Za-z][\w-]*", "options (--flags)"),
        (r"\b[a-z_]+:[\w-]+", "typed references as typed (account:fm-chuo-demo, registrant:12)"),
        (
            r"\b[a-z0-9]+(?:[-_][a-z0-9]+)+\b",
            "identifiers: login IDs, facility codes, snake_case codes",
        ),
        (r"\b[a-z_]+(?:\.[a-z_*]+)+\b", "dotted action codes (auth.login, registrant.*)"),
        (r"\bk?[0-9a-f]{15,}\b", "hashes and audit key identifiers"),
        (
            r"\b(?:JST|UTC|CSV|JSON|SQL|SQLite|PostgreSQL|xlsx|cp932|SHA-256|HMAC|Ed25519)\b",
            "names that Japanese text writes in Latin letters",
        ),
    ]


# lines shown as they are: `ls -l` (file modes; ls words its own dates) and a CSV
# file's header row (CSV keys never change with the language)
LS_LINE = re.compile(r"^(?:[-dlcbps][-rwxsStT]{9}[.+@]?\s|total \d+$)")
CSV_HEADER = re.compile(r"^\ufeff?[a-z_]+(?:,[a-z_]+)+$")
TOKEN = re.compile(r"[A-Za-z0-9_']+|[^\x00-\x7f]")
WORD = re.compile(r"[A-Za-z][A-Za-z']*")


def english_runs(line: str, allowed: list[tuple[str, str]]) -> list[str]:
    """The English left in ``line`` once what may stay English is removed: every run
    of 3+ English words, or, on a line without any Japanese, its 2+ English words
    ("Password set.", a table's "role  admin").

    Numbers and ASCII punctuation between the words do not break a run (they are
    part of a sentence: "30 read = 24 imported"); Japanese text and words glued to
    digits (2026-12-02T06, cp932) do.
    """
    if LS_LINE.match(line) or CSV_HEADER.match(line.strip()):
        return []
    japanese = JAPANESE.search(line) is not None
    for pattern, _why in allowed:
        line = re.sub(pattern, " ", line)
    runs, current, words = [], [], []
    for token in [*TOKEN.findall(line), "。"]:
        if WORD.fullmatch(token):
            current.append(token)
            words.append(token)
        elif not token.isdigit():
            if len(current) >= 3:
                runs.append(" ".join(current))
            current = []
    if not runs and not japanese and len(words) >= 2:
        runs.append(" ".join(words))
    return runs


def demo_calls() -> list[tuple[str, str, str, str]]:
    """(file, function, English, Japanese) of every `step`/`say` call of the demo."""
    calls = []
    for path in [DEMO, *PARTS]:
        text = path.read_text("utf-8").replace("\\\n", " ")
        for line in text.splitlines():
            m = re.match(r"^\s*(?:.*\|\|\s*)?(step|say) (.*)$", line)
            if not m or m.group(2).startswith("{"):
                continue
            args = [a.replace("\\`", "`") for a in shlex.split(m.group(2))]
            calls.append((path.name, m.group(1), *args) if len(args) == 2 else (path.name, line))
    return calls


def text_pattern(text: str) -> re.Pattern[str]:
    """A shell text as a pattern: its variables and substitutions match anything."""
    parts = re.split(r"(\$\{[^}]*\}|\$\([^)]*\)|\$[A-Za-z_][A-Za-z0-9_]*|\$\?)", text)
    return re.compile(
        "".join(".*" if i % 2 else re.escape(p) for i, p in enumerate(parts)), flags=re.S
    )


def test_every_demo_heading_and_remark_has_both_languages():
    calls = demo_calls()
    assert len(calls) >= 40
    malformed = [c for c in calls if len(c) != 4]
    assert malformed == []
    allowed = kept_as_is()
    untranslated = [
        (f, en, ja)
        for f, _fn, en, ja in calls
        if not JAPANESE.search(ja) or en == ja or english_runs(ja, allowed)
    ]
    assert untranslated == []


def test_the_demo_writes_no_prose_outside_step_and_say():
    """Every echo/printf of the demo is step/say itself or a password fed to resv."""
    stray = []
    for path in [DEMO, *PARTS]:
        for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            if re.search(r"\b(echo|printf)\b", line) is None or line.lstrip().startswith("#"):
                continue
            if re.match(r"^(step|say)\(\)", line):
                continue
            if re.match(r"""^\s*printf '(%s\\n)+' .*\| resv """, line):
                continue
            stray.append(f"{path.name}:{n}: {line.strip()}")
    assert stray == []


def test_the_english_sentence_finder():
    allowed = kept_as_is()
    assert english_runs("Logged in as it-admin (admin, city) until 2026-12-03 03:17 JST.", allowed)
    assert english_runs("Reconciliation: 30 read = 24 imported + 0 updated (ok)", allowed)
    assert english_runs("# Mapping of a legacy export", allowed)
    assert english_runs("Password set.", allowed)
    assert english_runs("role                admin", allowed)
    assert english_runs("records read  30", allowed)
    assert (
        english_runs("create 2 inzai-fm-0001 佐藤 美咲 chuo-rojin regular operator", allowed) == []
    )
    for kept in (
        "it-admin（管理者、city）としてログインしました。有効期限 2026-12-03 03:17 JST",
        '  "login_id": "inzai-fm-0001", "password_set": false, "session": 1',
        "sqlite:////tmp/demo-out/demo.db を初期化しました",
        "/tmp/demo-out/monitoring-2026-12.xlsx: OK",
        "-rw------- 1 root root 5400 Dec  2 06:17 /tmp/demo-out/inzai-fm-credentials.xlsx",
        "`resv import resume` で再開します。resv import resume --batch 3 も同じです",
        "62:91d5a0049e5e0341984a911572097447b759b1edc579fcd02beebd9ba3597773",
        "key_id k464325c1a0e51ae: auth.login registrant.view senior_welfare_centre",
        "公開鍵 SHA256:NPL12tXnfZabDDgxgbU/6HQ1vlM5iHFpAyPZmBzbjHQ の Ed25519 署名",
        "2026-12-02T06:17:31.673954+00:00  CSV JSON xlsx SHA-256 HMAC cp932",
        "\ufeffrecord_no,column,kind,reason,legacy_no",
        "+ ルール  r1  account:fm-chuo-demo  facility:chuo-rojin  registrant:1234",
    ):
        assert english_runs(kept, allowed) == [], kept


def run_demo(tmp_path: Path, lang: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    misses = tmp_path / f"misses-{lang}.txt"
    misses.touch()
    # the demo's own SQLite file and configuration; the language from RESV_LANG alone
    dropped = ("LANGUAGE", "RESV_DATABASE_URL", "DEMO_DATABASE_URL")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        DEMO_OUT=str(tmp_path / f"demo-{lang}"),
        RESV_LANG=lang,
        RESV_I18N_MISSES=str(misses),
    )
    result = subprocess.run(
        ["bash", "scripts/demo.sh"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=900,
    )
    return result, misses


def headings(output: str) -> list[str]:
    return [line[3:] for line in output.splitlines() if line.startswith("== ")]


def _matches(heading: str, texts: list[str]) -> bool:
    return any(text_pattern(t).fullmatch(heading) for t in texts)


@pytest.mark.slow
def test_demo_in_japanese_shows_no_english_sentence(tmp_path):
    result, misses = run_demo(tmp_path, "ja")
    output = result.stdout + result.stderr
    allowed = kept_as_is()
    offenders = [
        f"{line.strip()}    <- {' | '.join(runs)}"
        for line in output.splitlines()
        if (runs := english_runs(line, allowed))
    ]
    missed = sorted(set(misses.read_text("utf-8").splitlines()))
    print(f"{len(offenders)} lines with English sentences:", *offenders, sep="\n")
    print(f"{len(missed)} strings missing from the Japanese catalogue:", *missed, sep="\n")
    assert result.returncode == 0, result.stderr[-3000:]
    japanese = [c[3] for c in demo_calls()]
    shown = headings(result.stderr)
    assert len(shown) >= 25 and all(_matches(h, japanese) for h in shown), shown
    assert (len(offenders), len(missed)) == (0, 0), (offenders[:50], missed[:50])


@pytest.mark.slow
def test_demo_in_english_shows_the_english_headings(tmp_path):
    result, _misses = run_demo(tmp_path, "en")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    english = [c[2] for c in demo_calls()]
    shown = headings(result.stderr)
    japanese = [c[3] for c in demo_calls()]
    assert len(shown) >= 25
    assert [h for h in shown if not _matches(h, english) or _matches(h, japanese)] == []
    assert shown[-1].startswith("Done. Outputs in ")
