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
    encrypt_dob: Annotated[
        bool,
        typer.Option(
            "--encrypt-dob",
            help=N_("Seal dates of birth too (searched by blind index; see `resv key`)."),
        ),
    ] = False,
) -> None:
    """Create the schema, the first city administrator account and the field keys.

    The password is asked twice on a hidden prompt, or read from the first line
    of standard input with --password-stdin. Refuses to run on a database that is
    already initialised (exit code 7). The registrants' addresses, phones and
    emergency contacts are sealed under a data key wrapped by the key-encryption
    key file (made when there is none and RESV_DATA_KEK is unset).

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
        encrypt_dob=encrypt_dob,
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
    if result["data_key_created"]:
        echo_err(
            _(
                "Created the key-encryption key {file} (mode 0600): without it the sealed "
                "fields cannot be read; keep a copy offline, apart from the database backups."
            ).format(file=result["data_key_source"])
        )


@app.command("upgrade")
def upgrade(ctx: typer.Context) -> None:
    """Apply pending schema migrations (Alembic) to this database.

    Example: resv --db postgresql://resv@dbhost/resv db upgrade
    """
    from resv_cli.accounts.installation import upgrade as upgrade_schema

    before, after = upgrade_schema(state(ctx).engine())
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
    PRAGMA integrity_check and foreign_key_check. On PostgreSQL, once row-level
    security has been installed (db rls apply), also names every missing or
    stale policy and function.

    Example: resv db check
    """
    from resv_cli.access import rls
    from resv_cli.core.db import check_schema, require_initialised
    from resv_cli.core.errors import IntegrityCheckFailed

    engine = state(ctx).engine()
    require_initialised(engine)  # exit 9, as every other command (not 8: nothing to compare)
    problems = check_schema(engine) + rls.check(engine)
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


rls_app = typer.Typer(
    no_args_is_help=True,
    help=N_("Row-level security on PostgreSQL, generated from the scope rules: plan, apply."),
)
app.add_typer(rls_app, name="rls")


@rls_app.command("plan")
def rls_plan(ctx: typer.Context) -> None:
    """Print the SQL that `db rls apply` would run, and what differs from the database.

    The SQL (functions that read the scope rules, management periods and places
    of work, and the policies on registrants, certificates and bookings) goes to
    standard output; the differences from what is installed go to standard
    error. PostgreSQL only: on SQLite it refuses (exit 1). Changes nothing.

    Example: resv db rls plan > rls.sql
    """
    from resv_cli.access import rls

    with work(ctx, login=False) as w:
        sql, diffs = rls.plan(w.session)
    sys.stdout.write(sql)
    if diffs:
        echo_err(_("Differences from the installed row-level security:"))
        for d in diffs:
            echo_err(f"  {d}")
    else:
        echo_err(_("The installed row-level security matches; nothing to change."))


@rls_app.command("apply")
def rls_apply(ctx: typer.Context) -> None:
    """Install or update row-level security in one transaction (audited).

    Runs the SQL of `db rls plan`: enables and forces row-level security on
    registrants, certificates and bookings, so every query -- also one that
    forgets a filter, or another program's -- returns only the rows the acting
    account's scope allows. Run it as the tables' owner, logged in as an
    administrator; run it again after `resv db upgrade`. PostgreSQL only.

    Example: resv db rls apply && resv db check
    """
    from resv_cli.access import rls

    with work(ctx) as w:
        diffs = rls.apply(w.session, w.actor)
    if diffs:
        echo_err(
            _("Row-level security installed ({n} difference(s) resolved).").format(n=len(diffs))
        )
    else:
        echo_err(_("Row-level security reinstalled; it already matched."))
