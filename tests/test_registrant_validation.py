"""The counter applies the importer's rules: one validator, the same reasons, 和暦 dates,
and a likely duplicate at the facility needs --allow-duplicate REASON."""

from __future__ import annotations

import json

import pytest
from scope_world import HANDOVER, at, build_city, login

from resv_cli.records import fields


@pytest.fixture
def city(installation, monkeypatch):
    regs = build_city(installation)
    at(monkeypatch, HANDOVER)
    login(installation, "fm-sato")
    return installation, regs


def _add(cli, *args):
    return cli("registrant", "add", "--facility", "chuo-rojin", "-f", "json", *args)


def test_counter_refuses_what_the_importer_rejects_with_the_same_reasons(city, cli):
    inst, _ = city
    before = inst.scalar("SELECT count(*) FROM registrants")
    r = _add(
        cli, "--name", "石井 梅", "--phone", "携帯090", "--postal-code", "12",
        "--kana", "石井梅", "--dob", "2030-01-01",
    )  # fmt: skip
    assert r.exit_code == 1
    assert r.stderr == (
        "Error: --kana: reading must be written in kana; --dob: date of birth is in the future; "
        "--postal-code: postal code must have 7 digits; "
        f"--phone: {_phone_reason('携帯090')}\n"
    )
    assert inst.scalar("SELECT count(*) FROM registrants") == before


def _phone_reason(raw: str) -> str:
    """The importer's reason for this phone (the same function decides both)."""
    with pytest.raises(fields.FieldError) as exc:
        fields.phone(raw)
    return str(exc.value)


def test_counter_stores_what_the_importer_would_store(city, cli):
    inst, _ = city
    r = _add(
        cli, "--name", " 石井\u3000梅 ", "--kana", "いしい うめ", "--dob", "S15.3.2",
        "--postal-code", "〒２７０－１３９２", "--phone", "０４７６（４２）５１１１ 内線２３",
        "--emergency-phone", "090-1234-5678 内線5",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    rid = json.loads(r.stdout)["id"]
    row = inst.clear_rows(
        "SELECT name, kana, date_of_birth, postal_code, phone, phone_digits, phone_extension, "
        "emergency_phone FROM registrants WHERE id = :i",
        i=rid,
    )[0]
    assert row[0] == "石井\u3000梅"
    assert row[1] == "イシイ\u3000ウメ"
    assert str(row[2])[:10] == "1940-03-02"
    assert row[3] == "270-1392"
    assert (row[5], row[6]) == ("0476425111", "23")
    assert row[7] == "090-1234-5678 内線5"


@pytest.mark.parametrize("dob", ["1940-03-02", "昭和15年3月2日", "S15.3.2", "1940/3/2", "19400302"])
def test_search_by_date_of_birth_takes_every_form_the_importer_takes(city, cli, dob):
    r = _add(cli, "--name", "石井 梅", "--dob", "昭和15年3月2日")
    assert r.exit_code == 0, r.stderr
    rid = json.loads(r.stdout)["id"]
    found = cli("registrant", "search", "--dob", dob, "-f", "json")
    assert found.exit_code == 0, found.stderr
    assert [row["id"] for row in json.loads(found.stdout)] == [rid]


def test_a_date_in_no_known_form_names_the_forms(city, cli):
    r = cli("registrant", "search", "--dob", "3月2日")
    assert r.exit_code == 1
    assert r.stderr == (
        "Error: --dob must be a date like 2017-04-01, 2017/4/1, 20170401, 2017年4月1日, "
        "平成29年4月1日, H29.4.1, got '3月2日'\n"
    )


def test_a_likely_duplicate_at_the_counter_needs_a_reason(city, cli):
    inst, regs = city
    before = inst.scalar("SELECT count(*) FROM registrants")
    # 高 and 髙 fold to one search key; 昭和23年5月3日 is 1948-05-03
    args = ("--name", "高橋 花子", "--dob", "昭和23年5月3日")
    r = _add(cli, *args)
    assert r.exit_code == 1
    assert r.stderr == (
        f"Error: registrant {regs['chuo']} at chuo-rojin has the same name, kind and date of "
        "birth: check it first; if this is another person, give --allow-duplicate REASON\n"
    )
    assert inst.scalar("SELECT count(*) FROM registrants") == before
    refused = inst.rows(
        "SELECT outcome, detail FROM audit_events WHERE action = 'registrant.add' ORDER BY seq"
    )[-1]
    assert refused[0] == "failed"
    assert json.loads(refused[1]) == {"reason": "likely_duplicate", "duplicate_of": regs["chuo"]}

    blank = _add(cli, *args, "--allow-duplicate", " ")
    assert blank.exit_code == 1
    assert "--allow-duplicate needs the reason" in blank.stderr

    ok = _add(cli, *args, "--allow-duplicate", "別人 (申請 123)")
    assert ok.exit_code == 0, ok.stderr
    assert inst.scalar("SELECT count(*) FROM registrants") == before + 1
    event = inst.rows(
        "SELECT outcome, detail FROM audit_events WHERE action = 'registrant.add' ORDER BY seq"
    )[-1]
    assert event[0] == "allowed"
    detail = json.loads(event[1])
    assert detail["duplicate_of"] == regs["chuo"]
    assert detail["override_reason"] == "別人 (申請 123)"


def test_another_date_of_birth_is_not_a_duplicate(city, cli):
    r = _add(cli, "--name", "高橋 花子", "--dob", "1948-05-04")
    assert r.exit_code == 0, r.stderr


def test_update_applies_the_same_rules(city, cli):
    inst, regs = city
    bad = cli("registrant", "update", str(regs["chuo"]), "--postal-code", "12")
    assert bad.exit_code == 1
    assert bad.stderr == "Error: --postal-code: postal code must have 7 digits\n"
    ok = cli("registrant", "update", str(regs["chuo"]), "--phone", "０４７６－１１－２２２２")
    assert ok.exit_code == 0, ok.stderr
    assert inst.clear_rows(
        "SELECT phone, phone_digits FROM registrants WHERE id = :i", i=regs["chuo"]
    ) == [("0476-11-2222", "0476112222")]


def test_kind_takes_the_words_of_the_files(city, cli):
    r = _add(cli, "--name", "いきいき体操の会", "--kind", "団体")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["kind"] == "group"
    bad = _add(cli, "--name", "x", "--kind", "法人")
    assert bad.exit_code == 1
    assert bad.stderr == "Error: --kind: 区分 must be 個人 or 団体\n"


def test_one_list_of_registrant_fields():
    """Scope rules, the counter's options, updates and the import layout share one list."""
    from resv_cli.access.rules import FIELD_NAMES
    from resv_cli.core.personal import REGISTRANT_FIELDS, STATUS_FIELDS
    from resv_cli.records.migration import R_FIELDS
    from resv_cli.records.registrants import UPDATABLE

    assert FIELD_NAMES is REGISTRANT_FIELDS
    assert list(fields.OPTIONS) == list(REGISTRANT_FIELDS)
    assert set(UPDATABLE) == set(REGISTRANT_FIELDS) - {"kind"}
    derived = {k for keys in fields.DERIVED.values() for k in keys}
    assert set(R_FIELDS) == set(REGISTRANT_FIELDS) | derived | {"legacy_no", *STATUS_FIELDS}


def test_an_update_that_makes_a_likely_duplicate_needs_a_reason(city, cli):
    inst, regs = city
    # another person at the same facility, then renamed and re-dated to match 高橋 花子
    r = _add(cli, "--name", "佐藤 一郎", "--dob", "1950-01-02")
    assert r.exit_code == 0, r.stderr
    other = inst.scalar("SELECT max(id) FROM registrants")
    r = cli("registrant", "update", str(other), "--name", "佐藤 一郎")  # its own name again
    assert r.exit_code == 0, r.stderr
    same = ("--name", "髙橋 花子", "--dob", "昭和23年5月3日")
    r = cli("registrant", "update", str(other), *same)
    assert r.exit_code == 1
    assert r.stderr == (
        f"Error: registrant {regs['chuo']} at chuo-rojin has the same name, kind and date of "
        "birth: check it first; if this is another person, give --allow-duplicate REASON\n"
    )
    assert inst.clear_rows("SELECT name FROM registrants WHERE id = :i", i=other) == [
        ("佐藤 一郎",)
    ]
    refused = inst.rows(
        "SELECT outcome, detail FROM audit_events WHERE action = 'registrant.update' ORDER BY seq"
    )[-1]
    assert (refused[0], json.loads(refused[1])) == (
        "failed",
        {"reason": "likely_duplicate", "duplicate_of": regs["chuo"]},
    )
    blank = cli("registrant", "update", str(other), *same, "--allow-duplicate", " ")
    assert (blank.exit_code, blank.stderr) == (
        1,
        "Error: --allow-duplicate needs the reason (e.g. the application number)\n",
    )
    ok = cli("registrant", "update", str(other), *same, "--allow-duplicate", "別人 (申請 7)")
    assert ok.exit_code == 0, ok.stderr
    event = json.loads(
        inst.rows(
            "SELECT detail FROM audit_events WHERE action = 'registrant.update' ORDER BY seq"
        )[-1][0]
    )
    assert event == {
        "fields": ["date_of_birth", "name"],
        "duplicate_of": regs["chuo"],
        "override_reason": "別人 (申請 7)",
    }
    # a registrant is not its own duplicate, and other fields are not checked; but now
    # that two registrants match, renaming either one to that name again is checked
    r = cli("registrant", "update", str(other), "--phone", "0476-11-2222")
    assert r.exit_code == 0, r.stderr
    r = cli("registrant", "update", str(regs["chuo"]), "--name", "高橋 花子")
    assert r.exit_code == 1
    assert f"registrant {other} at chuo-rojin has the same name" in r.stderr
