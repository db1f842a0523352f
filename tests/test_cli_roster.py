"""resv account import-roster and resv training, on real cp932/UTF-8 CSV and xlsx files."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import openpyxl
import pytest
from factories import assign, make_account, make_facility

from resv_cli.core.errors import EXIT_FAILED

NEW_PW = "Hajimete-no-jibun-no-pass-7"
HEADER = ["氏名", "フリガナ", "所属施設", "雇用形態", "役割"]
STAFF = [
    ["佐藤 美咲", "サトウ ミサキ", "chuo-rojin", "正規", "職員"],
    ["髙橋 健一", "タカハシ ケンイチ", "chuo-rojin", "非正規", "職員"],
    ["渡邉 由美子", "ワタナベ ユミコ", "中央老人福祉センター", "正規", "operator"],
    ["山﨑 さくら", "ヤマザキ サクラ", "chiiki-fukushi", "非正規", "職員"],
]


def write_csv(path: Path, rows: list[list[str]], encoding: str = "cp932") -> Path:
    text = "".join(",".join(r) + "\r\n" for r in [HEADER, *rows])
    path.write_bytes(text.encode(encoding))
    return path


def write_xlsx(path: Path, rows: list[list[str]]) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    for r in [HEADER, *rows]:
        ws.append(r)
    wb.save(path)
    return path


@pytest.fixture
def city(installation, cli):
    r = cli(
        "org", "add", "inzai-fm", "株式会社いんざい施設管理", "--kind", "designated-manager",
        "--term-start", "2017-04-01", "--term-end", "2032-03-31",
    )  # fmt: skip
    assert r.exit_code == 0, r
    make_facility(installation, "chuo-rojin", "senior_welfare_centre", name="中央老人福祉センター")
    make_facility(installation, "chiiki-fukushi", "welfare_centre", name="地域福祉センター")
    # a roster's 所属施設 must be a facility the manager manages
    for code in ("chuo-rojin", "chiiki-fukushi"):
        assign(installation, code, "inzai-fm", dt.date(2017, 4, 1))
    return installation


def import_roster(cli, path: Path, out: Path | None, *extra: str):
    args = ["account", "import-roster", str(path), "--org", "inzai-fm"]
    if out is not None:
        args += ["--credentials-out", str(out)]
    return cli(*args, *extra)


def read_credentials(path: Path) -> dict[str, str]:
    ws = openpyxl.load_workbook(path, read_only=True).worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][0].startswith("ログインID")
    return {r[0]: r[2] for r in rows[1:]}


def snapshot(inst) -> tuple:
    return (
        inst.rows("SELECT * FROM accounts ORDER BY id"),
        inst.rows("SELECT * FROM roster_entries ORDER BY id"),
        inst.scalar("SELECT count(*) FROM audit_events"),
        inst.scalar("SELECT count(*) FROM import_batches"),
    )


@pytest.mark.parametrize("kind", ["cp932", "utf-8-sig", "utf-8", "xlsx"])
def test_roster_grants_accounts_with_0600_credentials(city, cli, tmp_path, kind):
    if kind == "xlsx":
        roster = write_xlsx(tmp_path / "roster.xlsx", STAFF)
    else:
        roster = write_csv(tmp_path / "roster.csv", STAFF, kind)
    out = tmp_path / "new-staff.xlsx"
    r = import_roster(cli, roster, out)
    assert r.exit_code == 0, r
    assert "Plan for inzai-fm: 4 create, 0 update, 0 enable, 0 disable, 0 unchanged" in r.stderr
    assert "4 created" in r.stderr
    assert "inzai-fm-0001" in r.stdout and "髙橋 健一" in r.stdout  # the plan is printed
    assert out.stat().st_mode & 0o777 == 0o600
    creds = read_credentials(out)
    assert sorted(creds) == [f"inzai-fm-000{i}" for i in range(1, 5)]
    rows = city.rows(
        "SELECT a.login_id, a.display_name, f.code, e.employment_type, a.role, a.valid_until "
        "FROM accounts a JOIN roster_entries e ON e.id = a.roster_entry_id "
        "JOIN facilities f ON f.id = a.facility_id ORDER BY a.login_id"
    )
    assert [tuple(map(str, r[:5])) for r in rows] == [
        ("inzai-fm-0001", "佐藤 美咲", "chuo-rojin", "regular", "operator"),
        ("inzai-fm-0002", "髙橋 健一", "chuo-rojin", "non_regular", "operator"),
        ("inzai-fm-0003", "渡邉 由美子", "chuo-rojin", "regular", "operator"),
        ("inzai-fm-0004", "山﨑 さくら", "chiiki-fukushi", "non_regular", "operator"),
    ]
    assert str(rows[0][5]) == "2032-03-31"
    # the one-time passwords in the file work, once, with a forced change
    assert city.login("inzai-fm-0002", creds["inzai-fm-0002"], NEW_PW).exit_code == 0


def test_reimport_changes_nothing_and_leaving_disables(city, cli, tmp_path):
    roster = write_csv(tmp_path / "april.csv", STAFF)
    assert import_roster(cli, roster, tmp_path / "a.xlsx").exit_code == 0
    before = snapshot(city)
    r = import_roster(cli, roster, tmp_path / "b.xlsx")
    assert r.exit_code == 0, r
    assert "0 create, 0 update, 0 enable, 0 disable, 4 unchanged" in r.stderr
    assert "Nothing to change" in r.stderr
    assert snapshot(city) == before
    assert not (tmp_path / "b.xlsx").exists()

    # 髙橋 leaves: their account is disabled (not deleted) and their session ends
    creds = read_credentials(tmp_path / "a.xlsx")
    assert city.login("inzai-fm-0002", creds["inzai-fm-0002"], NEW_PW).exit_code == 0
    city.login_admin()
    may = write_csv(tmp_path / "may.csv", [STAFF[0], STAFF[2], STAFF[3]])
    r = import_roster(cli, may, None, "--format", "json")
    assert r.exit_code == 0, r  # nothing to issue, so no credentials file is needed
    plan = json.loads(r.stdout)
    assert [i["login_id"] for i in plan["to_disable"]] == ["inzai-fm-0002"]
    assert city.scalar("SELECT count(*) FROM accounts WHERE login_id='inzai-fm-0002'") == 1
    assert city.scalar("SELECT status FROM accounts WHERE login_id='inzai-fm-0002'") == "disabled"
    assert (
        city.scalar(
            "SELECT e.status FROM roster_entries e JOIN accounts a ON a.roster_entry_id = e.id "
            "WHERE a.login_id='inzai-fm-0002'"
        )
        == "left"
    )
    assert (
        city.scalar(
            "SELECT count(*) FROM sessions s JOIN accounts a ON a.id = s.account_id "
            "WHERE a.login_id='inzai-fm-0002' AND s.ended_at IS NULL"
        )
        == 0
    )
    assert city.login("inzai-fm-0002", NEW_PW).exit_code == 5
    city.login_admin()

    # a newcomer gets the next number; numbers are never reused
    june = write_csv(
        tmp_path / "june.csv",
        [
            STAFF[0],
            STAFF[2],
            STAFF[3],
            ["中村 大輔", "ナカムラ ダイスケ", "chiiki-fukushi", "正規", "職員"],
        ],
    )
    r = import_roster(cli, june, tmp_path / "june.xlsx")
    assert r.exit_code == 0, r
    assert list(read_credentials(tmp_path / "june.xlsx")) == ["inzai-fm-0005"]

    # 髙橋 comes back: the same account is re-enabled with a new one-time password
    july = write_csv(
        tmp_path / "july.csv",
        [*STAFF, ["中村 大輔", "ナカムラ ダイスケ", "chiiki-fukushi", "正規", "職員"]],
    )
    r = import_roster(cli, july, tmp_path / "july.xlsx")
    assert r.exit_code == 0, r
    assert "1 enable" in r.stderr
    assert list(read_credentials(tmp_path / "july.xlsx")) == ["inzai-fm-0002"]
    assert city.scalar("SELECT status FROM accounts WHERE login_id='inzai-fm-0002'") == "active"


def test_roster_update_moves_facility(city, cli, tmp_path):
    assert (
        import_roster(cli, write_csv(tmp_path / "a.csv", STAFF), tmp_path / "a.xlsx").exit_code == 0
    )
    moved = [r[:] for r in STAFF]
    moved[0][2] = "chiiki-fukushi"
    r = import_roster(cli, write_csv(tmp_path / "b.csv", moved), None)
    assert r.exit_code == 0, r
    assert "1 update" in r.stderr and "facility chuo-rojin->chiiki-fukushi" in r.stdout
    assert (
        city.scalar(
            "SELECT f.code FROM accounts a JOIN facilities f ON f.id = a.facility_id "
            "WHERE a.login_id = 'inzai-fm-0001'"
        )
        == "chiiki-fukushi"
    )


def test_dry_run_changes_nothing(city, cli, tmp_path):
    before = snapshot(city)
    r = import_roster(cli, write_csv(tmp_path / "a.csv", STAFF), None, "--dry-run")
    assert r.exit_code == 0 and "Dry run: nothing was changed." in r.stderr
    assert "inzai-fm-0004" in r.stdout
    assert snapshot(city) == before


def test_credentials_file_is_required_when_passwords_are_issued(city, cli, tmp_path):
    before = snapshot(city)
    r = import_roster(cli, write_csv(tmp_path / "a.csv", STAFF), None)
    assert r.exit_code == EXIT_FAILED
    assert "4 account(s) would get one-time passwords: give --credentials-out" in r.stderr
    assert snapshot(city) == before


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [STAFF[0], ["髙橋 健一", "タカハシ", "chuo-rojin", "役員", "職員"]],
            "a.csv: row 3, column 雇用形態: must be 正規 (正社員, 常勤) or 非正規 (契約, パート, "
            "アルバイト, 嘱託, 派遣, 臨時, 非常勤) (got '役員')",
        ),
        (
            [STAFF[0], ["髙橋 健一", "タカハシ", "nowhere", "正規", "職員"]],
            "a.csv: row 3, column 所属施設: no facility with code or name 'nowhere'",
        ),
        (
            [STAFF[0], ["", "タカハシ", "chuo-rojin", "正規", "職員"]],
            "a.csv: row 3, column 氏名: empty",
        ),
        (
            [STAFF[0], ["髙橋 健一", "タカハシ", "chuo-rojin", "正規", "社長"]],
            "a.csv: row 3, column 役割: must be operator",
        ),
        (
            [STAFF[0], ["髙橋 健一", "タカハシ", "chuo-rojin", "正規", "admin"]],
            "a.csv: row 3, column 役割: admin is for the city's own staff",
        ),
        ([STAFF[0], STAFF[0]], "a.csv: row 3, column 氏名: the same person as row 2"),
    ],
)
def test_bad_rows_name_file_row_and_column_and_change_nothing(city, cli, tmp_path, rows, message):
    before = snapshot(city)
    out = tmp_path / "c.xlsx"
    r = import_roster(cli, write_csv(tmp_path / "a.csv", rows), out)
    assert r.exit_code == EXIT_FAILED
    assert f"Error: {message}" in r.stderr
    assert snapshot(city) == before
    assert not out.exists()


def test_missing_column_and_bad_bytes(city, cli, tmp_path):
    bad = tmp_path / "a.csv"
    bad.write_bytes(
        "氏名,フリガナ,所属施設,役割\r\n佐藤 美咲,サトウ,chuo-rojin,職員\r\n".encode("cp932")
    )
    r = import_roster(cli, bad, tmp_path / "c.xlsx")
    assert r.exit_code == EXIT_FAILED
    assert "a.csv: row 1: missing column(s) 雇用形態" in r.stderr
    mixed = tmp_path / "b.csv"
    mixed.write_bytes(
        "氏名,フリガナ,所属施設,雇用形態,役割\r\n".encode("cp932")
        + b"\x82\xa0\x85\x40,x,chuo-rojin,\x90\xb3\x8bK,operator\r\n"
    )
    r = import_roster(cli, mixed, tmp_path / "c.xlsx")
    assert r.exit_code == EXIT_FAILED
    assert "b.csv: row 2, column 氏名: bytes that are not valid cp932" in r.stderr


def test_several_problems_are_all_listed(city, cli, tmp_path):
    rows = [["佐藤", "サトウ", "x1", "正規", "職員"], ["鈴木", "スズキ", "chuo-rojin", "?", "職員"]]
    r = import_roster(cli, write_csv(tmp_path / "a.csv", rows), tmp_path / "c.xlsx")
    assert r.exit_code == EXIT_FAILED
    assert "a.csv: row 3, column 雇用形態" in r.stderr
    assert "more problems" not in r.stderr  # row 2's facility is checked only after reading
    rows[1][3] = "正規"
    rows.append(["田中", "タナカ", "chuo-rojin", "x", "y"])
    r = import_roster(cli, write_csv(tmp_path / "b.csv", rows), tmp_path / "c.xlsx")
    assert "b.csv: row 4, column 雇用形態" in r.stderr and "b.csv: row 4, column 役割" in r.stderr
    assert "(and 1 more problems; nothing was changed)" in r.stderr


def test_accounts_not_on_any_roster_are_visible(city, cli, tmp_path):
    make_account(city, "fm-manual", "inzai-fm")
    assert (
        import_roster(cli, write_csv(tmp_path / "a.csv", STAFF), tmp_path / "a.xlsx").exit_code == 0
    )
    r = cli("account", "list", "--org", "inzai-fm", "--format", "json")
    no_roster = [a["login_id"] for a in json.loads(r.stdout) if a["roster_entry"] is None]
    assert no_roster == ["fm-manual"]


def test_library_api_for_handover(city, tmp_path):
    """The names the facilities area's `resv handover --roster` calls."""
    import datetime as dt

    from sqlalchemy.orm import Session

    from resv_cli.accounts.roster import apply_roster, plan_roster, read_roster
    from resv_cli.core.context import Actor

    rows = read_roster(write_csv(tmp_path / "a.csv", STAFF))
    assert [r.row for r in rows] == [2, 3, 4, 5]
    admin_id = city.scalar("SELECT id FROM accounts WHERE login_id='it-admin'")
    actor = Actor(admin_id, "it-admin", "情報 太郎", 1, "city", "city", "admin")
    with Session(city.engine()) as s, s.begin():
        plan = plan_roster(s, "inzai-fm", rows, valid_from=dt.date(2026, 4, 1))
        assert [i.login_id for i in plan.to_create] == [f"inzai-fm-000{i}" for i in range(1, 5)]
        assert set(plan.as_dict()) >= {"to_create", "to_disable", "unchanged"}
        creds = apply_roster(s, actor, plan)
    assert [c.login_id for c in creds] == [i.login_id for i in plan.to_create]
    assert all(len(c.one_time_password) == 34 for c in creds)
    assert "one_time_password" not in repr(creds[0])
    assert str(city.scalar("SELECT valid_from FROM accounts WHERE login_id='inzai-fm-0001'")) == (
        "2026-04-01"
    )


# --- training ------------------------------------------------------------------------


def test_training_record_list_import(city, cli, tmp_path):
    make_account(city, "fm-a", "inzai-fm")
    make_account(city, "fm-b", "inzai-fm")
    r = cli("training", "record", "fm-a", "--course", "個人情報保護研修", "--on", "2026-04-10")
    assert r.exit_code == 0, r
    r = cli("training", "record", "fm-a", "--course", "個人情報保護研修", "--on", "2026-04-10")
    assert r.exit_code == EXIT_FAILED and "already has" in r.stderr
    r = cli("training", "record", "nobody", "--course", "x", "--on", "2026-04-10")
    assert r.exit_code == EXIT_FAILED and "no account with login ID 'nobody'" in r.stderr

    sheet = tmp_path / "training.csv"
    sheet.write_bytes(
        "ログインID,研修名,受講日\r\nfm-a,情報セキュリティ研修,2026-05-01\r\n"
        "fm-b,個人情報保護研修,2026/04/10\r\nfm-a,個人情報保護研修,2026-04-10\r\n".encode("cp932")
    )
    r = cli("training", "import", str(sheet), "--format", "json")
    assert r.exit_code == 0, r
    assert json.loads(r.stdout) == {"read": 3, "added": 2, "unchanged": 1}
    r = cli("training", "import", str(sheet), "--format", "json")
    assert json.loads(r.stdout) == {"read": 3, "added": 0, "unchanged": 3}
    r = cli("training", "list", "--org", "inzai-fm", "--format", "json")
    got = [(t["login_id"], t["course"], t["completed_on"]) for t in json.loads(r.stdout)]
    assert got == [
        ("fm-a", "情報セキュリティ研修", "2026-05-01"),
        ("fm-a", "個人情報保護研修", "2026-04-10"),
        ("fm-b", "個人情報保護研修", "2026-04-10"),
    ]
    r = cli("account", "show", "fm-a", "--format", "json")
    assert json.loads(r.stdout)["last_training"] == "2026-05-01 情報セキュリティ研修"

    wb = openpyxl.Workbook()
    wb.active.append(["ログインID", "研修名", "受講日"])
    wb.active.append(["fm-b", "研修", "not a date"])
    wb.active.append(["ghost", "研修", "2026-04-01"])
    wb.save(tmp_path / "bad.xlsx")
    before = city.scalar("SELECT count(*) FROM training_records")
    r = cli("training", "import", str(tmp_path / "bad.xlsx"))
    assert r.exit_code == EXIT_FAILED
    assert "bad.xlsx: row 2, column 受講日: not a date" in r.stderr
    assert "bad.xlsx: row 3, column ログインID: no account 'ghost'" in r.stderr
    assert city.scalar("SELECT count(*) FROM training_records") == before
