"""Lockout counters across concurrent processes, and no password anywhere it must not be."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import openpyxl
from factories import DEFAULT_PASSWORD, assign, make_account, make_facility
from support import ADMIN_PASSWORD

from resv_cli.core.errors import EXIT_AUTH_FAILED

HAMMER = r"""
import os, sys, time
from resv_cli.core.db import get_engine
from resv_cli.core.errors import AuthenticationFailed
from resv_cli.accounts.sessions import login
url, n, go = sys.argv[1], int(sys.argv[2]), sys.argv[3]
engine = get_engine(url)
while not os.path.exists(go):
    time.sleep(0.002)
failed = 0
for i in range(n):
    try:
        login(engine, "fm-target", f"wrong-guess-{os.getpid()}-{i}")
    except AuthenticationFailed:
        failed += 1
print(failed)
"""


def hammer(url: str, tmp_path: Path, processes: int, each: int) -> list[int]:
    go = tmp_path / f"go-{time.monotonic_ns()}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", HAMMER, url, str(each), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        for _ in range(processes)
    ]
    time.sleep(1.5)  # let every process import and connect before the start signal
    go.touch()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        results.append(int(out.strip()))
    return results


def test_lockout_counter_is_exact_across_concurrent_processes(installation, tmp_path):
    inst = installation
    inst.scalar("SELECT 1")
    from factories import make_org

    make_org(inst, "inzai-fm")
    make_account(inst, "fm-target", "inzai-fm")

    # 4 processes, one wrong password each, at the same moment: no failure is lost
    assert hammer(inst.url, tmp_path, 4, 1) == [1, 1, 1, 1]
    row = inst.rows("SELECT failed_attempts, lock_count, locked_until FROM accounts "
                    "WHERE login_id='fm-target'")[0]  # fmt: skip
    assert (row[0], row[1], row[2]) == (4, 0, None)

    # 4 processes x 3 more: the 5th failure locks exactly once, the other 7 meet the lock
    assert hammer(inst.url, tmp_path, 4, 3) == [3, 3, 3, 3]
    failed_attempts, lock_count = inst.rows(
        "SELECT failed_attempts, lock_count FROM accounts WHERE login_id='fm-target'"
    )[0]
    assert (failed_attempts, lock_count) == (0, 1)
    reasons = [
        json.loads(d)["reason"]
        for (d,) in inst.rows(
            "SELECT detail FROM audit_events WHERE action='auth.login' AND outcome='failed'"
        )
    ]
    assert reasons.count("wrong_password") == 5
    assert reasons.count("locked") == 11
    assert inst.scalar("SELECT count(*) FROM audit_events WHERE action='account.lock'") == 1
    # the lock belongs to the person's organisation: `report monthly --org inzai-fm` shows it
    assert inst.rows(
        "SELECT DISTINCT action, organization_code FROM audit_events WHERE login_id='fm-target' "
        "AND action IN ('account.lock', 'auth.login') ORDER BY action"
    ) == [("account.lock", "inzai-fm"), ("auth.login", "inzai-fm")]
    # the right password is refused while locked, with the same message
    r = inst.login("fm-target", DEFAULT_PASSWORD)
    assert r.exit_code == EXIT_AUTH_FAILED


# --- leak search ------------------------------------------------------------------------


def file_bytes(path: Path) -> bytes:
    """The bytes to search: members of a zip (xlsx) decompressed, otherwise the file."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            return b"".join(z.read(n) for n in z.namelist())
    return path.read_bytes()


def database_text(inst) -> bytes:
    """Every row of every table, as text; on SQLite also the raw database files."""
    from resv_cli.core.models import Base

    parts: list[bytes] = []
    with inst.engine().connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(table.select()):
                parts.append(repr(tuple(row)).encode("utf-8"))
                parts.append("|".join(str(v) for v in row).encode("utf-8"))
    if inst.backend == "sqlite":
        db = Path(inst.url.removeprefix("sqlite:///"))
        for p in db.parent.glob(db.name + "*"):  # the file, -wal, -shm
            parts.append(p.read_bytes())
    return b"\n".join(parts)


def test_no_password_in_the_database_audit_or_output_files(installation, cli, tmp_path):
    inst = installation
    out_dir = tmp_path / "outputs"
    out_dir.mkdir()
    outputs: dict[str, str] = {}

    def run(name: str, *args: str, input: str | None = None, expect: int = 0):
        r = cli(*args, input=input)
        assert r.exit_code == expect, (name, r)
        (out_dir / f"{name}.stdout").write_text(r.stdout, "utf-8")
        (out_dir / f"{name}.stderr").write_text(r.stderr, "utf-8")
        outputs[name] = r.stdout
        return r

    secrets: list[str] = [ADMIN_PASSWORD, DEFAULT_PASSWORD]
    new_pw = "Kaze-no-naka-no-Sakura-2026"
    newer_pw = "Mizu-no-oto-ga-suru-yoru-55"
    typo = "Oops-typed-my-password-as-ID-77"
    wrong = "Wrong-but-long-password-for-test"
    secrets += [new_pw, newer_pw, typo, wrong]

    run("org", "org", "add", "inzai-fm", "株式会社いんざい施設管理", "--kind",
        "designated-manager", "--term-start", "2017-04-01", "--term-end", "2032-03-31")  # fmt: skip
    make_facility(inst, "chuo-rojin", "senior_welfare_centre", name="中央老人福祉センター")
    # a roster's 所属施設 must be a facility the manager manages (issue 15 part 4)
    assign(inst, "chuo-rojin", "inzai-fm", dt.date(2017, 4, 1))
    make_account(inst, "fm-known", "inzai-fm")

    r = run("grant", "account", "grant", "fm-one", "--name", "伊藤 翔太", "--org", "inzai-fm",
            "--role", "operator", "--format", "json")  # fmt: skip
    otp1 = json.loads(r.stdout)[0]["one_time_password"]
    secrets.append(otp1)
    roster = tmp_path / "roster.csv"
    roster.write_bytes(
        "氏名,フリガナ,所属施設,雇用形態,役割\r\n佐藤 美咲,サトウ ミサキ,chuo-rojin,正規,職員\r\n"
        "髙橋 健一,タカハシ ケンイチ,chuo-rojin,非正規,職員\r\n".encode("cp932")
    )
    creds_file = tmp_path / "creds.xlsx"
    run("roster", "account", "import-roster", str(roster), "--org", "inzai-fm",
        "--credentials-out", str(creds_file), "--format", "json")  # fmt: skip
    ws = openpyxl.load_workbook(creds_file, read_only=True).worksheets[0]
    roster_otps = [row[2] for row in list(ws.iter_rows(values_only=True))[1:]]
    assert len(roster_otps) == 2
    secrets += roster_otps

    # first logins, a wrong password, a password typed as the ID, passwd, reset
    assert inst.login("fm-one", otp1, new_pw).exit_code == 0
    assert inst.login("fm-one", wrong).exit_code == EXIT_AUTH_FAILED
    assert inst.login(typo, new_pw).exit_code == EXIT_AUTH_FAILED
    assert inst.login("inzai-fm-0001", roster_otps[0], newer_pw).exit_code == 0
    assert inst.login("fm-one", new_pw).exit_code == 0
    run("passwd", "account", "passwd", "--password-stdin", input=f"{new_pw}\n{newer_pw}\n")
    run("passwd-bad", "account", "passwd", "--password-stdin",
        input=f"{wrong}\n{new_pw}\n", expect=EXIT_AUTH_FAILED)  # fmt: skip
    run("passwd-weak", "account", "passwd", "--password-stdin",
        input=f"{newer_pw}\niloveyou\n", expect=1)  # fmt: skip
    inst.login_admin()
    r = run("reset", "account", "reset-password", "fm-known", "--format", "csv")
    reset_otp = r.stdout.splitlines()[1].split(",")[1]
    secrets.append(reset_otp)
    secrets.append("iloveyou")
    run("list", "account", "list", "--format", "csv")
    run("show", "account", "show", "fm-one", "--format", "json")
    run("show2", "account", "show", "inzai-fm-0001")
    run("orgs", "org", "show", "inzai-fm")
    run("policy", "account", "policy")
    run("revoke", "account", "revoke", "fm-one")
    run("unlock", "account", "unlock", "fm-known")

    # the one-time passwords were really handed out (so the search below is meaningful)
    assert otp1 in outputs["grant"] and reset_otp in outputs["reset"]
    assert all(p.encode() in file_bytes(creds_file) for p in roster_otps)

    audit_rows = inst.rows("SELECT * FROM audit_events ORDER BY seq")
    assert len(audit_rows) >= 20
    audit_text = "\n".join(repr(tuple(r)) for r in audit_rows)
    db = database_text(inst)
    files = [
        p
        for p in tmp_path.rglob("*")
        if p.is_file() and p != creds_file and p.suffix not in (".db", ".db-wal", ".db-shm")
    ]
    assert any(p.parent.name == "config" for p in files)  # the session file is searched too
    grant_out = out_dir / "grant.stdout"
    reset_out = out_dir / "reset.stdout"
    leaks = []
    for secret in secrets:
        enc = secret.encode("utf-8")
        if secret in audit_text:
            leaks.append(("audit_events", secret))
        if enc in db:
            leaks.append(("database", secret))
        for p in files:
            if p in (grant_out, reset_out):
                continue  # these are where the one-time passwords are meant to be shown
            if enc in file_bytes(p):
                leaks.append((str(p.relative_to(tmp_path)), secret))
    assert leaks == []
