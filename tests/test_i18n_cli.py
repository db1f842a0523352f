"""The language of the command line itself: --lang, RESV_LANG, the locale (issue 16).

What the framework prints (usage, its own errors, help headings) follows the same
choice as resv's own messages; exit codes do not change with the language.
"""

from __future__ import annotations

import os
import subprocess
import sys

from support import run_cli


def test_usage_error_in_japanese_with_lang_and_same_exit_code():
    ja = run_cli("--lang", "ja", "account", "grant")
    en = run_cli("--lang", "en", "account", "grant")
    assert ja.exit_code == en.exit_code == 2
    assert "使い方: resv account grant" in ja.stderr
    assert "エラー: 引数 'login_id' を指定してください。" in ja.stderr
    assert "Error: Missing argument 'login_id'." in en.stderr
    assert "Usage: resv account grant" in en.stderr


def test_nested_framework_message_translated_part_by_part(monkeypatch):
    monkeypatch.setenv("RESV_LANG", "ja")
    result = run_cli("audit", "list", "--limit", "abc")
    assert result.exit_code == 2
    assert "エラー: '--limit' の値が正しくありません: 整数を指定してください。" in result.stderr


def test_suggestion_and_unknown_option_in_japanese():
    result = run_cli("--lang", "ja", "audit", "lst")
    assert result.exit_code == 2
    assert "コマンド 'lst' はありません。 'list' のことですか?" in result.stderr
    # --lang is honoured even when the rest of the line cannot be parsed
    bogus = run_cli("--lang", "ja", "--bogus")
    assert bogus.exit_code == 2
    assert "エラー: オプション --bogus はありません。" in bogus.stderr


def test_help_headings_in_japanese_then_english_again_in_the_same_process():
    ja = run_cli("--lang", "ja", "--help")
    assert ja.exit_code == 0
    assert "使い方: resv" in ja.stdout
    assert "オプション:" in ja.stdout
    assert "このヘルプを表示して終了します。" in ja.stdout
    # the English originals are put back: the next run in English is unchanged
    en = run_cli("--lang", "en", "--help")
    assert en.exit_code == 0
    assert "Usage: resv" in en.stdout
    assert "Show this message and exit." in en.stdout
    assert "オプション" not in en.stdout


def _resv(env_extra: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RESV_LANG", "LANGUAGE", "LC_ALL")}
    env.update(env_extra)
    code = "from resv_cli.commands.main import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=False
    )


def test_locale_decides_when_resv_lang_is_unset_and_resv_lang_wins():
    by_locale = _resv({"LANG": "ja_JP.UTF-8"}, "account", "grant")
    assert by_locale.returncode == 2
    assert "エラー: 引数 'login_id' を指定してください。" in by_locale.stderr
    forced = _resv({"LANG": "ja_JP.UTF-8", "RESV_LANG": "en"}, "account", "grant")
    assert forced.returncode == 2
    assert "Error: Missing argument 'login_id'." in forced.stderr
    default = _resv({"LANG": "C.UTF-8"}, "account", "grant")
    assert "Error: Missing argument 'login_id'." in default.stderr
