"""The board's seed scenario: inzai-fm takes over chuo-rojin and chiiki-fukushi on 2017-04-01.

Before that day the manager's staff see nothing; from that day they register, view
and search only those two centres' registrants (and rooms); the city keeps the
rest; chuo-rojin staff may run the purpose-bound duplicate check over the other
senior welfare centres, which reveals no address, phone or emergency contact.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from scope_world import HANDOVER, at, build_city, login


def _ids(cli, *args):
    r = cli("registrant", "search", *args, "--format", "json")
    assert r.exit_code == 0, r
    return sorted(row["id"] for row in json.loads(r.stdout))


@pytest.fixture
def city(installation, monkeypatch):
    regs = build_city(installation)
    return installation, regs


def test_before_handover_the_manager_sees_nothing_and_the_city_everything(city, cli, monkeypatch):
    inst, regs = city
    at(monkeypatch, HANDOVER - dt.timedelta(days=1))
    login(inst, "fm-sato")
    assert _ids(cli, "--name", "高橋") == []
    r = cli("registrant", "show", str(regs["chuo"]))
    assert (r.exit_code, r.stderr.strip()) == (1, f"Error: registrant {regs['chuo']} not found")
    # per person: the city's operator at 本埜 sees only 本埜's registrants ...
    login(inst, "city-honme")
    assert _ids(cli, "--name", "高橋") == [regs["honme"]]
    # ... and one with the organisation-wide grant everything the city manages
    login(inst, "city-all")
    assert _ids(cli, "--name", "高橋") == sorted([regs["chuo"], regs["honme"]])


def test_from_handover_each_side_sees_only_its_own(city, cli, monkeypatch):
    inst, regs = city
    at(monkeypatch, HANDOVER)
    login(inst, "fm-sato")
    # width, kana form, spacing and variant kanji fold: 高橋 finds 髙橋 花子
    assert _ids(cli, "--name", "ﾀｶﾊｼ") == []  # a name key, not a reading
    assert _ids(cli, "--name", "高橋") == [regs["chuo"]]
    assert _ids(cli, "--kana", "たかはし　はなこ") == [regs["chuo"]]
    # 地域福祉センター is the manager's too, but not fm-sato's place of work
    assert _ids(cli, "--name", "山崎太郎") == []
    assert _ids(cli, "--dob", "1948-05-03") == [regs["chuo"]]
    assert _ids(cli, "--phone", "０４７６２２２２２２") == []
    assert _ids(cli, "--facility", "kodomo-fureai") == []
    r = cli("registrant", "search", "--name", "高橋", "--count", "--format", "json")
    assert json.loads(r.stdout) == {"count": 1}
    login(inst, "city-honme")
    assert _ids(cli, "--name", "高橋") == [regs["honme"]]
    assert _ids(cli, "--facility", "kodomo-fureai") == []  # the city's, not its place
    login(inst, "city-all")
    assert _ids(cli, "--facility", "kodomo-fureai") == [regs["kodomo"]]


def test_the_manager_registers_only_at_its_centres_and_their_rooms(city, cli, monkeypatch):
    inst, regs = city
    at(monkeypatch, HANDOVER)
    login(inst, "fm-suzuki")
    r = cli(
        "registrant", "add", "--facility", "chiiki-fukushi", "--name", "新規 登録", "-f", "json"
    )
    assert r.exit_code == 0, r
    r = cli("registrant", "add", "--facility", "kodomo-fureai", "--name", "新規 登録")
    assert r.exit_code == 6
    assert (
        r.stderr.strip()
        == "Error: permission denied: you may not register registrants at kodomo-fureai"
    )
    r = cli(
        "booking",
        "add",
        "--facility",
        "chiiki-fukushi-tamokuteki",
        "--registrant",
        str(regs["chiiki"]),
        "--date",
        "2017-04-10",
        "--from",
        "10:00",
        "--to",
        "12:00",
    )
    assert r.exit_code == 0, r
    r = cli(
        "booking",
        "add",
        "--facility",
        "cosmos-hall",
        "--registrant",
        str(regs["chiiki"]),
        "--date",
        "2017-04-10",
        "--from",
        "10:00",
        "--to",
        "12:00",
    )
    assert (r.exit_code, r.stderr.strip()) == (
        6,
        "Error: permission denied: you may not lend cosmos-hall",
    )
    denied = inst.scalar(
        "SELECT count(*) FROM audit_events WHERE outcome = 'denied' AND login_id = 'fm-suzuki'"
    )
    assert denied == 2


def test_duplicate_check_from_chuo_rojin_reveals_only_what_is_needed(city, cli, monkeypatch):
    inst, regs = city
    at(monkeypatch, HANDOVER)
    from factories import _session

    from resv_cli.core.personal import Certificate

    with _session(inst) as s, s.begin():
        s.add(
            Certificate(
                registrant_id=regs["honme"],
                facility_id=inst.scalar("SELECT id FROM facilities WHERE code = 'honme-rojin'"),
                kind="senior_certificate",
                number="S-honme-rojin-2016-00007",
                issued_on=dt.date(2016, 6, 1),
                created_at=dt.datetime(2016, 6, 1, tzinfo=dt.UTC),
            )
        )
    login(inst, "fm-sato")
    r = cli(
        "registrant",
        "check-duplicate",
        "--name",
        "髙橋花子",
        "--kana",
        "ﾀｶﾊｼ ﾊﾅｺ",
        "--dob",
        "1948-05-03",
        "--reason",
        "申請 2017-001",
        "-f",
        "json",
    )
    assert r.exit_code == 0, r
    rows = json.loads(r.stdout)
    assert {
        "match": "yes",
        "facility": "honme-rojin",
        "certificate_number": "S-honme-rojin-2016-00007",
        "issued_on": "2016-06-01",
    }.items() <= {
        k: v for row in rows if row["facility"] == "honme-rojin" for k, v in row.items()
    }.items()
    for secret in ("0476-33-3333", "印西市本埜1", "高橋 次郎", "090-3333-4444", "1948"):
        assert secret not in r.stdout
    # the issue-certificate path runs the same check and refuses without an override
    r = cli("registrant", "issue-certificate", str(regs["chuo"]))
    # where and which number only through the purpose-bound check above
    assert (r.exit_code, r.stderr.strip()) == (
        1,
        "Error: a senior certificate already exists at another senior centre for a person "
        "with the same name, reading and date of birth; see where with `resv registrant "
        "check-duplicate`, and rerun with --override-reason if this is a different person or "
        "a deliberate reissue",
    )
    r = cli(
        "registrant",
        "issue-certificate",
        str(regs["chuo"]),
        "--override-reason",
        "本人確認の結果 別人",
        "-f",
        "json",
    )
    assert r.exit_code == 0, r
    assert json.loads(r.stdout)["number"] == "S-chuo-rojin-2017-00001"
    detail = inst.scalar(
        "SELECT detail FROM audit_events WHERE action = 'registrant.issue_certificate' "
        "AND outcome = 'allowed'"
    )
    assert json.loads(detail)["override_reason"] == "本人確認の結果 別人"
    # chiiki-fukushi staff: no duplicate-check rule for their place of work
    login(inst, "fm-suzuki")
    r = cli(
        "registrant",
        "check-duplicate",
        "--name",
        "髙橋花子",
        "--dob",
        "1948-05-03",
        "--reason",
        "x",
    )
    assert r.exit_code == 6
    assert "the duplicate check needs a duplicate-check rule for your place of work" in r.stderr


def test_duplicate_check_before_handover_is_refused_to_the_manager(city, cli, monkeypatch):
    inst, _ = city
    at(monkeypatch, HANDOVER - dt.timedelta(days=1))
    login(inst, "fm-sato")
    r = cli(
        "registrant",
        "check-duplicate",
        "--name",
        "髙橋花子",
        "--dob",
        "1948-05-03",
        "--reason",
        "申請",
    )
    assert r.exit_code == 6
    assert r.stderr.strip() == (
        "Error: permission denied: the duplicate check needs a duplicate-check rule for your "
        "place of work, granted by city IT (see `resv scope list`)"
    )


def test_explain_names_the_period_before_and_after(city, cli, monkeypatch):
    inst, _ = city
    at(monkeypatch, HANDOVER)
    r = cli(
        "scope",
        "explain",
        "--account",
        "fm-sato",
        "--action",
        "search",
        "--facility",
        "chuo-rojin",
        "--on",
        "2017-03-31",
        "-f",
        "json",
    )
    assert r.exit_code == 0, r
    out = json.loads(r.stdout)
    assert out["decision"] == "deny"
    assert "chuo-rojin is managed by city on 2017-03-31" in out["reason"]
    r = cli(
        "scope",
        "explain",
        "--account",
        "fm-sato",
        "--action",
        "search",
        "--facility",
        "chuo-rojin-kaigi",
        "--on",
        "2017-04-01",
        "-f",
        "json",
    )
    out = json.loads(r.stdout)
    assert out["decision"] == "allow"
    assert out["reason"].startswith("allowed: inzai-fm manages chuo-rojin-kaigi (via chuo-rojin)")
    r = cli(
        "scope",
        "explain",
        "--account",
        "fm-sato",
        "--action",
        "search",
        "--facility",
        "kodomo-fureai",
        "--on",
        "2017-04-01",
        "-f",
        "json",
    )
    out = json.loads(r.stdout)
    assert out["decision"] == "deny"
    assert "kodomo-fureai is managed by city" in out["reason"]


def test_the_seed_scenario_per_person_and_the_exception_as_a_rule(city, cli, monkeypatch):
    """Issue 15's scenario: after 2017-04-01 a 地域福祉センター operator sees only its own
    registrants; the central centre's operator may run the duplicate check; an operator
    of another senior centre may not, until city IT grants the rule."""
    inst, regs = city
    at(monkeypatch, HANDOVER)
    login(inst, "fm-suzuki")  # 地域福祉センター
    assert _ids(cli, "--name", "高橋") == []
    assert _ids(cli, "--name", "山崎") == [regs["chiiki"]]
    r = cli("registrant", "show", str(regs["chuo"]))
    assert (r.exit_code, r.stderr.strip()) == (1, f"Error: registrant {regs['chuo']} not found")
    check = ("registrant", "check-duplicate", "--name", "髙橋花子", "--dob", "1948-05-03",
             "--reason", "申請 2017-002", "-f", "json")  # fmt: skip
    login(inst, "fm-sato")  # 中央老人福祉センター: the rule names it
    r = cli(*check)
    assert r.exit_code == 0, r
    # the city's operator at 本埜老人福祉センター: no rule for its place of work
    login(inst, "city-honme")
    r = cli(*check)
    assert r.exit_code == 6
    assert "needs a duplicate-check rule for your place of work" in r.stderr
    inst.login_admin()
    r = cli("scope", "explain", "--account", "city-honme", "--action", "check_duplicate",
            "--facility", "inba-rojin", "-f", "json")  # fmt: skip
    assert r.exit_code == 0, r
    assert json.loads(r.stdout)["decision"] == "deny"
    # city IT grants it, as a rule: listed, explained, audited
    r = cli("scope", "add", "honme-duplicate-check", "--kind", "duplicate-check",
            "--subject", "facility:honme-rojin", "--purpose", "登録証の重複発行防止")  # fmt: skip
    assert r.exit_code == 0, r
    listed = json.loads(cli("scope", "list", "-f", "json").stdout)
    assert {(x["name"], x["kind"], x["subject"]) for x in listed} >= {
        ("chuo-duplicate-check", "duplicate_check", "facility:chuo-rojin"),
        ("honme-duplicate-check", "duplicate_check", "facility:honme-rojin"),
    }
    r = cli("scope", "explain", "--account", "city-honme", "--action", "check_duplicate",
            "--facility", "inba-rojin", "-f", "json")  # fmt: skip
    out = json.loads(r.stdout)
    assert (out["decision"], out["decided_by"]) == ("allow", "rule honme-duplicate-check")
    login(inst, "city-honme")
    r = cli(*check)
    assert r.exit_code == 0, r
    # and withdraws it
    inst.login_admin()
    assert cli("scope", "remove", "honme-duplicate-check").exit_code == 0
    login(inst, "city-honme")
    assert cli(*check).exit_code == 6


def test_a_duplicate_check_rule_spans_senior_categories_only(city, cli):
    r = cli("scope", "add", "bad", "--kind", "duplicate-check", "--subject",
            "facility:cosmos", "--category", "community_centre", "--purpose", "x")  # fmt: skip
    assert r.exit_code == 1
    assert "the duplicate check spans senior categories only; 'community_centre'" in r.stderr
    r = cli("scope", "add", "bad", "--kind", "duplicate-check", "--subject",
            "facility:cosmos")  # fmt: skip
    assert r.exit_code == 1
    assert "a duplicate-check rule needs a purpose" in r.stderr
    r = cli("scope", "add", "bad", "--kind", "duplicate-check", "--subject",
            "organization:inzai-fm", "--purpose", "x")  # fmt: skip
    assert r.exit_code == 1
    assert "a duplicate-check rule's subject is facility:CODE" in r.stderr
