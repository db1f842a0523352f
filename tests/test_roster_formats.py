"""Rosters as managers send them, and checked (issue 15 part 4).

Real cp932 CSV and xlsx files with a title block and submission date above the
header, blank rows, a closing 以上 or 合計 row, facility names in half-width kana
or with spaces, several places of work in one cell and the usual words for
employment types; 所属施設 checked against what the manager manages; revoked
people on a later roster.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import openpyxl
import pytest
from factories import assign, make_facility

from resv_cli.core import clock
from resv_cli.core.errors import EXIT_FAILED

TITLE = [
    ["利用者名簿（公共施設予約システム）"],
    ["提出日", "令和8年3月1日"],
    ["指定管理者", "株式会社いんざい施設管理"],
    [],
]
HEADER = ["No.", "氏名", "フリガナ", "所属 施設", "雇用形態", "役割", "備考"]
# spreadsheet rows 6.. (title block rows 1-4, the header row 5)
STAFF = [
    ["1", "佐藤 美咲", "サトウ ミサキ", "中央老人福祉ｾﾝﾀｰ", "正社員", "職員", ""],
    ["2", "髙橋 健一", "タカハシ ケンイチ", "中央 老人福祉センター", "ｱﾙﾊﾞｲﾄ", "職員", ""],
    [],
    ["3", "渡邉 由美子", "ワタナベ ユミコ", "chuo-rojin、地域福祉センター", "嘱託", "職員", "兼務"],
    [
        "4",
        "伊藤 翔太",
        "イトウ ショウタ",
        "地域福祉センター・中央老人福祉センター",
        "派遣",
        "職員",
        "",
    ],
    ["5", "山﨑 さくら", "ヤマザキ サクラ", "chiiki-fukushi／chuo-rojin", "パート", "職員", ""],
]
CLOSING = [[], ["", "合計 5名"], ["以上"], ["", "担当: 総務課 090-0000-0000"]]


def rows_of(staff: list[list[str]], closing: list[list[str]] = CLOSING) -> list[list[str]]:
    return [*TITLE, HEADER, *staff, *closing]


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    path.write_bytes("".join(",".join(r) + "\r\n" for r in rows).encode("cp932"))
    return path


def write_xlsx(path: Path, rows: list[list[str]]) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    for n, r in enumerate(rows, start=1):
        for c, v in enumerate(r, start=1):
            if v:
                ws.cell(n, c, v)
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
    make_facility(installation, "cosmos", "community_centre", name="コスモス会館")
    for code in ("chuo-rojin", "chiiki-fukushi"):
        assign(installation, code, "inzai-fm", dt.date(2017, 4, 1))
    assign(installation, "cosmos", "city", dt.date(2000, 4, 1))
    return installation


def import_roster(cli, path: Path, out: Path | None, *extra: str):
    args = ["account", "import-roster", str(path), "--org", "inzai-fm"]
    if out is not None:
        args += ["--credentials-out", str(out)]
    return cli(*args, *extra)


def places(inst) -> dict[str, list[str]]:
    got: dict[str, list[str]] = {}
    for login, code, _first in inst.rows(
        "SELECT a.login_id, f.code, CASE WHEN a.facility_id = f.id THEN 0 ELSE 1 END "
        "FROM accounts a JOIN account_workplaces w ON w.account_id = a.id "
        "JOIN facilities f ON f.id = w.facility_id WHERE a.login_id LIKE 'inzai-fm-%' "
        "ORDER BY a.login_id, 3, f.code"
    ):
        got.setdefault(login, []).append(code)
    return got


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_roster_as_submitted_is_read_below_its_title_block(city, cli, tmp_path, kind):
    write = write_csv if kind == "csv" else write_xlsx
    roster = write(tmp_path / f"meibo.{kind}", rows_of(STAFF))
    r = import_roster(cli, roster, tmp_path / "creds.xlsx", "--format", "json")
    assert r.exit_code == 0, r
    plan = json.loads(r.stdout)
    # spreadsheet rows: the title block and the blank row 8 count
    assert [(i["row"], i["login_id"]) for i in plan["to_create"]] == [
        (6, "inzai-fm-0001"), (7, "inzai-fm-0002"), (9, "inzai-fm-0003"),
        (10, "inzai-fm-0004"), (11, "inzai-fm-0005"),
    ]  # fmt: skip
    assert plan["revoked"] == [] and plan["unmanaged"] == []
    # every place of work stored, the first listed being the primary 所属施設
    assert places(city) == {
        "inzai-fm-0001": ["chuo-rojin"],
        "inzai-fm-0002": ["chuo-rojin"],
        "inzai-fm-0003": ["chuo-rojin", "chiiki-fukushi"],
        "inzai-fm-0004": ["chiiki-fukushi", "chuo-rojin"],
        "inzai-fm-0005": ["chiiki-fukushi", "chuo-rojin"],
    }
    assert city.rows(
        "SELECT a.login_id, e.employment_type FROM accounts a JOIN roster_entries e "
        "ON e.id = a.roster_entry_id ORDER BY a.login_id"
    ) == [
        ("inzai-fm-0001", "regular"),
        ("inzai-fm-0002", "non_regular"),
        ("inzai-fm-0003", "non_regular"),
        ("inzai-fm-0004", "non_regular"),
        ("inzai-fm-0005", "non_regular"),
    ]
    # the same roster again: nothing changes (several places compared as a list)
    again = import_roster(cli, roster, tmp_path / "again.xlsx")
    assert again.exit_code == 0, again
    assert "Nothing to change" in again.stderr
    # one place fewer is an update of that account only
    fewer = [row[:] for row in STAFF]
    fewer[3][3] = "chuo-rojin"
    r = import_roster(cli, write(tmp_path / f"may.{kind}", rows_of(fewer)), None)
    assert r.exit_code == 0, r
    assert "1 update" in r.stderr and "facility chuo-rojin,chiiki-fukushi->chuo-rojin" in r.stdout
    assert places(city)["inzai-fm-0003"] == ["chuo-rojin"]


def test_a_roster_without_title_or_closing_still_reads(city, cli, tmp_path):
    roster = write_csv(tmp_path / "plain.csv", [HEADER, *STAFF[:2]])
    r = import_roster(cli, roster, tmp_path / "c.xlsx", "--dry-run", "--format", "json")
    assert r.exit_code == 0, r
    assert [i["row"] for i in json.loads(r.stdout)["to_create"]] == [2, 3]


@pytest.mark.parametrize(
    ("staff", "closing", "message"),
    [
        (
            [STAFF[0], ["2", "髙橋 健一", "タカハシ", "cosmos", "正規", "職員", ""]],
            CLOSING,
            "meibo.csv: row 7, column 所属施設: cosmos is not a facility inzai-fm manages on "
            "{today} (city does)",
        ),
        (
            [
                STAFF[0],
                ["2", "髙橋 健一", "タカハシ", "chuo-rojin、コスモス会館", "正規", "職員", ""],
            ],
            CLOSING,
            "meibo.csv: row 7, column 所属施設: cosmos is not a facility inzai-fm manages",
        ),
        (
            [STAFF[0], ["2", "髙橋 健一", "タカハシ", "chuo-rojin／どこか", "正規", "職員", ""]],
            CLOSING,
            "meibo.csv: row 7, column 所属施設: no facility with code or name 'どこか'",
        ),
        (
            [STAFF[0], ["2", "髙橋 健一", "タカハシ", "chuo-rojin", "役員", "職員", ""]],
            CLOSING,
            "meibo.csv: row 7, column 雇用形態: must be 正規",
        ),
        (
            [STAFF[0]],
            [["以上"], ["2", "髙橋 健一", "タカハシ", "chuo-rojin", "正規", "職員", ""]],
            "meibo.csv: row 8: a staff row after the closing row 7",
        ),
    ],
)
def test_bad_rows_are_named_by_spreadsheet_row(city, cli, tmp_path, staff, closing, message):
    before = city.scalar("SELECT count(*) FROM accounts")
    r = import_roster(cli, write_csv(tmp_path / "meibo.csv", rows_of(staff, closing)),
                      tmp_path / "c.xlsx")  # fmt: skip
    assert r.exit_code == EXIT_FAILED, r
    assert f"Error: {message.format(today=clock.today())}" in r.stderr
    assert city.scalar("SELECT count(*) FROM accounts") == before
    assert not (tmp_path / "c.xlsx").exists()


def test_facility_must_be_managed_on_the_validity_start(city, cli, tmp_path):
    make_facility(city, "honme", "community_centre", name="本埜会館")
    assign(city, "honme", "city", dt.date(2000, 4, 1), dt.date(2020, 3, 31))
    assign(city, "honme", "inzai-fm", dt.date(2020, 4, 1))
    roster = write_csv(
        tmp_path / "meibo.csv",
        rows_of([["1", "佐藤 美咲", "サトウ ミサキ", "本埜 会館", "正規", "職員", ""]]),
    )
    r = import_roster(cli, roster, tmp_path / "c.xlsx", "--valid-from", "2019-04-01")
    assert r.exit_code == EXIT_FAILED, r
    assert r.stderr == (
        "Error: meibo.csv: row 6, column 所属施設: honme is not a facility inzai-fm "
        "manages on 2019-04-01 (city does)\n"
    )
    r = import_roster(cli, roster, tmp_path / "c.xlsx", "--valid-from", "2020-04-01")
    assert r.exit_code == 0, r
    assert places(city) == {"inzai-fm-0001": ["honme"]}


def test_missing_header_names_the_closest_row(city, cli, tmp_path):
    rows = [*TITLE, ["No.", "氏名", "フリガナ", "所属施設", "役割"], STAFF[0][:4] + ["職員"]]
    r = import_roster(cli, write_csv(tmp_path / "meibo.csv", rows), tmp_path / "c.xlsx")
    assert r.exit_code == EXIT_FAILED
    assert "Error: meibo.csv: row 5: missing column(s) 雇用形態 (found: No., 氏名" in r.stderr


def test_revoked_people_are_not_re_granted_unless_asked(city, cli, tmp_path):
    roster = write_csv(tmp_path / "april.csv", rows_of(STAFF[:2]))
    assert import_roster(cli, roster, tmp_path / "a.xlsx").exit_code == 0
    assert cli("account", "revoke", "inzai-fm-0002", "--reason", "不正利用").exit_code == 0
    events = city.scalar("SELECT count(*) FROM audit_events")

    r = import_roster(cli, roster, tmp_path / "b.xlsx")
    assert r.exit_code == 0, r
    assert "1 revoked: not re-granted" in r.stderr and "Nothing to change" in r.stderr
    assert "revoked: not re-granted" in r.stdout and "--re-grant inzai-fm-0002" in r.stdout
    assert city.scalar("SELECT status FROM accounts WHERE login_id='inzai-fm-0002'") == "revoked"
    assert city.scalar("SELECT count(*) FROM audit_events") == events
    assert not (tmp_path / "b.xlsx").exists()

    # the handover plan shows the category too
    r = cli("handover", "plan", "--to", "inzai-fm", "--facility", "cosmos", "--on",
            "2030-04-01", "--roster", str(roster))  # fmt: skip
    assert r.exit_code == 0, r
    assert "revoked: not re-granted: 1\n    inzai-fm-0002" in r.stdout

    wrong = import_roster(cli, roster, tmp_path / "c.xlsx", "--re-grant", "inzai-fm-0001")
    assert wrong.exit_code == EXIT_FAILED
    assert wrong.stderr.endswith(
        "Error: --re-grant inzai-fm-0001: not a revoked person on this roster\n"
    )

    # an explicit re-grant: the same account, a new one-time password, audited
    r = import_roster(cli, roster, tmp_path / "c.xlsx", "--re-grant", "inzai-fm-0002")
    assert r.exit_code == 0, r
    assert "1 re-enabled" in r.stderr
    assert city.scalar("SELECT status FROM accounts WHERE login_id='inzai-fm-0002'") == "active"
    detail = city.scalar(
        "SELECT detail FROM audit_events WHERE action = 'account.enable' ORDER BY seq DESC LIMIT 1"
    )
    assert json.loads(detail)["reason"] == "re_grant"
    wb = openpyxl.load_workbook(tmp_path / "c.xlsx", read_only=True)
    assert [r[0] for r in wb.worksheets[0].iter_rows(values_only=True)][1:] == ["inzai-fm-0002"]


def test_handover_roster_may_name_the_facilities_it_hands_over(city, cli, tmp_path):
    """The roster is planned before the handover's periods exist; apply checks it after."""
    roster = write_csv(
        tmp_path / "meibo.csv",
        rows_of([["1", "佐藤 美咲", "サトウ ミサキ", "コスモス会館", "正規", "職員", ""]]),
    )
    args = ["--to", "inzai-fm", "--facility", "cosmos", "--on", "2030-04-01",
            "--roster", str(roster)]  # fmt: skip
    plan = cli("handover", "plan", *args)
    assert plan.exit_code == 0, plan
    assert "refused at apply" not in plan.stdout
    r = cli("handover", "apply", *args, "--credentials-out", str(tmp_path / "c.xlsx"))
    assert r.exit_code == 0, r
    assert places(city) == {"inzai-fm-0001": ["cosmos"]}
    # a roster naming a facility the handover does not give is refused at apply
    make_facility(city, "honme", "community_centre", name="本埜会館")
    make_facility(city, "inba", "community_centre", name="印旛会館")
    for code in ("honme", "inba"):
        assign(city, code, "city", dt.date(2000, 4, 1))
    other = write_csv(
        tmp_path / "other.csv",
        rows_of([["1", "伊藤 翔太", "イトウ ショウタ", "印旛会館", "正規", "職員", ""]]),
    )
    bad = ["--to", "inzai-fm", "--facility", "honme", "--on", "2030-04-01", "--roster",
           str(other)]  # fmt: skip
    why = (
        "other.csv: row 6, column 所属施設: inba is not a facility inzai-fm manages on "
        "2030-04-01 (city does)"
    )
    plan = cli("handover", "plan", *bad)
    assert plan.exit_code == 0, plan
    assert f"refused at apply: {why}" in plan.stdout
    before = city.scalar("SELECT count(*) FROM management_periods")
    r = cli("handover", "apply", *bad, "--credentials-out", str(tmp_path / "d.xlsx"))
    assert (r.exit_code, r.stderr) == (EXIT_FAILED, f"Error: {why}\n")
    assert city.scalar("SELECT count(*) FROM management_periods") == before
    assert not (tmp_path / "d.xlsx").exists()
