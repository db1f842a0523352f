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
