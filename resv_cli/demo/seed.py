"""The demo city used by ``make demo`` and by tests of every area (``resv facility seed-demo``).

The city organisation (code ``city``) exists from ``resv db init``.  This adds the
designated manager ``inzai-fm`` and facilities across categories, including the complex
総合福祉センター with 中央老人福祉センター, 地域福祉センター and 子どもふれあい館 inside it,
and other senior welfare centres elsewhere; the city manages all of them from
2000-04-01.  The handover
of ``chuo-rojin`` and ``chiiki-fukushi`` to ``inzai-fm`` on 2017-04-01 is done by
``resv handover apply`` (or ``seed-demo --with-handover``).  Running it again adds
only what is missing.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, select

from resv_cli.audit import chain as audit
from resv_cli.core import clock
from resv_cli.core.i18n import N_, _
from resv_cli.core.models import DuplicateCheckRule, Facility, ManagementPeriod, Organization
from resv_cli.facilities.catalogue import insert_period

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from resv_cli.core.context import Actor

CITY = "city"
MANAGER = "inzai-fm"
MANAGER_NAME = "株式会社いんざい施設管理"
MANAGER_TERM = (dt.date(2017, 4, 1), dt.date(2032, 3, 31))
CITY_FROM = dt.date(2000, 4, 1)
HANDOVER_DAY = dt.date(2017, 4, 1)
HANDOVER_FACILITIES = ("chuo-rojin", "chiiki-fukushi")

# (code, name, kana, category, parent, hours)
FACILITIES: tuple[tuple[str, str, str | None, str, str | None, tuple[str, str] | None], ...] = (
    (
        "sogo-fukushi",
        "総合福祉センター",
        "ソウゴウフクシセンター",
        "complex",
        None,
        ("08:30", "21:00"),
    ),
    (
        "chuo-rojin",
        "中央老人福祉センター",
        "チュウオウロウジンフクシセンター",
        "senior_welfare_centre",
        "sogo-fukushi",
        ("09:00", "16:30"),
    ),
    (
        "chiiki-fukushi",
        "地域福祉センター",
        "チイキフクシセンター",
        "welfare_centre",
        "sogo-fukushi",
        ("08:30", "21:00"),
    ),
    (
        "cosmos",
        "コスモスパレット",
        "コスモスパレット",
        "community_centre",
        None,
        ("09:00", "21:00"),
    ),
    (
        "kodomo-fureai",
        "子どもふれあい館",
        "コドモフレアイカン",
        "children_centre",
        "sogo-fukushi",
        ("09:00", "18:00"),
    ),
    (
        "honme-rojin",
        "本埜老人福祉センター",
        "モトノロウジンフクシセンター",
        "senior_welfare_centre",
        None,
        ("09:00", "16:30"),
    ),
    (
        "inba-rojin",
        "印旛老人福祉センター",
        "インバロウジンフクシセンター",
        "senior_welfare_centre",
        None,
        ("09:00", "16:30"),
    ),
    ("chuo-rojin-kaigi", "中央老人福祉センター 会議室", None, "room", "chuo-rojin", None),
    ("chuo-rojin-washitsu", "中央老人福祉センター 和室", None, "room", "chuo-rojin", None),
    (
        "chiiki-fukushi-tamokuteki",
        "地域福祉センター 多目的室",
        None,
        "room",
        "chiiki-fukushi",
        None,
    ),
    ("cosmos-hall", "コスモスパレット ホール", None, "room", "cosmos", None),
    ("kodomo-fureai-yugi", "子どもふれあい館 遊戯室", None, "room", "kodomo-fureai", None),
)


DUPLICATE_RULE = "chuo-rojin-duplicate-check"
# written in the language of the administrator who seeds the demo city, as a person would
DUPLICATE_PURPOSE = N_("登録証の重複発行防止 (avoid issuing a second registration certificate)")


def seed_demo(
    session: Session, actor: Actor | None, *, with_handover: bool = False
) -> dict[str, Any]:
    """Create what is missing of the demo city (admin); return counts of what was added."""
    from resv_cli.core.context import require_role

    require_role(actor, "admin", action="facility.seed_demo")
    now = clock.now()
    city = session.execute(select(Organization).where(Organization.code == CITY)).scalar_one()
    manager = session.execute(
        select(Organization).where(Organization.code == MANAGER)
    ).scalar_one_or_none()
    orgs_added = 0
    if manager is None:
        manager = Organization(
            code=MANAGER,
            name=MANAGER_NAME,
            kind="designated_manager",
            term_start=MANAGER_TERM[0],
            term_end=MANAGER_TERM[1],
            created_at=now,
        )
        session.add(manager)
        orgs_added += 1
    added: list[str] = []
    by_code: dict[str, Facility] = {
        f.code: f
        for f in session.execute(
            select(Facility).where(Facility.code.in_([c[0] for c in FACILITIES]))
        ).scalars()
    }
    for code, name, kana, category, parent, hours in FACILITIES:
        if code in by_code:
            continue
        fac = Facility(
            code=code,
            name=name,
            kana=kana,
            category=category,
            parent_id=by_code[parent].id if parent else None,
            opens_at=hours[0] if hours else None,
            closes_at=hours[1] if hours else None,
            created_at=now,
            updated_at=now,
        )
        session.add(fac)
        session.flush()
        by_code[code] = fac
        added.append(code)
    periods_added = 0
    for code, _name, _kana, category, _parent, _hours in FACILITIES:
        if category == "room":
            continue  # rooms follow their facility's manager
        fac = by_code[code]
        has_period = session.execute(
            select(exists().where(ManagementPeriod.facility_id == fac.id))
        ).scalar()
        if not has_period:
            insert_period(session, fac, city, CITY_FROM, None)
            periods_added += 1
    session.flush()
    # the opinion's one exception: 中央老人福祉センター's staff may search the other
    # senior centres, only to avoid issuing a second registration certificate
    rules_added = 0
    if (
        session.execute(
            select(DuplicateCheckRule.id).where(DuplicateCheckRule.name == DUPLICATE_RULE)
        ).first()
        is None
    ):
        from resv_cli.access.rules import add_rule, make_spec

        add_rule(
            session,
            actor,
            make_spec(
                session,
                kind="duplicate_check",
                name=DUPLICATE_RULE,
                subject="facility:chuo-rojin",
                actions="",
                resource="registrants",
                purpose=_(DUPLICATE_PURPOSE),
            ),
        )
        rules_added = 1
    audit.record(
        session,
        actor,
        "facility.seed_demo",
        resource_type="organization",
        resource_id=CITY,
        detail={
            "facilities_added": len(added),
            "organizations_added": orgs_added,
            "periods_added": periods_added,
        },
    )
    result: dict[str, Any] = {
        "organizations_added": orgs_added,
        "facilities_added": len(added),
        "periods_added": periods_added,
        "rules_added": rules_added,
        "handover": None,
    }
    if with_handover:
        from resv_cli.facilities.handover import apply_handover

        done = apply_handover(
            session, actor, MANAGER, list(HANDOVER_FACILITIES), HANDOVER_DAY, None
        )
        result["handover"] = _("applied") if done.applied else _("already applied")
    return result
