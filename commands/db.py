"""resv db: create, upgrade and check the database schema."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated

import typer
from resv_cli.commands._common import (
    PasswordStdinOpt,
    echo_err,
    prompt_new_password,
    read_stdin_lines,
    state,
    work,
)

from resv_cli.core.i18n import N_, _

app = typer.Typer(no_args_is_help=True)


class Dialect(str, Enum):
    postgresql = "postgresql"
    sqlite = "sqlite"


@app.command("init")
def init(
    ctx: typer.Context,
    admin: Annotated[
        str, typer.Option("--admin", help=N_("Login ID of the first city administrator."))
    ],
    name: Annotated[str, typer.Option("--name", help=N_("The administrator's full name."))] = "",
    city_code: Annotated[
        str, typer.Option("--city-code", help=N_("Code of the city organisation."))
    ] = "city",
    city_name: Annotated[str, typer.Option("--city-name", help=N_("Name of the city."))] = "市",
    password_stdin: PasswordStdinOpt = False,
) -> None:
    """Create the schema and the first city administrator account.

    The password is asked twice on a hidden prompt, or read from the first line
    of standard input with --password-stdin. Refuses to run on a database that is
    already initialised (exit code 7).

    Example: resv --db city.db db init --admin it-tanaka --name "田中 一郎"
    """
    from resv_cli.accounts.installation import initialise
    from resv_cli.core.errors import InputError

    st = state(ctx)
    engine = st.engine()
    from resv_cli.core.db import is_initialised
    from resv_cli.core.errors import AlreadyInitialised

    if is_initialised(engine):
        raise AlreadyInitialised(_("this database is already initialised; nothing was changed"))
    if password_stdin:
        lines = read_stdin_lines(1)
        if not lines or not lines[0]:
            raise InputError(_("--password-stdin: standard input has no password line"))
        password = lines[0]
    else:
        password = prompt_new_password(N_("Administrator password"))
    result = initialise(
        engine,
        admin_login=admin,
        admin_name=name or admin,
        password=password,
        city_code=city_code,
        city_name=city_name,
    )
    from resv_cli.core.config import audit_key_file, redact_url

    echo_err(
        _("Initialised {url}: administrator {admin}, city {city}.").format(
            url=redact_url(st.url), admin=result["admin"], city=result["city"]
        )
    )
    if result["audit_key_created"]:
        echo_err(
            _("Created the audit key {file} (mode 0600); keep a copy outside the database.").format(
                file=audit_key_file()
            )
        )


@app.command("upgrade")
def upgrade(ctx: typer.Context) -> None:
    """Apply pending schema migrations (Alembic) to this database.

    Example: resv --db postgresql://resv@dbhost/resv db upgrade
    """
    from resv_cli.core import migrations

    engine = state(ctx).engine()
    with engine.begin() as conn:
        before, after = migrations.upgrade(conn)
    if before == after:
        echo_err(_("Already at revision {revision}.").format(revision=after))
    elif before:
        echo_err(
            _("Upgraded from {before} to revision {revision}.").format(
                before=before, revision=after
            )
        )
    else:
        echo_err(
            _("Upgraded from an empty database to revision {revision}.").format(revision=after)
        )


@app.command("check")
def check(ctx: typer.Context) -> None:
    """Check that the database matches this version's schema (exit 8 when not).

    Compares tables, columns, indexes and constraints with the code, checks the
    migration revision and the append-only triggers, and on SQLite runs
    PRAGMA integrity_check and foreign_key_check.

    Example: resv db check
    """
    from resv_cli.core.db import check_schema, require_initialised
    from resv_cli.core.errors import IntegrityCheckFailed

    engine = state(ctx).engine()
    require_initialised(engine)  # exit 9, as every other command (not 8: nothing to compare)
    problems = check_schema(engine)
    if problems:
        for p in problems:
            echo_err(f"  {p}")
        raise IntegrityCheckFailed(
            _("database does not match this version's schema ({n} problem(s))").format(
                n=len(problems)
            )
        )
    typer.echo(_("ok"))


@app.command("schema")
def schema(
    dialect: Annotated[
        Dialect, typer.Option("--dialect", help=N_("SQL dialect of the DDL."))
    ] = Dialect.postgresql,
) -> None:
    """Print the DDL of this version's schema (schema.sql is this, for PostgreSQL).

    Example: resv db schema --dialect sqlite > schema-sqlite.sql
    """
    from resv_cli.core.db import schema_ddl

    sys.stdout.write(schema_ddl(dialect.value))


@app.command("grant-runtime-role")
def grant_runtime_role(
    ctx: typer.Context,
    role: Annotated[str, typer.Argument(help=N_("PostgreSQL role the staff PCs connect as."))],
    password_stdin: PasswordStdinOpt = False,
) -> None:
    """Set up a non-owner PostgreSQL role that can add audit events but never change them.

    Creates ROLE (LOGIN) if it does not exist, grants it read and write on the
    application tables, and only SELECT and INSERT on audit_events (no UPDATE,
    DELETE or TRUNCATE; audit_archives read-only). With --password-stdin the
    first line of standard input becomes its password (sent as a SCRAM verifier,
    never as text). Run it as the table owner, logged in as an administrator;
    run it again after `resv db upgrade`.

    Example: printf '%s\\n' "$RUNTIME_PW" | resv db grant-runtime-role resv_app --password-stdin
    """
    from resv_cli.commands.render import render

    from resv_cli.audit.runtime_role import grant_runtime_role as do_grant
    from resv_cli.core.errors import InputError

    password = None
    if password_stdin:
        lines = read_stdin_lines(1)
        if not lines or not lines[0]:
            raise InputError(_("--password-stdin: standard input has no password line"))
        password = lines[0]
    with work(ctx) as w:
        info = do_grant(w.session, w.actor, role, password=password)
    done = (
        _("Created runtime role {role}.") if info["created"] else _("Updated runtime role {role}.")
    )
    echo_err(done.format(role=info["role"]))
    render(info["grants"])
