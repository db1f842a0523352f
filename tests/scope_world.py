"""The board's city for scope tests, built with tests/factories.py.

Codes follow the briefing (the facilities helper's ``resv facility seed-demo``):
the city runs everything from 2000-04-01; the designated manager ``inzai-fm``
takes over 中央老人福祉センター (chuo-rojin) and 地域福祉センター (chiiki-fukushi)
on 2017-04-01.  Both sit in the complex 総合福祉センター (sogo-fukushi), which
the city keeps, as it keeps 子どもふれあい館 (kodomo-fureai) in the same complex.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import factories as f

HANDOVER = dt.date(2017, 4, 1)
CITY_FROM = dt.date(2000, 4, 1)
TERM_END = dt.date(2032, 3, 31)

FACILITIES = [
    # code, category, parent
    ("sogo-fukushi", "complex", None),
    ("chuo-rojin", "senior_welfare_centre", "sogo-fukushi"),
    ("chiiki-fukushi", "welfare_centre", "sogo-fukushi"),
    ("kodomo-fureai", "children_centre", "sogo-fukushi"),
    ("cosmos", "community_centre", None),
    ("honme-rojin", "senior_welfare_centre", None),
    ("inba-rojin", "senior_welfare_centre", None),
    ("chuo-rojin-kaigi", "room", "chuo-rojin"),
    ("chiiki-fukushi-tamokuteki", "room", "chiiki-fukushi"),
    ("cosmos-hall", "room", "cosmos"),
]


def build_city(inst: Any) -> dict[str, Any]:
    f.make_org(inst, "inzai-fm", "株式会社いんざい施設管理", term=(HANDOVER, TERM_END))
    for code, cat, parent in FACILITIES:
        f.make_facility(inst, code, cat, parent=parent)
    for code in ("sogo-fukushi", "cosmos", "honme-rojin", "inba-rojin"):
        f.assign(inst, code, "city", CITY_FROM)
    for code in ("chuo-rojin", "chiiki-fukushi"):
        f.assign(inst, code, "city", CITY_FROM, HANDOVER - dt.timedelta(days=1))
        f.assign(inst, code, "inzai-fm", HANDOVER, TERM_END)
    # the opinion's one exception, as city IT grants it: 中央老人福祉センター only
    f.make_duplicate_rule(inst, "chuo-duplicate-check", "chuo-rojin")
    f.make_account(inst, "fm-sato", "inzai-fm", "operator", facility="chuo-rojin")
    f.make_account(inst, "fm-suzuki", "inzai-fm", "operator", facility="chiiki-fukushi")
    f.make_account(inst, "city-honme", "city", "operator", facility="honme-rojin")
    f.make_account(inst, "city-mon", "city", "monitor")
    # the explicit organisation-wide grant (every facility the city manages)
    f.make_account(inst, "city-all", "city", "operator", all_managed_facilities=True)
    regs = {
        "chuo": f.make_registrant(
            inst,
            "chuo-rojin",
            "髙橋 花子",
            "タカハシ ハナコ",
            date_of_birth=dt.date(1948, 5, 3),
            phone="0476-11-1111",
            address="印西市大森1-1",
            emergency_name="髙橋 一郎",
            emergency_phone="090-1111-2222",
        ),
        "chiiki": f.make_registrant(
            inst,
            "chiiki-fukushi",
            "山﨑 太郎",
            "ヤマザキ タロウ",
            date_of_birth=dt.date(1950, 1, 2),
            phone="0476-22-2222",
        ),
        "kodomo": f.make_registrant(
            inst, "kodomo-fureai", "こどもの会", kind="group", representative_name="田中 三郎"
        ),
        "honme": f.make_registrant(
            inst,
            "honme-rojin",
            "高橋 花子",
            "たかはし はなこ",
            date_of_birth=dt.date(1948, 5, 3),
            phone="0476-33-3333",
            address="印西市本埜1",
            emergency_name="高橋 次郎",
            emergency_phone="090-3333-4444",
        ),
        "inba": f.make_registrant(
            inst, "inba-rojin", "佐藤 一子", "サトウ カズコ", date_of_birth=dt.date(1945, 2, 2)
        ),
        "cosmos": f.make_registrant(inst, "cosmos", "コスモス友の会", kind="group"),
    }
    return regs


def at(monkeypatch: Any, day: dt.date, hour: int = 10) -> None:
    """Move the clock to ``day`` at ``hour`` JST."""
    from resv_cli.core import clock

    instant = dt.datetime(day.year, day.month, day.day, hour, tzinfo=clock.JST).astimezone(dt.UTC)
    monkeypatch.setattr(clock, "now", lambda: instant)


def login(inst: Any, login_id: str) -> None:
    r = inst.login(login_id, f.DEFAULT_PASSWORD)
    assert r.exit_code == 0, r
