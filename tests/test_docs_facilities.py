"""The handover runbook's commands run, in order, against the demo city."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

RUNBOOK = Path(__file__).resolve().parents[1] / "docs" / "runbook-handover.md"


def runbook_commands() -> list[list[str]]:
    text = RUNBOOK.read_text("utf-8")
    commands = []
    for block in re.findall(r"```console\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            if line.startswith("$ resv "):
                commands.append(shlex.split(line[len("$ resv ") :]))
    return commands


def test_runbook_has_the_handover_day_order():
    verbs = [" ".join(c[:2]) for c in runbook_commands()]
    assert verbs.index("handover plan") < verbs.index("handover apply")
    assert verbs[-1] == "facility history"


def test_runbook_commands_run_in_order(installation, cli):
    assert cli("facility", "seed-demo").exit_code == 0
    outputs = []
    for args in runbook_commands():
        result = cli(*args)
        assert result.exit_code == 0, (args, result)
        outputs.append((args, result))
    plans = [
        json.loads(r.stdout) for a, r in outputs if a[:2] == ["handover", "plan"] and "json" in a
    ]
    applied = [
        json.loads(r.stdout) for a, r in outputs if a[:2] == ["handover", "apply"] and "json" in a
    ]
    assert plans and applied and plans[0] == applied[0]
    last_two = [r.stdout for _, r in outputs[-2:]]
    assert "inzai-fm" in last_two[0] and "inzai-fm" not in last_two[1]
    assert "city" in last_two[1]


GUIDE = RUNBOOK.parent / "facilities.md"


def test_facilities_guide_commands_run_in_order(installation, cli, tmp_path):
    import shutil

    from tests import factories as f

    f.make_org(installation, "inzai-fm")
    # the guide's import example names the file as published by 板橋区
    shutil.copy(
        Path(__file__).parent / "data" / "opendata" / "itabashi_131199_public_facilities.csv",
        Path.cwd() / "131199_public_facilities.csv",
    )
    text = GUIDE.read_text("utf-8")
    commands = [
        shlex.split(line[len("$ resv ") :])
        for block in re.findall(r"```console\n(.*?)```", text, flags=re.S)
        for line in block.splitlines()
        if line.startswith("$ resv ")
    ]
    assert len(commands) >= 12
    for args in commands:
        result = cli(*args)
        assert result.exit_code == 0, (args, result)
    assert (
        installation.scalar(
            "SELECT opens_at || '-' || closes_at FROM facilities WHERE code = 'chuo-rojin'"
        )
        == "08:30-17:15"
    )
    assert (
        installation.scalar("SELECT count(*) FROM facilities WHERE source_lg_code = '131199'")
        == 233
    )
