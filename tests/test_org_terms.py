"""Organisation terms, renewals and the security officer (issue 15 part 3)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import openpyxl
from factories import assign, make_account, make_facility, make_org

from resv_cli.core import clock
from resv_cli.core.errors import EXIT_FAILED

RENEW_HINT = "record the renewal with `resv org renew inzai-fm --until ...`"


def _json(result):
    assert result.exit_code == 0, result
    return json.loads(result.stdout)


def _add(cli, start: str, end: str):
    r = cli("org", "add", "inzai-fm", "株式会社いんざい施設管理", "--kind", "designated-manager",
            "--term-start", start, "--term-end", end)  # fmt: skip
    assert r.exit_code == 0, r
    return r


def _grant(cli, login: str, *extra: str):
    return cli("account", "grant", login, "--name", "職員 一郎", "--org", "inzai-fm", "--role",
               "operator", "--facility", "chuo-rojin", *extra)  # fmt: skip


def _last_event(inst, action: str) -> dict:
    detail = inst.scalar(
        "SELECT detail FROM audit_events WHERE action = :a ORDER BY seq DESC LIMIT 1", a=action
    )
    return json.loads(detail)


def test_renewal_keeps_every_period_and_can_extend_accounts(installation, cli, tmp_path):
    _add(cli, "2017-04-01", "2032-03-31")
    make_facility(installation, "chuo-rojin", "senior_welfare_centre")
    assign(installation, "chuo-rojin", "inzai-fm", dt.date(2017, 4, 1))
    r = _grant(cli, "fm-1", "--credentials-out", str(tmp_path / "c.xlsx"))
    assert r.exit_code == 0, r

    r = cli("org", "renew", "inzai-fm", "--until", "2037-03-31", "-f", "json")
    row = _json(r)
    assert row["term_start"] == "2017-04-01" and row["term_end"] == "2037-03-31"
    assert row["designation_periods"] == "2017-04-01..2032-03-31, 2032-04-01..2037-03-31"
    assert row["accounts_ending_with_previous_term"] == 1 and row["accounts_extended"] == 0
    assert "Note: 1 active account(s) still end with the previous term" in r.stderr
    assert _last_event(installation, "org.renew") == {
        "term_start": "2032-04-01",
        "term_end": "2037-03-31",
        "previous_term_end": "2032-03-31",
        "accounts_extended": 0,
    }
    periods = installation.rows(
        "SELECT term_start, term_end, source FROM organization_terms ORDER BY term_start"
    )
    assert [(str(a), str(b), s) for a, b, s in periods] == [
        ("2017-04-01", "2032-03-31", "add"),
        ("2032-04-01", "2037-03-31", "renew"),
    ]
    # the next renewal extends the accounts that end with the term, each audited
    from sqlalchemy import text

    with installation.engine().begin() as conn:
        conn.execute(text("UPDATE accounts SET valid_until = '2037-03-31' WHERE login_id='fm-1'"))
    row = _json(cli("org", "renew", "inzai-fm", "--until", "2042-03-31", "--extend-accounts",
                    "-f", "json"))  # fmt: skip
    assert row["accounts_extended"] == 1
    assert str(installation.scalar("SELECT valid_until FROM accounts WHERE login_id='fm-1'")) == (
        "2042-03-31"
    )
    assert _last_event(installation, "account.update")["valid_until"] == "2042-03-31"


def test_renewal_refusals(installation, cli):
    _add(cli, "2017-04-01", "2032-03-31")
    r = cli("org", "renew", "inzai-fm", "--from", "2030-04-01", "--until", "2036-03-31")
    assert (r.exit_code, r.stderr) == (
        EXIT_FAILED,
        "Error: a renewal starts after the current term ends (2032-03-31); to correct the "
        "current term use `resv org update inzai-fm --term-end DATE`\n",
    )
    r = cli("org", "renew", "inzai-fm", "--until", "2032-01-01")
    assert (r.exit_code, r.stderr) == (
        EXIT_FAILED,
        "Error: --until 2032-01-01 is before the new period's first day 2032-04-01\n",
    )
    r = cli("org", "renew", "city", "--until", "2032-01-01")
    assert (r.exit_code, r.stderr) == (
        EXIT_FAILED,
        "Error: city is the city: it has no designation term to renew\n",
    )
    # a renewal after a gap starts a new run: the term starts again
    row = _json(cli("org", "renew", "inzai-fm", "--from", "2033-04-01", "--until", "2038-03-31",
                    "-f", "json"))  # fmt: skip
    assert (row["term_start"], row["term_end"]) == ("2033-04-01", "2038-03-31")


def test_an_ended_designation_refuses_accounts_until_corrected(installation, cli, tmp_path):
    """Issue 15 point 3: accounts born expired."""
    _add(cli, "2012-04-01", "2017-03-31")
    make_facility(installation, "chuo-rojin", "senior_welfare_centre", name="中央老人福祉センター")
    assign(installation, "chuo-rojin", "inzai-fm", dt.date(2012, 4, 1))
    before = installation.scalar("SELECT count(*) FROM accounts")
    r = _grant(cli, "fm-1", "--credentials-out", str(tmp_path / "c.xlsx"))
    message = f"Error: inzai-fm's designation ended on 2017-03-31: {RENEW_HINT} first\n"
    assert (r.exit_code, r.stderr) == (EXIT_FAILED, message)
    roster = tmp_path / "roster.csv"
    roster.write_bytes(
        "氏名,フリガナ,所属施設,雇用形態,役割\r\n佐藤 美咲,サトウ ミサキ,chuo-rojin,正規,職員\r\n"
        .encode("cp932")
    )  # fmt: skip
    r = cli("account", "import-roster", str(roster), "--org", "inzai-fm", "--dry-run")
    assert (r.exit_code, r.stderr) == (EXIT_FAILED, message)
    assert installation.scalar("SELECT count(*) FROM accounts") == before

    listed = cli("org", "list", "-f", "json")
    warned = {o["code"]: o["warning"] for o in _json(listed)}
    assert warned["inzai-fm"] == f"inzai-fm's designation ended on 2017-03-31: {RENEW_HINT}"
    assert warned["city"] is None
    assert f"Warning: inzai-fm's designation ended on 2017-03-31: {RENEW_HINT}" in listed.stderr

    # the term registered wrongly is corrected (the same period, not a new one)
    soon = clock.today() + dt.timedelta(days=30)
    row = _json(cli("org", "update", "inzai-fm", "--term-end", soon.isoformat(), "-f", "json"))
    assert row["term_end"] == soon.isoformat()
    assert row["designation_periods"] == f"2012-04-01..{soon}"
    assert row["warning"] == f"inzai-fm's designation ends on {soon} (in 30 days): {RENEW_HINT}"
    assert _last_event(installation, "org.update") == {
        "changed": ["term_end"],
        "previous_term_end": "2017-03-31",
        "term_start": "2012-04-01",
        "term_end": soon.isoformat(),
    }
    r = _grant(cli, "fm-1", "--credentials-out", str(tmp_path / "c.xlsx"))
    assert r.exit_code == 0, r
    assert str(installation.scalar("SELECT valid_until FROM accounts WHERE login_id='fm-1'")) == (
        soon.isoformat()
    )
    r = cli("org", "update", "inzai-fm", "--term-start", "2040-01-01")
    assert (r.exit_code, r.stderr) == (
        EXIT_FAILED,
        f"Error: --term-end {soon} is before --term-start 2040-01-01\n",
    )
    r = cli("org", "update", "inzai-fm")
    assert (r.exit_code, r.stderr) == (
        EXIT_FAILED,
        "Error: nothing to change: give --name, --term-start, --term-end or --security-officer\n",
    )


def test_security_officer_is_a_person_of_the_organisation(installation, cli):
    make_org(installation, "inzai-fm", term=(dt.date(2017, 4, 1), dt.date(2032, 3, 31)))
    make_org(installation, "kita-fm", term=(dt.date(2017, 4, 1), dt.date(2032, 3, 31)))
    make_account(installation, "inzai-fm-0001", "inzai-fm", name="安全 管理子")
    make_account(installation, "kita-1", "kita-fm")
    assert _json(cli("org", "show", "inzai-fm", "-f", "json"))["security_officer"] is None

    r = cli("org", "update", "inzai-fm", "--security-officer", "kita-1")
    assert (r.exit_code, r.stderr) == (
        EXIT_FAILED,
        "Error: --security-officer: account kita-1 belongs to kita-fm, not inzai-fm: the officer "
        "is a person of inzai-fm\n",
    )
    row = _json(cli("org", "update", "inzai-fm", "--security-officer", "inzai-fm-0001",
                    "--officer-from", "令和8年4月1日", "-f", "json"))  # fmt: skip
    assert row["security_officer"] == "inzai-fm-0001 (安全 管理子)"
    assert row["security_officer_since"] == "2026-04-01"
    acc_id = installation.scalar("SELECT id FROM accounts WHERE login_id = 'inzai-fm-0001'")
    assert _last_event(installation, "org.update") == {
        "changed": ["security_officer"],
        "valid_from": "2026-04-01",
        "security_officer": "account",
        "account_id": acc_id,
    }
    # a name that is one of the organisation's accounts is that account
    row = _json(cli("org", "update", "inzai-fm", "--security-officer", "安全管理子", "-f", "json"))
    assert row["security_officer"] == "inzai-fm-0001 (安全 管理子)"
    # someone without an account: the name as given, never in the history
    row = _json(cli("org", "update", "inzai-fm", "--security-officer", "情報 守", "-f", "json"))
    assert row["security_officer"] == "情報 守"
    assert row["security_officer_since"] == clock.today().isoformat()
    event = _last_event(installation, "org.update")
    assert event["security_officer"] == "name" and len(event["name_hmac"]) == 64
    assert "情報 守" not in installation.scalar("SELECT detail FROM audit_events ORDER BY seq DESC")
    # the history of namings is kept
    assert installation.scalar("SELECT count(*) FROM security_officers") == 2
    r = cli("org", "update", "inzai-fm", "--security-officer", "a\x07b")
    assert r.exit_code == EXIT_FAILED and "--security-officer: " in r.stderr


def test_report_shows_term_and_officer_and_flags_them(installation, cli, tmp_path: Path):
    today = clock.today()
    soon = today + dt.timedelta(days=45)
    make_org(installation, "inzai-fm", term=(dt.date(2017, 4, 1), soon))
    make_facility(installation, "chuo-rojin", "senior_welfare_centre")
    assign(installation, "chuo-rojin", "inzai-fm", dt.date(2017, 4, 1))
    make_account(installation, "inzai-fm-0001", "inzai-fm", facility="chuo-rojin")
    month = today.strftime("%Y-%m")

    def report(name: str) -> tuple[dict, list]:
        out = tmp_path / name
        # western dates: the term is compared as ISO text (the era form is tested in
        # tests/test_report_print.py)
        r = cli(
            "report",
            "monthly",
            "--month",
            month,
            "--org",
            "inzai-fm",
            "--era",
            "western",
            "-o",
            str(out),
        )
        assert r.exit_code == 0, r
        wb = openpyxl.load_workbook(out)
        cover = {r[0]: r[1] for r in wb["概要"].iter_rows(values_only=True) if r and r[0]}
        flags = [(r[1], r[5]) for r in list(wb["要確認事項"].iter_rows(values_only=True))[1:]]
        return cover, flags

    cover, flags = report("a.xlsx")
    assert cover["情報セキュリティ対策責任者"] == "未指定"
    assert cover["指定期間"].startswith(f"2017-04-01 – {soon} (inzai-fm の指定期間は {soon} まで")
    kinds = [k for k, _ in flags]
    assert "指定期間の終了が近い" in kinds
    assert (
        "情報セキュリティ対策責任者の未指定",
        "inzai-fm の職員アカウント 1件、情報セキュリティ対策責任者の届出なし",
    ) in flags

    assert cli("org", "update", "inzai-fm", "--security-officer", "inzai-fm-0001").exit_code == 0
    assert cli("org", "renew", "inzai-fm", "--until", "2040-03-31").exit_code == 0
    cover, flags = report("b.xlsx")
    assert (
        cover["情報セキュリティ対策責任者"] == f"inzai-fm-0001 (職員 inzai-fm-0001) ({today} から)"
    )
    assert cover["指定期間"] == "2017-04-01 – 2040-03-31"
    assert [
        k for k, _ in flags if k in ("指定期間の終了が近い", "情報セキュリティ対策責任者の未指定")
    ] == []


def test_upgrade_from_0003_keeps_each_organisation_term(installation, cli):
    """Revision 0004 on a database as 0003 left it: each term becomes the first period."""
    from resv_cli.core.db import check_schema, get_engine
    from resv_cli.core.migrations import head_revision

    make_org(installation, "inzai-fm", term=(dt.date(2017, 4, 1), dt.date(2032, 3, 31)))
    make_org(installation, "no-term")
    engine = installation.engine()
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE organization_terms")
        conn.exec_driver_sql("DROP TABLE security_officers")
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0003'")
    engine.dispose()
    r = cli("db", "upgrade")
    assert r.exit_code == 0, r
    assert f"Upgraded from 0003 to revision {head_revision()}." in r.stderr
    rows = installation.rows(
        "SELECT o.code, t.term_start, t.term_end, t.source FROM organization_terms t "
        "JOIN organizations o ON o.id = t.organization_id"
    )
    assert [(c, str(a), str(b), s) for c, a, b, s in rows] == [
        ("inzai-fm", "2017-04-01", "2032-03-31", "migration")
    ]
    assert installation.scalar("SELECT count(*) FROM security_officers") == 0
    assert check_schema(get_engine(installation.url)) == []
    row = _json(cli("org", "renew", "inzai-fm", "--until", "2037-03-31", "-f", "json"))
    assert row["designation_periods"] == "2017-04-01..2032-03-31, 2032-04-01..2037-03-31"


def test_renewal_can_let_the_manager_go_on_managing_its_facilities(installation, cli):
    inst = installation
    _add(cli, "2017-04-01", "2032-03-31")
    make_org(inst, "other-fm")
    for code in ("chuo-rojin", "kita-rojin", "minami-rojin", "higashi-hall"):
        make_facility(inst, code, "senior_welfare_centre")
    end = dt.date(2032, 3, 31)
    assign(inst, "chuo-rojin", "inzai-fm", dt.date(2017, 4, 1), end)  # ends with the term
    assign(inst, "kita-rojin", "inzai-fm", dt.date(2017, 4, 1), end)  # ... but retired before
    assign(inst, "minami-rojin", "inzai-fm", dt.date(2017, 4, 1), dt.date(2025, 3, 31))
    assign(inst, "higashi-hall", "other-fm", dt.date(2017, 4, 1), end)  # another manager's
    r = cli("facility", "retire", "kita-rojin", "--on", "2031-04-01")
    assert r.exit_code == 0, r

    r = cli("org", "renew", "inzai-fm", "--until", "2037-03-31", "--extend-management",
            "-f", "json")  # fmt: skip
    row = _json(r)
    assert row["previous_term_end"] == "2032-03-31"
    assert "inzai-fm goes on managing chuo-rojin until 2037-03-31." in r.stderr
    periods = inst.rows(
        "SELECT f.code, o.code, m.valid_from, m.valid_until FROM management_periods m "
        "JOIN facilities f ON f.id = m.facility_id JOIN organizations o "
        "ON o.id = m.organization_id ORDER BY f.code, m.valid_from"
    )
    assert [(f, o, str(a), str(b)) for f, o, a, b in periods] == [
        ("chuo-rojin", "inzai-fm", "2017-04-01", "2032-03-31"),
        ("chuo-rojin", "inzai-fm", "2032-04-01", "2037-03-31"),
        ("higashi-hall", "other-fm", "2017-04-01", "2032-03-31"),
        ("kita-rojin", "inzai-fm", "2017-04-01", "2031-03-31"),  # closed by its retirement
        ("minami-rojin", "inzai-fm", "2017-04-01", "2025-03-31"),
    ]
    assert _last_event(inst, "facility.assign") == {
        "organization": "inzai-fm",
        "valid_from": "2032-04-01",
        "valid_until": "2037-03-31",
    }


def test_continuing_management_stops_at_another_managers_period(installation, cli):
    inst = installation
    _add(cli, "2017-04-01", "2032-03-31")
    make_org(inst, "other-fm")
    make_facility(inst, "chuo-rojin", "senior_welfare_centre")
    assign(inst, "chuo-rojin", "inzai-fm", dt.date(2017, 4, 1), dt.date(2032, 3, 31))
    assign(inst, "chuo-rojin", "other-fm", dt.date(2032, 4, 1))  # handed over at the renewal
    r = cli("org", "renew", "inzai-fm", "--until", "2037-03-31", "--extend-management")
    assert (r.exit_code, r.stderr) == (
        EXIT_FAILED,
        "Error: chuo-rojin: management period 2032-04-01..2037-03-31 overlaps an existing "
        "period (other-fm 2032-04-01..open); periods of a facility must not overlap (end the "
        "existing one first, or use `resv handover`)\n",
    )
    # nothing of the renewal was kept
    assert inst.scalar("SELECT count(*) FROM organization_terms") == 1
    # a renewal after a gap cannot continue the facilities
    r = cli("org", "renew", "inzai-fm", "--from", "2033-04-01", "--until", "2038-03-31",
            "--extend-management")  # fmt: skip
    assert (r.exit_code, r.stderr) == (
        EXIT_FAILED,
        "Error: --extend-management needs a renewal that continues the current term "
        "without a gap\n",
    )
    assert inst.scalar("SELECT count(*) FROM organization_terms") == 1
