"""The session file: refused when others can read it (as ssh refuses a private key) or
when it is a symbolic link; an expired or revoked session's use is audited."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
from pathlib import Path
from typing import Any

from support import ADMIN_LOGIN, ADMIN_PASSWORD

from resv_cli.core import clock
from resv_cli.core.config import session_file
from resv_cli.core.errors import EXIT_FAILED, EXIT_SESSION_EXPIRED


def test_session_file_readable_by_others_is_refused(installation: Any, cli: Any) -> None:
    path = session_file()
    for bad in (0o644, 0o640, 0o620):
        os.chmod(path, bad)
        r = cli("whoami")
        assert (r.exit_code, r.stderr) == (
            EXIT_FAILED,
            f"Error: session file {path} is open to other users (mode {bad:04o}): run "
            f"`chmod 600 {path}`, then `resv login` again if someone may have copied it\n",
        )
        assert r.stdout == ""
    # login refuses too, rather than quietly using or rewriting it
    r = installation.login(ADMIN_LOGIN, ADMIN_PASSWORD)
    assert r.exit_code == EXIT_FAILED and "chmod 600" in r.stderr
    os.chmod(path, 0o600)
    r = cli("whoami")
    assert r.exit_code == 0, r


def test_session_file_that_is_a_symlink_is_refused(
    installation: Any, cli: Any, tmp_path: Path
) -> None:
    path = session_file()
    victim = tmp_path / "victim.json"
    victim.write_text(path.read_text())
    os.chmod(victim, 0o600)
    before = victim.read_bytes()
    path.unlink()
    path.symlink_to(victim)
    r = cli("whoami")
    assert (r.exit_code, r.stderr) == (
        EXIT_FAILED,
        f"Error: session file {path} is a symbolic link; refusing to use it "
        "(remove it and run `resv login`)\n",
    )
    r = installation.login(ADMIN_LOGIN, ADMIN_PASSWORD)
    assert r.exit_code == EXIT_FAILED and "symbolic link" in r.stderr
    assert victim.read_bytes() == before and path.is_symlink()


def test_session_file_is_written_0600_whatever_the_umask(installation: Any) -> None:
    path = session_file()
    path.unlink()
    old = os.umask(0)
    try:
        r = installation.login(ADMIN_LOGIN, ADMIN_PASSWORD)
    finally:
        os.umask(old)
    assert r.exit_code == 0, r
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []


def test_use_of_an_expired_session_is_refused_and_recorded(
    installation: Any, cli: Any, monkeypatch: Any
) -> None:
    real_now = clock.now
    later = clock.now() + dt.timedelta(hours=13)
    monkeypatch.setattr(clock, "now", lambda: later)
    r = cli("whoami")
    assert (r.exit_code, r.stderr) == (
        EXIT_SESSION_EXPIRED,
        "Error: your session has expired: run `resv login` again\n",
    )
    rows = installation.rows(
        "SELECT outcome, login_id, resource_type, detail FROM audit_events "
        "WHERE action = 'auth.session' ORDER BY seq"
    )
    assert [(o, who, rt, json.loads(d)["reason"]) for o, who, rt, d in rows] == [
        ("denied", ADMIN_LOGIN, "account", "session_expired")
    ]
    # the monitor finds it with the ordinary listing, once logged in again
    monkeypatch.setattr(clock, "now", real_now)
    assert installation.login(ADMIN_LOGIN, ADMIN_PASSWORD).exit_code == 0
    r = cli("audit", "list", "--action", "auth.session", "--outcome", "denied", "-f", "json")
    assert r.exit_code == 0, r
    listed = json.loads(r.stdout)
    assert [(e["login_id"], e["detail"]["reason"]) for e in listed] == [
        (ADMIN_LOGIN, "session_expired")
    ]


def test_use_of_a_logged_out_session_is_refused_and_recorded(installation: Any, cli: Any) -> None:
    from resv_cli.accounts.sessions import save_token, stored_token

    token = stored_token(installation.url)
    assert token and cli("logout").exit_code == 0
    save_token(installation.url, token)  # a copy of the old file
    r = cli("whoami")
    assert (r.exit_code, r.stderr) == (
        EXIT_SESSION_EXPIRED,
        "Error: your session has ended: run `resv login` again\n",
    )
    reasons = [
        json.loads(d)["reason"]
        for (d,) in installation.rows(
            "SELECT detail FROM audit_events WHERE action = 'auth.session' AND outcome = 'denied'"
        )
    ]
    assert reasons == ["session_logout"]
