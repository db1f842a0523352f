"""Verify catches every single tampering of a populated history (the issue's mutation test).

Hundreds of random single changes -- edit one field, delete an event, insert a
forged event (linked to its predecessor and hashed the only way someone without
the audit key can: plain SHA-256, so it is caught as itself), swap two events,
cut the tail -- each applied to a copy of a populated database with the
append-only triggers disabled (as a database owner could), verified on the same
connection, then rolled back.  Every one must be caught, naming the first bad
event; the tail cut with an anchor.  The untouched copy must pass.
"""

from __future__ import annotations

import datetime as dt
import random
import shutil

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from support import disable_audit_triggers

from resv_cli.audit import chain as audit
from resv_cli.audit.verify import verify_chain
from resv_cli.core.db import get_engine, transaction
from resv_cli.core.models import AuditEvent

T = AuditEvent.__table__
EVENTS = 80
MUTATIONS = {"sqlite": 400, "postgresql": 150}
NULLABLE = {"account_id", "login_id", "organization_code", "resource_type", "resource_id",
            "facility_code"}  # fmt: skip


def _populate(engine) -> None:
    rnd = random.Random(7)
    with transaction(engine) as s:
        for i in range(EVENTS):
            audit.record(
                s,
                None,
                rnd.choice(["registrant.view", "booking.add", "auth.login", "report.export"]),
                resource_type=rnd.choice([None, "registrant", "booking"]),
                resource_id=rnd.choice([None, i, f"R-{i}"]),
                facility_code=rnd.choice([None, "cosmos", "中央老人福祉センター"]),
                outcome=rnd.choice(["allowed", "denied", "failed"]),
                detail={"rows": i, "q_hmac": f"{rnd.getrandbits(64):016x}"},
                account_id=rnd.choice([None, 1, 2]),
                login_id=rnd.choice([None, "it-admin", "op-1"]),
                organization_code=rnd.choice([None, "city", "inzai-fm"]),
            )


def _move(conn, seqs_from: int, delta: int) -> None:
    """Renumber events seq >= seqs_from by delta (two steps: the key is unique)."""
    conn.execute(T.update().where(T.c.seq >= seqs_from).values(seq=-T.c.seq - delta))
    conn.execute(T.update().where(T.c.seq < 0).values(seq=-T.c.seq))


def _changed_value(rnd: random.Random, col: str, old, head: int):
    if col == "seq":
        return head + rnd.randint(1, 1000)
    if col == "occurred_at":
        return old + dt.timedelta(microseconds=rnd.choice([1, -1, 1000, 86_400_000_000]))
    if col == "outcome":
        return rnd.choice([o for o in ("allowed", "denied", "failed") if o != old])
    if col in NULLABLE and old is not None and rnd.random() < 0.3:
        return None
    if col in NULLABLE and col != "account_id" and old is None and rnd.random() < 0.3:
        return "None"  # the same text as NULL in the canonical form: must still be caught
    if col == "account_id":
        return (old or 0) + rnd.randint(1, 5)
    if col in ("hash", "prev_hash"):
        i = rnd.randrange(64)
        flip = "0" if old[i] != "0" else "1"
        return old[:i] + flip + old[i + 1 :]
    if col == "detail":
        return rnd.choice([old.replace("{", "{ ", 1), old[:-1] + ',"x":1}', old.upper()])
    base = old or ""
    choice = rnd.random()
    if choice < 0.3 and base:
        return base[:-1]  # shorter
    if choice < 0.6:
        return base + rnd.choice(["x", "\x1f", "~", "1:", " "])
    return "" if base else "z"


def _mutate(conn, rnd: random.Random, head: int) -> tuple[str, int, bool]:
    """Apply one random change; return (kind, expected first bad seq, needs anchor)."""
    kind = rnd.choice(["edit", "edit", "delete", "insert", "swap", "truncate"])
    if kind == "edit":
        seq = rnd.randint(1, head)
        col = rnd.choice([*audit.FIELDS, "hash"])
        old = conn.execute(select(T.c[col]).where(T.c.seq == seq)).scalar()
        new = _changed_value(rnd, col, old, head)
        if new == old or (col == "detail" and new == old):
            new = old + "!" if isinstance(old, str) else new
        conn.execute(T.update().where(T.c.seq == seq).values({col: new}))
        # an edited last hash or a moved last event only shows against the anchor
        tail = seq == head and col in ("hash", "seq")
        return f"edit {col}", seq, tail
    if kind == "delete":
        seq = rnd.randint(1, head - 1)
        conn.execute(T.delete().where(T.c.seq == seq))
        return kind, seq, False
    if kind == "insert":
        pos = rnd.randint(0, head - 1)  # forged event becomes pos + 1
        prev = (
            audit.GENESIS
            if pos == 0
            else conn.execute(select(T.c.hash).where(T.c.seq == pos)).scalar_one()
        )
        _move(conn, pos + 1, 1)
        when = dt.datetime.now(dt.UTC)
        fields = (pos + 1, audit.canonical_time(when), 9, "forger", "city", "registrant.view",
                  None, None, None, "allowed", "{}", prev)  # fmt: skip
        digest = audit.event_hash(audit.canonical_form(*fields))
        row = dict(zip(audit.FIELDS, fields, strict=True))
        row.update(occurred_at=when, hash=digest)
        conn.execute(T.insert().values(row))
        return kind, pos + 1, False
    if kind == "swap":
        a, b = sorted(rnd.sample(range(1, head + 1), 2))
        conn.execute(T.update().where(T.c.seq == a).values(seq=-1))
        conn.execute(T.update().where(T.c.seq == b).values(seq=a))
        conn.execute(T.update().where(T.c.seq == -1).values(seq=b))
        return kind, a, False
    k = rnd.randint(1, 5)
    conn.execute(T.delete().where(T.c.seq > head - k))
    return "truncate", head - k + 1, True


def _populated_copy(installation, tmp_path):
    engine = installation.engine()
    _populate(engine)
    if installation.backend == "sqlite":
        engine.dispose()
        copy = tmp_path / "copy.db"
        shutil.copyfile(installation.url.removeprefix("sqlite:///"), copy)
        return get_engine(f"sqlite:///{copy}")
    return engine  # a throwaway database; every mutation is rolled back


def test_verify_catches_every_single_change(installation, tmp_path):
    engine = _populated_copy(installation, tmp_path)
    clean = verify_chain(engine)
    assert clean.ok, clean.message
    head = clean.head_seq
    anchor = (clean.head_seq, clean.head_hash)
    rnd = random.Random(20260401)
    kinds: dict[str, int] = {}
    missed = []
    for _ in range(MUTATIONS[installation.backend]):
        with engine.connect() as conn:
            trans = conn.begin()
            try:
                disable_audit_triggers(conn)
                kind, bad_seq, tail_only = _mutate(conn, rnd, head)
                kinds[kind.split()[0]] = kinds.get(kind.split()[0], 0) + 1
                with_anchor = verify_chain(conn, anchor=anchor)
                plain = verify_chain(conn)
                if with_anchor.ok or with_anchor.first_bad_seq != bad_seq:
                    missed.append((kind, bad_seq, with_anchor.first_bad_seq, with_anchor.message))
                if not tail_only and (plain.ok or plain.first_bad_seq != bad_seq):
                    missed.append((kind, bad_seq, plain.first_bad_seq, plain.message, "plain"))
            finally:
                trans.rollback()
    assert missed == []
    assert set(kinds) == {"edit", "delete", "insert", "swap", "truncate"}
    assert sum(kinds.values()) >= 150
    # and the untouched copy still passes, anchor included
    after = verify_chain(engine, anchor=anchor)
    assert after.ok, after.message
    assert after.head_seq == head


plain_text = st.text(st.characters(min_codepoint=32, blacklist_characters="\x7f"), max_size=6)
field_values = st.one_of(st.none(), plain_text.filter(lambda v: v != "None"), st.integers(-5, 5))
twelve = st.lists(field_values, min_size=12, max_size=12)


@given(twelve, twelve)
def test_canonical_form_is_injective_on_well_formed_values(a, b):
    # an int and its decimal text coincide; the column types keep them apart
    norm_a = [None if v is None else str(v) for v in a]
    norm_b = [None if v is None else str(v) for v in b]
    ca, cb = audit.canonical_text(a), audit.canonical_text(b)
    assert audit.well_formed(a, ca) and audit.well_formed(b, cb)
    assert (ca == cb) == (norm_a == norm_b)


@given(twelve, st.integers(0, 11), st.sampled_from(["None", "x\x1fy", "\x1f"]))
def test_values_that_blur_the_encoding_are_flagged(values, i, bad):
    values[i] = bad
    assert not audit.well_formed(values, audit.canonical_text(values))


@pytest.mark.parametrize("backend", ["sqlite"])
def test_unknown_source_type_refused(backend):
    with pytest.raises(TypeError, match="needs an Engine, Session or Connection"):
        verify_chain("sqlite:///x.db")  # type: ignore[arg-type]
