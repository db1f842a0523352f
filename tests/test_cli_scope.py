"""resv scope list/add/remove/explain/plan/apply."""

from __future__ import annotations

import json

import pytest
from scope_world import HANDOVER, at, build_city, login

from resv_cli.core.personal import REGISTRANT_FIELDS


@pytest.fixture
def city(installation, monkeypatch):
    regs = build_city(installation)
    at(monkeypatch, HANDOVER)
    installation.login_admin()
    return installation, regs


def _explain(cli, account, action, facility, *extra):
    r = cli(
        "scope",
        "explain",
        "--account",
        account,
        "--action",
        action,
        "--facility",
        facility,
        *extra,
        "-f",
        "json",
    )
    assert r.exit_code == 0, r
    return json.loads(r.stdout)


def test_add_list_explain_remove(city, cli):
    inst, regs = city
    assert _explain(cli, "fm-suzuki", "view", "kodomo-fureai")["decision"] == "deny"
    r = cli(
        "scope",
        "add",
        "kodomo-view",
        "--subject",
        "account:fm-suzuki",
        "--actions",
        "view,search",
        "--facility",
        "kodomo-fureai",
        "--until",
        "2017-06-30",
        "--purpose",
        "合同行事の名簿確認",
    )
    assert r.exit_code == 0, r
    r = cli("scope", "list", "-f", "json")
    rows = json.loads(r.stdout)
    assert [
        (x["name"], x["subject"], x["actions"], x["facilities"], x["valid_until"])
        for x in rows
        if x["kind"] == "access"
    ] == [("kodomo-view", "account:fm-suzuki", "view,search", "kodomo-fureai", "2017-06-30")]
    out = _explain(cli, "fm-suzuki", "view", "kodomo-fureai")
    assert (out["decision"], out["decided_by"]) == ("allow", "rule kodomo-view")
    assert _explain(cli, "fm-suzuki", "update", "kodomo-fureai")["decision"] == "deny"
    assert (
        _explain(cli, "fm-suzuki", "view", "kodomo-fureai", "--on", "2017-07-01")["decision"]
        == "deny"
    )
    # the rule works for the account itself, not just in explain
    login(inst, "fm-suzuki")
    r = cli("registrant", "show", str(regs["kodomo"]), "-f", "json")
    assert r.exit_code == 0, r
    assert json.loads(r.stdout)["representative_name"] == "田中 三郎"
    inst.login_admin()
    r = cli(
        "scope",
        "add",
        "kodomo-view",
        "--subject",
        "account:fm-suzuki",
        "--actions",
        "view",
        "--facility",
        "kodomo-fureai",
    )
    assert (r.exit_code, r.stderr.strip()) == (
        1,
        "Error: a scope rule named 'kodomo-view' already exists",
    )
    r = cli("scope", "remove", "kodomo-view")
    assert r.exit_code == 0, r
    assert _explain(cli, "fm-suzuki", "view", "kodomo-fureai")["decision"] == "deny"
    r = cli("scope", "remove", "kodomo-view")
    assert (r.exit_code, r.stderr.strip()) == (1, "Error: no scope rule named 'kodomo-view'")
    actions = [
        a
        for (a,) in inst.rows(
            "SELECT action FROM audit_events WHERE action LIKE 'scope.%' ORDER BY seq"
        )
    ]
    assert actions == ["scope.add", "scope.remove"]


def test_add_rejects_bad_input(city, cli):
    cases = [
        (
            ["--subject", "org:x", "--actions", "view", "--facility", "cosmos"],
            "Error: subject type must be one of organization, account, role, got 'org'",
        ),
        (
            ["--subject", "account:nobody", "--actions", "view", "--facility", "cosmos"],
            "Error: no account 'nobody'",
        ),
        (
            ["--subject", "role:operator", "--actions", "delete", "--facility", "cosmos"],
            "Error: actions must be some of register, view, search, update, lend, got delete",
        ),
        (
            ["--subject", "role:operator", "--actions", "view"],
            "Error: give exactly one of facility or category",
        ),
        (
            ["--subject", "role:operator", "--actions", "view", "--category", "zoo"],
            "Error: no facility category 'zoo'",
        ),
        (
            [
                "--subject",
                "role:operator",
                "--actions",
                "view",
                "--facility",
                "cosmos",
                "--fields",
                "name,blood_type",
            ],
            f"Error: fields must be some of {', '.join(REGISTRANT_FIELDS)}, got blood_type",
        ),
        (
            [
                "--subject",
                "role:operator",
                "--actions",
                "view",
                "--facility",
                "cosmos",
                "--from",
                "2018-01-01",
                "--until",
                "2017-01-01",
            ],
            "Error: valid_until is before valid_from",
        ),
    ]
    for args, message in cases:
        r = cli("scope", "add", "r1", *args)
        assert (r.exit_code, r.stderr.strip()) == (1, message)
    assert city[0].scalar("SELECT count(*) FROM scope_rules") == 0


def test_operator_may_not_manage_rules(city, cli):
    inst, _ = city
    login(inst, "fm-sato")
    r = cli(
        "scope",
        "add",
        "mine",
        "--subject",
        "account:fm-sato",
        "--actions",
        "view",
        "--category",
        "senior_welfare_centre",
    )
    assert r.exit_code == 6
    assert r.stderr.strip() == (
        "Error: permission denied: scope.add needs the admin role (you are operator)"
    )
    r = cli("scope", "explain", "--account", "fm-sato", "--action", "view", "--facility", "cosmos")
    assert r.exit_code == 6


def test_narrow_rule_reveals_only_its_fields(city, cli):
    inst, regs = city
    r = cli(
        "scope",
        "add",
        "mon-names",
        "--subject",
        "role:monitor",
        "--actions",
        "view,search",
        "--facility",
        "honme-rojin",
        "--fields",
        "name,kind",
    )
    assert r.exit_code == 0, r
    out = _explain(cli, "city-mon", "view", "honme-rojin")
    assert (out["decision"], out["fields"]) == ("allow", "kind,name")
    login(inst, "city-mon")
    r = cli("registrant", "show", str(regs["honme"]), "-f", "json")
    rec = json.loads(r.stdout)
    assert rec["name"] == "高橋 花子"
    assert rec["phone"] is None and rec["address"] is None and rec["emergency_phone"] is None
    assert "0476" not in r.stdout and "本埜" not in r.stdout
    # monitors get nothing else: the senior centre the city also manages stays closed
    r = cli("registrant", "show", str(regs["inba"]))
    assert (r.exit_code, r.stderr.strip()) == (1, f"Error: registrant {regs['inba']} not found")


POLICY = """
version = 1

[[rule]]
name = "chuo-duplicate-check"
kind = "duplicate_check"
subject = "facility:chuo-rojin"
purpose = "登録証の重複発行防止"

[[rule]]
name = "suzuki-kodomo"
subject = "account:fm-suzuki"
actions = ["view", "search"]
resource = "registrants"
facility = "kodomo-fureai"
valid_from = 2017-04-01
valid_until = 2017-09-30
purpose = "合同行事"

[[rule]]
name = "monitor-senior-names"
subject = "role:monitor"
actions = ["search"]
resource = "registrants"
category = "senior_welfare_centre"
fields = ["name", "kind"]
"""


def test_plan_shows_rule_and_access_diff_without_writing_then_apply_is_idempotent(
    city, cli, tmp_path
):
    inst, _ = city
    policy = tmp_path / "scope.toml"
    policy.write_text(POLICY, "utf-8")
    r = cli("scope", "plan", str(policy), "-f", "json")
    assert r.exit_code == 0, r
    plan = json.loads(r.stdout)
    assert plan["add"] == ["monitor-senior-names", "suzuki-kodomo"]
    assert plan["remove"] == [] and plan["access_lost"] == []
    gained = {(g["account"], g["facility"], g["action"]) for g in plan["access_gained"]}
    assert gained == {
        ("fm-suzuki", "kodomo-fureai", "view"),
        ("fm-suzuki", "kodomo-fureai", "search"),
        ("city-mon", "chuo-rojin", "search"),
        ("city-mon", "honme-rojin", "search"),
        ("city-mon", "inba-rojin", "search"),
    }
    assert inst.scalar("SELECT count(*) FROM scope_rules") == 0  # plan wrote nothing
    assert "+ rule" in cli("scope", "plan", str(policy)).stdout
    r = cli("scope", "apply", str(policy))
    assert r.exit_code == 0, r
    assert "Applied: 2 to add, 0 to change, 0 to remove; access +5 -0" in r.stderr
    assert inst.scalar("SELECT count(*) FROM scope_rules WHERE source = 'policy'") == 2
    r = cli("scope", "apply", str(policy))
    assert r.exit_code == 0, r
    assert "no changes" in r.stderr
    assert inst.scalar("SELECT count(*) FROM scope_rules") == 2
    # drop one rule and narrow the other: plan shows both, and the access lost
    policy.write_text(
        POLICY.split('[[rule]]\nname = "monitor')[0].replace('["view", "search"]', '["view"]'),
        "utf-8",
    )
    plan = json.loads(cli("scope", "plan", str(policy), "-f", "json").stdout)
    assert (plan["change"], plan["remove"]) == (["suzuki-kodomo"], ["monitor-senior-names"])
    lost = {(g["account"], g["facility"], g["action"]) for g in plan["access_lost"]}
    assert ("fm-suzuki", "kodomo-fureai", "search") in lost
    assert ("city-mon", "inba-rojin", "search") in lost
    assert plan["access_gained"] == []
    applies = inst.rows("SELECT detail FROM audit_events WHERE action = 'scope.apply' ORDER BY seq")
    assert [json.loads(d)["noop"] for (d,) in applies] == [False, True]


def test_bad_policy_file_names_file_and_rule(city, cli, tmp_path):
    inst, _ = city
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[rule]]\nname = "x"\nsubject = "role:operator"\nactions = ["view"]\n'
        'resource = "registrants"\nfacility = "nowhere"\n',
        "utf-8",
    )
    r = cli("scope", "apply", str(bad))
    assert r.exit_code == 1
    assert r.stderr.strip() == f"Error: {bad}: rule 1 (x): no facility with code 'nowhere' (see `resv facility list`)"
    bad.write_text("[[rule]\n", "utf-8")
    r = cli("scope", "plan", str(bad))
    assert r.exit_code == 1
    assert r.stderr.startswith(f"Error: {bad}: not valid TOML")
    bad.write_text(
        '[[rule]]\nname = "x"\nsubject = "role:operator"\nactions = ["view"]\n'
        'resource = "registrants"\nfacility = "cosmos"\ncolour = "red"\n',
        "utf-8",
    )
    r = cli("scope", "plan", str(bad))
    assert (r.exit_code, r.stderr.strip()) == (
        1,
        f"Error: {bad}: rule 1 (x): unknown key(s) colour",
    )
    assert inst.scalar("SELECT count(*) FROM scope_rules") == 0


def test_the_policy_example_in_the_scope_guide_plans_and_applies(city, cli, tmp_path):
    import re
    from pathlib import Path

    guide = (Path(__file__).resolve().parents[1] / "docs" / "guide-scope.md").read_text("utf-8")
    (example,) = re.findall(r"```toml\n(.*?)```", guide, re.S)
    policy = tmp_path / "scope.toml"
    policy.write_text(example, "utf-8")
    r = cli("scope", "plan", str(policy), "--on", "2017-04-01", "-f", "json")
    assert r.exit_code == 0, r
    assert json.loads(r.stdout)["add"] == ["monitor-senior-names", "suzuki-kodomo"]
    r = cli("scope", "apply", str(policy))
    assert r.exit_code == 0, r
    out = _explain(cli, "fm-suzuki", "search", "kodomo-fureai", "--on", "2017-04-01")
    assert (out["decision"], out["decided_by"]) == ("allow", "rule suzuki-kodomo")
