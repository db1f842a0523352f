"""resv facility: add, list, show, update, retire, assign, history, seed-demo."""

from __future__ import annotations

import json

import pytest

from tests import factories as f


@pytest.fixture
def city(installation, cli):
    result = cli("facility", "seed-demo")
    assert result.exit_code == 0, result
    return installation


def _json(result):
    assert result.exit_code == 0, result
    return json.loads(result.stdout)


def test_seed_demo_builds_the_city_and_is_idempotent(city, cli):
    assert city.scalar("SELECT count(*) FROM facilities") == 12
    assert city.scalar("SELECT count(*) FROM management_periods") == 7
    assert city.scalar("SELECT kind FROM organizations WHERE code = 'inzai-fm'") == (
        "designated_manager"
    )
    parent = city.scalar(
        "SELECT p.code FROM facilities c JOIN facilities p ON p.id = c.parent_id "
        "WHERE c.code = 'chuo-rojin'"
    )
    assert parent == "sogo-fukushi"
    # the opinion's one exception, granted to 中央老人福祉センター only
    assert city.rows(
        "SELECT name, from_facility_code, over_category FROM duplicate_check_rules"
    ) == [("chuo-rojin-duplicate-check", "chuo-rojin", None)]
    again = _json(cli("facility", "seed-demo", "-f", "json"))
    assert again == {
        "organizations_added": 0,
        "facilities_added": 0,
        "periods_added": 0,
        "rules_added": 0,
        "handover": None,
    }
    assert city.scalar("SELECT count(*) FROM facilities") == 12
    assert city.scalar("SELECT count(*) FROM management_periods") == 7


def test_add_show_update_list(city, cli):
    result = cli(
        "facility",
        "add",
        "sports-1",
        "市民体育館",
        "--category",
        "sports",
        "--hours",
        "9:00～21:30",
        "--kana",
        "シミンタイイクカン",
    )
    assert result.exit_code == 0, result
    shown = _json(cli("facility", "show", "sports-1", "-f", "json"))
    assert shown["hours"] == "09:00-21:30"
    assert shown["category"] == "sports"
    assert shown["managed_by"] is None
    result = cli("facility", "update", "sports-1", "--hours", "8：30～１7:15", "--parent", "cosmos")
    assert result.exit_code == 0, result
    assert "Changed: parent_id, opens_at, closes_at." in result.stderr
    shown = _json(cli("facility", "show", "sports-1", "-f", "json"))
    assert shown["hours"] == "08:30-17:15"
    assert shown["parent"] == "cosmos"
    # without periods of its own it follows its parent's manager
    assert shown["managed_by"] == "city"
    rows = _json(cli("facility", "list", "--category", "sports", "-f", "json"))
    assert [r["code"] for r in rows] == ["sports-1"]
    audit = city.rows(
        "SELECT action, facility_code FROM audit_events WHERE action LIKE 'facility.%' "
        "AND facility_code = 'sports-1' ORDER BY seq"
    )
    assert [tuple(a) for a in audit] == [
        ("facility.add", "sports-1"),
        ("facility.update", "sports-1"),
    ]


def test_add_refuses_bad_input(city, cli):
    result = cli("facility", "add", "x1", "名", "--category", "stadium")
    assert result.exit_code == 1
    assert "Error: unknown category 'stadium'; known:" in result.stderr
    result = cli("facility", "add", "x1", "名", "--category", "sports", "--hours", "21:00-09:00")
    assert result.exit_code == 1
    assert "closing time is not after opening" in result.stderr
    result = cli("facility", "add", "cosmos", "名", "--category", "sports")
    assert result.exit_code == 1
    assert "Error: facility 'cosmos' already exists" in result.stderr
    result = cli("facility", "add", "Bad Code", "名", "--category", "sports")
    assert result.exit_code == 1
    assert "facility code 'Bad Code'" in result.stderr
    result = cli("facility", "update", "cosmos", "--parent", "cosmos-hall")
    assert result.exit_code == 1
    assert "cannot be the parent of 'cosmos': a cycle" in result.stderr


def test_assign_overlap_is_refused_with_one_clear_line(city, cli):
    result = cli("facility", "assign", "cosmos", "--org", "inzai-fm", "--from", "2020-04-01")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "Error: cosmos: management period 2020-04-01..2032-03-31 overlaps an existing period "
        "(city 2000-04-01..open); periods of a facility must not overlap (end the existing one "
        "first, or use `resv handover`)"
    ]
    assert city.scalar("SELECT count(*) FROM management_periods") == 7


def test_assign_respects_designation_term(city, cli):
    f.make_facility(city, "new-hall", category="culture_hall")
    result = cli("facility", "assign", "new-hall", "--org", "inzai-fm", "--from", "2016-04-01")
    assert result.exit_code == 1
    assert "inzai-fm's designation term starts on 2017-04-01" in result.stderr
    result = cli(
        "facility", "assign", "new-hall", "--org", "inzai-fm", "--from", "2018-04-01",
        "--until", "2040-03-31",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "give --until 2032-03-31 or earlier" in result.stderr
    ok = _json(
        cli("facility", "assign", "new-hall", "--org", "inzai-fm", "--from", "2018-04-01", "-f",
            "json")
    )  # fmt: skip
    assert ok["valid_until"] == "2032-03-31"


def test_history_answers_who_managed_it_on_a_day(city, cli):
    result = cli(
        "handover", "apply", "--to", "inzai-fm", "--facility", "chuo-rojin", "--on", "2017-04-01"
    )
    assert result.exit_code == 0, result
    rows = _json(cli("facility", "history", "chuo-rojin", "-f", "json"))
    assert [(r["organization"], r["valid_from"], r["valid_until"], r["via"]) for r in rows] == [
        ("city", "2000-04-01", "2017-03-31", None),
        ("inzai-fm", "2017-04-01", "2032-03-31", None),
        # after the designation, the complex's own (city) period applies again
        ("city", "2032-04-01", None, "sogo-fukushi"),
    ]
    assert (
        _json(cli("facility", "show", "chuo-rojin", "--on", "2033-01-01", "-f", "json"))[
            "managed_by"
        ]
        == "city"
    )
    may_2017 = _json(cli("facility", "history", "chuo-rojin", "--on", "2017-05-15", "-f", "json"))
    assert [r["organization"] for r in may_2017] == ["inzai-fm"]
    march = _json(cli("facility", "history", "chuo-rojin", "--on", "2017-03-31", "-f", "json"))
    assert [r["organization"] for r in march] == ["city"]
    # a room answers through its facility
    room = _json(cli("facility", "history", "chuo-rojin-kaigi", "--on", "2017-05-15", "-f", "json"))
    assert [(r["organization"], r["via"]) for r in room] == [("inzai-fm", "chuo-rojin")]
    before = cli("facility", "history", "chuo-rojin", "--on", "1999-01-01")
    assert before.exit_code == 0
    assert "Nobody managed chuo-rojin on 1999-01-01." in before.stderr


def test_history_follows_the_complex_like_show_and_access(city, cli):
    """Management assigned at the complex only: history, show and list agree on every day."""
    ok = cli("facility", "add", "new-complex", "新複合施設", "--category", "complex")
    assert ok.exit_code == 0, ok
    for code, parent in (("new-centre", "new-complex"), ("new-room", "new-centre")):
        r = cli("facility", "add", code, code, "--category",
                "room" if code == "new-room" else "community_centre", "--parent", parent)  # fmt: skip
        assert r.exit_code == 0, r
    r = cli("facility", "assign", "new-complex", "--org", "city", "--from", "2016-04-01")
    assert r.exit_code == 0, r
    for code in ("new-centre", "new-room"):
        on_day = _json(cli("facility", "history", code, "--on", "2016-05-15", "-f", "json"))
        assert [(h["organization"], h["via"]) for h in on_day] == [("city", "new-complex")]
        shown = _json(cli("facility", "show", code, "--on", "2016-05-15", "-f", "json"))
        assert shown["managed_by"] == "city"
    listed = _json(cli("facility", "list", "--org", "city", "--on", "2016-05-15", "-f", "json"))
    assert {"new-complex", "new-centre", "new-room"} <= {f["code"] for f in listed}
    # the tree is at most three levels: complex > facility > room
    r = cli("facility", "add", "too-deep", "x", "--category", "room", "--parent", "new-room")
    assert r.exit_code == 1
    assert "'too-deep' cannot go under 'new-room': the facility tree has at most 3 levels" in (
        r.stderr
    )
    r = cli("facility", "update", "new-complex", "--parent", "chuo-rojin")
    assert r.exit_code == 1
    assert "'new-complex' cannot go under 'chuo-rojin'" in r.stderr


def test_list_by_org_on_a_day(city, cli):
    cli(
        "handover",
        "apply",
        "--to",
        "inzai-fm",
        "--facility",
        "chiiki-fukushi",
        "--on",
        "2017-04-01",
    )
    rows = _json(cli("facility", "list", "--org", "inzai-fm", "--on", "2017-05-15", "-f", "json"))
    assert [r["code"] for r in rows] == ["chiiki-fukushi", "chiiki-fukushi-tamokuteki"]
    rows = _json(cli("facility", "list", "--org", "inzai-fm", "--on", "2017-03-31", "-f", "json"))
    assert rows == []


def test_retire_closes_the_open_period(city, cli):
    result = _json(cli("facility", "retire", "honme-rojin", "--on", "2027-04-01", "-f", "json"))
    assert result["periods_closed"] == 1
    assert city.scalar(
        "SELECT valid_until FROM management_periods p JOIN facilities f ON f.id = p.facility_id "
        "WHERE f.code = 'honme-rojin'"
    ) in ("2027-03-31", __import__("datetime").date(2027, 3, 31))
    listed = _json(cli("facility", "list", "--on", "2027-05-01", "-f", "json"))
    assert "honme-rojin" not in [r["code"] for r in listed]
    listed = _json(cli("facility", "list", "--on", "2027-03-01", "-f", "json"))
    assert "honme-rojin" in [r["code"] for r in listed]


def test_operator_may_not_change_facilities(city, cli):
    f.make_account(city, "fm-staff", "inzai-fm", role="operator")
    assert city.login("fm-staff", f.DEFAULT_PASSWORD).exit_code == 0
    result = cli("facility", "add", "x2", "名", "--category", "sports")
    assert result.exit_code == 6
    assert "permission denied: facility.add needs the admin role" in result.stderr
    result = cli(
        "handover", "apply", "--to", "inzai-fm", "--facility", "cosmos", "--on", "2020-04-01"
    )
    assert result.exit_code == 6
    assert "handover.apply needs the admin role" in result.stderr
    assert (
        city.scalar(
            "SELECT count(*) FROM audit_events WHERE outcome = 'denied' AND login_id = 'fm-staff'"
        )
        == 2
    )
