"""Build the wheel, install it in a clean virtual environment, run resv from it."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
from support import build_wheel

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_installs_and_runs(tmp_path):
    wheel = build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    assert "resv_cli/commands/db.py" in names
    assert not any(n.startswith("commands/") for n in names), "no top-level commands package"
    assert "resv_cli/core/migrations/versions/0001_baseline.py" in names

    env_dir = tmp_path / "venv"
    # system site-packages give the dependencies without a network round-trip;
    # the wheel itself goes into the fresh environment
    venv.EnvBuilder(with_pip=True, system_site_packages=True).create(env_dir)
    py = env_dir / "bin" / "python"
    site = subprocess.run(
        [sys.executable, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (
        Path(
            subprocess.run(
                [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        )
        / "resv-test-deps.pth"
    ).write_text(site + "\n")
    subprocess.run(
        [str(py), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
    )
    resv = env_dir / "bin" / "resv"
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESV_")}
    env["RESV_CONFIG_DIR"] = str(tmp_path / "cfg")
    # the installed copy, not the source tree, must answer
    where = subprocess.run(
        [str(py), "-c", "import resv_cli, resv_cli.commands; print(resv_cli.commands.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert str(env_dir) in where.stdout
    out = subprocess.run([str(resv), "--help"], cwd=work, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "db" in out.stdout
    # the compiled catalogue ships: the installed copy speaks Japanese
    assert "resv_cli/locale/ja/LC_MESSAGES/resv.mo" in names
    ja = subprocess.run(
        [str(resv), "--lang", "ja", "account", "grant"],
        cwd=work, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert ja.returncode == 2
    assert "エラー: 引数 'login_id' を指定してください。" in ja.stderr
    out = subprocess.run(
        [str(resv), "db", "init", "--admin", "it-admin", "--password-stdin"],
        cwd=work,
        env=env,
        input="Kyou-wa-ii-tenki-desu-ne-42\n",
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert (work / "resv.db").exists()
    out = subprocess.run(
        [str(resv), "db", "check"], cwd=work, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
