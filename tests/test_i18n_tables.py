"""Tables people read, in Japanese: column labels, code labels, Japan time (issue 16).

Only ``--format table`` changes with the language; ``--format json`` and ``--format
csv`` keep the keys, the codes and ISO 8601 instants with their offset.  Help texts
of the command groups are Japanese with ``--lang ja`` and English otherwise.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from legacy_files import write_csv
from support import ADMIN_LOGIN

from tests import factories

JST = dt.timezone(dt.timedelta(hours=9))
SHOWN = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d JST")


def _table(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def _as_jst(iso: str) -> str:
    return dt.datetime.fromisoformat(iso).astimezone(JST).strftime("%Y-%m-%d %H:%M JST")


# --- render itself ------------------------------------------------------------------


def _render(lang: str, fmt: str, rows: list[dict[str, Any]], **kw: Any) -> str:
    from resv_cli.commands.render import render

    from resv_cli.core import i18n

    i18n.set_language(lang)
    out = io.StringIO()
    render(rows, fmt, out=out, **kw)
    return out.getvalue()


ROW = {
    "login_id": "fm-0001",
    "role": "operator",
    "status": "disabled",
    "last_login_at": dt.datetime(2026, 12, 2, 18, 47, tzinfo=dt.UTC),
    "dry_run": True,
}


def test_render_table_in_japanese_labels_headers_codes_and_times() -> None:
    lines = _table(_render("ja", "table", [ROW]))
    assert lines[0].split() == ["ログインID", "役割", "状態", "最終ログイン日時", "試行"]
    # 18:47 UTC is 03:47 the next day in Japan
    assert lines[2].split() == ["fm-0001", "窓口担当", "停止", "2026-12-03", "03:47", "JST", "はい"]


def test_render_table_in_english_keeps_keys_and_codes_with_japan_time() -> None:
    lines = _table(_render("en", "table", [ROW]))
    assert lines[0].split() == ["login_id", "role", "status", "last_login_at", "dry_run"]
    assert lines[2].split() == [
        "fm-0001",
        "operator",
        "disabled",
        "2026-12-03",
        "03:47",
        "JST",
        "True",
    ]


def test_render_json_and_csv_keep_keys_codes_and_iso_instants() -> None:
    for lang in ("ja", "en"):
        data = json.loads(_render(lang, "json", [ROW]))
        assert data == [
            {
                "login_id": "fm-0001",
                "role": "operator",
                "status": "disabled",
                "last_login_at": "2026-12-02T18:47:00+00:00",
                "dry_run": True,
            }
        ]
        rows = list(csv.reader(io.StringIO(_render(lang, "csv", [ROW]))))
        assert rows[0] == ["login_id", "role", "status", "last_login_at", "dry_run"]
        assert rows[1] == ["fm-0001", "operator", "disabled", "2026-12-02T18:47:00+00:00", "True"]


def test_render_codes_argument_overrides_or_keeps_a_column() -> None:
    rows = [{"kind": "group", "status": "suspended", "action": "auth.login"}]
    lines = _table(
        _render(
            "ja",
            "table",
            rows,
            codes={"kind": "registrant_kind", "status": "registrant_status", "action": None},
        )
    )
    assert lines[0].split() == ["種別", "状態", "操作"]
    assert lines[2].split() == ["団体", "利用停止", "auth.login"]
    # a naive instant is UTC: shown in Japan time, JSON gets the offset
    naive = [{"started_at": dt.datetime(2026, 1, 1, 0, 30)}]
    assert "2026-01-01 09:30 JST" in _render("ja", "table", naive)
    assert json.loads(_render("ja", "json", naive)) == [{"started_at": "2026-01-01T00:30:00+00:00"}]
    assert _render("ja", "table", []) == "（なし）\n"


# --- commands --------------------------------------------------------------------------


def test_whoami_table_in_japan_time_json_and_csv_in_iso(installation: Any, cli: Any) -> None:
    ja = cli("--lang", "ja", "whoami")
    assert ja.exit_code == 0, ja
    assert "ログインID" in ja.stdout and "セッションの有効期限" in ja.stdout
    assert "役割                  管理者" in ja.stdout
    assert "login_id" not in ja.stdout and not re.search(r" admin$", ja.stdout, re.M)
    as_json = cli("--lang", "ja", "whoami", "--format", "json")
    assert as_json.exit_code == 0, as_json
    data = json.loads(as_json.stdout)
    assert data["login_id"] == ADMIN_LOGIN and data["role"] == "admin"
    expires = data["session_expires_at"]
    assert dt.datetime.fromisoformat(expires).utcoffset() == dt.timedelta(0)
    # the same instant, as a person in Japan reads it
    assert f"セッションの有効期限  {_as_jst(expires)}" in ja.stdout
    as_csv = cli("--lang", "ja", "whoami", "--format", "csv")
    assert as_csv.exit_code == 0, as_csv
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert rows == [
        {
            "login_id": ADMIN_LOGIN,
            "name": data["name"],
            "organization": data["organization"],
            "role": "admin",
            "session_expires_at": expires,
        }
    ]


def test_account_list_labels_roles_and_states_in_japanese(installation: Any, cli: Any) -> None:
    factories.make_org(installation, "acme")
    factories.make_facility(installation, "hall-1")
    factories.make_account(installation, "acme-0001", "acme", facility="hall-1")
    factories.make_account(installation, "acme-0002", "acme")
    revoked = cli("account", "revoke", "acme-0002")
    assert revoked.exit_code == 0, revoked
    ja = cli("--lang", "ja", "account", "list", "--org", "acme")
    assert ja.exit_code == 0, ja
    lines = _table(ja.stdout)
    for header in ("ログインID", "名前", "組織", "役割", "状態", "利用状態", "パスワード"):
        assert header in lines[0]
    first = next(line for line in lines if line.startswith("acme-0001"))
    second = next(line for line in lines if line.startswith("acme-0002"))
    assert "窓口担当" in first and "有効" in first and "設定済み" in first
    assert "失効" in second
    assert "operator" not in ja.stdout and "active" not in ja.stdout
    en = cli("--lang", "en", "account", "list", "--org", "acme", "--format", "csv")
    assert en.exit_code == 0, en
    rows = {r["login_id"]: r for r in csv.DictReader(io.StringIO(en.stdout))}
    assert rows["acme-0001"]["role"] == "operator" and rows["acme-0001"]["status"] == "active"
    assert rows["acme-0002"]["status"] == "revoked" and rows["acme-0001"]["password"] == "set"
    ja_csv = cli("--lang", "ja", "account", "list", "--org", "acme", "--format", "csv")
    assert ja_csv.stdout == en.stdout


def test_facility_list_labels_categories_and_keeps_codes(installation: Any, cli: Any) -> None:
    factories.make_facility(installation, "rojin-1", category="senior_welfare_centre")
    ja = cli("--lang", "ja", "facility", "list")
    assert ja.exit_code == 0, ja
    assert _table(ja.stdout)[0].split()[:3] == ["コード", "名前", "施設分類"]
    assert "rojin-1" in ja.stdout and "老人福祉センター" in ja.stdout
    assert "senior_welfare_centre" not in ja.stdout
    data = json.loads(cli("--lang", "ja", "facility", "list", "--format", "json").stdout)
    assert {"code": "rojin-1", "category": "senior_welfare_centre"}.items() <= data[0].items()


GOOD = ["個人", "0001", "髙橋 一郎", "タカハシ イチロウ", "昭和15年3月2日", "270-1392",
        "印西市大森2528-1", "0476-42-1111", "", "", "", ""]  # fmt: skip
BAD_KIND = ["不明", "0002", "山田 花子", "", "", "", "", "", "", "", "", ""]
DOUBLE = ["個人", "0001", "髙橋 一郎", "", "", "", "", "", "", "", "", ""]


@pytest.fixture
def legacy(installation: Any, tmp_path: Path) -> Path:
    factories.make_facility(installation, "chuo-rojin", category="senior_welfare_centre")
    return write_csv(tmp_path / "legacy.csv", [GOOD, BAD_KIND, DOUBLE])


def test_import_in_japanese_summary_reconciliation_and_rejects(
    legacy: Path, cli: Any, tmp_path: Path
) -> None:
    rejects = tmp_path / "rejects.csv"
    r = cli(
        "--lang", "ja", "import", "registrants", str(legacy), "--facility", "chuo-rojin",
        "--rejects", str(rejects),
    )  # fmt: skip
    assert r.exit_code == 0, r
    lines = _table(r.stdout)
    assert lines[0].split() == ["項目", "件数"]
    counts = dict(line.rsplit(None, 1) for line in lines[2:])
    assert counts == {
        "読込件数": "3", "取込": "1", "更新": "0", "変更なし": "0", "重複": "1",
        "取込不可": "1", "対象外（抹消済み）": "0",
    }  # fmt: skip
    assert (
        "件数の照合: 読込 3 件 = 取込 1 件 + 更新 0 件 + 変更なし 0 件 + 重複 1 件 + "
        "取込不可 1 件（一致）"
    ) in r.stderr
    assert "取込不可 2 行を" in r.stderr
    # the rejects file keeps its columns and codes; the reasons are for people
    with rejects.open(encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["record_no", "column", "kind", "reason", "legacy_no"]
    by_record = {r["record_no"]: r for r in rows}
    assert by_record["2"]["kind"] == "rejected"
    assert by_record["2"]["reason"] == "区分は「個人」または「団体」を指定してください"
    assert by_record["3"]["kind"] == "duplicate"
    assert by_record["3"]["reason"] == (
        "このファイルの前のレコード（レコード 1）と重複: 登録番号が同じ"
    )
    # the batch list: labelled codes and Japan time in the table, codes and ISO in JSON
    table = cli("--lang", "ja", "import", "list")
    assert table.exit_code == 0, table
    assert "完了" in table.stdout and "利用者" in table.stdout and "開始日時" in table.stdout
    assert SHOWN.search(table.stdout), table.stdout
    data = json.loads(cli("--lang", "ja", "import", "list", "--format", "json").stdout)
    batch = data[-1]
    assert batch["status"] == "completed" and batch["kind"] == "registrants"
    assert dt.datetime.fromisoformat(batch["started_at"]).utcoffset() == dt.timedelta(0)
    assert _as_jst(batch["started_at"]) in table.stdout
    shown = cli("--lang", "ja", "import", "show", str(batch["id"]))
    assert shown.exit_code == 0, shown
    assert "件数の照合" in shown.stdout and "取込不可" in shown.stdout and "重複" in shown.stdout
    assert "duplicate" not in shown.stdout and "rejected " not in shown.stdout


def test_import_in_english_is_unchanged(legacy: Path, cli: Any) -> None:
    r = cli("import", "registrants", str(legacy), "--facility", "chuo-rojin")
    assert r.exit_code == 0, r
    assert _table(r.stdout)[0].split() == ["item", "count"]
    assert "records read  3" in r.stdout
    assert (
        "Reconciliation: 3 read = 1 imported + 0 updated + 0 unchanged + 1 duplicates + "
        "1 rejected (ok)"
    ) in r.stderr


@pytest.mark.parametrize(
    ("group", "japanese", "english"),
    [
        ("account", "1人にアカウントを発行し", "Grant one person an account"),
        (
            "import",
            "旧システムの利用者レコードを施設に取り込みます",
            "Import legacy registrant records",
        ),
        ("audit", "利用履歴の記録を古い順に一覧表示します", "List audit events, oldest first."),
        ("facility", "施設を追加します", "Add a facility"),
    ],
)
def test_group_help_in_japanese(cli: Any, group: str, japanese: str, english: str) -> None:
    ja = cli("--lang", "ja", group, "--help")
    assert ja.exit_code == 0, ja
    assert japanese in ja.stdout and english not in ja.stdout
    en = cli("--lang", "en", group, "--help")
    assert en.exit_code == 0, en
    assert english in en.stdout and japanese not in en.stdout


def test_command_help_in_japanese_keeps_the_example_command(cli: Any) -> None:
    ja = cli("--lang", "ja", "import", "registrants", "--help")
    assert ja.exit_code == 0, ja
    assert "例: resv import registrants old.csv --facility chuo-rojin --dry-run" in ja.stdout
    assert "取込先の施設コード。" in ja.stdout  # an option's help
    assert "--facility" in ja.stdout and "--dry-run" in ja.stdout
    en = cli("--lang", "en", "import", "registrants", "--help")
    assert "Example: resv import registrants old.csv" in en.stdout
    assert "Facility code to import into." in en.stdout
