"""The Japanese docs (README.ja.md, docs/ja/) give the English docs' commands, and they run.

Each Japanese page must carry exactly the `resv` command lines of its English
counterpart (the English ones are run by test_docs.py, test_guide_city_it.py and
test_guide_monitor_audit.py), every `resv ...` it shows must name real commands and
options, and the Japanese README's main job and city IT guide run as written, in
Japanese.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README_JA = ROOT / "README.ja.md"
JA = ROOT / "docs" / "ja"
# each Japanese page and the English page(s) it translates
COUNTERPARTS = {
    README_JA: [ROOT / "README.md"],
    JA / "guide-city-it.md": [ROOT / "docs" / "guide-city-it.md"],
    JA / "guide-migration.md": [ROOT / "docs" / "guide-migration.md"],
    JA / "guide-monitor.md": [
        ROOT / "docs" / "guide-monitor-report.md",
        ROOT / "docs" / "guide-monitor-audit.md",
    ],
}
SHELL_OPERATORS = set("();<>|&")

# -- reading the pages ------------------------------------------------------


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(info string, body) of every fenced code block."""
    return re.findall(r"^```([^\n]*)\n(.*?)^```$", text, flags=re.S | re.M)


def readme_command_lines(path: Path) -> list[str]:
    """Lines starting with `resv ` in any code block, as test_docs.py reads README.md."""
    lines = []
    for _info, body in fenced_blocks(path.read_text("utf-8")):
        for line in body.splitlines():
            stripped = line.split("  #")[0].strip()
            if stripped.startswith("resv "):
                lines.append(stripped)
    return lines


def shell_words(line: str) -> list[str]:
    """A shell line's words (quotes removed, comments dropped, operators apart)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    return list(lexer)


def resv_calls(words: list[str]) -> list[list[str]]:
    """The arguments of every `resv` call among a shell line's words."""
    calls, current = [], None
    for word in words:
        if current is not None and set(word) <= SHELL_OPERATORS:
            calls.append(current)
            current = None
        elif current is not None:
            current.append(word)
        elif word == "resv":
            current = []
    if current is not None:
        calls.append(current)
    return calls


def command_lines(path: Path) -> list[tuple[str, ...]]:
    """The shell lines of `sh`/`console` blocks that run resv, as word tuples.

    Continuation lines are joined and a console prompt (`$ `) removed, so the same
    command compares equal whichever block style and comment a page uses.
    """
    found = []
    for info, body in fenced_blocks(path.read_text("utf-8")):
        if info.strip() not in ("sh", "console"):
            continue
        for line in body.replace("\\\n", " ").splitlines():
            line = line.strip()
            if info.strip() == "console":
                if not line.startswith("$ "):
                    continue  # output shown in the block
                line = line[2:]
            words = shell_words(line)
            if resv_calls(words):
                found.append(tuple(words))
    return found


def inline_commands(path: Path) -> list[str]:
    """`resv ...` code spans of the prose (outside code blocks), whitespace-normalised."""
    text = re.sub(r"^```.*?^```$", "", path.read_text("utf-8"), flags=re.S | re.M)
    spans = [" ".join(s.split()) for s in re.findall(r"`([^`]+)`", text)]
    return [s for s in spans if re.search(r"(^|[|(]\s*)resv ", s)]


# -- checking a call against the real command tree --------------------------


def _takes_value(param) -> bool:
    return not (getattr(param, "is_flag", False) or getattr(param, "count", False))


def call_problems(args: list[str]) -> list[str]:
    """Why `resv ARGS` would not parse ([] when the command and its options exist)."""
    import typer.main
    from resv_cli.commands.main import app

    cmd = typer.main.get_command(app)
    words = list(args)
    where = "resv"
    while True:
        options = {o: p for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
        options |= {"--help": None, "-h": None}
        is_group = bool(getattr(cmd, "commands", None))
        while words and words[0].startswith("-") and is_group:
            name = words.pop(0).split("=")[0]
            if name not in options:
                return [f"{where}: unknown option {name}"]
            if options[name] is not None and _takes_value(options[name]) and "=" not in name:
                words = words[1:]
        if not is_group:
            break
        if not words or words[0] not in cmd.commands:
            return [f"{where}: not a command ({words[:1]})"] if words else []
        where += " " + words[0]
        cmd = cmd.commands[words.pop(0)]
    problems = []
    while words:
        word = words.pop(0)
        if not word.startswith("-") or word in ("-", "--"):
            continue
        name = word.split("=")[0]
        if name not in options:
            problems.append(f"{where}: unknown option {name}")
        elif options[name] is not None and _takes_value(options[name]) and "=" not in word:
            words = words[1:]
    return problems


# -- the tests --------------------------------------------------------------


def test_the_japanese_pages_exist_and_are_japanese():
    for page, english in COUNTERPARTS.items():
        text = page.read_text("utf-8")
        kana = len(re.findall(r"[\u3041-\u30ff]", text))
        assert kana > len(text) // 10, f"{page.name}: hardly any Japanese"
        for source in english:  # each page links to the English page(s) it translates
            rel = os.path.relpath(source, page.parent)
            assert f"]({rel})" in text, f"{page.name} does not link {rel}"
    assert "](README.ja.md)" in (ROOT / "README.md").read_text("utf-8").split("\n## ")[0]


def test_readme_ja_has_the_english_readmes_command_lines():
    english = readme_command_lines(ROOT / "README.md")
    assert len(english) >= 10
    assert readme_command_lines(README_JA) == english


@pytest.mark.parametrize("page", list(COUNTERPARTS), ids=lambda p: p.name)
def test_japanese_page_has_the_english_command_lines(page):
    japanese = command_lines(page)
    english = [line for source in COUNTERPARTS[page] for line in command_lines(source)]
    assert english, "no commands found in the English page(s)"
    missing = sorted(set(english) - set(japanese), key=english.index)
    extra = sorted(set(japanese) - set(english), key=japanese.index)
    assert (
        [shlex.join(m) for m in missing],
        [shlex.join(e) for e in extra],
    ) == ([], [])


@pytest.mark.parametrize("page", list(COUNTERPARTS), ids=lambda p: p.name)
def test_japanese_prose_names_the_commands_the_english_prose_names(page):
    japanese = " ".join(page.read_text("utf-8").split())
    japanese_spans = set(inline_commands(page))
    missing = [
        span
        for source in COUNTERPARTS[page]
        for span in inline_commands(source)
        if span not in japanese_spans and span not in japanese
    ]
    assert missing == []


def test_every_resv_command_in_the_japanese_docs_exists_with_its_options():
    problems, checked = [], 0
    for page in COUNTERPARTS:
        calls = [c for line in command_lines(page) for c in resv_calls(list(line))]
        calls += [c for s in inline_commands(page) for c in resv_calls(shell_words(s))]
        for args in calls:
            if not args:
                continue  # the program's name alone, in prose
            checked += 1
            problems += [f"{page.name}: {p}" for p in call_problems(args)]
    assert checked >= 100
    assert problems == []


def test_the_command_check_catches_mistakes():
    assert call_problems(["audit", "verify", "--anchor", "1:ab"]) == []
    assert call_problems(["--lang", "ja", "report", "monthly", "--month", "2026-05"]) == []
    assert call_problems(["audit", "verfy"]) == ["resv audit: not a command (['verfy'])"]
    assert call_problems(["report", "monthly", "--montth", "2026-05"]) == [
        "resv report monthly: unknown option --montth"
    ]
    assert call_problems(["--langg", "ja", "whoami"]) == ["resv: unknown option --langg"]


def test_links_of_the_japanese_docs_lead_to_files():
    broken = []
    for page in COUNTERPARTS:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text("utf-8")):
            if "://" not in target and not (page.parent / target).exists():
                broken.append(f"{page.name}: {target}")
    assert broken == []


def test_readme_ja_lists_the_exit_codes_errors_py_defines():
    from resv_cli.core import errors

    text = README_JA.read_text("utf-8")
    codes = {v for k, v in vars(errors).items() if k.startswith("EXIT_")}
    listing = re.search(r": (0 成功、.*?)。", text, flags=re.S)
    assert listing is not None
    listed = [int(item.split()[0]) for item in listing.group(1).split("、")]
    assert listed == sorted(codes | {0})
    guide = (JA / "guide-monitor.md").read_text("utf-8")
    assert f"終了コード **{errors.EXIT_INTEGRITY}**" in guide
    assert f"`{errors.EXIT_DENIED}` 役割が足りない" in guide


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "RESV_DATABASE_URL": str(tmp_path / "ja.db"),
        "RESV_CONFIG_DIR": str(tmp_path / "config"),
        "RESV_LANG": "ja",
        **extra,
    }


def test_readme_ja_main_job_runs_as_written(tmp_path):
    """README.ja.md's main-job block runs, in Japanese, on a fresh SQLite file."""
    text = README_JA.read_text("utf-8")
    start = text.index("## 引継ぎの主な作業")
    block = re.search(r"^```sh\n(.*?)^```$", text[start:], flags=re.S | re.M)
    assert block is not None
    for d in ("tests", "scripts"):
        (tmp_path / d).symlink_to(ROOT / d)
    pw = "Readme-admin-passphrase-2026"
    script = (
        "set -euo pipefail\n"
        f"printf '%s\\n' '{pw}' | resv db init --admin it-tanaka --name '田中 一郎' "
        "--password-stdin\n"
        f"printf '%s\\n' '{pw}' | resv login it-tanaka --password-stdin\n" + block.group(1)
    )
    r = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    for name in ("otp.xlsx", "rejects.csv", "monitoring.xlsx"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600, name
    # the report's hash line is the file's SHA-256, whatever the language
    digest = hashlib.sha256((tmp_path / "monitoring.xlsx").read_bytes()).hexdigest()
    assert f"{digest}  monitoring.xlsx" in r.stdout
    db = sqlite3.connect(tmp_path / "ja.db")
    batches = db.execute(
        "SELECT status, records_read, imported FROM import_batches "
        "WHERE kind = 'registrants' ORDER BY id"
    ).fetchall()
    assert batches == [("dry_run", 30, 24), ("completed", 30, 24)]
    assert db.execute(
        "SELECT count(*) FROM registrants r JOIN facilities f ON f.id = r.facility_id "
        "WHERE f.code = 'chuo-rojin'"
    ).fetchone() == (24,)
    assert db.execute(
        "SELECT count(*) FROM accounts WHERE login_id = 'inzai-fm-0001'"
    ).fetchone() == (1,)


@pytest.mark.slow
def test_city_it_guide_ja_runs_in_japanese(tmp_path):
    """docs/ja/guide-city-it.md's sh blocks run in order, like the English guide's."""
    blocks = [
        b
        for info, b in fenced_blocks((JA / "guide-city-it.md").read_text("utf-8"))
        if info.strip() == "sh"
    ]
    assert len(blocks) >= 12
    shutil.copy(ROOT / "scripts/demo-data/demo-roster.csv", tmp_path / "roster-2026-04.csv")
    shutil.copy(ROOT / "scripts/demo-data/demo-roster-2.csv", tmp_path / "roster-2026-05.csv")
    env = _env(
        tmp_path,
        ADMIN_PW="Guide-admin-passphrase-2026",
        TANAKA_PW="Tanaka-san-no-nagai-aikotoba",
    )
    r = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + "\n".join(blocks)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    for name in ("it-suzuki.xlsx", "staff-2026-04.xlsx", "tanaka-reset.xlsx"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "again.xlsx").exists()
    db = sqlite3.connect(tmp_path / "ja.db")
    status = dict(db.execute("SELECT login_id, status FROM accounts").fetchall())
    assert status["inzai-fm-0006"] == "disabled" and status["inzai-fm-0005"] == "revoked"
    assert status["inzai-fm-0001"] == "active" and status["it-suzuki"] == "active"
    assert db.execute("SELECT count(*) FROM training_records").fetchone() == (3,)
    assert db.execute("SELECT code FROM organizations WHERE code = 'kita-fm'").fetchone() == (
        "kita-fm",
    )
