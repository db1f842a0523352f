"""The field-encryption keys as a procedure: status, rotation, rewrapping (city IT).

- ``status`` (``key.status``): the key-encryption key in use, each data key with
  its state and how many registrants have a field sealed under it, and what is
  left to do; never a key.
- ``rotate`` (``key.rotate``): a new data key becomes the active one (new values
  are sealed under it from then on) and the old one ``retiring``; then every
  registrant with a field under another key is re-sealed, in batches of its own
  transaction each, with progress.  Rows under the old and the new key are both
  readable meanwhile.  Killed at any point, it is finished by running it again
  (it resumes the rotation that is under way).  At the end the old key is
  ``retired``: it never seals again and no value is under it.  It stays in
  ``data_keys`` (wrapped): erasing it would protect nothing (anyone who can
  unwrap it can unwrap the new key too, and an old backup holds its own copy)
  but would lose for good a value a rotation had missed.  ``--encrypt-dob`` seals
  the dates of birth in the same pass (and from then on).
- ``rewrap`` (``key.rewrap``): the data keys wrapped again under a new
  key-encryption key, rows untouched.  With the key file: a new key is added to
  the file, the database is rewrapped and committed, then the old key is dropped
  from the file; killed in between, running it again finishes it.  With
  ``RESV_DATA_KEK``: the new key comes from ``RESV_DATA_KEK_NEW``.

Each is one audit event (rotation: one when it starts or resumes, one when it ends).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from resv_cli.audit import chain as audit
from resv_cli.audit.vocabulary import A
from resv_cli.core import clock, fieldcrypt, kek
from resv_cli.core.context import require_role
from resv_cli.core.errors import Conflict, InputError, ResvError
from resv_cli.core.files import crash_point
from resv_cli.core.i18n import _

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

    from resv_cli.core.context import Actor

DEFAULT_BATCH = 1000
_FIELDS = (*fieldcrypt.SEALED, fieldcrypt.DOB)


def require_key_admin(actor: Actor | None, action: str = A.KEY_ROTATE) -> Actor:
    """Refuse anyone but an administrator (the command records the refusal)."""
    return require_role(actor, "admin", action=action)


def _data_keys(conn: Any) -> list[tuple[Any, ...]]:
    from sqlalchemy import select

    from resv_cli.core.models import DataKey as K

    return list(
        conn.execute(
            select(K.key_id, K.purpose, K.state, K.kek_id, K.created_at, K.retired_at).order_by(
                K.created_at, K.key_id
            )
        )
    )


def _under(key_id: str) -> str:
    return f"{fieldcrypt.VERSION}:{key_id}:%"


def _not_under_clause(encrypt_dob: bool) -> str:
    """SQL: a registrant with a sealed value under another key than ``:p`` (or a clear date)."""
    parts = [f"{c} NOT LIKE :p" for c in fieldcrypt.SEALED_COLUMNS]
    if encrypt_dob:
        parts.append("date_of_birth IS NOT NULL")
    return "(" + " OR ".join(parts) + ")"


def _rows_per_key(conn: Any, key_ids: list[str]) -> dict[str, int]:
    """How many registrants have at least one field sealed under each key (one scan)."""
    if not key_ids:
        return {}
    sums = ", ".join(
        "coalesce(sum(CASE WHEN "
        + " OR ".join(f"{c} LIKE :p{n}" for c in fieldcrypt.SEALED_COLUMNS)
        + " THEN 1 ELSE 0 END), 0)"
        for n in range(len(key_ids))
    )
    row = conn.execute(
        text(f"SELECT {sums} FROM registrants"),
        {f"p{n}": _under(k) for n, k in enumerate(key_ids)},
    ).one()
    return {k: int(v) for k, v in zip(key_ids, row, strict=True)}


def status(session: Session, actor: Actor | None) -> dict[str, Any]:
    """The key-encryption key in use, the data keys and the rows under each (no secret)."""
    actor = require_role(actor, "admin", "monitor", action=A.KEY_STATUS)
    conn = session.connection()
    keys = _data_keys(conn)
    counts = _rows_per_key(conn, [k[0] for k in keys if k[1] == "data"])
    setting = conn.execute(
        text("SELECT value FROM settings WHERE key = :k"), {"k": fieldcrypt.DOB_SETTING}
    ).scalar()
    notes: list[str] = []
    source, current = None, None
    try:
        provider = kek.provider()
        source, current = provider.source, provider.current_id()
        fieldcrypt.load(conn, provider=provider).unwrap_all()  # the KEK opens every live key
    except ResvError as exc:
        notes.append(str(exc))
    if any(k[2] == "retiring" for k in keys):
        notes.append(_("a rotation is under way: run `resv key rotate` to finish it"))
    if any(counts.get(k[0]) for k in keys if k[2] == "retired"):
        notes.append(
            _("some rows are still sealed under a retired key: run `resv key rotate` again")
        )
    file_keks = _file_keks()
    if file_keks is not None and len(file_keks.keys) > 1:
        notes.append(_("the key file holds more than one key: run `resv key rewrap` to finish"))
    listed = [
        {
            "key_id": k[0],
            "purpose": k[1],
            "state": k[2],
            "kek_id": k[3],
            "rows": counts.get(k[0]) if k[1] == "data" else None,
            "created_at": k[4],
            "retired_at": k[5],
        }
        for k in keys
    ]
    audit.record(
        session,
        actor,
        A.KEY_STATUS,
        resource_type="data_key",
        detail={"keys": [k[0] for k in keys]},
    )
    return {
        "kek_source": source,
        "kek_id": current,
        "encrypt_date_of_birth": setting == "on",
        "keys": listed,
        "notes": notes,
    }


def _file_keks() -> kek.LocalKeks | None:
    if kek.from_env() is not None:
        return None
    try:
        return kek.load_file()
    except ResvError:
        return None


# --- rotation ------------------------------------------------------------------------


def _audit(conn: Connection, actor: Actor, action: str, detail: dict[str, Any]) -> None:
    with Session(bind=conn) as s:
        audit.record(s, actor, action, resource_type="data_key", detail=detail)
        s.flush()


def _start(conn: Connection, actor: Actor, encrypt_dob: bool) -> tuple[str, bool, bool]:
    """Start a rotation or take up the one under way: (active key, resumed, seal dates)."""
    if conn.dialect.name == "postgresql":  # waits for every writer that has the old key
        conn.execute(
            text("SELECT pg_advisory_xact_lock(:a, :b)"),
            {"a": fieldcrypt.KEYS_LOCK[0], "b": fieldcrypt.KEYS_LOCK[1]},
        )
    keys = fieldcrypt.load(conn)
    now = clock.now()
    retiring = [k for k, r in keys.rows.items() if r[0] == "data" and r[1] == "retiring"]
    previous = [k for k, r in keys.rows.items() if r[0] == "data" and r[1] == "active"]
    if retiring:
        target, resumed = keys.active, True
    else:
        provider = kek.provider()
        conn.execute(
            text(
                "UPDATE data_keys SET state = 'retiring' WHERE purpose = 'data' "
                "AND state = 'active'"
            )
        )
        target, resumed = fieldcrypt.add_key(conn, provider, "data", "active", now), False
        retiring = previous
    if encrypt_dob and not keys.encrypt_dob:
        fieldcrypt.set_encrypt_dob(conn, True, now)
    seal_dates = encrypt_dob or keys.encrypt_dob
    _audit(
        conn,
        actor,
        A.KEY_ROTATE,
        {
            "event": "resume" if resumed else "start",
            "key_id": target,
            "previous_key_id": ",".join(retiring),
            "encrypt_date_of_birth": seal_dates,
        },
    )
    return target, resumed, seal_dates


def _batch(conn: Connection, target: str, seal_dates: bool, last: int, size: int) -> list[int]:
    """Re-seal the next ``size`` registrants (after id ``last``) that need it; their ids."""
    keys = fieldcrypt.load(conn, for_writing=True)
    if keys.active != target:
        raise Conflict(
            _("another rotation started meanwhile (key {key}); run `resv key rotate` again").format(
                key=keys.active
            )
        )
    lock = " FOR UPDATE" if conn.dialect.name == "postgresql" else ""
    cols = (*fieldcrypt.SEALED_COLUMNS, fieldcrypt.DOB)
    rows = conn.execute(
        text(
            f"SELECT id, {', '.join(cols)} FROM registrants WHERE id > :last AND "
            f"{_not_under_clause(seal_dates)} ORDER BY id LIMIT :n{lock}"
        ),
        {"last": last, "n": size, "p": _under(target)},
    ).all()
    if not rows:
        return []
    params = []
    for r in rows:
        rid = int(r[0])
        clear = keys.opened(rid, dict(zip(cols, r[1:], strict=True)), _FIELDS)
        stored = keys.stored(rid, clear)
        if not keys.encrypt_dob:  # a clear date stays as it is (its tag too)
            for c in (fieldcrypt.DOB, fieldcrypt.DOB_SEALED, fieldcrypt.DOB_TAG):
                stored.pop(c)
        params.append({**stored, "rid": rid})
    sets = ", ".join(f"{c} = :{c}" for c in params[0] if c != "rid")
    conn.execute(text(f"UPDATE registrants SET {sets} WHERE id = :rid"), params)
    return [int(r[0]) for r in rows]


def rotate(
    engine: Engine,
    actor: Actor,
    *,
    batch_size: int = DEFAULT_BATCH,
    encrypt_dob: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Rotate the data key (or finish the rotation under way); see the module docstring."""
    actor = require_key_admin(actor)
    if batch_size < 1:
        raise InputError(_("--batch-size must be positive"))
    with engine.connect() as conn, conn.begin():
        target, resumed, seal_dates = _start(conn, actor, encrypt_dob)
        todo = int(
            conn.execute(
                text(f"SELECT count(*) FROM registrants WHERE {_not_under_clause(seal_dates)}"),
                {"p": _under(target)},
            ).scalar_one()
        )
    done, last, n = 0, 0, 0
    while True:
        with engine.connect() as conn, conn.begin():
            ids = _batch(conn, target, seal_dates, last, batch_size)
        if not ids:
            break
        done, last, n = done + len(ids), ids[-1], n + 1
        if progress is not None:
            progress(done, max(todo, done))
        crash_point(f"key.rotate.batch{n}")  # TEST HOOK: a SIGKILL between two batches
    with engine.connect() as conn, conn.begin():
        if conn.dialect.name == "postgresql":  # no writer of an old key is left (see _start)
            conn.execute(
                text("SELECT pg_advisory_xact_lock(:a, :b)"),
                {"a": fieldcrypt.KEYS_LOCK[0], "b": fieldcrypt.KEYS_LOCK[1]},
            )
        left = conn.execute(
            text(f"SELECT count(*) FROM registrants WHERE {_not_under_clause(seal_dates)}"),
            {"p": _under(target)},
        ).scalar_one()
        if left:
            raise Conflict(
                _(
                    "{n} registrants are still sealed under an old key; run `resv key rotate` "
                    "again to finish"
                ).format(n=left)
            )
        retired = [
            r[0]
            for r in conn.execute(
                text("SELECT key_id FROM data_keys WHERE state = 'retiring' ORDER BY key_id")
            )
        ]
        conn.execute(
            text(
                "UPDATE data_keys SET state = 'retired', retired_at = :t "
                "WHERE state = 'retiring'"
            ),
            {"t": clock.now()},
        )
        _audit(
            conn,
            actor,
            A.KEY_ROTATE,
            {
                "event": "finish",
                "key_id": target,
                "previous_key_id": ",".join(retired),
                "updated": done,
                "encrypt_date_of_birth": seal_dates,
            },
        )
    return {
        "key_id": target,
        "retired_key": ",".join(retired) or None,
        "resumed": resumed,
        "rows_resealed": done,
        "encrypt_date_of_birth": seal_dates,
    }


# --- rewrapping ------------------------------------------------------------------------


def _new_and_old(conn: Any) -> tuple[Any, Any, kek.LocalKeks | None]:
    """(the KEKs that unwrap now, the one to wrap under, the key file to leave at the end)."""
    env = kek.from_env()
    if env is not None:
        new = kek.from_env(kek.ENV_KEK_NEW)
        if new is None:
            raise InputError(
                _(
                    "the key-encryption key comes from RESV_DATA_KEK: put the new one in "
                    "RESV_DATA_KEK_NEW (64 hex digits) and run `resv key rewrap` again"
                )
            )
        if new.current_id() == env.current_id():
            raise InputError(_("RESV_DATA_KEK_NEW holds the same key as RESV_DATA_KEK"))
        return env, new, None
    old = kek.load_file()
    used = _keks_in_use(conn)
    last = old.keys[-1]
    if len(old.keys) > 1 and used <= {last.id}:  # an interrupted rewrap got this far
        return old, kek.LocalKeks(old.source, (last,), old.path), None
    if len(old.keys) > 1:  # killed before its database commit: wrap under the newest again
        both = old
    else:
        both = kek.LocalKeks(old.source, (*old.keys, kek.new_kek()), old.path)
        kek.save(both)  # the file holds both keys until the database is committed
    return both, kek.LocalKeks(old.source, (both.keys[-1],), old.path), both


def _keks_in_use(conn: Any) -> set[str]:
    return {
        r[0] for r in conn.execute(text("SELECT kek_id FROM data_keys WHERE wrapped IS NOT NULL"))
    }


def rewrap(engine: Engine, actor: Actor) -> dict[str, Any]:
    """Wrap the data keys under a new key-encryption key (rows untouched)."""
    actor = require_key_admin(actor, A.KEY_REWRAP)
    previous: bytes | None = None
    path = None if kek.from_env() is not None else kek.key_file()
    if path is not None and path.exists():
        previous = path.read_bytes()
    try:
        with engine.connect() as conn, conn.begin():
            unwrap_with, new, _written = _new_and_old(conn)
            before = sorted(_keks_in_use(conn))
            done = fieldcrypt.rewrap(conn, unwrap_with, new)
            _audit(
                conn,
                actor,
                A.KEY_REWRAP,
                {
                    "kek_id": new.current_id(),
                    "previous_kek_id": ",".join(k for k in before if k != new.current_id()),
                    "keys": done,
                },
            )
    except BaseException:
        if previous is not None and path is not None:
            from resv_cli.core.files import write_private

            write_private(path, previous, overwrite=True)
        raise
    if path is not None:
        kek.save(new)  # committed: the old key leaves the file
    return {
        "kek_id": new.current_id(),
        "previous_kek_id": ",".join(k for k in before if k != new.current_id()) or None,
        "keys": ",".join(done),
        "kek_source": new.source,
    }
