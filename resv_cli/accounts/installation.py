"""Set up a new shared database: schema, the city, the first administrator, the field keys."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from resv_cli.accounts import passwords
from resv_cli.audit import chain as audit
from resv_cli.core import clock, fieldcrypt, kek
from resv_cli.core.db import create_schema, is_initialised
from resv_cli.core.errors import AlreadyInitialised, InputError
from resv_cli.core.i18n import _
from resv_cli.core.models import Account, Organization
from resv_cli.core.normalize import check_text, max_len

if TYPE_CHECKING:
    from sqlalchemy import Engine


def initialise(
    engine: Engine,
    *,
    admin_login: str,
    admin_name: str,
    password: str,
    city_code: str = "city",
    city_name: str = "市",
    encrypt_dob: bool = False,
) -> dict[str, Any]:
    """Create the schema, the first city administrator and the field-encryption keys.

    The data keys are wrapped by the installation's key-encryption key: the key file
    is made when there is none (and no ``RESV_DATA_KEK``).  ``encrypt_dob`` seals
    the dates of birth too (``resv_cli.core.fieldcrypt``).  Refuses a second run.
    """
    if is_initialised(engine):
        raise AlreadyInitialised(_("this database is already initialised; nothing was changed"))
    admin_login = admin_login.strip()
    if not admin_login or len(admin_login) > 64 or any(c.isspace() for c in admin_login):
        raise InputError(_("--admin must be a login ID of 1-64 characters without spaces"))
    admin_name = check_text("--name", admin_name, max_len=max_len(Account.display_name))
    city_code = check_text("--city-code", city_code, max_len=max_len(Organization.code))
    city_name = check_text("--city-name", city_name, max_len=max_len(Organization.name))
    passwords.check_policy(
        password, login_id=admin_login, name=admin_name, organization=(city_code, city_name)
    )
    password_hash = passwords.hash_password(password)
    key_created = audit.ensure_audit_key()
    keks, kek_created = kek.ensure()
    now = clock.now()
    with engine.connect() as conn, conn.begin(), Session(bind=conn) as s:
        create_schema(conn)
        fieldcrypt.create_keys(conn, keks, encrypt_dob=encrypt_dob, now=now)
        city = Organization(code=city_code, name=city_name, kind="city", created_at=now)
        s.add(city)
        s.flush()
        admin = Account(
            login_id=admin_login,
            display_name=admin_name,
            organization_id=city.id,
            role="admin",
            password_hash=password_hash,
            password_changed_at=now,
            must_change_password=False,
            status="active",
            failed_attempts=0,
            lock_count=0,
            created_at=now,
            updated_at=now,
        )
        s.add(admin)
        s.flush()
        audit.record(
            s,
            None,
            "db.init",
            resource_type="account",
            resource_id=admin.id,
            account_id=admin.id,
            login_id=admin.login_id,
            organization_code=city.code,
            detail={
                "dialect": engine.dialect.name,
                "city": city_code,
                "encrypt_date_of_birth": encrypt_dob,
            },
        )
        s.flush()
    return {
        "admin": admin_login,
        "city": city_code,
        "audit_key_created": key_created,
        "data_key_created": kek_created,
        "data_key_source": keks.source,
    }


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Apply pending schema migrations; (revision before, after).

    A database that had a schema records the change in its history, in the
    migrations' own transaction: no upgrade without its event (an empty database
    has no history yet; ``db init`` starts it).  Run without a login: the schema
    may be too old for the session check, and the database's credentials are what
    guard it.
    """
    from resv_cli.core import migrations

    with engine.begin() as conn:
        before, after = migrations.upgrade(conn)
        if before is not None and before != after:
            s = Session(bind=conn)  # joins the migrations' transaction, never ends it
            audit.record(
                s,
                None,
                "db.upgrade",
                detail={
                    "dialect": engine.dialect.name,
                    "revision_from": before,
                    "revision_to": after,
                },
            )
            s.flush()
            s.close()
    return before, after
