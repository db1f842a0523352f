"""The facilities library: who manages what on which day (the cross-area API)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from resv_cli.core.errors import NotFound
from tests import factories as f

D = dt.date


@pytest.fixture
def tree(installation):
    f.make_org(installation, "fm", term=(D(2017, 4, 1), D(2032, 3, 31)))
    f.make_facility(installation, "complex1", category="complex")
    f.make_facility(installation, "senior1", category="senior_welfare_centre", parent="complex1")
    f.make_facility(installation, "room1", category="room", parent="senior1")
    f.make_facility(installation, "welfare1", category="welfare_centre", parent="complex1")
    f.make_facility(installation, "room2", category="room", parent="welfare1")
    for code in ("complex1", "senior1", "welfare1"):
        f.assign(installation, code, "city", D(2000, 4, 1), D(2017, 3, 31))
    f.assign(installation, "senior1", "fm", D(2017, 4, 1), D(2032, 3, 31))
    return installation


def _ids(s, *codes):
    return sorted(f.facility_id(s, c) for c in codes)


def test_facilities_managed_by_includes_inheriting_rooms(tree):
    from resv_cli.facilities.catalogue import facilities_managed_by

    with Session(bind=tree.engine()) as s:
        city, fm = f.org_id(s, "city"), f.org_id(s, "fm")
        assert facilities_managed_by(s, city, D(2017, 3, 31)) == _ids(
            s, "complex1", "senior1", "room1", "welfare1", "room2"
        )
        assert facilities_managed_by(s, fm, D(2017, 3, 31)) == []
        assert facilities_managed_by(s, fm, D(2017, 4, 1)) == _ids(s, "senior1", "room1")
        # the complex's own period ended, welfare1 has periods of its own: nobody
        assert facilities_managed_by(s, city, D(2017, 4, 1)) == []


def test_managing_organization_walks_up_to_rooms_parent(tree):
    from resv_cli.facilities.catalogue import managing_organization

    with Session(bind=tree.engine()) as s:
        city, fm = f.org_id(s, "city"), f.org_id(s, "fm")
        room1 = f.facility_id(s, "room1")
        assert managing_organization(s, room1, D(2017, 5, 15)) == fm
        assert managing_organization(s, room1, D(2016, 5, 15)) == city
        assert managing_organization(s, room1, D(1999, 5, 15)) is None
        assert managing_organization(s, f.facility_id(s, "welfare1"), D(2018, 1, 1)) is None


def test_get_facility_not_found(tree):
    from resv_cli.core.lookup import facility_by_code

    with Session(bind=tree.engine()) as s:
        assert facility_by_code(s, "senior1").category == "senior_welfare_centre"
        with pytest.raises(NotFound, match="no facility with code 'nope'"):
            facility_by_code(s, "nope")


def test_database_rejects_overlap_even_without_python_checks(tree):
    with pytest.raises(IntegrityError):
        f.assign(tree, "senior1", "city", D(2031, 1, 1))
    with pytest.raises(IntegrityError):
        f.assign(tree, "welfare1", "fm", D(2017, 3, 31), D(2017, 3, 31))
    # touching but not overlapping is fine
    f.assign(tree, "welfare1", "fm", D(2017, 4, 1), D(2017, 4, 30))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9:00～17:00", ("09:00", "17:00")),
        ("8：30～１7:15", ("08:30", "17:15")),
        ("【開館時間】8:30～21:00 【休館日】月曜日", ("08:30", "21:00")),
        ("午前9時～午後5時", ("09:00", "17:00")),
        ("午前8時30分から午後9時まで", ("08:30", "21:00")),
        ("9時～17時", ("09:00", "17:00")),
        ("9時30分から16時まで", ("09:30", "16:00")),
        ("09:00-21:00", ("09:00", "21:00")),
        ("10:00〜18:00", ("10:00", "18:00")),
        ("１０：００－２２：００", ("10:00", "22:00")),
        ("月曜日休館", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_hours_real_forms(text, expected):
    from resv_cli.facilities.catalogue import parse_hours

    assert parse_hours(text) == expected


def test_parse_hours_rejects_impossible_times():
    from resv_cli.core.errors import InputError
    from resv_cli.facilities.catalogue import parse_hours

    with pytest.raises(InputError, match="not after opening"):
        parse_hours("17:00～9:00")
    with pytest.raises(InputError, match="not a time of day"):
        parse_hours("9:00～25:00")


def test_overlap_rule_and_manager_lookup_agree_with_a_model(installation):
    """For any sequence of period inserts, the database accepts exactly the ones that
    do not overlap, and ``managing_organization`` answers like a plain model."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from sqlalchemy import delete

    from resv_cli.core.errors import Conflict
    from resv_cli.core.models import Facility, ManagementPeriod, Organization
    from resv_cli.facilities.catalogue import insert_period, managing_organization

    f.make_org(installation, "fm")
    f.make_facility(installation, "a")
    f.make_facility(installation, "b")
    base = D(2017, 4, 1)
    attempt = st.tuples(
        st.sampled_from(["a", "b"]),
        st.sampled_from(["city", "fm"]),
        st.integers(0, 60),
        st.one_of(st.none(), st.integers(0, 30)),
    )

    @settings(
        max_examples=25 if installation.backend == "postgresql" else 60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(st.lists(attempt, max_size=8), st.lists(st.integers(-5, 100), min_size=1, max_size=5))
    def check(attempts, probe_days):
        with Session(bind=installation.engine()) as s, s.begin():
            s.execute(delete(ManagementPeriod))
            facs = {c: s.query(Facility).filter_by(code=c).one() for c in ("a", "b")}
            orgs = {c: s.query(Organization).filter_by(code=c).one() for c in ("city", "fm")}
            model: dict[str, list[tuple[D, D | None, str]]] = {"a": [], "b": []}
            for fac, org, start_off, length in attempts:
                start = base + dt.timedelta(days=start_off)
                until = None if length is None else start + dt.timedelta(days=length)
                clash = any(
                    start <= (u or D.max) and s0 <= (until or D.max) for s0, u, _ in model[fac]
                )
                try:
                    insert_period(s, facs[fac], orgs[org], start, until)
                    accepted = True
                except Conflict as exc:
                    assert "must not overlap" in str(exc)
                    accepted = False
                assert accepted is not clash
                if accepted:
                    model[fac].append((start, until, org))
            for fac in ("a", "b"):
                for off in probe_days:
                    day = base + dt.timedelta(days=off)
                    want = next((o for s0, u, o in model[fac] if s0 <= day <= (u or D.max)), None)
                    got = managing_organization(s, facs[fac].id, day)
                    assert got == (orgs[want].id if want else None)
            s.rollback()

    check()


def test_parse_hours_reads_any_written_form_of_a_valid_range():
    from hypothesis import given
    from hypothesis import strategies as st

    from resv_cli.facilities.catalogue import parse_hours

    full = str.maketrans("0123456789:", "０１２３４５６７８９：")

    @given(
        st.integers(0, 23 * 60 + 58),
        st.integers(1, 600),
        st.sampled_from(["～", "〜", "-", "－", "~", "から"]),
        st.sampled_from(["colon", "kanji"]),
        st.booleans(),
        st.sampled_from(["", "【開館時間】", "平日："]),
    )
    def check(start_min, length, sep, style, wide, prefix):
        end_min = min(start_min + length, 24 * 60)
        s_h, s_m = divmod(start_min, 60)
        e_h, e_m = divmod(end_min, 60)

        def fmt(h, m):
            return f"{h}:{m:02d}" if style == "colon" else f"{h}時{m}分"

        text = f"{prefix}{fmt(s_h, s_m)}{sep}{fmt(e_h, e_m)} 【休館日】月曜日"
        if wide:
            text = text.translate(full)
        assert parse_hours(text) == (f"{s_h:02d}:{s_m:02d}", f"{e_h:02d}:{e_m:02d}")

    check()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9時30分から16時まで", ("09:30", "16:00")),  # the form docs/facilities.md shows
        ("9時から16時まで", ("09:00", "16:00")),
        ("9:30から16:00まで", ("09:30", "16:00")),
        ("8：30～１7:15", ("08:30", "17:15")),
        ("09:00-21:00", ("09:00", "21:00")),
    ],
)
def test_hours_option_takes_every_form_the_guide_shows(text, expected):
    from resv_cli.facilities.catalogue import parse_hours_option

    assert parse_hours_option(text) == expected


def test_hours_option_refuses_more_than_one_range():
    from resv_cli.core.errors import InputError
    from resv_cli.facilities.catalogue import parse_hours_option

    with pytest.raises(InputError) as exc:
        parse_hours_option("9時から12時まで、13時から16時まで")
    assert str(exc.value) == (
        "--hours must look like 09:00-21:00, got '9時から12時まで、13時から16時まで'"
    )
