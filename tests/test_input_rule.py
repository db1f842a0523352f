"""Issue 14, inputs: one rule for every text that enters -- no control character (a line
break only where a field folds or keeps it), no value longer than its column -- with a
reason naming the field and position, never the value; and policy-file value types.

Each entry point through the CLI, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from factories import make_account, make_facility, make_org
from hypothesis import given
from hypothesis import strategies as st
from legacy_files import registrants, run_import, write_csv

from resv_cli.core.errors import EXIT_FAILED, InputError
from resv_cli.core.models import Organization, ScopeRule, Setting
from resv_cli.core.normalize import CONTROL, TEXT_MAX, check_text, max_len

GOOD_ROW = ["個人", "0001", "髙橋 一郎", "タカハシ イチロウ", "昭和15年3月2日", "270-1392",
            "印西市大森2528-1", "0476-42-1111", "", "", "", ""]  # fmt: skip


# --- the rule (no database) -------------------------------------------------------------


def test_check_text_names_field_and_position_never_the_value():
    with pytest.raises(InputError) as exc:
        check_text("purpose", "secret\x00value", max_len=200)
    assert str(exc.value) == "purpose: control character U+0000 at position 7"
    with pytest.raises(InputError) as exc:
        check_text("purpose", "長" * 201, max_len=200)
    assert str(exc.value) == "purpose: longer than 200 characters (got 201)"
    for ch in ("\n", "\r", "\t", "\x1b", "\x7f", "\x85", "\u2028"):
        with pytest.raises(InputError, match="control character"):
            check_text("name", f"a{ch}b", max_len=10)
    assert check_text("note", " a\r\nb ", max_len=10, line_breaks=True) == "a\r\nb"
    assert check_text("name", " ｶﾞ ", max_len=10) == "ｶﾞ"  # NFC, trimmed; width kept


@given(st.text(max_size=30))
def test_the_reason_never_holds_the_value(value):
    try:
        check_text("f", value, max_len=10)
    except InputError as exc:
        reason = str(exc).removeprefix("f: ")
        assert reason.startswith(("control character U+", "longer than 10"))
        if len(value.strip()) >= 3 and not value.strip().isdigit():
            assert value.strip() not in reason


def test_limits_come_from_the_columns():
    assert max_len(Organization.name) == 200
    assert max_len(ScopeRule.purpose) == 200
    assert max_len(Setting.value) == TEXT_MAX  # a TEXT column: the documented cap
    assert CONTROL.search("\x00") and not CONTROL.search("全角　スペース")


# --- the importer: a NUL byte in a name (real cp932 files) ----------------------------


@pytest.fixture
def inst(installation):
    make_facility(installation, "chuo-rojin", category="senior_welfare_centre")
    return installation


def test_nul_byte_in_an_imported_name_is_rejected_not_stored(inst, cli, tmp_path: Path):
    nul = ["個人", "0002", "山田\x00花子", "ヤマダ ハナコ", "", "", "", "", "", "", "", ""]
    esc = ["個人", "0003", "木下 次郎", "キノシタ ジロウ", "", "", "印西市\x1b[31m木下", "", "",
           "", "", ""]  # fmt: skip
    wrapped = ["個人", "0004", "小林\r\n三郎", "コバヤシ サブロウ", "", "", "", "", "", "", "", ""]
    f = write_csv(tmp_path / "legacy.csv", [GOOD_ROW, nul, esc, wrapped])
    assert b"\x00" in f.read_bytes()
    out = tmp_path / "rejects.csv"
    r = run_import(cli, f, "--rejects", str(out))
    assert r.exit_code == 0, r
    assert (
        "read = 2 imported + 0 updated + 0 unchanged + 0 duplicates + 2 rejected (ok)" in r.stderr
    )
    with out.open(encoding="utf-8-sig", newline="") as fh:
        got = [
            (x["record_no"], x["column"], x["reason"], x["legacy_no"]) for x in csv.DictReader(fh)
        ]
    assert got == [
        ("2", "氏名", "control character U+0000 at position 3", "0002"),
        ("3", "住所", "control character U+001B at position 4", "0003"),
    ]
    text = out.read_text(encoding="utf-8-sig") + r.stderr + r.stdout
    assert "花子" not in text and "木下" not in text
    stored = {row[0]: row for row in registrants(inst)}
    assert set(stored) == {"0001", "0004"}
    assert stored["0004"][2] == "小林 三郎"  # a wrapped cell is folded, as before
    assert inst.scalar("SELECT count(*) FROM registrants WHERE name LIKE '%山田%'") == 0
    assert inst.rows("SELECT column_name, reason FROM import_rejects ORDER BY record_no") == [
        ("氏名", "control character U+0000 at position 3"),
        ("住所", "control character U+001B at position 4"),
    ]


# --- the counter, the roster, organisations, facilities, reasons ----------------------


@pytest.fixture
def fm(installation):
    make_org(installation, "inzai-fm", name="株式会社いんざい施設管理")
    make_facility(installation, "chuo-rojin", "senior_welfare_centre", name="中央老人福祉センター")
    return installation


def test_counter_refuses_a_control_character_naming_the_option(fm, cli):
    r = cli(
        "registrant", "add", "--facility", "chuo-rojin", "--name", "石井\x1b梅",
        "--kana", "イシイ ウメ",
    )  # fmt: skip
    assert r.exit_code == EXIT_FAILED
    assert r.stderr == "Error: --name: control character U+001B at position 3\n"
    assert fm.scalar("SELECT count(*) FROM registrants") == 0


def test_roster_cell_with_a_control_character_names_file_row_and_column(fm, cli, tmp_path):
    header = "氏名,フリガナ,所属施設,雇用形態,役割\r\n"
    rows = "佐藤 美咲,サトウ ミサキ,chuo-rojin,正規,職員\r\n髙橋\x00健一,タカハシ ケンイチ,chuo-rojin,正規,職員\r\n"
    f = tmp_path / "roster.csv"
    f.write_bytes((header + rows).encode("cp932"))
    r = cli("account", "import-roster", str(f), "--org", "inzai-fm", "--dry-run")
    assert r.exit_code == EXIT_FAILED
    assert (
        r.stderr
        == "Error: roster.csv: row 3, column 氏名: control character U+0000 at position 3\n"
    )
    long_name = "長" * 201
    f.write_bytes((header + f"{long_name},チョウ,chuo-rojin,正規,職員\r\n").encode("cp932"))
    r = cli("account", "import-roster", str(f), "--org", "inzai-fm", "--dry-run")
    assert r.exit_code == EXIT_FAILED
    assert "roster.csv: row 2, column 氏名: longer than 200 characters (got 201)" in r.stderr
    assert long_name not in r.stderr


def test_org_and_facility_names_follow_the_rule(fm, cli):
    r = cli("org", "add", "kita-fm", "北総\x07管理", "--kind", "city")
    assert (r.exit_code, r.stderr) == (
        EXIT_FAILED,
        "Error: organisation name: control character U+0007 at position 3\n",
    )
    r = cli("org", "add", "kita-fm", "北" * 201, "--kind", "city")
    assert r.exit_code == EXIT_FAILED
    assert r.stderr == "Error: organisation name: longer than 200 characters (got 201)\n"
    r = cli("org", "add", "kita\x00fm", "北総管理", "--kind", "city")
    assert r.exit_code == EXIT_FAILED and "organisation code must be" in r.stderr
    r = cli("facility", "add", "kita", "北\x00センター", "--category", "sports")
    assert (r.exit_code, r.stderr) == (
        EXIT_FAILED,
        "Error: facility name: control character U+0000 at position 2\n",
    )
    r = cli("facility", "add", "kita\n", "北センター", "--category", "sports")
    assert r.exit_code == EXIT_FAILED and "facility code" in r.stderr
    r = cli("facility", "update", "chuo-rojin", "--address", "印西市" + "1" * 300)
    assert r.exit_code == EXIT_FAILED
    assert r.stderr == "Error: --address: longer than 300 characters (got 303)\n"
    assert fm.scalar("SELECT count(*) FROM organizations WHERE code LIKE 'kita%'") == 0
    assert fm.scalar("SELECT count(*) FROM facilities WHERE code LIKE 'kita%'") == 0


def test_account_name_and_revoke_reason_follow_the_rule(fm, cli):
    r = cli(
        "account", "grant", "fm-x", "--name", "佐藤\x1b[2J", "--org", "inzai-fm",
        "--role", "operator",
    )  # fmt: skip
    assert (r.exit_code, r.stderr) == (
        EXIT_FAILED,
        "Error: --name: control character U+001B at position 3\n",
    )
    make_account(fm, "fm-y", "inzai-fm")
    r = cli("account", "revoke", "fm-y", "--reason", "退職" * 101)
    assert (r.exit_code, r.stderr) == (
        EXIT_FAILED,
        "Error: --reason: longer than 200 characters (got 202)\n",
    )
    assert fm.scalar("SELECT status FROM accounts WHERE login_id = 'fm-y'") == "active"


# --- scope rules and policy files -----------------------------------------------------

RULE = """
version = 1

[[rule]]
name = "fm-view"
subject = "organization:inzai-fm"
resource = "registrants"
facility = "chuo-rojin"
"""


def test_a_10_mb_purpose_in_a_policy_file_is_refused_not_stored(fm, cli, tmp_path):
    purpose = "合同行事の名簿確認" * (10 * 1024 * 1024 // 9)
    policy = tmp_path / "scope.toml"
    policy.write_text(RULE + f'actions = ["view"]\npurpose = "{purpose}"\n', "utf-8")
    for verb in ("plan", "apply"):
        r = cli("scope", verb, str(policy))
        assert r.exit_code == EXIT_FAILED
        assert r.stderr == (
            f"Error: {policy}: rule 1 (fm-view): purpose: longer than 200 characters "
            f"(got {len(purpose)})\n"
        )
    assert fm.scalar("SELECT count(*) FROM scope_rules") == 0
    r = cli("scope", "add", "x", "--subject", "organization:inzai-fm", "--actions", "view",
            "--facility", "chuo-rojin", "--purpose", "確認\x00")  # fmt: skip
    assert (r.exit_code, r.stderr) == (
        EXIT_FAILED,
        "Error: purpose: control character U+0000 at position 3\n",
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("actions = 5", "actions must be text or an array of text, got an integer"),
        ('actions = ["view", 5]', "actions must be text or an array of text, got an array holding an integer"),
        ('actions = ["view"]\npurpose = true', "purpose must be text, got a boolean"),
        ('actions = ["view"]\nvalid_from = 20170401', "valid_from must be text or a date, got an integer"),
        ('actions = ["view"]\nfields = { name = 1 }', "fields must be text or an array of text, got a table"),
    ],
)  # fmt: skip
def test_a_policy_value_of_the_wrong_type_names_file_rule_and_key(fm, cli, tmp_path, line, message):
    policy = tmp_path / "scope.toml"
    policy.write_text(RULE + line + "\n", "utf-8")
    r = cli("scope", "plan", str(policy))
    assert r.exit_code == EXIT_FAILED
    assert r.stderr == f"Error: {policy}: rule 1 (fm-view): {message}\n"
    assert "TypeError" not in r.stderr


def test_a_rule_name_that_breaks_the_rule_is_not_echoed(fm, cli, tmp_path):
    policy = tmp_path / "scope.toml"
    name = "n" * 150
    policy.write_text(RULE.replace('"fm-view"', f'"{name}"') + 'actions = ["view"]\n', "utf-8")
    r = cli("scope", "plan", str(policy))
    assert r.exit_code == EXIT_FAILED
    assert r.stderr == f"Error: {policy}: rule 1: name: longer than 100 characters (got 150)\n"
    assert json.dumps(name) not in r.stderr


# --- every other text that enters: bookings, training, reasons, open data, db init -----


def test_booking_purpose_course_and_reasons_follow_the_rule(fm, cli, tmp_path):
    r = cli("booking", "add", "--facility", "chuo-rojin", "--registrant", "1", "--date",
            "2030-01-10", "--from", "10:00", "--to", "12:00", "--purpose", "会議\x00")  # fmt: skip
    assert r.exit_code == EXIT_FAILED
    assert r.stderr == "Error: --purpose: control character U+0000 at position 3\n"
    r = cli("training", "record", "it-admin", "--course", "研修\x07", "--on", "2026-04-01")
    assert r.exit_code == EXIT_FAILED
    assert r.stderr == "Error: --course: control character U+0007 at position 3\n"
    r = cli("training", "record", "it-admin", "--course", "研" * 201, "--on", "2026-04-01")
    assert r.exit_code == EXIT_FAILED
    assert r.stderr == "Error: --course: longer than 200 characters (got 201)\n"
    r = cli("registrant", "check-duplicate", "--name", "山田 花子", "--dob", "1940-03-02",
            "--reason", "申請\x1b1")
    assert r.exit_code == EXIT_FAILED
    assert r.stderr == "Error: --reason: control character U+001B at position 3\n"
    sheet = tmp_path / "training.csv"
    sheet.write_bytes("ログインID,研修名,受講日\r\nit-admin,個人情報\x00保護研修,2026-04-10\r\n".encode("cp932"))
    r = cli("training", "import", str(sheet))
    assert r.exit_code == EXIT_FAILED
    assert "training.csv: row 2, column 研修名: control character U+0000 at position 5" in r.stderr
    assert fm.scalar("SELECT count(*) FROM training_records") == 0


def test_open_data_cell_with_a_control_character_is_rejected_naming_row_and_column(
    fm, cli, tmp_path
):
    import csv
    import io

    src = Path(__file__).parent / "data" / "opendata" / "yaizu_222127_public_facility.csv"
    rows = list(csv.reader(io.StringIO(src.read_bytes().decode("utf-8-sig"), newline="")))[:3]
    name_col = rows[0].index("名称")
    rows[2][name_col] = rows[2][name_col][:2] + "\x00" + rows[2][name_col][2:]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    (tmp_path / "f.csv").write_bytes(buf.getvalue().encode("cp932"))
    r = cli("facility", "import", str(tmp_path / "f.csv"), "--dry-run", "-f", "json")
    assert r.exit_code == 0, r
    report = json.loads(r.stdout)
    assert report["rejected"] == 1
    (reject,) = report["rejects"]
    assert (reject["row"], reject["column"]) == (3, "名称")
    assert reject["reason"] == "control character U+0000 at position 3"


def test_db_init_names_follow_the_rule(db_url, cli):
    r = cli("db", "init", "--admin", "adm", "--name", "管理\x00者", "--password-stdin",
            input="Kyou-wa-ii-tenki-desu-ne-42\n")  # fmt: skip
    assert r.exit_code == EXIT_FAILED
    assert r.stderr == "Error: --name: control character U+0000 at position 3\n"
