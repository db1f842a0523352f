"""The normaliser stores every record byte for byte as it did before it was made faster.

The expected outputs were recorded from the code before issue 17's changes
(``python -m tests.golden_corpus --write``, see ``tests/golden_corpus.py``): the
tricky cases in full, SHA-256 digests of seeded random values of every rule, of a
random 100,000-record legacy file read and normalised as the importer does, and of
records full of tricky values (with and without a mapping file).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import tempfile
from pathlib import Path

import pytest

from tests.golden_corpus import (
    BLOCK,
    GOLDEN,
    RECORDS,
    case_lines,
    file_records,
    mutated_records,
    random_lines,
)


def _differences(expected: list[str], got: list[str]) -> list[str]:
    out = [f"expected {e}\n     got {g}" for e, g in zip(expected, got, strict=False) if e != g]
    if len(expected) != len(got):
        out.append(f"{len(expected)} lines expected, {len(got)} computed")
    return out[:10]


def _stored() -> dict[str, object]:
    return json.loads((GOLDEN / "normalise-sha256.json").read_text())


def test_tricky_cases_give_what_they_gave() -> None:
    with gzip.open(GOLDEN / "normalise-cases.jsonl.gz", "rt", encoding="utf-8") as f:
        expected = f.read().split("\n")[:-1]  # not splitlines: U+2028 is in a value
    assert _differences(expected, list(case_lines())) == []


def test_random_values_of_every_rule_give_what_they_gave() -> None:
    h = hashlib.sha256()
    for ln in random_lines():
        h.update(ln.encode() + b"\n")
    assert h.hexdigest() == _stored()["random_values"]


def test_records_full_of_tricky_values_give_what_they_gave() -> None:
    h = hashlib.sha256()
    for ln in mutated_records():
        h.update(ln.encode() + b"\n")
    assert h.hexdigest() == _stored()["mutated_records"]


@pytest.mark.slow
def test_a_random_100000_record_file_is_normalised_as_before() -> None:
    stored = _stored()
    assert stored["records"] == RECORDS
    with gzip.open(GOLDEN / "normalise-records-sample.jsonl.gz", "rt", encoding="utf-8") as f:
        sample = f.read().split("\n")[:-1]
    whole, block = hashlib.sha256(), hashlib.sha256()
    blocks: list[str] = []
    got_sample: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, ln in enumerate(file_records(Path(tmp)), 1):
            data = ln.encode() + b"\n"
            whole.update(data)
            block.update(data)
            if n % 100 == 0:
                got_sample.append(ln)
            if n % BLOCK == 0:
                blocks.append(block.hexdigest())
                block = hashlib.sha256()
    # every 100th record in full first: a difference there names the record
    assert _differences(sample, got_sample) == []
    assert blocks == stored["file_record_blocks"]
    assert whole.hexdigest() == stored["file_records"]


def test_no_space_character_above_u3000() -> None:
    # the translate tables of the keys and readings list the spaces up to U+3000 only
    from resv_cli.core.normalize import SPACE_CHARS

    assert SPACE_CHARS[-1] == 0x3000
    assert not any(chr(c).isspace() for c in range(0x3001, 0x110000))
