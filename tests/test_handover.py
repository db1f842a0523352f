"""resv handover plan/apply: plan writes nothing, apply does exactly what plan printed."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json

import pytest

from resv_cli.core import clock
from tests import factories as f

D = dt.date
ARGS = ["--to", "inzai-fm", "--facility", "chuo-rojin", "--facility", "chiiki-fukushi",
        "--on", "2017-04-01"]  # fmt: skip


@pytest.fixture
def city(installation, cli):
    result = cli("facility", "seed-demo")
    assert result.exit_code == 0, result
    # places of work: fm-chuo works at both centres; city-staff has the city-wide grant
    f.make_account(installation, "fm-chuo", "inzai-fm", role="operator", facility="chuo-rojin",
                   places=("chiiki-fukushi",))  # fmt: skip
    f.make_account(installation, "city-staff", "city", role="operator", all_managed_facilities=True)
    r1 = f.make_registrant(installation, "chuo-rojin", "山田 花子", kana="ヤマダ ハナコ")
    f.make_registrant(installation, "chiiki-fukushi", "鈴木 一郎")
    f.make_registrant(installation, "cosmos", "佐藤 次郎")
    start = dt.datetime(2017, 5, 1, 1, 0, tzinfo=dt.UTC)
    f.make_booking(installation, "chuo-rojin-kaigi", r1, start)
    f.make_booking(installation, "chuo-rojin", r1, start + dt.timedelta(days=1))
    return installation


def _snapshot(inst):
    periods = inst.rows(
        "SELECT f.code, o.code, p.valid_from, p.valid_until FROM management_periods p "
        "JOIN facilities f ON f.id = p.facility_id JOIN organizations o "
        "ON o.id = p.organization_id ORDER BY f.code, p.valid_from"
    )
    return [tuple(str(v) if v is not None else None for v in r) for r in periods]


def _json(result):
    assert result.exit_code == 0, result
    return json.loads(result.stdout)


def test_plan_writes_nothing_and_shows_the_changes(city, cli):
    before = _snapshot(city)
    events = city.scalar("SELECT count(*) FROM audit_events")
    plan = _json(cli("handover", "plan", *ARGS, "-f", "json"))
    assert _snapshot(city) == before
    assert city.scalar("SELECT count(*) FROM audit_events") == events
    assert plan["periods_closed"] == [
        {"facility": code, "organization": "city", "valid_from": "2000-04-01",
         "valid_until_before": None, "valid_until_after": "2017-03-31"}
        for code in ("chuo-rojin", "chiiki-fukushi")
    ]  # fmt: skip
    assert plan["periods_opened"] == [
        {"facility": code, "organization": "inzai-fm", "valid_from": "2017-04-01",
         "valid_until": "2032-03-31"}
        for code in ("chuo-rojin", "chiiki-fukushi")
    ]  # fmt: skip
    gain, lose = plan["access"]["gain"], plan["access"]["lose"]
    moved = ["chiiki-fukushi", "chiiki-fukushi-tamokuteki", "chuo-rojin", "chuo-rojin-kaigi",
             "chuo-rojin-washitsu"]  # fmt: skip
    # admins and monitors get nothing from management (the access layer's rule): only
    # the operators of the two organisations change
    assert gain == [
        {"organization": "inzai-fm", "accounts": ["fm-chuo"], "facilities": moved,
         "registrants": 2, "bookings": 2}
    ]  # fmt: skip
    assert lose == [
        {"organization": "city", "accounts": ["city-staff"], "facilities": moved,
         "registrants": 2, "bookings": 2}
    ]  # fmt: skip
    assert plan["access"]["accounts_from_roster"] == []
    table = cli("handover", "plan", *ARGS)
    assert table.exit_code == 0, table
    assert "inzai-fm accounts (1: fm-chuo) gain chiiki-fukushi" in table.stdout
    assert "2 registrants and 2 bookings come into their view" in table.stdout


def test_apply_does_exactly_what_plan_printed_and_is_idempotent(city, cli):
    plan = _json(cli("handover", "plan", *ARGS, "-f", "json"))
    before = _snapshot(city)
    applied = _json(cli("handover", "apply", *ARGS, "-f", "json"))
    assert applied == plan
    after = _snapshot(city)
    # the database changed by exactly the printed periods
    expected = [
        p for p in before
        if p[0] not in {c["facility"] for c in plan["periods_closed"]}
    ]  # fmt: skip
    for c in plan["periods_closed"]:
        expected.append((c["facility"], c["organization"], c["valid_from"], c["valid_until_after"]))
    for o in plan["periods_opened"]:
        expected.append((o["facility"], o["organization"], o["valid_from"], o["valid_until"]))
    assert sorted(after) == sorted(expected)
    events = city.rows(
        "SELECT facility_code, detail FROM audit_events WHERE action = 'handover.apply' "
        "ORDER BY seq"
    )
    assert [e[0] for e in events] == ["chuo-rojin", "chiiki-fukushi"]
    assert json.loads(events[0][1]) == {
        "from_organization": "city", "on": "2017-04-01", "to": "inzai-fm",
        "valid_until": "2032-03-31",
    }  # fmt: skip

    again = cli("handover", "apply", *ARGS, "-f", "json")
    assert again.exit_code == 0, again
    assert "Nothing changed: this handover was already applied." in again.stderr
    replan = json.loads(again.stdout)
    assert replan["periods_closed"] == [] and replan["periods_opened"] == []
    assert replan["unchanged"] == ["chuo-rojin", "chiiki-fukushi"]
    assert _snapshot(city) == after
    # a plan made after the apply shows nothing left to do either
    assert _json(cli("handover", "plan", *ARGS, "-f", "json")) == replan


def test_scheduled_handover_switches_on_its_day(city, cli, monkeypatch):
    result = cli("handover", "apply", "--to", "inzai-fm", "--facility", "cosmos",
                 "--on", "2027-04-01")  # fmt: skip
    assert result.exit_code == 0, result

    def manager_of_cosmos_on(day):
        monkeypatch.setattr(clock, "today", lambda: day)
        shown = _json(cli("facility", "show", "cosmos-hall", "-f", "json"))
        listed = _json(cli("facility", "list", "--org", "inzai-fm", "-f", "json"))
        return shown["managed_by"], "cosmos" in [r["code"] for r in listed]

    assert manager_of_cosmos_on(D(2027, 3, 31)) == ("city", False)
    assert manager_of_cosmos_on(D(2027, 4, 1)) == ("inzai-fm", True)

    from sqlalchemy.orm import Session

    from resv_cli.access.decide import decide
    from resv_cli.facilities.catalogue import facilities_managed_by

    fm_staff = f.make_account(city, "fm-cosmos", "inzai-fm", role="operator", facility="cosmos")
    city_staff = city.scalar("SELECT id FROM accounts WHERE login_id = 'city-staff'")
    with Session(bind=city.engine()) as s:
        fm = f.org_id(s, "inzai-fm")
        cosmos = {f.facility_id(s, "cosmos"), f.facility_id(s, "cosmos-hall")}
        assert cosmos.isdisjoint(facilities_managed_by(s, fm, D(2027, 3, 31)))
        assert cosmos <= set(facilities_managed_by(s, fm, D(2027, 4, 1)))
        # the one access layer agrees: the manager's operator sees cosmos from the day
        hall = f.facility_id(s, "cosmos-hall")
        assert not decide(s, fm_staff, "view", "registrants", hall, D(2027, 3, 31)).allowed
        assert decide(s, fm_staff, "view", "registrants", hall, D(2027, 4, 1)).allowed
        assert decide(s, city_staff, "view", "registrants", hall, D(2027, 3, 31)).allowed
        assert not decide(s, city_staff, "view", "registrants", hall, D(2027, 4, 1)).allowed


def test_handover_conflicts_are_one_clear_line(city, cli):
    result = cli("handover", "plan", "--to", "inzai-fm", "--facility", "inba-rojin",
                 "--on", "2016-04-01")  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: inzai-fm's designation term starts on 2017-04-01; "
        "it cannot take over facilities on 2016-04-01"
    )
    result = cli("handover", "plan", "--to", "inzai-fm", "--facility", "nope", "--on", "2018-04-01")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: no facility with code 'nope' (see `resv facility list`)"
    )


def test_later_period_blocks_the_handover(installation, cli):
    f.make_org(installation, "fm2", term=(D(2017, 4, 1), None))
    f.make_facility(installation, "hall")
    f.assign(installation, "hall", "city", D(2000, 4, 1), D(2019, 3, 31))
    f.assign(installation, "hall", "city", D(2020, 4, 1))
    result = cli("handover", "apply", "--to", "fm2", "--facility", "hall", "--on", "2018-04-01")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: hall: a management period by city from 2020-04-01 is already recorded after "
        "2018-04-01; resolve it before the handover"
    )
    assert installation.scalar("SELECT count(*) FROM management_periods") == 2


def test_seed_with_handover_builds_the_2017_scenario(installation, cli):
    result = cli("facility", "seed-demo", "--with-handover", "-f", "json")
    assert _json(result)["handover"] == "applied"
    history = _json(
        cli("facility", "history", "chiiki-fukushi", "--on", "2017-05-15", "-f", "json")
    )
    assert [r["organization"] for r in history] == ["inzai-fm"]
    assert _json(cli("facility", "seed-demo", "--with-handover", "-f", "json"))["handover"] == (
        "already applied"
    )


HAS_ROSTER = importlib.util.find_spec("resv_cli.accounts.roster") is not None


@pytest.mark.skipif(
    not HAS_ROSTER,
    reason="resv_cli.accounts.roster (accounts area, issue 3) is not on this branch yet; "
    "the lead removes this skip after merging it",
)
def test_roster_accounts_are_planned_and_granted_from_the_handover_day(city, cli, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "氏名,フリガナ,所属施設,雇用形態,役割\n"
        "高橋 三郎,タカハシ サブロウ,chuo-rojin,正規,operator\n",
        encoding="utf-8",
    )
    plan = _json(cli("handover", "plan", *ARGS, "--roster", str(roster), "-f", "json"))
    assert len(plan["roster"]["to_create"]) == 1
    assert len(plan["access"]["accounts_from_roster"]) == 1
    wrong = cli("handover", "apply", *ARGS, "--roster", str(roster),
                "--credentials-out", str(tmp_path / "creds.csv"))  # fmt: skip
    assert (wrong.exit_code, wrong.stderr) == (
        1,
        f"Error: {tmp_path / 'creds.csv'}: --credentials-out must name a new .xlsx file\n",
    )
    assert not (tmp_path / "creds.csv").exists()
    creds = tmp_path / "creds.xlsx"
    applied = _json(cli("handover", "apply", *ARGS, "--roster", str(roster),
                        "--credentials-out", str(creds), "-f", "json"))  # fmt: skip
    assert applied == plan
    assert creds.stat().st_mode & 0o077 == 0
    import openpyxl

    rows = list(openpyxl.load_workbook(creds, read_only=True).worksheets[0].values)
    new_login = plan["access"]["accounts_from_roster"][0]
    assert str(rows[0][0]).startswith("ログインID")
    assert len(rows) == 2 and rows[1][0] == new_login
    assert len(rows[1][2]) >= 20  # a real one-time password was written
    # re-applying the same handover with the same roster changes nothing
    again = cli("handover", "apply", *ARGS, "--roster", str(roster),
                "--credentials-out", str(tmp_path / "creds2.xlsx"))  # fmt: skip
    assert again.exit_code == 0, again
    assert "Nothing changed: this handover was already applied." in again.stderr
    assert not (tmp_path / "creds2.xlsx").exists()
    new = city.rows(
        "SELECT valid_from FROM accounts a JOIN organizations o ON o.id = a.organization_id "
        "WHERE o.code = 'inzai-fm' AND a.login_id <> 'fm-chuo'"
    )
    assert [str(r[0]) for r in new] == ["2017-04-01"]


def test_complex_handover_notes_the_facilities_that_keep_their_manager(city, cli):
    plan = _json(cli("handover", "plan", "--to", "inzai-fm", "--facility", "sogo-fukushi",
                     "--on", "2018-04-01", "-f", "json"))  # fmt: skip
    assert [o["facility"] for o in plan["periods_opened"]] == ["sogo-fukushi"]
    assert plan["notes"] == [
        "chiiki-fukushi is inside sogo-fukushi but has a management period of its own on "
        "2018-04-01: it is not handed over (name it with --facility to include it)",
        "chuo-rojin is inside sogo-fukushi but has a management period of its own on "
        "2018-04-01: it is not handed over (name it with --facility to include it)",
        "kodomo-fureai is inside sogo-fukushi but has a management period of its own on "
        "2018-04-01: it is not handed over (name it with --facility to include it)",
    ]
    # per person: nobody at inzai-fm works at the complex itself, so nobody gains it;
    # the city's organisation-wide operator loses it
    assert plan["access"]["gain"] == []
    assert [(x["accounts"], x["facilities"]) for x in plan["access"]["lose"]] == [
        (["city-staff"], ["sogo-fukushi"])
    ]


def test_early_return_to_the_city(city, cli):
    assert cli("handover", "apply", *ARGS).exit_code == 0
    back = _json(cli("handover", "apply", "--to", "city", "--facility", "chuo-rojin",
                     "--on", "2025-04-01", "-f", "json"))  # fmt: skip
    assert back["periods_closed"] == [
        {"facility": "chuo-rojin", "organization": "inzai-fm", "valid_from": "2017-04-01",
         "valid_until_before": "2032-03-31", "valid_until_after": "2025-03-31"}
    ]  # fmt: skip
    assert back["periods_opened"] == [
        {"facility": "chuo-rojin", "organization": "city", "valid_from": "2025-04-01",
         "valid_until": None}
    ]  # fmt: skip
    history = _json(cli("facility", "history", "chuo-rojin", "-f", "json"))
    assert [(r["organization"], r["valid_from"], r["valid_until"]) for r in history] == [
        ("city", "2000-04-01", "2017-03-31"),
        ("inzai-fm", "2017-04-01", "2025-03-31"),
        ("city", "2025-04-01", None),
    ]
