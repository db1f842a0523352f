"""One audit vocabulary: every action written, filtered on or reported is named in it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from resv_cli.audit import chain as audit
from resv_cli.audit import vocabulary
from resv_cli.core.db import transaction

ROOT = Path(__file__).resolve().parents[1]
ACTION_SHAPE = re.compile(r"^[a-z]+\.[a-z_]+$")


def _written_actions() -> dict[str, list[str]]:
    """Action strings in the source: audit.record's third argument and every action=."""
    found: dict[str, list[str]] = {}
    for base in ("resv_cli", "commands"):
        for path in sorted((ROOT / base).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                values: list[ast.expr] = []
                if isinstance(node, ast.Call):
                    name = ast.unparse(node.func)
                    if name.endswith("record") and len(node.args) >= 3:
                        values.append(node.args[2])
                    values += [k.value for k in node.keywords if k.arg in ("action", "audit_action")]
                if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id in ("action", "ACTION") for t in node.targets
                ):
                    values.append(node.value)
                for v in values:
                    if isinstance(v, ast.Constant) and isinstance(v.value, str):
                        found.setdefault(v.value, []).append(f"{rel}:{v.lineno}")
    return found


def test_every_action_in_the_source_is_in_the_vocabulary():
    written = _written_actions()
    assert len(written) > 40, "the scan found too few actions to be looking at the writers"
    unknown = {a: where for a, where in written.items() if a not in vocabulary.ACTIONS}
    assert unknown == {}


def test_the_scan_finds_an_action_that_is_not_in_the_vocabulary(tmp_path):
    """The source scan can fail: a made-up action in a record() call is reported."""
    src = 'audit.record(s, actor, "login.failed", outcome="failed")\n'
    tree = ast.parse(src)
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call))
    assert call.args[2].value not in vocabulary.ACTIONS


def test_no_guessed_synonyms_remain():
    """Names that no code writes must not be in the vocabulary either."""
    for guess in ("login.failed", "account.locked", "login"):
        assert guess not in vocabulary.ACTIONS
    for guess in ("match_count", "matches_ids"):
        assert guess not in vocabulary.DETAIL_KEYS


def test_every_action_has_both_labels_and_a_well_formed_code():
    for code, d in vocabulary.ACTIONS.items():
        assert ACTION_SHAPE.match(code), code
        assert d.code == code and d.ja and d.en
        assert not d.ja.isascii(), f"{code}: the Japanese label is not Japanese"


def test_the_names_class_matches_the_vocabulary():
    names = {v for k, v in vars(vocabulary.A).items() if k.isupper()}
    assert names == set(vocabulary.ACTIONS)


def test_record_refuses_an_action_the_vocabulary_lacks(installation):
    with pytest.raises(ValueError, match=r"audit action 'test.made_up' is not in"):
        with transaction(installation.engine()) as s:
            audit.record(s, None, "test.made_up")


def test_record_refuses_a_detail_key_the_vocabulary_lacks(installation):
    with pytest.raises(ValueError, match=r"audit detail key 'nickname' is not in"):
        with transaction(installation.engine()) as s:
            audit.record(s, None, "audit.show", detail={"nickname": "x"})


def test_record_accepts_a_keyed_hash_of_any_value(installation):
    with transaction(installation.engine()) as s:
        seq = audit.record(s, None, "audit.show", detail={"name_hmac": "ab" * 32})
    assert seq > 0


def test_audit_list_refuses_an_action_filter_that_names_nothing(installation, cli):
    r = cli("audit", "list", "--action", "login.failed")
    assert r.exit_code == 1
    assert "--action 'login.failed' names no action" in r.stderr
    ok = cli("audit", "list", "--action", "auth.*", "-f", "json")
    assert ok.exit_code == 0, ok.stderr


def test_audit_actions_lists_the_vocabulary(cli):
    import json

    r = cli("audit", "actions", "-f", "json")
    assert r.exit_code == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [row["action"] for row in rows] == list(vocabulary.ACTIONS)
    view = next(row for row in rows if row["action"] == "registrant.view")
    assert view["ja"] == "利用者情報閲覧" and view["personal_data"] is True
