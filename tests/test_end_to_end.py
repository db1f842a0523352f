"""End-to-end acceptance test of the review board's conditions, through the real CLI.

One story, on a real SQLite file and a real PostgreSQL database (平成28年度答申第4号):

1. the city is set up (``db init``, ``facility seed-demo``; the designated manager
   ``inzai-fm`` and its term come with the demo city);
2. ``handover plan``/``apply`` hands chuo-rojin and chiiki-fukushi to inzai-fm on
   2017-04-01 with the manager's roster (利用者名簿, a cp932 CSV): one account per
   person, one-time passwords in a 0600 file, a new password forced at first login;
3. legacy registrants are imported (cp932) into chuo-rojin and into honme-rojin,
   which the city still runs, with rejects;
4. inzai-fm's staff see chuo-rojin's registrants and never honme-rojin's (a hidden
   registrant answers exactly like a missing one; searches never count them), and
   nothing of a facility before its handover day;
5. the duplicate check across senior centres shows only the allowed fields and needs
   a reason;
6. revoked, expired and locked accounts cannot act; 5 failures lock;
7. the monitor verifies the audit chain, lists the views and refusals, and reads back
   the monthly report, which carries no personal data and no password;
8. editing one audit row makes ``audit verify`` fail naming the event.

Every password used is searched for in the database file and in every output.
The tests at the end check where two capabilities meet (the duplicate check in the
monthly report, the handover's credentials file); each was a strict xfail naming
the bug until it was fixed.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from support import ADMIN_LOGIN, ADMIN_PASSWORD, run_cli

from resv_cli.core import clock
from resv_cli.core.errors import (
    EXIT_AUTH_FAILED,
    EXIT_DENIED,
    EXIT_FAILED,
    EXIT_INTEGRITY,
    EXIT_SESSION_EXPIRED,
)
from tests import factories

HANDOVER = ["--to", "inzai-fm", "--facility", "chuo-rojin", "--facility", "chiiki-fukushi",
            "--on", "2017-04-01"]  # fmt: skip
ROSTER_HEADER = ["氏名", "フリガナ", "所属施設", "雇用形態", "役割"]
ROSTER = [
    ["佐藤 美咲", "サトウ ミサキ", "chuo-rojin", "正規", "職員"],
    ["髙橋 健一", "タカハシ ケンイチ", "chuo-rojin", "非正規", "職員"],
    ["山﨑 さくら", "ヤマザキ サクラ", "chiiki-fukushi", "非正規", "職員"],
]
IMPORT_HEADER = ["区分", "登録番号", "氏名", "フリガナ", "生年月日", "郵便番号", "住所", "電話番号",
                 "緊急連絡先氏名", "緊急連絡先電話番号", "団体名", "代表者氏名"]  # fmt: skip
# chuo-rojin's legacy ledger: two good records and one with an impossible birthday
CHUO_ROWS = [
    ["個人", "C001", "大森 花子", "オオモリ ハナコ", "昭和18年5月3日", "270-1392",
     "印西市大森2528-1", "0476-42-1111", "大森 一郎", "090-1111-2222", "", ""],
    ["個人", "C002", "木下 太郎", "キオロシ タロウ", "1941-07-21", "270-1327",
     "印西市木下1-2-3", "0476-42-3333", "木下 次郎", "090-3333-4444", "", ""],
    ["個人", "C003", "小林 三郎", "コバヤシ サブロウ", "1944-02-30", "270-1313",
     "印西市小林9-9", "0476-42-5555", "", "", "", ""],
]  # fmt: skip
# honme-rojin (still the city's): one good record, one without a name
HONME_ROWS = [
    ["個人", "H001", "本埜 梅子", "モトノ ウメコ", "1939-11-03", "270-1606",
     "印西市竜腹寺1-1", "0476-97-1234", "本埜 松男", "080-9876-5432", "", ""],
    ["個人", "H002", "", "", "1950-01-01", "270-1606", "印西市竜腹寺2-2", "0476-97-0000",
     "", "", "", ""],
]  # fmt: skip
# personal data that must never show in the report or an error message
PERSONAL = [
    "大森 花子", "大森花子", "オオモリ", "1943-05-03", "0476-42-1111", "0476421111", "大森2528",
    "大森 一郎", "090-1111-2222", "木下 太郎", "1941-07-21", "0476-42-3333", "木下1-2-3",
    "本埜 梅子", "本埜梅子", "モトノ", "1939-11-03", "0476-97-1234", "竜腹寺1-1", "本埜 松男",
    "080-9876-5432", "小林 三郎", "0476-42-5555",
]  # fmt: skip
NEW_PASSWORDS = {
    # never the person's name (in romaji too) or the organisation's code (city)
    "sato": "Haru-no-atarashii-pass-2017",
    "takahashi": "Aki-no-pass-kimeta-yo-99",
    "yamazaki": "Natsu-no-umi-pass-2017x",
    "honme": "Honme-shiyakusho-pass-2017",
    "expired": "Expired-staff-pass-20170401",
}


def write_cp932(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="cp932", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


class Story:
    """Runs the CLI, keeps every output for the leak search, one session file per person."""

    def __init__(self, inst: Any, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.inst = inst
        self.tmp = tmp
        self.mp = monkeypatch
        self.outputs: list[str] = []
        self.files: list[Path] = []
        self.passwords: set[str] = {ADMIN_PASSWORD, *NEW_PASSWORDS.values()}
        self.logins: dict[str, str] = {}
        self.as_user(ADMIN_LOGIN)
        ok(self.run("login", ADMIN_LOGIN, "--password-stdin", input=ADMIN_PASSWORD + "\n"))

    def as_user(self, who: str) -> None:
        """Act with this person's session file from now on (each keeps their own)."""
        self.mp.setenv("RESV_SESSION_FILE", str(self.tmp / f"session-{who}"))

    def run(self, *args: str, input: str | None = None) -> Any:
        result = run_cli(*args, input=input)
        self.outputs += [result.stdout, result.stderr]
        return result

    def json(self, *args: str) -> Any:
        return json.loads(ok(self.run(*args, "--format", "json")).stdout)

    def count(self, *args: str) -> int:
        out = self.json(*args, "--count")
        if isinstance(out, list):
            (out,) = out
        return int(out["count"] if isinstance(out, dict) else out)

    def login(self, login_id: str, password: str, new: str | None = None) -> Any:
        self.as_user(login_id)
        data = password + "\n" + (new + "\n" if new else "")
        return self.run("login", login_id, "--password-stdin", input=data)


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result
    return result


def read_credentials_xlsx(path: Path) -> dict[str, str]:
    ws = openpyxl.load_workbook(path, read_only=True).worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    assert str(rows[0][0]).startswith("ログインID")
    return {r[0]: r[2] for r in rows[1:]}


def registrant_id(inst: Any, legacy_no: str) -> int:
    return int(inst.scalar("SELECT id FROM registrants WHERE legacy_no = :n", n=legacy_no))


@pytest.fixture
def story(installation: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Story:
    """Steps 1-3: the demo city, the handover with the roster, the legacy import."""
    s = Story(installation, tmp_path, monkeypatch)
    seeded = s.json("facility", "seed-demo")
    assert seeded, seeded
    org = json.dumps(s.json("org", "show", "inzai-fm"), ensure_ascii=False)
    assert "2017-04-01" in org and "2032-03-31" in org, org  # the designation term

    # 2. handover: plan (writes nothing) then apply with the roster
    roster = write_cp932(tmp_path / "roster-inzai-fm.csv", ROSTER_HEADER, ROSTER)
    events_before = installation.scalar("SELECT count(*) FROM audit_events")
    plan = s.json("handover", "plan", *HANDOVER, "--roster", str(roster))
    assert installation.scalar("SELECT count(*) FROM audit_events") == events_before
    assert installation.scalar("SELECT count(*) FROM accounts") == 1
    assert len(plan["roster"]["to_create"]) == 3
    creds_path = tmp_path / "otp-inzai-fm.xlsx"
    applied = s.json("handover", "apply", *HANDOVER, "--roster", str(roster),
                     "--credentials-out", str(creds_path))  # fmt: skip
    assert applied == plan
    assert creds_path.stat().st_mode & 0o777 == 0o600
    creds = read_credentials_xlsx(creds_path)
    assert sorted(creds) == ["inzai-fm-0001", "inzai-fm-0002", "inzai-fm-0003"]
    s.passwords |= set(creds.values())
    by_name = dict(
        installation.rows(
            "SELECT display_name, login_id FROM accounts WHERE login_id LIKE 'inzai-fm-%' ORDER BY login_id"
        )
    )
    s.logins = {
        "sato": by_name["佐藤 美咲"],
        "takahashi": by_name["髙橋 健一"],
        "yamazaki": by_name["山﨑 さくら"],
    }
    s.otp = {k: creds[v] for k, v in s.logins.items()}  # type: ignore[attr-defined]

    # 3. legacy import into chuo-rojin and honme-rojin, one reject each
    s.as_user(ADMIN_LOGIN)
    for code, rows, rejected in (("chuo-rojin", CHUO_ROWS, 1), ("honme-rojin", HONME_ROWS, 1)):
        src = write_cp932(tmp_path / f"legacy-{code}.csv", IMPORT_HEADER, rows)
        rej = tmp_path / f"rejects-{code}.csv"
        s.files.append(rej)
        r = ok(s.run("import", "registrants", str(src), "--facility", code, "--rejects",
                     str(rej), "--format", "json"))  # fmt: skip
        summary = {row["item"]: row["count"] for row in json.loads(r.stdout)}
        assert summary["records read"] == len(rows), r
        assert summary["imported"] == len(rows) - rejected, r
        assert summary["rejected"] == rejected, r
        assert rej.exists()
    return s


def test_board_conditions_end_to_end(story: Story, tmp_path: Path) -> None:
    s, inst = story, story.inst
    chuo1, chuo2 = registrant_id(inst, "C001"), registrant_id(inst, "C002")
    honme1 = registrant_id(inst, "H001")
    missing = honme1 + 1000

    # -- 2. first login with a one-time password forces a new one ---------------------
    sato = s.logins["sato"]
    refused = s.login(sato, s.otp["sato"])  # no new password given
    assert refused.exit_code != 0, refused
    assert "new password" in refused.stderr.lower(), refused
    ok(s.login(sato, s.otp["sato"], NEW_PASSWORDS["sato"]))
    again = s.login(sato, s.otp["sato"])  # the one-time password is spent
    assert again.exit_code == EXIT_AUTH_FAILED, again
    assert "login failed" in again.stderr, again
    ok(s.login(sato, NEW_PASSWORDS["sato"]))

    # -- 4. the manager's operator: own facilities only ------------------------------
    found = s.json("registrant", "search", "--name", "大森")
    assert [r["id"] for r in found] == [chuo1], found
    shown = s.json("registrant", "show", str(chuo1))
    assert shown, shown
    by_dob = s.json("registrant", "search", "--dob", "1941-07-21")
    assert [r["id"] for r in by_dob] == [chuo2], by_dob
    everyone = s.json("registrant", "search", "--dob", "1939-11-03")
    assert everyone == [], everyone
    assert s.count("registrant", "search", "--name", "本埜") == 0
    assert s.count("registrant", "search", "--kana", "モトノ") == 0
    assert s.count("registrant", "search", "--name", "木下") == 1
    hidden = s.run("registrant", "show", str(honme1))
    absent = s.run("registrant", "show", str(missing))
    assert hidden.exit_code == absent.exit_code == EXIT_FAILED, (hidden, absent)
    assert hidden.stdout == absent.stdout == ""
    assert hidden.stderr.replace(str(honme1), "N") == absent.stderr.replace(str(missing), "N")
    assert hidden.stderr == f"Error: registrant {honme1} not found\n", hidden
    assert s.count("registrant", "search", "--facility", "honme-rojin") == 0

    # ... and nothing of a facility before its handover day
    s.as_user(ADMIN_LOGIN)
    for day, decision in (("2017-03-31", "deny"), ("2017-04-01", "allow")):
        explained = s.json("scope", "explain", "--account", sato, "--action", "view",
                           "--facility", "chuo-rojin", "--on", day)  # fmt: skip
        explained = explained[0] if isinstance(explained, list) else explained
        assert explained["decision"] == decision, explained
    future = clock.today() + dt.timedelta(days=30)
    inba1 = factories.make_registrant(inst, "inba-rojin", "印旛 竹子", kana="インバ タケコ",
                                      date_of_birth=dt.date(1938, 8, 8), phone="0476-98-7777")  # fmt: skip
    ok(s.run("handover", "apply", "--to", "inzai-fm", "--facility", "inba-rojin", "--on",
             future.isoformat()))  # fmt: skip
    s.as_user(sato)
    not_yet = s.run("registrant", "show", str(inba1))
    assert not_yet.exit_code == EXIT_FAILED, not_yet
    assert not_yet.stderr == f"Error: registrant {inba1} not found\n", not_yet
    assert s.count("registrant", "search", "--name", "印旛") == 0

    # -- 5. the duplicate check across senior centres -------------------------------
    # the city's honme-rojin staff issue a certificate to their registrant
    s.as_user(ADMIN_LOGIN)
    honme_creds = tmp_path / "otp-honme.xlsx"
    ok(s.run("account", "grant", "city-honme", "--name", "本埜 職員", "--org", "city",
             "--role", "operator", "--facility", "honme-rojin", "--credentials-out",
             str(honme_creds)))  # fmt: skip
    honme_otp = read_credentials_xlsx(honme_creds)["city-honme"]
    s.passwords.add(honme_otp)
    ok(s.login("city-honme", honme_otp, NEW_PASSWORDS["honme"]))
    cert = s.json("registrant", "issue-certificate", str(honme1))
    cert_no = inst.scalar("SELECT number FROM certificates WHERE registrant_id = :r", r=honme1)
    assert cert_no and cert_no in json.dumps(cert, ensure_ascii=False), cert
    # the city's staff no longer see chuo-rojin after the handover
    lost = s.run("registrant", "show", str(chuo1))
    assert lost.exit_code == EXIT_FAILED and "not found" in lost.stderr, lost

    s.as_user(sato)
    dup = s.json("registrant", "check-duplicate", "--name", "本埜 梅子", "--kana", "モトノ ウメコ",
                 "--dob", "1939-11-03", "--reason", "申請 2017-0123")  # fmt: skip
    assert len(dup) == 1, dup
    assert set(dup[0]) <= {"match", "facility", "facility_name", "certificate_number",
                           "issued_on"}, dup  # fmt: skip
    assert dup[0]["facility"] == "honme-rojin" and dup[0]["certificate_number"] == cert_no
    assert str(dup[0]["match"]).lower() in {"yes", "true"}, dup
    no_reason = s.run("registrant", "check-duplicate", "--name", "本埜 梅子", "--dob",
                      "1939-11-03", "--reason", " ")  # fmt: skip
    assert no_reason.exit_code == EXIT_FAILED, no_reason
    assert "--reason is required" in no_reason.stderr, no_reason
    missing_reason = s.run("registrant", "check-duplicate", "--name", "本埜 梅子", "--dob",
                           "1939-11-03")  # fmt: skip
    assert missing_reason.exit_code == 2 and "--reason" in missing_reason.stderr, missing_reason
    # staff of the welfare centre (not a senior centre) may not use the exception
    yamazaki = s.logins["yamazaki"]
    ok(s.login(yamazaki, s.otp["yamazaki"], NEW_PASSWORDS["yamazaki"]))
    refused_dup = s.run("registrant", "check-duplicate", "--name", "本埜 梅子", "--dob",
                        "1939-11-03", "--reason", "申請 2017-0124")  # fmt: skip
    assert refused_dup.exit_code == EXIT_DENIED, refused_dup
    assert refused_dup.stdout == "", refused_dup

    # -- 6. revoked, expired and locked accounts cannot act --------------------------
    takahashi = s.logins["takahashi"]
    ok(s.login(takahashi, s.otp["takahashi"], NEW_PASSWORDS["takahashi"]))
    ok(s.run("registrant", "search", "--name", "木下"))
    s.as_user(ADMIN_LOGIN)
    ok(s.run("account", "revoke", takahashi, "--reason", "退職"))
    s.as_user(takahashi)
    after_revoke = s.run("registrant", "search", "--name", "木下")
    assert after_revoke.exit_code == EXIT_SESSION_EXPIRED, after_revoke
    assert after_revoke.stdout == "", after_revoke
    relogin = s.login(takahashi, NEW_PASSWORDS["takahashi"])
    assert relogin.exit_code == EXIT_AUTH_FAILED and "login failed" in relogin.stderr, relogin

    s.as_user(ADMIN_LOGIN)
    expired_creds = tmp_path / "otp-expired.xlsx"
    ok(s.run("account", "grant", "inzai-fm-old", "--name", "旧 職員", "--org", "inzai-fm",
             "--role", "operator", "--facility", "chuo-rojin", "--valid-from", "2017-04-01",
             "--valid-until", "2020-03-31", "--credentials-out", str(expired_creds)))  # fmt: skip
    expired_otp = read_credentials_xlsx(expired_creds)["inzai-fm-old"]
    s.passwords.add(expired_otp)
    expired = s.login("inzai-fm-old", expired_otp, NEW_PASSWORDS["expired"])
    assert expired.exit_code == EXIT_AUTH_FAILED, expired
    assert expired.stderr == relogin.stderr, (expired, relogin)  # one message for all

    for attempt in range(5):
        wrong = s.login(yamazaki, f"wrong-password-{attempt}")
        assert wrong.exit_code == EXIT_AUTH_FAILED, wrong
    s.passwords |= {f"wrong-password-{i}" for i in range(5)}
    locked = s.login(yamazaki, NEW_PASSWORDS["yamazaki"])
    assert locked.exit_code == EXIT_AUTH_FAILED, locked
    assert locked.stderr == relogin.stderr, locked
    assert inst.scalar(
        "SELECT count(*) FROM audit_events WHERE action IN ('account.lock', 'account.locked')"
    ) == 1  # fmt: skip

    # -- 7. the monitor: verify, list, monthly report --------------------------------
    s.as_user(ADMIN_LOGIN)
    monitor_creds = tmp_path / "otp-monitor.xlsx"
    ok(s.run("account", "grant", "city-monitor", "--name", "監査 花子", "--org", "city",
             "--role", "monitor", "--credentials-out", str(monitor_creds)))  # fmt: skip
    monitor_otp = read_credentials_xlsx(monitor_creds)["city-monitor"]
    s.passwords.add(monitor_otp)
    monitor_pw = "Kansa-no-tsuki-ichi-check-1"
    s.passwords.add(monitor_pw)
    ok(s.login("city-monitor", monitor_otp, monitor_pw))
    ok(s.run("audit", "verify"))

    views = s.json("audit", "list", "--account", sato, "--action", "registrant.*")
    allowed_views = [e for e in views if e["action"] == "registrant.view"
                     and e["outcome"] == "allowed"]  # fmt: skip
    assert [str(e["resource_id"]) for e in allowed_views] == [str(chuo1)], views
    assert all(e["facility_code"] == "chuo-rojin" for e in allowed_views), views
    denied = s.json("audit", "list", "--outcome", "denied")
    denied_by = {
        (e["account"] if "account" in e else e.get("login_id"), e["action"]) for e in denied
    }
    assert (sato, "registrant.view") in denied_by, denied
    assert (yamazaki, "registrant.check_duplicate") in denied_by, denied
    hidden_view = [e for e in denied if e["action"] == "registrant.view"
                   and str(e["resource_id"]) == str(honme1)]  # fmt: skip
    assert hidden_view and hidden_view[0]["facility_code"] == "honme-rojin", denied
    failed = s.json("audit", "list", "--action", "auth.*", "--outcome", "failed")
    assert len(failed) >= 5 + 3, failed  # 5 wrong passwords, the locked, revoked, expired

    month = clock.now().astimezone(clock.JST).strftime("%Y-%m")
    report = tmp_path / f"report-{month}.xlsx"
    s.files.append(report)
    ok(s.run("report", "monthly", "--month", month, "--org", "inzai-fm", "--lang", "en",
             "--output", str(report)))  # fmt: skip
    assert report.stat().st_mode & 0o777 == 0o600
    wb = openpyxl.load_workbook(report, read_only=True)
    sheets = {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in wb}
    # read-only rows end at their last non-empty cell: pad them
    rows = [r + [None] * (10 - len(r)) for r in sheets["Refused"][1:]]
    refused = {(r[2], r[5], r[7], r[8], r[9]) for r in rows}
    # the lockout of the manager's staff is in the manager's report (it has its organisation)
    assert (yamazaki, "account.lock", None, "allowed", None) in refused
    assert (sato, "registrant.view", "honme-rojin", "denied", "out_of_scope") in refused
    assert (sato, "registrant.view", "inba-rojin", "denied", "out_of_scope") in refused
    assert (
        yamazaki,
        "registrant.check_duplicate",
        "chiiki-fukushi",
        "denied",
        "not_eligible",
    ) in refused
    assert (takahashi, "auth.login", None, "failed", "revoked") in refused
    assert ("inzai-fm-old", "auth.login", None, "failed", "expired") in refused
    assert (yamazaki, "auth.login", None, "failed", "locked") in refused
    assert sum(1 for r in rows if r[2] == yamazaki and r[9] == "wrong_password") == 5
    flags = {(r[1], r[3]) for r in sheets["Flags"][1:]}
    assert flags >= {
        ("no training in the last 12 months", sato),
        ("no training in the last 12 months", yamazaki),
        ("non-regular staff with access", yamazaki),
        ("account not on any roster", "inzai-fm-old"),
        ("account past its validity", "inzai-fm-old"),
    }, flags
    locks = {r[1]: r[12] for r in sheets["Accounts"][1:]}
    assert locks[yamazaki] == 1, sheets["Accounts"]
    dup_rows = [r for r in sheets["Duplicate checks"][1:] if r[2] == sato]
    assert [(r[4], r[5], r[6]) for r in dup_rows] == [("allowed", "申請 2017-0123", 1)], dup_rows
    summary = dict((r[0], r[1]) for r in sheets["Summary"] if r and len(r) > 1)
    assert str(summary["Chain verification"]).startswith("intact"), summary
    # the city's own facility and its import are not in the manager's report
    cells = [str(c) for rows in sheets.values() for row in rows for c in row if c is not None]
    assert "legacy-chuo-rojin.csv" in cells and "legacy-honme-rojin.csv" not in cells
    for secret in [*PERSONAL, "印旛 竹子", "0476-98-7777", *s.passwords]:
        assert not any(secret in c for c in cells), secret

    exported = s.json("audit", "list", "--action", "report.export")
    assert [e["login_id"] for e in exported] == ["city-monitor"], exported
    # staff of the manager cannot read the history (monitors and administrators only)
    s.as_user(sato)
    peek = s.run("audit", "list")
    assert peek.exit_code == EXIT_DENIED and peek.stdout == "", peek
    assert "permission denied" in peek.stderr, peek

    # -- 8. an edited audit row is detected, naming the event ------------------------
    victim = int(inst.scalar(
        "SELECT min(seq) FROM audit_events WHERE action = 'registrant.view' AND outcome = 'denied'"
    ))  # fmt: skip
    tamper_outcome(inst, victim)
    s.as_user("city-monitor")
    broken = s.run("audit", "verify")
    assert broken.exit_code == EXIT_INTEGRITY, broken
    assert re.search(rf"\b(seq|event) {victim}\b", broken.stderr + broken.stdout), broken

    # -- no password anywhere: database file, outputs, files -------------------------
    if inst.backend == "sqlite":
        db_file = Path(inst.url.removeprefix("sqlite:///"))
        blobs = [p.read_bytes() for p in db_file.parent.glob(db_file.name + "*")]
    else:
        blobs = []
    blobs += [p.read_bytes() for p in s.files]
    blobs += [text.encode() for text in s.outputs]
    for secret in s.passwords:
        for needle in {secret.encode("utf-8"), secret.encode("utf-16-le")}:
            assert not any(needle in b for b in blobs), secret
    for secret in PERSONAL[:6]:
        assert not any(secret in text for text in s.outputs if "Error" in text), secret


def tamper_outcome(inst: Any, seq: int) -> None:
    """Turn a refused attempt into an allowed one behind the application's back."""
    if inst.backend == "sqlite":
        import sqlite3

        con = sqlite3.connect(inst.url.removeprefix("sqlite:///"))
        try:
            names = [r[0] for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_events'"
            )]  # fmt: skip
            assert names, "no append-only trigger on audit_events"
            for name in names:
                con.execute(f'DROP TRIGGER "{name}"')
            con.execute("UPDATE audit_events SET outcome = 'allowed' WHERE seq = ?", (seq,))
            con.commit()
        finally:
            con.close()
    else:
        from sqlalchemy import text

        with inst.engine().begin() as conn:  # the database owner, as a DBA would be
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
            conn.execute(text("UPDATE audit_events SET outcome = 'allowed' WHERE seq = :s"),
                         {"s": seq})  # fmt: skip
            conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))


# -- where two capabilities meet (these were strict xfails until fixed) ---


@pytest.fixture
def dup_city(installation: Any) -> dict[str, Any]:
    """Demo city after the handover; a certificate at honme-rojin; one check of each kind."""
    ok(run_cli("facility", "seed-demo", "--with-handover"))
    pw = factories.DEFAULT_PASSWORD
    factories.make_account(installation, "fm-chuo", "inzai-fm", facility="chuo-rojin")
    factories.make_account(installation, "fm-chiiki", "inzai-fm", facility="chiiki-fukushi")
    factories.make_account(installation, "city-honme", "city", facility="honme-rojin")
    rid = factories.make_registrant(installation, "honme-rojin", "本埜 梅子", kana="モトノ ウメコ",
                                    date_of_birth=dt.date(1939, 11, 3))  # fmt: skip
    ok(installation.login("city-honme", pw))
    ok(run_cli("registrant", "issue-certificate", str(rid)))
    check = ["registrant", "check-duplicate", "--name", "本埜 梅子", "--dob", "1939-11-03"]
    ok(installation.login("fm-chuo", pw))
    ok(run_cli(*check, "--reason", "申請 2017-0123"))
    ok(installation.login("fm-chiiki", pw))
    refused = run_cli(*check, "--reason", "申請 2017-0124")
    assert refused.exit_code == EXIT_DENIED, refused
    installation.login_admin()
    month = clock.now().astimezone(clock.JST).strftime("%Y-%m")
    out = Path("dup-report.xlsx").absolute()  # the test's own directory
    ok(run_cli("report", "monthly", "--month", month, "--lang", "en", "--output", str(out)))
    ws = openpyxl.load_workbook(out, read_only=True)["Duplicate checks"]
    # read-only mode drops trailing empty cells: pad to the 8 columns of the sheet
    rows = {r[2]: (*r, *[None] * (8 - len(r))) for r in ws.iter_rows(min_row=2, values_only=True)}
    return {"rows": rows, "registrant": rid}


def test_duplicate_check_report_row_is_complete_where_it_already_works(dup_city):
    row = dup_city["rows"]["fm-chuo"]
    assert (row[4], row[5], row[6]) == ("allowed", "申請 2017-0123", 1), row
    assert dup_city["rows"]["fm-chiiki"][4] == "denied"


def test_refused_duplicate_check_keeps_the_reason_the_user_gave(dup_city):
    assert dup_city["rows"]["fm-chiiki"][5] == "申請 2017-0124", dup_city["rows"]


def test_duplicate_check_is_reported_with_the_checking_facility(dup_city):
    assert dup_city["rows"]["fm-chuo"][3] == "chuo-rojin", dup_city["rows"]


def test_duplicate_check_report_names_the_matched_registrant_masked(dup_city):
    assert dup_city["rows"]["fm-chuo"][7] == f"{dup_city['registrant']} 本○○", dup_city["rows"]


def test_manager_staff_see_nothing_before_the_handover_day(
    installation: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the city's clock: 2017-03-31 nothing, 2017-04-01 the handed-over registrants."""
    ok(run_cli("facility", "seed-demo"))
    ok(run_cli("handover", "apply", *HANDOVER))  # recorded in advance, as the runbook says
    factories.make_account(installation, "fm-chuo", "inzai-fm", facility="chuo-rojin")
    rid = factories.make_registrant(installation, "chuo-rojin", "大森 花子", kana="オオモリ ハナコ")
    for day, visible in (("2017-03-31", False), ("2017-04-01", True)):
        # 23:59 and 00:01 Japan time: the switch follows the JST calendar day
        instant = f"{day}T23:59:00+09:00" if not visible else f"{day}T00:01:00+09:00"
        at = dt.datetime.fromisoformat(instant).astimezone(dt.UTC)
        monkeypatch.setattr(clock, "now", lambda at=at: at)
        ok(installation.login("fm-chuo", factories.DEFAULT_PASSWORD))
        found = ok(run_cli("registrant", "search", "--name", "大森", "--format", "json"))
        shown = run_cli("registrant", "show", str(rid))
        if visible:
            assert [r["id"] for r in json.loads(found.stdout)] == [rid], found
            assert shown.exit_code == 0 and "chuo-rojin" in shown.stdout, shown
        else:
            assert json.loads(found.stdout) == [], found
            assert shown.exit_code == EXIT_FAILED, shown
            assert shown.stderr == f"Error: registrant {rid} not found\n", shown


def test_handover_credentials_file_has_the_accounts_format(installation: Any, tmp_path: Path):
    ok(run_cli("facility", "seed-demo"))
    roster = write_cp932(tmp_path / "roster.csv", ROSTER_HEADER, ROSTER[:1])
    out = tmp_path / "otp-inzai-fm.xlsx"
    ok(run_cli("handover", "apply", *HANDOVER, "--roster", str(roster), "--credentials-out",
               str(out)))  # fmt: skip
    assert out.stat().st_mode & 0o777 == 0o600
    assert list(read_credentials_xlsx(out)) == ["inzai-fm-0001"]
