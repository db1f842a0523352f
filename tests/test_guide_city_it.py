"""docs/guide-city-it.md: every ```sh block runs, in order, against a fresh SQLite file."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "guide-city-it.md"


def sh_blocks(text: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```$", text, flags=re.S | re.M)


@pytest.mark.slow
def test_guide_examples_run(tmp_path):
    blocks = sh_blocks(GUIDE.read_text("utf-8"))
    assert len(blocks) >= 12
    shutil.copy(ROOT / "scripts/demo-data/demo-roster.csv", tmp_path / "roster-2026-04.csv")
    shutil.copy(ROOT / "scripts/demo-data/demo-roster-2.csv", tmp_path / "roster-2026-05.csv")
    script = "set -euo pipefail\n" + "\n".join(blocks)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "RESV_DATABASE_URL": str(tmp_path / "guide.db"),
        "RESV_CONFIG_DIR": str(tmp_path / "config"),
        "ADMIN_PW": "Guide-admin-passphrase-2026",
        "TANAKA_PW": "Tanaka-san-no-nagai-aikotoba",
    }
    r = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 0, r.stderr[-3000:]
    # what the guide says happened, did
    assert "Plan for inzai-fm: 6 create" in r.stderr
    assert "Nothing to change: the roster matches the accounts." in r.stderr
    assert "Plan for inzai-fm: 0 create, 0 update, 0 enable, 1 disable, 5 unchanged" in r.stderr
    assert "Account inzai-tanaka unlocked (was locked)." in r.stderr
    for name in ("it-suzuki.xlsx", "staff-2026-04.xlsx", "tanaka-reset.xlsx"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600
    db = sqlite3.connect(tmp_path / "guide.db")
    status = dict(db.execute("SELECT login_id, status FROM accounts").fetchall())
    assert status["inzai-fm-0006"] == "disabled" and status["inzai-fm-0005"] == "revoked"
    assert status["inzai-fm-0001"] == "active" and status["it-suzuki"] == "active"
    assert db.execute("SELECT count(*) FROM training_records").fetchone() == (3,)
