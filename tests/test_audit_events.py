"""Every command leaves exactly the audit events it should, and nothing personal or secret.

Table-driven: one ``Case`` row per command (or per outcome of a command).  A
row names the command line, who runs it, the exit code, and the exact
``(action, outcome)`` events it must append, in order.  After every case the
new events are searched for every password, session token and personal value
known to the test (names, phone numbers, the typed login IDs of failed logins).

To cover a new command, add one row to ``CASES`` (the ``prepare`` hook sets up
data through ``tests/factories.py``).  Commands that read or change data must
append at least one event; an empty ``events`` list needs a ``why``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support import ADMIN_LOGIN, ADMIN_NAME, ADMIN_PASSWORD, Installation, run_cli

from tests import factories

REGISTRANT_NAME = "高齢 花子"
REGISTRANT_KANA = "コウレイ ハナコ"
REGISTRANT_PHONE = "0476-99-1234"
WRONG_PASSWORD = "Not-the-right-one-77"
MONITOR_NAME = "監査 次郎"
NEW_PASSWORD = "Atarashii-aikotoba-2026-haru-desu"
NEW_PHONE = "0476-55-6789"
NEW_NAME = "新規 三郎"
DOB = dt.date(1940, 1, 2)
GROUP_NAME = "コスモス会"
GROUP_REPRESENTATIVE = "代表 一郎"
ROSTER_STAFF = [("佐藤 美咲", "サトウ ミサキ"), ("髙橋 健一", "タカハシ ケンイチ")]
IMPORTED = [("0001", "髙橋 一郎", "ﾀｶﾊｼ ｲﾁﾛｳ", "0476-42-1111"),
            ("0002", "山﨑 花子", "ﾔﾏｻﾞｷ ﾊﾅｺ", "0476-42-2222")]  # fmt: skip


@dataclass
class Case:
    name: str
    argv: list[str]
    events: list[tuple[str, str]]
    exit_code: int = 0
    as_login: str = ADMIN_LOGIN  # who is logged in when the command runs
    input: str | None = None
    prepare: Callable[[Installation], None] | None = None
    backends: tuple[str, ...] = ("sqlite", "postgresql")
    why: str = ""  # required when events == []
    secrets: list[str] = field(default_factory=list)  # extra values that must not appear
    # a file the command writes one-time passwords to: each one is searched for too
    credentials: str | None = None


# --- prepare hooks: data of the other areas, through tests/factories.py -----------------

Prepare = Callable[[Installation], None]
START = dt.date(2000, 4, 1)


def _all(*steps: Prepare) -> Prepare:
    def prepare(inst: Installation) -> None:
        for step in steps:
            step(inst)

    return prepare


def _city_manages(*codes: str) -> Prepare:
    """The city manages these facilities, so its operator op-1 acts on their registrants."""

    def prepare(inst: Installation) -> None:
        for code in codes:
            factories.assign(inst, code, "city", START)

    return prepare


def _cli_as(login: str, *argv: str) -> Prepare:
    """Run a command as ``login`` while preparing (the case logs in afresh)."""

    def prepare(inst: Installation) -> None:
        r = inst.login(
            login, ADMIN_PASSWORD if login == ADMIN_LOGIN else factories.DEFAULT_PASSWORD
        )
        assert r.exit_code == 0, r
        r = run_cli(*argv)
        assert r.exit_code == 0, r
        inst.login_admin()

    return prepare


def _sql(statement: str) -> Prepare:
    def prepare(inst: Installation) -> None:
        from sqlalchemy import text

        with inst.engine().begin() as conn:
            conn.execute(text(statement))

    return prepare


def _inzai_fm(inst: Installation) -> None:
    factories.make_org(inst, "inzai-fm", term=(dt.date(2017, 4, 1), dt.date(2032, 3, 31)))
    factories.make_facility(inst, "chuo-rojin", category="senior_welfare_centre")


def _inzai_fm_manages_chuo(inst: Installation) -> None:
    """A roster's 所属施設 must be a facility the manager manages (issue 15 part 4)."""
    factories.assign(inst, "chuo-rojin", "inzai-fm", dt.date(2017, 4, 1))


def _senior(inst: Installation) -> None:
    """Two senior centres the city manages, their operator op-s, the same person at both."""
    factories.make_facility(inst, "chuo-rojin", category="senior_welfare_centre")
    factories.make_facility(inst, "honme-rojin", category="senior_welfare_centre")
    for code in ("cosmos", "chuo-rojin", "honme-rojin"):
        factories.assign(inst, code, "city", START)
    factories.make_account(inst, "op-s", "city", role="operator", facility="chuo-rojin",
                           places=("honme-rojin",))  # fmt: skip
    factories.make_duplicate_rule(inst, "chuo-duplicate-check", "chuo-rojin")
    for code in ("chuo-rojin", "honme-rojin"):  # registrants 2 and 3
        factories.make_registrant(
            inst, code, REGISTRANT_NAME, kana=REGISTRANT_KANA, date_of_birth=DOB,
            phone=REGISTRANT_PHONE,
        )  # fmt: skip


def _group(inst: Installation) -> None:  # registrant 2
    factories.make_registrant(
        inst, "cosmos", GROUP_NAME, kind="group", representative_name=GROUP_REPRESENTATIVE
    )


def _booking(inst: Installation) -> None:  # booking 1, of registrant 1
    factories.make_booking(inst, "cosmos", 1, dt.datetime(2030, 1, 10, 1, 0, tzinfo=dt.UTC))


def _dormant(inst: Installation) -> None:
    factories.make_account(inst, "op-old", "city", role="operator")
    _sql("UPDATE accounts SET created_at = '2001-01-01 00:00:00' WHERE login_id = 'op-old'")(inst)


def _locked(inst: Installation) -> None:
    _sql(
        "UPDATE accounts SET failed_attempts = 3, locked_until = '2999-01-01 00:00:00', "
        "lock_count = 1 WHERE login_id = 'op-1'"
    )(inst)


def _write_cp932(name: str, lines: list[list[str]]) -> Prepare:
    """A small legacy file in the test's working directory (the fixture chdirs to tmp)."""

    def prepare(_inst: Installation) -> None:
        text = "".join(",".join(cells) + "\r\n" for cells in lines)
        Path(name).write_bytes(text.encode("cp932"))

    return prepare


_roster = _write_cp932(
    "roster.csv",
    [["氏名", "フリガナ", "所属施設", "雇用形態", "役割"]]
    + [[n, k, "chuo-rojin", "正規", "職員"] for n, k in ROSTER_STAFF],
)
_legacy = _write_cp932(
    "legacy.csv",
    [["区分", "登録番号", "氏名", "フリガナ", "生年月日", "電話番号"]]
    + [["個人", no, n, k, "昭和15年3月2日", p] for no, n, k, p in IMPORTED],
)
_training_sheet = _write_cp932(
    "training.csv",
    [["ログインID", "研修名", "受講日"], ["op-1", "個人情報保護研修", "2026-04-10"],
     ["mon-1", "情報セキュリティ研修", "2026-05-01"]],
)  # fmt: skip
_interrupted_import = _all(
    _legacy,
    _cli_as(ADMIN_LOGIN, "import", "registrants", "legacy.csv", "--facility", "cosmos"),
    _sql("UPDATE import_batches SET status = 'running', checkpoint = 0, records_read = 0, "
         "imported = 0, updated = 0, unchanged = 0 WHERE id = 1"),
)  # fmt: skip


def _opendata(inst: Installation) -> None:
    """The header and two rows of Yaizu's 公共施設一覧, re-encoded as cp932."""
    import csv
    import io

    src = Path(__file__).parent / "data" / "opendata" / "yaizu_222127_public_facility.csv"
    rows = list(csv.reader(io.StringIO(src.read_bytes().decode("utf-8-sig"), newline="")))[:3]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    Path("facilities.csv").write_bytes(buf.getvalue().encode("cp932"))


POLICY = """version = 1

[[rule]]
name = "op-kodomo"
subject = "account:op-1"
actions = ["view", "search"]
resource = "registrants"
facility = "cosmos"
purpose = "合同行事"
"""


def _policy(_inst: Installation) -> None:
    Path("scope.toml").write_text(POLICY, "utf-8")


_rule = _cli_as(
    ADMIN_LOGIN, "scope", "add", "op-view", "--subject", "account:op-1", "--actions", "view",
    "--resource", "registrants", "--facility", "cosmos",
)  # fmt: skip
# mon-1 may register at cosmos but see only the name and kind: a narrow rule
_narrow = _cli_as(
    ADMIN_LOGIN, "scope", "add", "mon-narrow", "--subject", "account:mon-1", "--actions",
    "register", "--resource", "registrants", "--facility", "cosmos", "--fields", "name,kind",
)  # fmt: skip

BOOK = ["booking", "add", "--facility", "cosmos", "--registrant", "1", "--date", "2030-01-10",
        "--from", "10:00", "--to", "12:00"]  # fmt: skip
HANDOVER = ["handover", "apply", "--to", "inzai-fm", "--facility", "cosmos", "--on", "2030-04-01"]
REPORT = ["report", "monthly", "--month", "2026-11", "-o", "r.xlsx"]
_report = _cli_as(ADMIN_LOGIN, *REPORT)
_signing_key = _cli_as(
    ADMIN_LOGIN, "audit", "signing-key", "--private-out", "m.key", "--public-out", "m.pub"
)
_signed_anchor = _all(
    _signing_key,
    _cli_as(ADMIN_LOGIN, "audit", "anchor", "-o", "a.json", "--signing-key", "m.key"),
)


CASES: list[Case] = [
    # --- login / logout / whoami (commands/session.py) ---
    Case("login", ["login", ADMIN_LOGIN, "--password-stdin"], [("auth.login", "allowed")],
         input=ADMIN_PASSWORD + "\n"),
    Case("login wrong password", ["login", ADMIN_LOGIN, "--password-stdin"],
         [("auth.login", "failed")], exit_code=5, input=WRONG_PASSWORD + "\n",
         secrets=[WRONG_PASSWORD]),
    # a password typed into the login ID prompt must not land in the history
    Case("login unknown id", ["login", "Kyou-wa-ii-tenki-desu-ne-43", "--password-stdin"],
         [("auth.login", "failed")], exit_code=5, input=WRONG_PASSWORD + "\n",
         secrets=["Kyou-wa-ii-tenki-desu-ne-43", WRONG_PASSWORD]),
    Case("logout", ["logout"], [("auth.logout", "allowed")]),
    Case("whoami", ["whoami"], [], why="shows only the caller's own session, no stored data"),
    # --- db (commands/db.py) ---
    Case("db check", ["db", "check"], [], why="compares the schema; reads no records"),
    Case("db schema", ["db", "schema"], [], why="prints DDL; touches no database"),
    Case("db upgrade", ["db", "upgrade"], [], why="schema migration at head: no data changed"),
    Case("db grant-runtime-role", ["db", "grant-runtime-role", "resv_evt_role"],
         [("db.grant_runtime_role", "allowed")], backends=("postgresql",)),
    Case("db grant-runtime-role by operator", ["db", "grant-runtime-role", "resv_evt_role2"],
         [("db.grant_runtime_role", "denied")], exit_code=6, as_login="op-1",
         backends=("postgresql",)),
    Case("db rls plan", ["db", "rls", "plan"], [], backends=("postgresql",),
         why="prints the policies' SQL; reads no records"),
    Case("db rls apply", ["db", "rls", "apply"], [("db.rls_apply", "allowed")],
         backends=("postgresql",)),
    # --- audit (commands/audit.py) ---
    Case("audit list", ["audit", "list"], [("audit.list", "allowed")]),
    Case("audit list by monitor", ["audit", "list", "--format", "json"],
         [("audit.list", "allowed")], as_login="mon-1"),
    Case("audit list by operator", ["audit", "list"], [("audit.list", "denied")],
         exit_code=6, as_login="op-1"),
    Case("audit show", ["audit", "show", "1"], [("audit.show", "allowed")]),
    Case("audit show by operator", ["audit", "show", "1"], [("audit.show", "denied")],
         exit_code=6, as_login="op-1"),
    Case("audit anchor", ["audit", "anchor"], [("audit.anchor", "allowed")]),
    Case("audit actions", ["audit", "actions"], [],
         why="lists the vocabulary of the code; reads no database"),
    Case("audit verify", ["audit", "verify"], [("audit.verify", "allowed")]),
    Case("audit verify by operator", ["audit", "verify"], [("audit.verify", "denied")],
         exit_code=6, as_login="op-1"),
    Case("audit archive", ["audit", "archive", "--before", "2999-01-01", "-o", "a.jsonl.gz"],
         [("audit.archive", "allowed")]),
    Case("audit key status", ["audit", "key", "status"], [("audit.key_status", "allowed")]),
    Case("audit key status by operator", ["audit", "key", "status"],
         [("audit.key_status", "denied")], exit_code=6, as_login="op-1"),
    Case("audit key rotate", ["audit", "key", "rotate"], [("audit.key_rotate", "allowed")]),
    Case("audit key rotate by monitor", ["audit", "key", "rotate"],
         [("audit.key_rotate", "denied")], exit_code=6, as_login="mon-1"),
    Case("audit key upgrade of a keyed history", ["audit", "key", "upgrade"],
         [("audit.key_upgrade", "failed")], exit_code=1),
    # --- key (commands/key.py): the field-encryption keys ---
    Case("key status", ["key", "status"], [("key.status", "allowed")]),
    Case("key status by operator", ["key", "status"], [("key.status", "denied")],
         exit_code=6, as_login="op-1"),
    Case("key rotate", ["key", "rotate"], [("key.rotate", "allowed"), ("key.rotate", "allowed")]),
    Case("key rotate by monitor", ["key", "rotate"], [("key.rotate", "denied")], exit_code=6,
         as_login="mon-1"),
    Case("key rewrap", ["key", "rewrap"], [("key.rewrap", "allowed")]),
    Case("key init with a key file", ["key", "init"], [], exit_code=1,
         why="makes a key file only (refused: one exists); opens no database"),
    Case("audit signing-key", ["audit", "signing-key", "--private-out", "m.key",
                               "--public-out", "m.pub"], [],
         why="makes the monitor's key pair in two new files; opens no database"),
    Case("audit check-anchor", ["audit", "check-anchor", "a.json", "--public-key", "m.pub"], [],
         prepare=_signed_anchor,
         why="checks a file's signature with a public key alone; opens no database"),
    Case("audit anchor signed", ["audit", "anchor", "-o", "s.json", "--signing-key", "m.key"],
         [("audit.anchor", "allowed")], prepare=_signing_key),
    Case("audit verify against a report", ["audit", "verify", "--anchor-from", "r.xlsx"],
         [("audit.verify", "allowed")], prepare=_report),
    Case("audit archive by monitor",
         ["audit", "archive", "--before", "2999-01-01", "-o", "a.jsonl.gz"],
         [("audit.archive", "denied")], exit_code=6, as_login="mon-1"),
    # --- account (commands/account.py) ---
    Case("account grant", ["account", "grant", "new-1", "--name", NEW_NAME, "--org", "city",
                           "--role", "operator", "--credentials-out", "grant.xlsx"],
         [("account.grant", "allowed"), ("account.credentials_file", "allowed")],
         credentials="grant.xlsx", secrets=[NEW_NAME]),
    Case("account grant by operator", ["account", "grant", "new-1", "--name", NEW_NAME,
                                       "--org", "city", "--role", "operator"],
         [("account.grant", "denied")], exit_code=6, as_login="op-1", secrets=[NEW_NAME]),
    # an ID is never reused: the attempt is kept as failed
    Case("account grant existing id", ["account", "grant", "op-1", "--name", NEW_NAME,
                                       "--org", "city", "--role", "operator"],
         [("account.grant", "failed")], exit_code=1, secrets=[NEW_NAME]),
    Case("account list", ["account", "list"], [("account.list", "allowed")]),
    Case("account list by monitor", ["account", "list"], [("account.list", "allowed")],
         as_login="mon-1"),
    Case("account list by operator", ["account", "list"], [("account.list", "denied")],
         exit_code=6, as_login="op-1"),
    Case("account show", ["account", "show", "op-1"], [("account.show", "allowed")]),
    Case("account show own", ["account", "show", "op-1"], [("account.show", "allowed")],
         as_login="op-1"),
    Case("account show by operator", ["account", "show", "mon-1"], [("account.show", "denied")],
         exit_code=6, as_login="op-1"),
    Case("account revoke", ["account", "revoke", "op-1", "--reason", "left"],
         [("account.revoke", "allowed")]),
    Case("account revoke by operator", ["account", "revoke", "mon-1"],
         [("account.revoke", "denied")], exit_code=6, as_login="op-1"),
    # business-rule refusals are kept too (failed), with the reason
    Case("account revoke own", ["account", "revoke", ADMIN_LOGIN],
         [("account.revoke", "failed")], exit_code=1),
    Case("account revoke twice", ["account", "revoke", "op-1"],
         [("account.revoke", "failed")], exit_code=1,
         prepare=_cli_as(ADMIN_LOGIN, "account", "revoke", "op-1")),
    Case("account update", ["account", "update", "op-1", "--facility", "cosmos",
                            "--all-managed-facilities"], [("account.update", "allowed")]),
    Case("account update by operator", ["account", "update", "op-1", "--no-facility"],
         [("account.update", "denied")], exit_code=6, as_login="op-1"),
    Case("account reset-password", ["account", "reset-password", "op-1", "--credentials-out",
                                    "reset.xlsx"],
         [("account.reset_password", "allowed"), ("account.credentials_file", "allowed")],
         credentials="reset.xlsx"),
    Case("account reset-password by operator", ["account", "reset-password", "mon-1"],
         [("account.reset_password", "denied")], exit_code=6, as_login="op-1"),
    Case("account unlock", ["account", "unlock", "op-1"], [("account.unlock", "allowed")],
         prepare=_locked),
    Case("account unlock by operator", ["account", "unlock", "mon-1"],
         [("account.unlock", "denied")], exit_code=6, as_login="op-1"),
    Case("account disable-dormant", ["account", "disable-dormant", "--days", "90"],
         [("account.disable", "allowed"), ("account.disable_dormant", "allowed")],
         prepare=_dormant),
    Case("account disable-dormant dry run", ["account", "disable-dormant", "--days", "90",
                                             "--dry-run"],
         [("account.disable_dormant", "allowed")], prepare=_dormant),
    Case("account disable-dormant finding nobody", ["account", "disable-dormant", "--days",
                                                    "90"],
         [("account.disable_dormant", "allowed")]),
    Case("account disable-dormant by operator", ["account", "disable-dormant", "--days", "90"],
         [("account.disable_dormant", "denied")], exit_code=6, as_login="op-1",
         prepare=_dormant),
    Case("account passwd", ["account", "passwd", "--password-stdin"],
         [("account.password_change", "allowed")], as_login="op-1",
         input=f"{factories.DEFAULT_PASSWORD}\n{NEW_PASSWORD}\n", secrets=[NEW_PASSWORD]),
    Case("account passwd wrong current", ["account", "passwd", "--password-stdin"],
         [("account.password_change", "failed")], exit_code=5, as_login="op-1",
         input=f"{WRONG_PASSWORD}\n{NEW_PASSWORD}\n", secrets=[WRONG_PASSWORD, NEW_PASSWORD]),
    Case("account policy", ["account", "policy"], [],
         why="shows the password policy: settings, no records"),
    Case("account policy set", ["account", "policy", "--min-length", "16"],
         [("account.policy", "allowed")]),
    Case("account policy set by operator", ["account", "policy", "--min-length", "8"],
         [("account.policy", "denied")], exit_code=6, as_login="op-1"),
    Case("account import-roster", ["account", "import-roster", "roster.csv", "--org", "inzai-fm",
                                   "--credentials-out", "roster.xlsx"],
         [("account.grant", "allowed"), ("account.grant", "allowed"),
          ("account.import_roster", "allowed"), ("account.credentials_file", "allowed")],
         prepare=_all(_inzai_fm, _inzai_fm_manages_chuo, _roster), credentials="roster.xlsx",
         secrets=[n for s in ROSTER_STAFF for n in s]),
    Case("account import-roster by operator", ["account", "import-roster", "roster.csv",
                                               "--org", "inzai-fm", "--dry-run"],
         [("account.import_roster", "denied")], exit_code=6, as_login="op-1",
         prepare=_all(_inzai_fm, _roster), secrets=[n for s in ROSTER_STAFF for n in s]),
    Case("account import-roster dry run", ["account", "import-roster", "roster.csv", "--org",
                                           "inzai-fm", "--dry-run"], [],
         why="prints the plan for the file the admin holds; changes nothing",
         prepare=_all(_inzai_fm, _inzai_fm_manages_chuo, _roster), secrets=[n for s in ROSTER_STAFF for n in s]),
    # --- booking (commands/booking.py) ---
    Case("booking add", BOOK, [("booking.add", "allowed")], as_login="op-1",
         prepare=_city_manages("cosmos")),
    Case("booking add out of scope", BOOK, [("booking.add", "denied")], exit_code=6,
         as_login="op-1"),
    Case("booking add slot taken", BOOK, [("booking.add", "failed")], exit_code=1,
         as_login="op-1", prepare=_all(_city_manages("cosmos"), _booking)),
    Case("booking list", ["booking", "list"], [("booking.list", "allowed")], as_login="op-1",
         prepare=_all(_city_manages("cosmos"), _booking)),
    Case("booking list by monitor", ["booking", "list", "--count"],
         [("booking.list", "allowed")], as_login="mon-1", prepare=_booking),
    # naming a facility outside the caller's scope answers like no bookings, audited as denied
    Case("booking list outside scope", ["booking", "list", "--facility", "cosmos"],
         [("booking.list", "denied")], as_login="op-1", prepare=_booking),
    Case("booking add outside opening hours", [*BOOK[:-4], "--from", "06:00", "--to", "08:00"],
         [("booking.add", "failed")], exit_code=1, as_login="op-1",
         prepare=_city_manages("cosmos")),
    Case("booking add outside opening hours, overridden",
         [*BOOK[:-4], "--from", "06:00", "--to", "08:00", "--override-reason", "館長承認"],
         [("booking.add", "allowed")], as_login="op-1", prepare=_city_manages("cosmos")),
    Case("booking cancel", ["booking", "cancel", "1"], [("booking.cancel", "allowed")],
         as_login="op-1", prepare=_all(_city_manages("cosmos"), _booking)),
    Case("booking cancel out of scope", ["booking", "cancel", "1"],
         [("booking.cancel", "denied")], exit_code=1, as_login="op-1", prepare=_booking),
    Case("booking cancel unknown", ["booking", "cancel", "99"], [("booking.cancel", "failed")],
         exit_code=1, as_login="op-1", prepare=_city_manages("cosmos")),
    Case("booking cancel twice", ["booking", "cancel", "1"], [("booking.cancel", "failed")],
         exit_code=1, as_login="op-1",
         prepare=_all(_city_manages("cosmos"), _booking,
                      _cli_as("op-1", "booking", "cancel", "1"))),
    # --- facility (commands/facility.py) ---
    Case("facility add", ["facility", "add", "kaigi-2", "会議室2", "--category", "room",
                          "--parent", "cosmos"], [("facility.add", "allowed")]),
    Case("facility add by operator", ["facility", "add", "kaigi-2", "会議室2", "--category",
                                      "room"], [("facility.add", "denied")], exit_code=6,
         as_login="op-1"),
    Case("facility list", ["facility", "list"], [], as_login="op-1",
         why="the public facility register (公共施設一覧): no personal data"),
    Case("facility categories", ["facility", "categories"], [],
         why="the fixed list of categories"),
    Case("facility show", ["facility", "show", "cosmos"], [], as_login="op-1",
         why="one public facility and its manager: no personal data"),
    Case("facility history", ["facility", "history", "cosmos"], [], as_login="op-1",
         prepare=_city_manages("cosmos"), why="which organisation managed when: public"),
    Case("facility update", ["facility", "update", "cosmos", "--hours", "09:00-22:00"],
         [("facility.update", "allowed")]),
    Case("facility update by operator", ["facility", "update", "cosmos", "--hours",
                                         "09:00-22:00"], [("facility.update", "denied")],
         exit_code=6, as_login="op-1"),
    Case("facility retire", ["facility", "retire", "cosmos", "--on", "2030-04-01"],
         [("facility.retire", "allowed")]),
    Case("facility retire by monitor", ["facility", "retire", "cosmos", "--on", "2030-04-01"],
         [("facility.retire", "denied")], exit_code=6, as_login="mon-1"),
    Case("facility assign", ["facility", "assign", "cosmos", "--org", "city", "--from",
                             "2000-04-01"], [("facility.assign", "allowed")]),
    Case("facility assign by operator", ["facility", "assign", "cosmos", "--org", "city",
                                         "--from", "2000-04-01"],
         [("facility.assign", "denied")], exit_code=6, as_login="op-1"),
    Case("facility import", ["facility", "import", "facilities.csv"],
         [("facility.import", "allowed")], prepare=_opendata),
    Case("facility import dry run", ["facility", "import", "facilities.csv", "--dry-run"], [],
         prepare=_opendata, why="checks a public open-data file; writes nothing"),
    Case("facility import by operator", ["facility", "import", "facilities.csv"],
         [("facility.import", "denied")], exit_code=6, as_login="op-1", prepare=_opendata),
    Case("facility seed-demo", ["facility", "seed-demo"],
         [("scope.add", "allowed"), ("facility.seed_demo", "allowed")]),
    Case("facility seed-demo by operator", ["facility", "seed-demo"],
         [("facility.seed_demo", "denied")], exit_code=6, as_login="op-1"),
    # --- handover (commands/handover.py) ---
    Case("handover plan", ["handover", "plan", *HANDOVER[2:]], [],
         prepare=_all(_inzai_fm, _city_manages("cosmos")),
         why="per-facility periods and counts; changes nothing, no personal data"),
    Case("handover plan by operator", ["handover", "plan", *HANDOVER[2:]],
         [("handover.plan", "denied")], exit_code=6, as_login="op-1",
         prepare=_all(_inzai_fm, _city_manages("cosmos"))),
    Case("handover apply", HANDOVER, [("handover.apply", "allowed")],
         prepare=_all(_inzai_fm, _city_manages("cosmos"))),
    # applying again changes nothing and says so in one event
    Case("handover apply again", HANDOVER, [("handover.apply", "allowed")],
         prepare=_all(_inzai_fm, _city_manages("cosmos"), _cli_as(ADMIN_LOGIN, *HANDOVER))),
    Case("handover apply with roster", [*HANDOVER, "--roster", "roster.csv",
                                        "--credentials-out", "creds.xlsx"],
         [("account.grant", "allowed"), ("account.grant", "allowed"),
          ("account.import_roster", "allowed"), ("handover.apply", "allowed")],
         prepare=_all(_inzai_fm, _inzai_fm_manages_chuo, _city_manages("cosmos"), _roster),
         credentials="creds.xlsx",
         secrets=[n for s in ROSTER_STAFF for n in s]),
    Case("handover apply by monitor", HANDOVER, [("handover.apply", "denied")], exit_code=6,
         as_login="mon-1", prepare=_all(_inzai_fm, _city_manages("cosmos"))),
    # --- import (commands/imports.py) ---
    Case("import registrants", ["import", "registrants", "legacy.csv", "--facility", "cosmos"],
         [("import.batch", "allowed"), ("import.batch", "allowed")], prepare=_legacy,
         secrets=[v for row in IMPORTED for v in row[1:]]),
    Case("import registrants dry run", ["import", "registrants", "legacy.csv", "--facility",
                                        "cosmos", "--dry-run"],
         [("import.batch", "allowed"), ("import.batch", "allowed")], prepare=_legacy,
         secrets=[v for row in IMPORTED for v in row[1:]]),
    Case("import registrants by operator", ["import", "registrants", "legacy.csv",
                                            "--facility", "cosmos"],
         [("import.batch", "denied")], exit_code=6, as_login="op-1", prepare=_legacy),
    Case("import resume", ["import", "resume", "1"],
         [("import.batch", "allowed"), ("import.batch", "allowed")],
         prepare=_interrupted_import, secrets=[v for row in IMPORTED for v in row[1:]]),
    Case("import resume by operator", ["import", "resume", "1"], [("import.batch", "denied")],
         exit_code=6, as_login="op-1", prepare=_interrupted_import),
    Case("import list", ["import", "list"], [], prepare=_interrupted_import,
         why="batch file names and counts; no record content"),
    Case("import list by operator", ["import", "list"], [("import.list", "denied")],
         exit_code=6, as_login="op-1"),
    Case("import show", ["import", "show", "1"], [("import.show", "allowed")],
         prepare=_interrupted_import),
    Case("import show by operator", ["import", "show", "1"], [("import.show", "denied")],
         exit_code=6, as_login="op-1", prepare=_interrupted_import),
    # --- org (commands/org.py) ---
    Case("org add", ["org", "add", "kita-fm", "北総管理", "--kind", "designated-manager",
                     "--term-start", "2026-04-01", "--term-end", "2031-03-31"],
         [("org.add", "allowed")]),
    Case("org add by operator", ["org", "add", "kita-fm", "北総管理", "--kind",
                                 "designated-manager", "--term-start", "2026-04-01",
                                 "--term-end", "2031-03-31"],
         [("org.add", "denied")], exit_code=6, as_login="op-1"),
    Case("org list", ["org", "list"], [], why="organisations and their terms: public"),
    Case("org list by operator", ["org", "list"], [("org.list", "denied")], exit_code=6,
         as_login="op-1"),
    Case("org show", ["org", "show", "city"], [], as_login="mon-1",
         why="one organisation and its term: public"),
    Case("org update", ["org", "update", "inzai-fm", "--term-end", "2033-03-31",
                        "--security-officer", "情報 責任者"],
         [("org.update", "allowed")], prepare=_inzai_fm, secrets=["情報 責任者"]),
    Case("org update by operator", ["org", "update", "inzai-fm", "--term-end", "2033-03-31"],
         [("org.update", "denied")], exit_code=6, as_login="op-1", prepare=_inzai_fm),
    Case("org renew", ["org", "renew", "inzai-fm", "--until", "2037-03-31"],
         [("org.renew", "allowed")], prepare=_inzai_fm),
    Case("org renew by monitor", ["org", "renew", "inzai-fm", "--until", "2037-03-31"],
         [("org.renew", "denied")], exit_code=6, as_login="mon-1", prepare=_inzai_fm),
    # --- registrant (commands/registrant.py) ---
    Case("registrant add", ["registrant", "add", "--facility", "cosmos", "--name", NEW_NAME,
                            "--phone", NEW_PHONE], [("registrant.add", "allowed")],
         as_login="op-1", prepare=_city_manages("cosmos"), secrets=[NEW_NAME, NEW_PHONE]),
    Case("registrant add out of scope", ["registrant", "add", "--facility", "cosmos", "--name",
                                         NEW_NAME, "--phone", NEW_PHONE],
         [("registrant.add", "denied")], exit_code=6, as_login="op-1",
         secrets=[NEW_NAME, NEW_PHONE]),
    Case("registrant search", ["registrant", "search", "--name", "高齢", "--phone",
                               REGISTRANT_PHONE], [("registrant.search", "allowed")],
         as_login="op-1", prepare=_city_manages("cosmos"), secrets=["高齢"]),
    Case("registrant search count by monitor", ["registrant", "search", "--name", "高齢",
                                                "--count"],
         [("registrant.search", "allowed")], as_login="mon-1", secrets=["高齢"]),
    # naming a facility outside the caller's scope answers like no match, audited as denied
    Case("registrant search outside scope", ["registrant", "search", "--name", "高齢",
                                             "--facility", "cosmos"],
         [("registrant.search", "denied")], as_login="op-1", secrets=["高齢"]),
    Case("registrant show", ["registrant", "show", "1"], [("registrant.view", "allowed")],
         as_login="op-1", prepare=_city_manages("cosmos")),
    Case("registrant show out of scope", ["registrant", "show", "1"],
         [("registrant.view", "denied")], exit_code=1, as_login="mon-1"),
    Case("registrant show unknown", ["registrant", "show", "99"],
         [("registrant.view", "failed")], exit_code=1, as_login="op-1"),
    Case("registrant update", ["registrant", "update", "1", "--phone", NEW_PHONE],
         [("registrant.update", "allowed")], as_login="op-1", prepare=_city_manages("cosmos"),
         secrets=[NEW_PHONE]),
    Case("registrant update out of scope", ["registrant", "update", "1", "--phone", NEW_PHONE],
         [("registrant.update", "denied")], exit_code=1, as_login="op-1", secrets=[NEW_PHONE]),
    # status changes (issue 15 part 6): the reason stays with the registrant, out of the history
    Case("registrant suspend", ["registrant", "suspend", "1", "--reason", "入院のため"],
         [("registrant.status", "allowed")], as_login="op-1", prepare=_city_manages("cosmos"),
         secrets=["入院のため"]),
    Case("registrant suspend out of scope", ["registrant", "suspend", "1", "--reason", "入院"],
         [("registrant.status", "denied")], exit_code=1, as_login="op-1", secrets=["入院"]),
    Case("registrant reinstate", ["registrant", "reinstate", "1"],
         [("registrant.status", "allowed")], as_login="op-1",
         prepare=_all(_city_manages("cosmos"),
                      _cli_as("op-1", "registrant", "suspend", "1", "--reason", "x"))),
    Case("registrant reinstate out of scope", ["registrant", "reinstate", "1"],
         [("registrant.status", "denied")], exit_code=1, as_login="op-1"),
    Case("registrant delete", ["registrant", "delete", "1", "--reason", "転出届"],
         [("registrant.status", "allowed")], as_login="op-1", prepare=_city_manages("cosmos"),
         secrets=["転出届"]),
    Case("registrant delete out of scope", ["registrant", "delete", "1", "--reason", "転出届"],
         [("registrant.status", "denied")], exit_code=1, as_login="op-1", secrets=["転出届"]),
    Case("registrant update outside the rule's fields", ["registrant", "update", "1",
                                                         "--phone", NEW_PHONE],
         [("registrant.update", "denied")], exit_code=1, as_login="mon-1",
         prepare=_cli_as(ADMIN_LOGIN, "scope", "add", "mon-upd", "--subject", "account:mon-1",
                         "--actions", "update", "--resource", "registrants", "--facility",
                         "cosmos", "--fields", "name"), secrets=[NEW_PHONE]),
    Case("registrant issue-card", ["registrant", "issue-card", "2"],
         [("registrant.issue_card", "allowed")], as_login="op-1",
         prepare=_all(_city_manages("cosmos"), _group),
         secrets=[GROUP_NAME, GROUP_REPRESENTATIVE]),
    Case("registrant issue-card out of scope", ["registrant", "issue-card", "2"],
         [("registrant.issue_card", "denied")], exit_code=1, as_login="op-1", prepare=_group),
    Case("registrant issue-card under a narrow rule", ["registrant", "issue-card", "2"],
         [("registrant.issue_card", "denied")], exit_code=1, as_login="mon-1",
         prepare=_all(_group, _narrow)),
    Case("registrant issue-certificate", ["registrant", "issue-certificate", "2"],
         [("registrant.issue_certificate", "allowed")], as_login="op-s", prepare=_senior),
    # the same person already holds one at another senior centre: refused (a business
    # refusal, not a scope one), kept
    Case("registrant issue-certificate duplicate", ["registrant", "issue-certificate", "2"],
         [("registrant.issue_certificate", "failed")], exit_code=1, as_login="op-s",
         prepare=_all(_senior, _cli_as("op-s", "registrant", "issue-certificate", "3"))),
    Case("registrant issue-certificate again", ["registrant", "issue-certificate", "2"],
         [("registrant.issue_certificate", "failed")], exit_code=1, as_login="op-s",
         prepare=_all(_senior, _cli_as("op-s", "registrant", "issue-certificate", "2"))),
    Case("registrant issue-certificate out of scope", ["registrant", "issue-certificate", "2"],
         [("registrant.issue_certificate", "denied")], exit_code=1, as_login="mon-1",
         prepare=_senior),
    Case("registrant issue-certificate under a narrow rule",
         ["registrant", "issue-certificate", "1"],
         [("registrant.issue_certificate", "denied")], exit_code=1, as_login="mon-1",
         prepare=_narrow),
    Case("registrant check-duplicate", ["registrant", "check-duplicate", "--name",
                                        REGISTRANT_NAME, "--kana", REGISTRANT_KANA, "--dob",
                                        DOB.isoformat(), "--reason", "申請 123"],
         [("registrant.check_duplicate", "allowed")], as_login="op-s", prepare=_senior,
         secrets=[DOB.isoformat()]),
    Case("registrant check-duplicate not eligible", ["registrant", "check-duplicate", "--name",
                                                     REGISTRANT_NAME, "--dob", DOB.isoformat(),
                                                     "--reason", "申請 123"],
         [("registrant.check_duplicate", "denied")], exit_code=6, as_login="op-1",
         prepare=_senior, secrets=[DOB.isoformat()]),
    # --- report (commands/report.py) ---
    Case("report monthly", REPORT, [("report.export", "allowed")], as_login="mon-1"),
    Case("report monthly by operator", REPORT, [("report.export", "denied")], exit_code=6,
         as_login="op-1"),
    # --- scope (commands/scope.py) ---
    Case("scope list", ["scope", "list"], [], prepare=_rule,
         why="the access rules themselves: configuration, no personal data"),
    Case("scope list by operator", ["scope", "list"], [("scope.list", "denied")], exit_code=6,
         as_login="op-1"),
    Case("scope add", ["scope", "add", "op-view", "--subject", "account:op-1", "--actions",
                       "view,search", "--resource", "registrants", "--facility", "cosmos",
                       "--purpose", "合同行事"], [("scope.add", "allowed")]),
    Case("scope add by monitor", ["scope", "add", "op-view", "--subject", "account:op-1",
                                  "--actions", "view", "--resource", "registrants",
                                  "--facility", "cosmos"],
         [("scope.add", "denied")], exit_code=6, as_login="mon-1"),
    Case("scope remove", ["scope", "remove", "op-view"], [("scope.remove", "allowed")],
         prepare=_rule),
    Case("scope remove by operator", ["scope", "remove", "op-view"],
         [("scope.remove", "denied")], exit_code=6, as_login="op-1", prepare=_rule),
    Case("scope explain", ["scope", "explain", "--account", "op-1", "--action", "view",
                           "--facility", "cosmos"], [], as_login="mon-1",
         why="explains a decision from rules and periods; reads no records"),
    Case("scope explain by operator", ["scope", "explain", "--account", "mon-1", "--action",
                                       "view", "--facility", "cosmos"],
         [("scope.explain", "denied")], exit_code=6, as_login="op-1"),
    Case("scope plan", ["scope", "plan", "scope.toml"], [], prepare=_policy,
         why="compares a policy file with the rules; writes nothing"),
    Case("scope plan by operator", ["scope", "plan", "scope.toml"], [("scope.plan", "denied")],
         exit_code=6, as_login="op-1", prepare=_policy),
    Case("scope apply", ["scope", "apply", "scope.toml"], [("scope.apply", "allowed")],
         prepare=_policy),
    Case("scope apply by monitor", ["scope", "apply", "scope.toml"],
         [("scope.apply", "denied")], exit_code=6, as_login="mon-1", prepare=_policy),
    # --- training (commands/training.py) ---
    Case("training record", ["training", "record", "op-1", "--course", "個人情報保護研修",
                             "--on", "2026-04-10"], [("training.record", "allowed")]),
    Case("training record by operator", ["training", "record", "op-1", "--course", "研修",
                                         "--on", "2026-04-10"],
         [("training.record", "denied")], exit_code=6, as_login="op-1"),
    Case("training list", ["training", "list"], [("training.list", "allowed")],
         as_login="mon-1", prepare=_cli_as(ADMIN_LOGIN, "training", "record", "op-1",
                                           "--course", "個人情報保護研修", "--on", "2026-04-10")),
    Case("training list by operator", ["training", "list"], [("training.list", "denied")],
         exit_code=6, as_login="op-1"),
    Case("training import", ["training", "import", "training.csv"],
         [("training.import", "allowed")], prepare=_training_sheet),
    Case("training import by operator", ["training", "import", "training.csv"],
         [("training.import", "denied")], exit_code=6, as_login="op-1",
         prepare=_training_sheet),
]  # fmt: skip


def _prepare_world(inst: Installation) -> None:
    factories.make_facility(inst, "cosmos")
    factories.make_account(inst, "op-1", "city", role="operator", facility="cosmos")
    factories.make_account(inst, "mon-1", "city", role="monitor", name=MONITOR_NAME)
    factories.make_registrant(
        inst, "cosmos", REGISTRANT_NAME, kana=REGISTRANT_KANA, phone=REGISTRANT_PHONE
    )


def _known_secrets(inst: Installation) -> list[str]:
    from resv_cli.accounts.sessions import stored_token

    values = [
        ADMIN_PASSWORD,
        factories.DEFAULT_PASSWORD,
        ADMIN_NAME,
        MONITOR_NAME,
        "職員 op-1",
        REGISTRANT_NAME,
        REGISTRANT_KANA,
        REGISTRANT_PHONE,
        REGISTRANT_PHONE.replace("-", ""),
    ]
    token = stored_token(inst.url)
    if token:
        values.append(token)
    from resv_cli.audit import keys

    values += [k.secret for k in keys.load().keys if k.secret]  # the audit key itself
    return values


def _personal_values(inst: Installation) -> list[str]:
    """Every personal value stored after the command: registrants, staff names, roster."""
    values: list[str] = []
    queries = (
        "SELECT display_name FROM accounts",
        "SELECT full_name, kana FROM roster_entries",
    )
    rows = [
        *inst.clear_rows(
            "SELECT name, kana, phone, phone_digits, address, emergency_name, emergency_phone, "
            "representative_name, date_of_birth FROM registrants"
        ),
        *(row for sql in queries for row in inst.rows(sql)),
    ]
    for row in rows:
        values += [str(v) for v in row if v is not None and str(v).strip()]
    return values


def _issued_passwords(case: Case) -> list[str]:
    """The one-time passwords the command wrote to its credentials file (xlsx or CSV)."""
    if case.credentials is None:
        return []
    path = Path(case.credentials)
    if path.suffix == ".xlsx":
        import openpyxl

        ws = openpyxl.load_workbook(path, read_only=True).worksheets[0]
        rows = [[str(v) for v in r] for r in ws.iter_rows(values_only=True)]
    else:
        rows = [line.split(",") for line in path.read_text("utf-8").splitlines()]
    column = next(i for i, h in enumerate(rows[0]) if "password" in h)
    issued = [r[column] for r in rows[1:]]
    assert issued and all(len(p) >= 20 for p in issued), f"{case.name}: no one-time password"
    return issued


def _case_params() -> list[Any]:
    return [pytest.param(c, id=c.name) for c in CASES]


def test_every_case_row_is_sound():
    for c in CASES:
        assert c.events or c.why, f"{c.name}: a command without events must say why"


def test_every_registered_command_has_a_case():
    """A new command without a row here fails, so the table stays complete."""
    import typer.main
    from resv_cli.commands.docgen import _walk
    from resv_cli.commands.main import app

    commands = {
        " ".join(path)
        for path, cmd in _walk(typer.main.get_command(app), [])
        if path and not getattr(cmd, "commands", None)
    }
    covered = (
        {" ".join(c.argv[:3]) for c in CASES}
        | {" ".join(c.argv[:2]) for c in CASES}
        | {c.argv[0] for c in CASES}
    )
    covered.add("db init")  # run by the fixture; checked in test_db_init_event
    missing = sorted(commands - covered)
    assert not missing, f"commands without an audit-events row in CASES: {missing}"


@pytest.mark.parametrize("case", _case_params())
def test_command_leaves_exactly_its_events(installation, case: Case, monkeypatch):
    if installation.backend not in case.backends:
        pytest.skip(f"{case.name}: {installation.backend} not applicable")
    _prepare_world(installation)
    if case.prepare:
        case.prepare(installation)
    if case.as_login != ADMIN_LOGIN:
        r = installation.login(case.as_login, factories.DEFAULT_PASSWORD)
        assert r.exit_code == 0, r
    secrets = _known_secrets(installation)  # the live token, before logout forgets it
    before = installation.scalar("SELECT max(seq) FROM audit_events")
    result = run_cli(*case.argv, input=case.input)
    assert result.exit_code == case.exit_code, result
    rows = installation.rows(
        "SELECT seq, action, outcome, login_id, detail, resource_id, facility_code "
        "FROM audit_events WHERE seq > :s ORDER BY seq",
        s=before,
    )
    assert [(r.action, r.outcome) for r in rows] == case.events
    if case.events and case.events[0][0] not in ("auth.login",):
        # the person is recorded, not a database user
        assert all(r.login_id == case.as_login for r in rows)
    forbidden = [*secrets, *case.secrets, *_personal_values(installation)]
    forbidden += _issued_passwords(case)
    from resv_cli.audit.chain import FORBIDDEN_DETAIL_KEYS

    for r in installation.rows("SELECT * FROM audit_events WHERE seq > :s", s=before):
        blob = "\x00".join("" if v is None else str(v) for v in r)
        for secret in forbidden:
            assert secret not in blob, f"{case.name}: a secret or personal value in event {r.seq}"
        assert not set(json.loads(r.detail)) & FORBIDDEN_DETAIL_KEYS
    if installation.backend == "postgresql" and case.argv[:2] == ["db", "grant-runtime-role"]:
        _drop_role(installation, case.argv[2])


def _drop_role(inst: Installation, role: str) -> None:
    """Roles are cluster-wide: remove the one a case created (its database goes anyway)."""
    with inst.engine().begin() as conn:
        if conn.exec_driver_sql(f"SELECT 1 FROM pg_roles WHERE rolname = '{role}'").first():
            conn.exec_driver_sql(f'DROP OWNED BY "{role}"')
            conn.exec_driver_sql(f'DROP ROLE "{role}"')


def test_failed_login_keeps_only_a_keyed_hash(installation):
    from resv_cli.audit.chain import keyed_hash

    typed = "Kyou-wa-ii-tenki-desu-ne-43"
    r = installation.login(typed, WRONG_PASSWORD)
    assert r.exit_code == 5
    detail = json.loads(
        installation.scalar("SELECT detail FROM audit_events ORDER BY seq DESC LIMIT 1")
    )
    assert detail == {"reason": "unknown_id", "login_id_hmac": keyed_hash(typed)}


def test_db_init_event(installation):
    (row,) = installation.rows("SELECT action, outcome, login_id, detail FROM audit_events "
                               "WHERE seq = 1")  # fmt: skip
    assert (row.action, row.outcome, row.login_id) == ("db.init", "allowed", ADMIN_LOGIN)
    assert ADMIN_PASSWORD not in row.detail and ADMIN_NAME not in row.detail
