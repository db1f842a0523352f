"""Rendering: table, csv and json of the same rows; strings that look like numbers stay as typed."""

from __future__ import annotations

import csv
import io
import json

import pytest
from resv_cli.commands.render import Format, render


@pytest.mark.parametrize("fmt", list(Format))
def test_render_keeps_values_as_typed(fmt: Format, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"code": "0012", "name": "中央老人福祉センター", "count": 3}]
    render(rows, fmt)
    out = capsys.readouterr().out
    if fmt is Format.json:
        assert json.loads(out) == rows
    elif fmt is Format.csv:
        parsed = list(csv.DictReader(io.StringIO(out)))
        assert parsed == [{"code": "0012", "name": "中央老人福祉センター", "count": "3"}]
    else:
        # a leading zero is not parsed away as a number
        assert "0012" in out and "中央老人福祉センター" in out


def test_factories_build_a_managed_facility(installation) -> None:  # type: ignore[no-untyped-def]
    import datetime as dt

    from tests import factories as f

    f.make_org(installation, "acme")
    f.make_facility(installation, "hall-1")
    f.assign(installation, "hall-1", "acme", dt.date(2026, 4, 1))
    f.make_account(installation, "acme-0001", "acme", facility="hall-1")
    result = installation.login("acme-0001", f.DEFAULT_PASSWORD)
    assert result.exit_code == 0, result
    assert "acme-0001" in result.stderr


def test_table_aligns_full_width_text(capsys: pytest.CaptureFixture[str]) -> None:
    from wcwidth import wcswidth

    render([{"name": "中央老人福祉センター", "x": "a"}, {"name": "ab", "x": "b"}], Format.table)
    lines = capsys.readouterr().out.splitlines()
    # the second column starts at the same display column on every row
    starts = {wcswidth(line[: line.rindex(" ") + 1]) for line in lines[2:]}
    assert len(starts) == 1, lines
