"""resv registrant / booking: not-found equals out-of-scope, audit, duplicate check limits."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from scope_world import HANDOVER, at, build_city, login


@pytest.fixture
def city(installation, monkeypatch):
    regs = build_city(installation)
    at(monkeypatch, HANDOVER)
    login(installation, "fm-sato")
    return installation, regs


MISSING = 999_999


def set_duplicate_check_limit(inst, per_hour):
    """The city's setting of duplicate checks per hour (as its administrator)."""
    from sqlalchemy import text

    inst.login_admin()
    with inst.engine().begin() as conn:
        conn.execute(
            text(
                "INSERT INTO settings (key, value, updated_at) VALUES "
                "('duplicate_check_per_hour', :v, '2017-04-01 00:00:00')"
            ),
            {"v": str(per_hour)},
        )


@pytest.mark.parametrize(
    "command",
    [
        ["registrant", "show"],
        ["registrant", "update", "{id}", "--phone", "0"],
        ["registrant", "issue-card"],
        ["registrant", "issue-certificate"],
    ],
)
def test_other_facility_answers_exactly_like_a_missing_record(city, cli, command):
    inst, regs = city

    def run(rid):
        args = [a.replace("{id}", str(rid)) for a in command]
        if "{id}" not in command:
            args.append(str(rid))
        return cli(*args)

    other = run(regs["honme"])
    missing = run(MISSING)
    assert other.exit_code == missing.exit_code == 1
    assert other.stdout == missing.stdout == ""
    assert other.stderr.replace(str(regs["honme"]), "N") == missing.stderr.replace(
        str(MISSING), "N"
    )
    assert other.stderr.strip() == f"Error: registrant {regs['honme']} not found"
    refused = inst.rows(
        "SELECT resource_id, facility_code, outcome, detail FROM audit_events "
        "WHERE login_id = 'fm-sato' AND outcome <> 'allowed' ORDER BY seq"
    )
    assert [(r[0], r[1], r[2]) for r in refused] == [
        (str(regs["honme"]), "honme-rojin", "denied"),
        (str(MISSING), None, "failed"),
    ]
    assert json.loads(refused[0][3]) == {"reason": "out_of_scope"}


def test_booking_of_another_facility_answers_like_a_missing_one(city, cli):
    import factories as f

    inst, regs = city
    start = dt.datetime(2017, 4, 10, 1, tzinfo=dt.UTC)
    other = f.make_booking(inst, "cosmos-hall", regs["cosmos"], start)
    mine = f.make_booking(inst, "chuo-rojin-kaigi", regs["chuo"], start)
    a, b = cli("booking", "cancel", str(other)), cli("booking", "cancel", str(MISSING))
    assert (a.exit_code, a.stderr.strip()) == (1, f"Error: booking {other} not found")
    assert (b.exit_code, b.stderr.strip()) == (1, f"Error: booking {MISSING} not found")
    r = cli("booking", "list", "-f", "json")
    assert [x["id"] for x in json.loads(r.stdout)] == [mine]
    assert json.loads(cli("booking", "list", "--count", "-f", "json").stdout) == {"count": 1}
    # another facility's bookings: none shown; a code that names no facility: said so
    r = cli("booking", "list", "--facility", "cosmos-hall", "-f", "json")
    assert (r.exit_code, json.loads(r.stdout)) == (0, [])
    r = cli("booking", "list", "--facility", "no-such-hall")
    assert r.exit_code == 1
    assert r.stderr.strip() == (
        "Error: no facility with code 'no-such-hall' (see `resv facility list`)"
    )
    r = cli("booking", "cancel", str(mine))
    assert r.exit_code == 0, r
    assert inst.scalar("SELECT status FROM bookings WHERE id = :i", i=mine) == "cancelled"
    r = cli(
        "booking",
        "add",
        "--facility",
        "chuo-rojin-kaigi",
        "--registrant",
        str(regs["honme"]),
        "--date",
        "2017-04-11",
        "--from",
        "10:00",
        "--to",
        "11:00",
    )
    assert (r.exit_code, r.stderr.strip()) == (1, f"Error: registrant {regs['honme']} not found")
    r = cli(
        "booking",
        "add",
        "--facility",
        "chuo-rojin-kaigi",
        "--registrant",
        str(regs["chuo"]),
        "--date",
        "2017-04-11",
        "--from",
        "10:00",
        "--to",
        "11:00",
    )
    assert r.exit_code == 0, r
    r = cli(
        "booking",
        "add",
        "--facility",
        "chuo-rojin-kaigi",
        "--registrant",
        str(regs["chuo"]),
        "--date",
        "2017-04-11",
        "--from",
        "10:30",
        "--to",
        "12:00",
    )
    assert r.exit_code == 1
    assert r.stderr.startswith("Error: chuo-rojin-kaigi is already booked in that slot")


def test_update_and_add_then_search_finds_the_new_keys(city, cli):
    inst, regs = city
    r = cli(
        "registrant", "update", str(regs["chuo"]), "--name", "髙﨑 花子", "--phone", "0476-99-0000"
    )
    assert r.exit_code == 0, r
    r = cli("registrant", "search", "--name", "高崎", "-f", "json")
    assert [x["id"] for x in json.loads(r.stdout)] == [regs["chuo"]]
    r = cli("registrant", "search", "--phone", "0476990000", "-f", "json")
    assert [x["id"] for x in json.loads(r.stdout)] == [regs["chuo"]]
    detail = inst.scalar("SELECT detail FROM audit_events WHERE action = 'registrant.update'")
    assert json.loads(detail) == {"fields": ["name", "phone"]}
    r = cli("registrant", "search")
    assert (r.exit_code, r.stderr.strip()) == (
        1,
        "Error: give at least one of --name, --kana, --dob, --phone, --facility",
    )
    r = cli(
        "registrant",
        "add",
        "--facility",
        "chuo-rojin",
        "--name",
        "会",
        "--kind",
        "group",
        "-f",
        "json",
    )
    gid = json.loads(r.stdout)["id"]
    r = cli("registrant", "issue-card", str(gid), "-f", "json")
    assert r.exit_code == 0, r
    assert json.loads(r.stdout)["number"] == "C-chuo-rojin-2017-00001"
    r = cli("registrant", "issue-card", str(regs["chuo"]))
    assert (r.exit_code, r.stderr.strip()) == (
        1,
        "Error: a user card is issued to a group registrant; this one is an individual",
    )


def test_search_terms_are_audited_only_as_keyed_hash(city, cli):
    inst, _ = city
    r = cli("registrant", "search", "--name", "髙橋", "--dob", "1948-05-03")
    assert r.exit_code == 0, r
    (detail,) = inst.rows("SELECT detail FROM audit_events WHERE action = 'registrant.search'")[0]
    d = json.loads(detail)
    assert set(d) == {"terms_hmac", "results"} and d["results"] == 1
    plain = re.sub(r"[0-9a-f]{32,}", "<digest>", detail)  # a digest may hold "1948" by chance
    assert "髙橋" not in plain and "高橋" not in plain and "1948" not in plain
    from resv_cli.audit import chain as audit
    from resv_cli.core.normalize import name_key

    expected = audit.keyed_hash(
        json.dumps(
            {"dob": "1948-05-03", "kana": None, "name": name_key("髙橋"), "phone": None},
            sort_keys=True,
            ensure_ascii=False,
        )
    )
    assert d["terms_hmac"] == expected


def test_duplicate_check_needs_a_reason_hashes_terms_and_is_rate_limited(city, cli):
    inst, _ = city
    args = ["registrant", "check-duplicate", "--name", "佐藤一子", "--dob", "1945-02-02"]
    r = cli(*args, "--reason", "  ")
    assert r.exit_code == 1
    assert r.stderr.strip() == (
        "Error: --reason is required: say why you check (e.g. the application number)"
    )
    set_duplicate_check_limit(inst, 2)
    login(inst, "fm-sato")
    r1 = cli(*args, "--reason", "申請1", "-f", "json")
    assert r1.exit_code == 0, r1
    assert json.loads(r1.stdout) == [
        {
            "match": "yes",
            "facility": "inba-rojin",
            "facility_name": "inba-rojin 施設",
            "certificate_number": None,
            "issued_on": None,
        }
    ]
    r2 = cli(
        "registrant",
        "check-duplicate",
        "--name",
        "誰 でもない",
        "--dob",
        "1900-01-01",
        "--reason",
        "申請2",
        "-f",
        "json",
    )
    assert json.loads(r2.stdout)[0]["match"] == "no"
    r3 = cli(*args, "--reason", "申請3")
    assert (r3.exit_code, r3.stderr.strip()) == (
        6,
        "Error: rate limit: at most 2 duplicate checks per hour; try again later",
    )
    events = inst.rows(
        "SELECT outcome, detail FROM audit_events "
        "WHERE action = 'registrant.check_duplicate' ORDER BY seq"
    )
    assert [e[0] for e in events] == ["allowed", "allowed", "denied"]
    for _, detail in events:
        assert "terms_hmac" in detail
        # a hex digest may contain "1945" by chance (CI once drew one); look only outside digests
        plain = re.sub(r"[0-9a-f]{32,}", "<digest>", detail)
        assert "佐藤" not in plain and "1945" not in plain and "02-02" not in plain
    assert json.loads(events[2][1])["reason"] == "rate_limit"


def test_an_error_inside_the_decision_denies(city, monkeypatch):
    from resv_cli.access import decide as access

    inst, regs = city

    def broken(*_a, **_k):
        raise RuntimeError("boom")

    monkeypatch.setattr(access, "managing_period", broken)
    from sqlalchemy.orm import Session

    with Session(inst.engine()) as s:
        acct = inst.scalar("SELECT id FROM accounts WHERE login_id = 'fm-sato'")
        fac = inst.scalar("SELECT id FROM facilities WHERE code = 'chuo-rojin'")
        d = access.decide(s, acct, "view", "registrants", fac, HANDOVER)
        assert d.allowed is False
        assert d.reason == "denied: error while deciding (RuntimeError)"
        d = access.decide(s, acct, "destroy", "registrants", fac, HANDOVER)
        assert (d.allowed, d.reason) == (False, "denied: error while deciding (ValueError)")


def test_booking_add_prints_japan_time_as_list_does(city, cli):
    inst, regs = city
    args = ["--facility", "chuo-rojin-kaigi", "--registrant", str(regs["chuo"]),
            "--date", "2017-04-12", "--from", "10:00", "--to", "11:30"]  # fmt: skip
    r = cli("booking", "add", *args, "-f", "json")
    assert r.exit_code == 0, r
    added = json.loads(r.stdout)
    assert (added["starts_at"], added["ends_at"]) == ("2017-04-12 10:00", "2017-04-12 11:30")
    listed = json.loads(cli("booking", "list", "--date", "2017-04-12", "-f", "json").stdout)
    assert [(b["id"], b["starts_at"], b["ends_at"]) for b in listed] == [
        (added["id"], "2017-04-12 10:00", "2017-04-12 11:30")
    ]
    # stored as the UTC instant
    stored = inst.scalar("SELECT starts_at FROM bookings WHERE id = :i", i=added["id"])
    assert str(stored).startswith("2017-04-12 01:00")


def test_issue_certificate_counts_against_the_duplicate_check_limit(city, cli):
    """Renaming a record and issuing again is no way around the hourly limit."""
    import factories as f

    inst, _ = city
    set_duplicate_check_limit(inst, 2)
    one = f.make_registrant(inst, "chuo-rojin", "山田 一", "ヤマダ ハジメ",
                            date_of_birth=dt.date(1940, 1, 1))  # fmt: skip
    two = f.make_registrant(inst, "chuo-rojin", "山田 二", "ヤマダ ツギ",
                            date_of_birth=dt.date(1940, 1, 2))  # fmt: skip
    login(inst, "fm-sato")
    r = cli("registrant", "check-duplicate", "--name", "佐藤一子", "--dob", "1945-02-02",
            "--reason", "申請1")  # fmt: skip
    assert r.exit_code == 0, r
    r = cli("registrant", "issue-certificate", str(one), "-f", "json")
    assert r.exit_code == 0, r  # the second check of the hour
    r = cli("registrant", "issue-certificate", str(two))
    assert (r.exit_code, r.stderr.strip()) == (
        6,
        "Error: rate limit: at most 2 duplicate checks per hour (issuing a certificate runs "
        "one); try again later",
    )
    r = cli("registrant", "check-duplicate", "--name", "佐藤一子", "--dob", "1945-02-02",
            "--reason", "申請2")  # fmt: skip
    assert (r.exit_code, r.stderr.strip()) == (
        6,
        "Error: rate limit: at most 2 duplicate checks per hour; try again later",
    )
    assert inst.scalar("SELECT count(*) FROM certificates WHERE registrant_id = :i", i=two) == 0
    events = inst.rows(
        "SELECT action, outcome, detail FROM audit_events WHERE login_id = 'fm-sato' AND action "
        "IN ('registrant.check_duplicate', 'registrant.issue_certificate') ORDER BY seq"
    )
    assert [(e[0], e[1], json.loads(e[2]).get("reason")) for e in events] == [
        ("registrant.check_duplicate", "allowed", None),
        ("registrant.issue_certificate", "allowed", None),
        ("registrant.issue_certificate", "denied", "rate_limit"),
        ("registrant.check_duplicate", "denied", "rate_limit"),
    ]
