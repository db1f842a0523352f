"""Property: every command path returns exactly the rows an independent oracle allows.

Hypothesis builds random organisations, facilities (with parents), management
periods, accounts (with one or more places of work, some with the
organisation-wide grant), scope rules (incl. narrow field rules), duplicate-check
rules, registrants and bookings, and a day.  For every account it runs the services behind `registrant
search` (rows, `--count`, and the CSV export of `--format csv`), `registrant show`
for every registrant, `booking list` (rows and `--count`) and `registrant
check-duplicate`, and compares them with a plain-Python oracle written from the
rules in docs/guide-scope.md -- not with the SQL of ``resv_cli.access.decide``.

Each example runs in one transaction that is rolled back, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

D0 = dt.date(2017, 4, 1)
EXAMPLES = int(os.environ.get("RESV_PROPERTY_EXAMPLES", "40"))
CATEGORIES = [
    "senior_welfare_centre",
    "senior_rest_house",
    "welfare_centre",
    "community_centre",
    "complex",
    "room",
]
SENIOR = {"senior_welfare_centre", "senior_rest_house"}
ACTIONS = ["register", "view", "search", "update", "lend"]
FIELDS = ["name", "kana", "date_of_birth", "phone", "address", "kind"]
NAMES = ["髙橋 花子", "高橋花子", "山﨑 太郎", "山崎 次郎", "佐藤 一子", "ｻﾄｳ ｶｽﾞｺ"]
QUERIES = ["高橋", "髙橋花子", "山崎", "佐藤", "さとう", "ｻﾄｳ"]
DOBS = [dt.date(1948, 5, 3), dt.date(1950, 1, 2), None]


def day(offset: int) -> dt.date:
    return D0 + dt.timedelta(days=offset)


@dataclass
class World:
    orgs: list[str]
    facilities: list[tuple[str, str, int | None]]  # code, category, parent index
    periods: list[tuple[int, int, int, int | None]]  # facility, org index, from, until
    accounts: list[tuple[int, str, int | None, int | None, int | None]]
    rules: list[
        tuple[str, str, list[str], str, tuple[str, str], list[str] | None, int | None, int | None]
    ]
    registrants: list[tuple[int, int, int, int]]  # facility, name idx, dob idx, phone no
    bookings: list[tuple[int, int]]  # facility, registrant index
    on: int
    # per account: more places of work (besides accounts[i][2]) and the org-wide grant
    places: list[tuple[list[int], bool]] | None = None
    # duplicate-check rules: from facility, over category (None: every senior), from, until
    dup_rules: list[tuple[int, str | None, int | None, int | None]] | None = None


@st.composite
def worlds(draw):
    n_orgs = draw(st.integers(1, 3))
    orgs = ["city"] + [f"dm{i}" for i in range(1, n_orgs)]
    facilities = []
    depth = []
    for i in range(draw(st.integers(1, 6))):
        parents = [j for j in range(i) if depth[j] < 2]
        parent = draw(st.sampled_from(parents)) if parents and draw(st.booleans()) else None
        depth.append(0 if parent is None else depth[parent] + 1)
        facilities.append((f"f{i}", draw(st.sampled_from(CATEGORIES)), parent))
    periods = []
    for fi in range(len(facilities)):
        # rooms and centres inside a complex often have no period of their own
        if facilities[fi][2] is not None and draw(st.booleans()):
            continue
        first = draw(st.integers(0, n_orgs - 1))
        cut = draw(st.one_of(st.none(), st.integers(-3, 3)))
        if cut is None:
            periods.append((fi, first, -5, None))
        else:
            periods.append((fi, first, -5, cut))
            if draw(st.booleans()):  # a handover the next day, or a gap after the cut
                periods.append((fi, draw(st.integers(0, n_orgs - 1)), cut + 1, None))
    accounts = []
    for _ in range(draw(st.integers(1, 4))):
        accounts.append(
            (
                draw(st.integers(0, n_orgs - 1)),
                draw(st.sampled_from(["operator", "operator", "operator", "admin", "monitor"])),
                draw(st.one_of(st.none(), st.integers(0, len(facilities) - 1))),
                draw(st.one_of(st.none(), st.integers(-3, 0))),
                draw(st.one_of(st.none(), st.integers(0, 3))),
            )
        )
    places = [
        (
            sorted(draw(st.sets(st.integers(0, len(facilities) - 1), max_size=2))),
            draw(st.booleans()) and draw(st.booleans()),
        )
        for _ in accounts
    ]
    dup_rules = [
        (
            draw(st.integers(0, len(facilities) - 1)),
            draw(st.sampled_from([None, *sorted(SENIOR)])),
            draw(st.one_of(st.none(), st.integers(-3, 0))),
            draw(st.one_of(st.none(), st.integers(0, 3))),
        )
        for _ in range(draw(st.integers(0, 2)))
    ]
    rules = []
    for i in range(draw(st.integers(0, 3))):
        stype = draw(st.sampled_from(["organization", "account", "role"]))
        if stype == "organization":
            ref = draw(st.sampled_from(orgs))
        elif stype == "account":
            ref = f"u{draw(st.integers(0, len(accounts) - 1))}"
        else:
            ref = draw(st.sampled_from(["operator", "admin", "monitor"]))
        target = draw(
            st.one_of(
                st.tuples(st.just("code"), st.sampled_from([f[0] for f in facilities])),
                st.tuples(st.just("category"), st.sampled_from(CATEGORIES)),
            )
        )
        rules.append(
            (
                f"r{i}",
                stype,
                sorted(draw(st.sets(st.sampled_from(ACTIONS), min_size=1))),
                draw(st.sampled_from(["registrants", "bookings"])),
                target,
                draw(
                    st.one_of(st.none(), st.lists(st.sampled_from(FIELDS), min_size=1, unique=True))
                ),
                draw(st.one_of(st.none(), st.integers(-3, 0))),
                draw(st.one_of(st.none(), st.integers(0, 3))),
            )
        )
        rules[-1] = (rules[-1][0], stype, ref, *rules[-1][2:])  # type: ignore[assignment]
    registrants = [
        (
            draw(st.integers(0, len(facilities) - 1)),
            draw(st.integers(0, len(NAMES) - 1)),
            draw(st.integers(0, len(DOBS) - 1)),
            draw(st.integers(0, 2)),
        )
        for _ in range(draw(st.integers(0, 12)))
    ]
    bookings = []
    if registrants:
        for _ in range(draw(st.integers(0, 4))):
            bookings.append(
                (
                    draw(st.integers(0, len(facilities) - 1)),
                    draw(st.integers(0, len(registrants) - 1)),
                )
            )
    return World(
        orgs,
        facilities,
        periods,
        accounts,
        rules,
        registrants,
        bookings,
        draw(st.integers(-4, 4)),
        places,
        dup_rules,
    )


# a complex run by the city, a senior centre in it and a room in that centre, neither
# with a period of its own; a rule names the centre (so its room) for a monitor
DEEP = World(
    orgs=["city", "dm1"],
    facilities=[("f0", "complex", None), ("f1", "senior_welfare_centre", 0), ("f2", "room", 1)],
    periods=[(0, 0, -5, None)],
    accounts=[
        (0, "operator", 1, None, None),
        (0, "monitor", None, None, None),
        (1, "operator", None, None, None),
    ],
    rules=[
        ("r0", "account", "u1", ["search", "view"], "registrants", ("code", "f1"), None, None, None)
    ],
    registrants=[(2, 0, 0, 1), (1, 1, 0, 2), (2, 4, 1, 0)],
    bookings=[(2, 0)],
    on=0,
    dup_rules=[(1, None, None, None)],
)
# two centres of one manager; the operator works at one of them only, a second operator
# has the organisation-wide grant, a third works at both; the duplicate check is
# granted to the first centre only
PLACES = World(
    orgs=["city", "dm1"],
    facilities=[
        ("f0", "senior_welfare_centre", None),
        ("f1", "senior_welfare_centre", None),
        ("f2", "room", 1),
    ],
    periods=[(0, 1, -5, None), (1, 1, -5, None)],
    accounts=[
        (1, "operator", 0, None, None),
        (1, "operator", None, None, None),
        (1, "operator", 0, None, None),
        (1, "operator", 1, None, None),
    ],
    rules=[],
    registrants=[(0, 0, 0, 1), (1, 1, 0, 2), (2, 0, 0, 0)],
    bookings=[(2, 0), (0, 1)],
    on=0,
    places=[([], False), ([], True), ([1], False), ([], False)],
    dup_rules=[(0, None, None, None)],
)


# --- the oracle ------------------------------------------------------------------------


class Oracle:
    def __init__(self, w: World):
        self.w = w
        self.on = day(w.on)

    def manager(self, fi: int) -> int | None:
        chain = [fi]
        while self.w.facilities[chain[-1]][2] is not None and len(chain) < 3:
            chain.append(self.w.facilities[chain[-1]][2])
        for f in chain:
            for pf, org, start, until in self.w.periods:
                if pf == f and day(start) <= self.on and (until is None or self.on <= day(until)):
                    return org
        return None

    def account_ok(self, ai: int) -> bool:
        _, _, _, vf, vu = self.w.accounts[ai]
        return (vf is None or day(vf) <= self.on) and (vu is None or self.on <= day(vu))

    def places(self, ai: int) -> set[int]:
        work = self.w.accounts[ai][2]
        extra = self.w.places[ai][0] if self.w.places else []
        return set(extra) | ({work} if work is not None else set())

    def everywhere(self, ai: int) -> bool:
        return bool(self.w.places and self.w.places[ai][1])

    def within_places(self, ai: int, fi: int) -> bool:
        """The facility is a place of work of the account, or lies inside one."""
        chain = [fi]
        while self.w.facilities[chain[-1]][2] is not None and len(chain) < 3:
            chain.append(self.w.facilities[chain[-1]][2])
        return bool(set(chain) & self.places(ai))

    def grant(self, ai: int, action: str, resource: str, fi: int):
        """None: denied; 'all': every field; a frozenset: only those fields."""
        if not self.account_ok(ai):
            return None
        org, role, _, _, _ = self.w.accounts[ai]
        if (
            role == "operator"
            and self.manager(fi) == org
            and (self.everywhere(ai) or self.within_places(ai, fi))
        ):
            return "all"
        code, cat, parent = self.w.facilities[fi]
        pcode = self.w.facilities[parent][0] if parent is not None else None
        narrow: set[str] = set()
        hit = False
        for _name, stype, ref, acts, res, target, fields, vf, vu in self.w.rules:
            subject_ok = (
                (stype == "organization" and ref == self.w.orgs[org])
                or (stype == "account" and ref == f"u{ai}")
                or (stype == "role" and ref == role)
            )
            target_ok = (target[0] == "code" and target[1] in (code, pcode)) or (
                target[0] == "category" and target[1] == cat
            )
            valid = (vf is None or day(vf) <= self.on) and (vu is None or self.on <= day(vu))
            if subject_ok and target_ok and valid and action in acts and res == resource:
                if fields is None:
                    return "all"
                hit = True
                narrow |= set(fields)
        return frozenset(narrow) if hit else None

    def duplicate_rules(self, ai: int) -> list[tuple[int, str | None, int | None, int | None]]:
        """The duplicate-check rules that reach this account today (docs/guide-scope.md)."""
        org, role, _, _, _ = self.w.accounts[ai]
        if not self.account_ok(ai) or role != "operator":
            return []
        return [
            r
            for r in self.w.dup_rules or []
            if r[0] in self.places(ai)
            and self.manager(r[0]) == org
            and (r[2] is None or day(r[2]) <= self.on)
            and (r[3] is None or self.on <= day(r[3]))
        ]

    def duplicate_ok(self, ai: int) -> bool:
        return bool(self.duplicate_rules(ai))

    def duplicate_categories(self, ai: int) -> set[str]:
        out: set[str] = set()
        for _f, cat, _vf, _vu in self.duplicate_rules(ai):
            out |= SENIOR if cat is None else {cat}
        return out


# --- building the world in one transaction -----------------------------------------


def _searchable(oracle: Oracle, w: World, reg_ids: list[int], ai: int, qkey: str) -> set[int]:
    """The registrants account ``ai`` finds by a name-key prefix, by the oracle."""
    from resv_cli.core.normalize import name_key

    return {
        reg_ids[k]
        for k, (fi, ni, _, _) in enumerate(w.registrants)
        if name_key(NAMES[ni]).startswith(qkey)
        and oracle.grant(ai, "search", "registrants", fi) is not None
    }


def build(s, w: World):
    from resv_cli.core import clock
    from resv_cli.core.models import (
        Account,
        AccountWorkplace,
        DuplicateCheckRule,
        Facility,
        ManagementPeriod,
        Organization,
        ScopeRule,
        Setting,
    )
    from resv_cli.core.normalize import kana_key, name_key
    from resv_cli.core.personal import Booking, Registrant

    now = clock.now()
    s.merge(Setting(key="duplicate_check_per_hour", value="1000", updated_at=now))
    org_ids = []
    for code in w.orgs:
        if code == "city":
            org_ids.append(s.query(Organization.id).filter_by(code="city").scalar())
        else:
            o = Organization(code=code, name=code, kind="designated_manager", created_at=now)
            s.add(o)
            s.flush()
            org_ids.append(o.id)
    fac_ids = []
    for code, cat, parent in w.facilities:
        f = Facility(
            code=code,
            name=code,
            category=cat,
            parent_id=fac_ids[parent] if parent is not None else None,
            created_at=now,
            updated_at=now,
        )
        s.add(f)
        s.flush()
        fac_ids.append(f.id)
    for fi, oi, start, until in w.periods:
        s.add(
            ManagementPeriod(
                facility_id=fac_ids[fi],
                organization_id=org_ids[oi],
                valid_from=day(start),
                valid_until=day(until) if until is not None else None,
                created_at=now,
            )
        )
    accs = []
    for i, (oi, role, work, vf, vu) in enumerate(w.accounts):
        a = Account(
            login_id=f"u{i}",
            display_name=f"u{i}",
            organization_id=org_ids[oi],
            role=role,
            facility_id=fac_ids[work] if work is not None else None,
            status="active",
            valid_from=day(vf) if vf is not None else None,
            valid_until=day(vu) if vu is not None else None,
            failed_attempts=0,
            lock_count=0,
            all_managed_facilities=bool(w.places and w.places[i][1]),
            created_at=now,
            updated_at=now,
        )
        s.add(a)
        s.flush()
        for fi in set(w.places[i][0] if w.places else []) | ({work} if work is not None else set()):
            s.add(AccountWorkplace(account_id=a.id, facility_id=fac_ids[fi]))
        accs.append(a)
    for k, (fi, cat, vf, vu) in enumerate(w.dup_rules or []):
        s.add(
            DuplicateCheckRule(
                name=f"dup{k}",
                from_facility_code=w.facilities[fi][0],
                over_category=cat,
                purpose="avoid a second card",
                valid_from=day(vf) if vf is not None else None,
                valid_until=day(vu) if vu is not None else None,
                created_at=now,
            )
        )
    for name, stype, ref, acts, res, target, fields, vf, vu in w.rules:
        s.add(
            ScopeRule(
                name=name,
                subject_type=stype,
                subject_ref=ref,
                actions=",".join(acts),
                resource=res,
                facility_code=target[1] if target[0] == "code" else None,
                facility_category=target[1] if target[0] == "category" else None,
                fields=",".join(fields) if fields else None,
                valid_from=day(vf) if vf is not None else None,
                valid_until=day(vu) if vu is not None else None,
                created_at=now,
            )
        )
    reg_ids = []
    from resv_cli.core import fieldcrypt

    keys = fieldcrypt.load(s, for_writing=True)
    for fi, ni, di, pn in w.registrants:
        name = NAMES[ni]
        rid = fieldcrypt.allocate_ids(s, 1)[0]
        clear = {
            "kind": "individual",
            "name": name,
            "name_key": name_key(name),
            "kana": "たかはし" if ni < 2 else None,
            "kana_key": kana_key("たかはし") if ni < 2 else None,
            "date_of_birth": DOBS[di],
            "phone": f"0476-00-000{pn}",
            "phone_digits": f"047600000{pn}",
            "address": "印西市",
        }
        r = Registrant(
            id=rid,
            facility_id=fac_ids[fi],
            created_at=now,
            updated_at=now,
            **keys.stored(rid, clear),
        )
        s.add(r)
        s.flush()
        reg_ids.append(int(r.id))
    book_ids = []
    for k, (fi, ri) in enumerate(w.bookings):
        start = dt.datetime(2017, 5, 1, 0, tzinfo=dt.UTC) + dt.timedelta(hours=3 * k)
        b = Booking(
            facility_id=fac_ids[fi],
            registrant_id=reg_ids[ri],
            starts_at=start,
            ends_at=start + dt.timedelta(hours=1),
            status="booked",
            created_at=now,
        )
        s.add(b)
        s.flush()
        book_ids.append(int(b.id))
    s.flush()
    return accs, reg_ids, book_ids


@pytest.fixture
def inst(installation):
    return installation


# the settings of both property tests (the Python layer alone; the Python layer against RLS)
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@PROPERTY
@given(w=worlds(), query=st.sampled_from(QUERIES))
@example(w=DEEP, query="高橋")
@example(w=DEEP, query="佐藤")
@example(w=PLACES, query="高橋")
def test_every_path_matches_the_oracle(inst, monkeypatch, w, query):
    from resv_cli.commands.render import render
    from sqlalchemy.orm import Session

    from resv_cli.accounts.sessions import actor_for
    from resv_cli.core import clock
    from resv_cli.core.errors import NotFound, PermissionDenied
    from resv_cli.core.normalize import name_key
    from resv_cli.records import bookings, certificates, registrants

    oracle = Oracle(w)
    instant = dt.datetime.combine(oracle.on, dt.time(10), clock.JST).astimezone(dt.UTC)
    monkeypatch.setattr(clock, "now", lambda: instant)
    with Session(inst.engine()) as s:
        s.begin()
        try:
            accs, reg_ids, book_ids = build(s, w)
            qkey = name_key(query)
            for ai, acc in enumerate(accs):
                actor = actor_for(s, acc)
                # search: rows, count, CSV export
                want = _searchable(oracle, w, reg_ids, ai, qkey)
                crit = registrants.Criteria(name=query)
                rows = registrants.search_registrants(s, actor, crit, limit=1000)
                assert {r["id"] for r in rows} == want
                assert registrants.search_registrants(s, actor, crit, count_only=True) == len(want)
                buf = io.StringIO()
                render(rows, "csv", columns=registrants.SEARCH_COLUMNS, out=buf)
                exported = {int(r["id"]) for r in csv.DictReader(io.StringIO(buf.getvalue()))}
                assert exported == want
                for r in rows:
                    fi = w.registrants[reg_ids.index(r["id"])][0]
                    g = oracle.grant(ai, "search", "registrants", fi)
                    if g != "all":
                        assert g is not None
                        if "date_of_birth" not in g:
                            assert r["date_of_birth"] is None
                        if "name" not in g:
                            assert r["name"] is None
                # show every registrant
                for k, (fi, _ni, _, _) in enumerate(w.registrants):
                    g = oracle.grant(ai, "view", "registrants", fi)
                    if g is None:
                        with pytest.raises(NotFound) as exc:
                            registrants.show_registrant(s, actor, reg_ids[k])
                        assert str(exc.value) == f"registrant {reg_ids[k]} not found"
                    else:
                        rec = registrants.show_registrant(s, actor, reg_ids[k])
                        assert rec["id"] == reg_ids[k]
                        assert (rec["phone"] is not None) == (g == "all" or "phone" in g)
                        assert (rec["address"] is not None) == (g == "all" or "address" in g)
                # bookings: list and count
                want_b = {
                    book_ids[k]
                    for k, (fi, _) in enumerate(w.bookings)
                    if oracle.grant(ai, "view", "bookings", fi) is not None
                }
                listed = bookings.list_bookings(s, actor)
                assert {b["id"] for b in listed} == want_b
                assert bookings.list_bookings(s, actor, count_only=True) == len(want_b)
                # the duplicate check
                dob = DOBS[0]
                if oracle.duplicate_ok(ai):
                    out = certificates.check_duplicate(
                        s, actor, name="高橋花子", kana=None, date_of_birth=dob, reason="test"
                    )
                    cats = oracle.duplicate_categories(ai)
                    want_f = sorted(
                        w.facilities[fi][0]
                        for fi, ni, di, _ in w.registrants
                        if ni < 2 and DOBS[di] == dob and w.facilities[fi][1] in cats
                    )
                    got_f = sorted(r["facility"] for r in out if r["match"] == "yes")
                    assert got_f == want_f
                    for r in out:
                        assert set(r) == set(certificates.DUPLICATE_COLUMNS)
                else:
                    with pytest.raises(PermissionDenied):
                        certificates.check_duplicate(
                            s, actor, name="高橋花子", kana=None, date_of_birth=dob, reason="t"
                        )
        finally:
            s.rollback()


# --- two implementations, one answer: PostgreSQL row-level security (issue 18) -----------
#
# The same worlds, on PostgreSQL with `resv db rls apply`: the SQL functions the policies
# call must give, per account, action and resource, exactly the facilities of the Python
# layer (``permitted_facilities``) and of the oracle; and, acting as a runtime role with
# the Python scope filter switched off (``decide.UNFILTERED_FOR_TESTS``, test only), the
# services and raw SELECTs must return exactly the rows the oracle allows.


@pytest.fixture
def rls_inst(installation):
    if installation.backend != "postgresql":
        pytest.skip("row-level security is PostgreSQL only")
    import uuid

    import psycopg
    from support import psycopg_dsn, run_cli

    r = run_cli("db", "rls", "apply")
    assert r.exit_code == 0, r
    role = f"resv_prop_{uuid.uuid4().hex[:8]}"
    r = run_cli("db", "grant-runtime-role", role)
    assert r.exit_code == 0, r
    try:
        yield installation, role
    finally:
        with psycopg.connect(psycopg_dsn(installation.url), autocommit=True) as conn:
            conn.execute(f'DROP OWNED BY "{role}"')
            conn.execute(f'DROP ROLE "{role}"')


def _rls_oracle_rows(oracle: Oracle, w: World, ai: int, table: str, purpose: str | None) -> set:
    """Indexes of the registrants (or bookings) a raw SELECT may return."""
    org, role, _, _, _ = w.accounts[ai]
    resource = "bookings" if table == "bookings" else "registrants"
    rows = w.bookings if table == "bookings" else w.registrants
    dup = oracle.duplicate_categories(ai) if purpose == "check_duplicate" else set()
    by_role = oracle.account_ok(ai) and (
        role == "admin" or (role == "monitor" and resource == "registrants")
    )
    out = set()
    for k, row in enumerate(rows):
        fi = row[0]
        if purpose in ACTIONS:
            ok = oracle.grant(ai, purpose, resource, fi) is not None
        else:
            ok = (
                by_role
                or any(oracle.grant(ai, a, resource, fi) is not None for a in ACTIONS)
                or (resource == "registrants" and w.facilities[fi][1] in dup)
            )
        if ok:
            out.add(k)
    return out


@pytest.mark.postgresql_only
@PROPERTY
@given(w=worlds(), query=st.sampled_from(QUERIES))
@example(w=DEEP, query="高橋")
@example(w=PLACES, query="高橋")
def test_row_level_security_gives_the_python_layers_answer(rls_inst, monkeypatch, w, query):
    import secrets

    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from resv_cli.access import decide
    from resv_cli.accounts.sessions import actor_for, token_hash
    from resv_cli.core import clock
    from resv_cli.core.errors import NotFound
    from resv_cli.core.models import Facility, LoginSession
    from resv_cli.core.normalize import name_key
    from resv_cli.records import bookings, certificates, registrants

    inst, role = rls_inst
    oracle = Oracle(w)
    real_now = dt.datetime.now(dt.UTC)
    instant = dt.datetime.combine(oracle.on, dt.time(10), clock.JST).astimezone(dt.UTC)
    monkeypatch.setattr(clock, "now", lambda: instant)
    with inst.engine().connect() as conn:
        conn.begin()
        try:
            s = Session(bind=conn)
            accs, reg_ids, book_ids = build(s, w)
            fac_ids = {code: fid for code, fid in s.query(Facility.code, Facility.id)}
            fids = [fac_ids[code] for code, _cat, _parent in w.facilities]
            tokens = []
            for acc in accs:
                tokens.append(secrets.token_urlsafe(24))
                s.add(
                    LoginSession(
                        account_id=acc.id,
                        token_hash=token_hash(tokens[-1]),
                        created_at=real_now,
                        expires_at=real_now + dt.timedelta(hours=1),
                    )
                )
            s.flush()
            # the policies' "today" is the scenario's day (rolled back with the rest)
            conn.exec_driver_sql(
                "CREATE OR REPLACE FUNCTION resv_rls_today() RETURNS date LANGUAGE sql STABLE "
                "SET search_path = pg_catalog, public, pg_temp "
                f"AS $$SELECT DATE '{oracle.on.isoformat()}'$$"
            )

            def sql_ids(fn: str, **params) -> list[int]:
                return sorted(conn.execute(text(f"SELECT {fn}"), params).scalar_one())

            # 1. per account, action and resource: the SQL functions = Python = the oracle
            for ai, acc in enumerate(accs):
                for resource in ("registrants", "bookings"):
                    every = set()
                    for action in ACTIONS:
                        got = sql_ids(
                            "resv_rls_facilities(:a, ARRAY[:act], :res, :on)",
                            a=acc.id, act=action, res=resource, on=oracle.on,
                        )  # fmt: skip
                        every |= set(got)
                        py = sorted(
                            int(i)
                            for (i,) in s.execute(
                                decide.permitted_facilities(s, acc.id, action, resource, oracle.on)
                            )
                        )
                        want = [
                            fids[fi]
                            for fi in range(len(w.facilities))
                            if oracle.grant(ai, action, resource, fi) is not None
                        ]
                        assert got == py == sorted(want), (ai, action, resource)
                    union = sql_ids(
                        "resv_rls_facilities(:a, :acts, :res, :on)",
                        a=acc.id, acts=ACTIONS, res=resource, on=oracle.on,
                    )  # fmt: skip
                    assert union == sorted(every), (ai, resource)
                dup = sql_ids("resv_rls_duplicate_facilities(:a, :on)", a=acc.id, on=oracle.on)
                cats = oracle.duplicate_categories(ai)
                assert dup == sorted(
                    fids[fi] for fi, (_c, cat, _p) in enumerate(w.facilities) if cat in cats
                ), ai
            # 2. as the runtime role, the Python filter off: the policies alone decide
            conn.exec_driver_sql(f'SET LOCAL ROLE "{role}"')
            decide.UNFILTERED_FOR_TESTS = True
            qkey = name_key(query)

            def purpose(value: str) -> None:
                conn.execute(text("SELECT set_config('resv.action', :v, true)"), {"v": value})

            for ai, acc in enumerate(accs):
                conn.execute(
                    text("SELECT set_config('resv.session_token', :t, true)"), {"t": tokens[ai]}
                )
                rs = Session(bind=conn)
                actor = actor_for(rs, acc)
                purpose("search")
                want = _searchable(oracle, w, reg_ids, ai, qkey)
                crit = registrants.Criteria(name=query)
                rows = registrants.search_registrants(rs, actor, crit, limit=1000)
                assert {r["id"] for r in rows} == want
                assert registrants.search_registrants(rs, actor, crit, count_only=True) == len(want)
                purpose("view")
                for k, (fi, _ni, _, _) in enumerate(w.registrants):
                    rs.expunge_all()
                    g = oracle.grant(ai, "view", "registrants", fi)
                    if g is None:
                        with pytest.raises(NotFound):
                            registrants.show_registrant(rs, actor, reg_ids[k])
                    else:
                        rec = registrants.show_registrant(rs, actor, reg_ids[k])
                        assert (rec["phone"] is not None) == (g == "all" or "phone" in g)
                want_b = {
                    book_ids[k]
                    for k, (fi, _) in enumerate(w.bookings)
                    if oracle.grant(ai, "view", "bookings", fi) is not None
                }
                assert {b["id"] for b in bookings.list_bookings(rs, actor)} == want_b
                assert bookings.list_bookings(rs, actor, count_only=True) == len(want_b)
                # a raw SELECT that forgets every filter, with and without a purpose
                for p in ("", "check_duplicate", *ACTIONS):
                    purpose(p)
                    got_r = {r for (r,) in conn.execute(text("SELECT id FROM registrants"))}
                    got_b = {b for (b,) in conn.execute(text("SELECT id FROM bookings"))}
                    want_r = _rls_oracle_rows(oracle, w, ai, "registrants", p or None)
                    want_b = _rls_oracle_rows(oracle, w, ai, "bookings", p or None)
                    assert got_r == {reg_ids[k] for k in want_r}, (ai, p)
                    assert got_b == {book_ids[k] for k in want_b}, (ai, p)
                # the duplicate check: the policies let it see every row it needs
                purpose("")
                if oracle.duplicate_ok(ai):
                    out = certificates.check_duplicate(
                        rs, actor, name="高橋花子", kana=None, date_of_birth=DOBS[0], reason="t"
                    )
                    cats = oracle.duplicate_categories(ai)
                    want_f = sorted(
                        w.facilities[fi][0]
                        for fi, ni, di, _ in w.registrants
                        if ni < 2 and DOBS[di] == DOBS[0] and w.facilities[fi][1] in cats
                    )
                    assert sorted(r["facility"] for r in out if r["match"] == "yes") == want_f
                rs.close()
            # a made-up token acts as nobody
            conn.execute(text("SELECT set_config('resv.session_token', 'made-up', true)"))
            purpose("")
            assert conn.execute(text("SELECT count(*) FROM registrants")).scalar_one() == 0
        finally:
            decide.UNFILTERED_FOR_TESTS = False
            conn.rollback()
