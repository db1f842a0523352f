"""Direct inserts of the entities tests need, without going through other commands.

Each capability's own tests exercise its commands; these helpers let one capability's
tests set up the others' data (an organisation, a facility managed over some dates,
an account that can log in, a registrant) in a few lines, on any backend.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from resv_cli.accounts import passwords
from resv_cli.core import clock
from resv_cli.core.models import Account, Facility, ManagementPeriod, Organization
from resv_cli.core.normalize import kana_key, name_key, nfc
from resv_cli.core.personal import Booking, Registrant

DEFAULT_PASSWORD = "Test-passphrase-for-staff-2026"  # test-only; searched for in leak tests


def _session(inst: Any) -> Session:
    return Session(bind=inst.engine())


def org_id(s: Session, code: str) -> int:
    return s.execute(select(Organization.id).where(Organization.code == code)).scalar_one()


def facility_id(s: Session, code: str) -> int:
    return s.execute(select(Facility.id).where(Facility.code == code)).scalar_one()


def make_org(
    inst: Any,
    code: str,
    name: str | None = None,
    kind: str = "designated_manager",
    term: tuple[dt.date | None, dt.date | None] = (None, None),
) -> int:
    with _session(inst) as s, s.begin():
        org = Organization(
            code=code,
            name=name or f"{code} 株式会社",
            kind=kind,
            term_start=term[0],
            term_end=term[1],
            created_at=clock.now(),
        )
        s.add(org)
        s.flush()
        return org.id


def make_facility(
    inst: Any,
    code: str,
    category: str = "community_centre",
    name: str | None = None,
    parent: str | None = None,
    hours: tuple[str, str] | None = ("09:00", "21:00"),
) -> int:
    now = clock.now()
    with _session(inst) as s, s.begin():
        fac = Facility(
            code=code,
            name=name or f"{code} 施設",
            category=category,
            parent_id=facility_id(s, parent) if parent else None,
            opens_at=hours[0] if hours else None,
            closes_at=hours[1] if hours else None,
            created_at=now,
            updated_at=now,
        )
        s.add(fac)
        s.flush()
        return fac.id


def assign(
    inst: Any,
    facility: str,
    org: str,
    valid_from: dt.date,
    valid_until: dt.date | None = None,
) -> int:
    with _session(inst) as s, s.begin():
        period = ManagementPeriod(
            facility_id=facility_id(s, facility),
            organization_id=org_id(s, org),
            valid_from=valid_from,
            valid_until=valid_until,
            created_at=clock.now(),
        )
        s.add(period)
        s.flush()
        return period.id


def make_account(
    inst: Any,
    login_id: str,
    org: str,
    role: str = "operator",
    facility: str | None = None,
    password: str = DEFAULT_PASSWORD,
    name: str | None = None,
    places: tuple[str, ...] = (),
    **fields: Any,
) -> int:
    """An active account with a known password (no first-login change needed).

    ``facility`` is its (first) place of work; ``places`` adds more.
    """
    now = clock.now()
    with _session(inst) as s, s.begin():
        acc = Account(
            login_id=login_id,
            display_name=name or f"職員 {login_id}",
            organization_id=org_id(s, org),
            role=role,
            facility_id=facility_id(s, facility) if facility else None,
            password_hash=passwords.hash_password(password),
            password_changed_at=now,
            must_change_password=False,
            status="active",
            failed_attempts=0,
            lock_count=0,
            created_at=now,
            updated_at=now,
            **fields,
        )
        s.add(acc)
        s.flush()
        from resv_cli.core.models import AccountWorkplace

        for code in dict.fromkeys((facility, *places) if facility else places):
            s.add(AccountWorkplace(account_id=acc.id, facility_id=facility_id(s, code)))
        return acc.id


def make_registrant(
    inst: Any,
    facility: str,
    name: str,
    kana: str | None = None,
    kind: str = "individual",
    date_of_birth: dt.date | None = None,
    phone: str | None = None,
    **fields: Any,
) -> int:
    from resv_cli.core import fieldcrypt

    now = clock.now()
    with _session(inst) as s, s.begin():
        # sealed as the services seal it: the id first, the fields with it
        keys = fieldcrypt.load(s, for_writing=True)
        rid = fieldcrypt.allocate_ids(s, 1)[0]
        clear = {
            "kind": kind,
            "name": nfc(name),
            "name_key": name_key(name),
            "kana": kana,
            "kana_key": kana_key(kana) if kana else None,
            "date_of_birth": date_of_birth,
            "phone": phone,
            "phone_digits": "".join(c for c in phone if c.isdigit()) if phone else None,
            **fields,
        }
        reg = Registrant(
            id=rid,
            facility_id=facility_id(s, facility),
            created_at=now,
            updated_at=now,
            **keys.stored(rid, clear),
        )
        s.add(reg)
        s.flush()
        return int(reg.id)


def make_booking(
    inst: Any,
    facility: str,
    registrant_id: int,
    starts_at: dt.datetime,
    hours: int = 2,
    **fields: Any,
) -> int:
    with _session(inst) as s, s.begin():
        b = Booking(
            facility_id=facility_id(s, facility),
            registrant_id=registrant_id,
            starts_at=starts_at,
            ends_at=starts_at + dt.timedelta(hours=hours),
            status="booked",
            created_at=clock.now(),
            **fields,
        )
        s.add(b)
        s.flush()
        return int(b.id)


def make_duplicate_rule(
    inst: Any,
    name: str,
    from_facility: str,
    over_category: str | None = None,
    purpose: str = "登録証の重複発行防止",
) -> None:
    """The purpose-bound duplicate-check exception for staff of ``from_facility``."""
    from resv_cli.core.models import DuplicateCheckRule

    with _session(inst) as s, s.begin():
        s.add(
            DuplicateCheckRule(
                name=name,
                from_facility_code=from_facility,
                over_category=over_category,
                purpose=purpose,
                created_at=clock.now(),
            )
        )


def jst_instant(jst: str) -> dt.datetime:
    """``2026-05-01 09:30`` read as Japan time, as the UTC instant resv stores."""
    return dt.datetime.fromisoformat(jst).replace(tzinfo=clock.JST).astimezone(dt.UTC)


def record_event(
    inst: Any, monkeypatch: Any, jst: str, login: str | None, action: str, **fields: Any
) -> int:
    """Append one audit event through the real chain at Japan time ``jst``, as ``login``
    (or as the system when None); returns its sequence number."""
    from resv_cli.audit import chain as audit

    when = jst_instant(jst)
    with monkeypatch.context() as m:
        m.setattr(clock, "now", lambda: when)
        with _session(inst) as s, s.begin():
            extra: dict[str, Any] = {}
            if login is not None:
                acc = s.query(Account).filter_by(login_id=login).one()
                org = s.get(Organization, acc.organization_id)
                assert org is not None
                extra = {"account_id": acc.id, "login_id": login, "organization_code": org.code}
            return audit.record(s, None, action, **extra, **fields)  # type: ignore[no-any-return]
