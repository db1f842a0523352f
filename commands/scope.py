"""resv scope: list, add, remove and explain scope rules; plan and apply policy files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from resv_cli.commands._common import FormatOpt, echo_err, work
from resv_cli.commands.render import Format

from resv_cli.core.i18n import N_, _

app = typer.Typer(no_args_is_help=True)

# the code columns of a rule (kind, resource) and of an explanation (action, resource)
RULE_CODES = {"kind": "rule_kind", "resource": "scope_resource"}
EXPLAIN_CODES = {"action": "scope_action", "resource": "scope_resource"}


@app.command("list")
def list_cmd(ctx: typer.Context, fmt: FormatOpt = Format.table) -> None:
    """List the scope rules (admin, monitor).

    Example: resv scope list --format json
    """
    from resv_cli.commands.render import render

    from resv_cli.access.rules import list_rules

    with work(ctx) as w:
        rows = list_rules(w.session, w.actor)
    render(rows, fmt, codes=RULE_CODES)


@app.command("add")
def add_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help=N_("Unique name of the rule."))],
    subject: Annotated[
        str,
        typer.Option(
            "--subject",
            help=N_(
                "Who: organization:CODE, account:LOGIN or role:ROLE; for a duplicate-check "
                "rule facility:CODE (whose staff may check)."
            ),
        ),
    ],
    actions: Annotated[
        str,
        typer.Option("--actions", help=N_("Comma-separated: register,view,search,update,lend.")),
    ] = "",
    kind: Annotated[
        str,
        typer.Option(
            "--kind",
            help=N_(
                "access (default), or duplicate-check: the purpose-bound check for a second "
                "senior certificate, from the --subject facility over --category (default every "
                "senior category); needs --purpose."
            ),
        ),
    ] = "access",
    resource: Annotated[
        str, typer.Option("--resource", help=N_("registrants or bookings."))
    ] = "registrants",
    facility: Annotated[
        str | None, typer.Option("--facility", help=N_("Facility code (covers its rooms too)."))
    ] = None,
    category: Annotated[
        str | None,
        typer.Option("--category", help=N_("Facility category instead of one facility.")),
    ] = None,
    fields: Annotated[
        str | None,
        typer.Option("--fields", help=N_("Comma-separated fields the rule reveals (default all).")),
    ] = None,
    purpose: Annotated[
        str | None, typer.Option("--purpose", help=N_("Why the rule exists."))
    ] = None,
    valid_from: Annotated[
        str | None,
        typer.Option("--from", help=N_("First day the rule holds (2017-04-01 or 和暦).")),
    ] = None,
    valid_until: Annotated[
        str | None, typer.Option("--until", help=N_("Last day the rule holds (inclusive)."))
    ] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Add an explicit scope rule (admin); audited.

    Example: resv scope add kodomo-view --subject account:fm-suzuki --actions view,search
    --facility kodomo-fureai --until 2027-03-31

    Example: resv scope add chuo-duplicate-check --kind duplicate-check
    --subject facility:chuo-rojin --purpose 登録証の重複発行防止
    """
    from resv_cli.commands.render import render_record

    from resv_cli.access.rules import add_rule, make_spec

    with work(ctx) as w:
        spec = make_spec(
            w.session,
            kind=kind,
            name=name,
            subject=subject,
            actions=actions,
            resource=resource,
            facility=facility,
            category=category,
            fields=fields,
            purpose=purpose,
            valid_from=valid_from,
            valid_until=valid_until,
        )
        row = add_rule(w.session, w.actor, spec)
    render_record(row, fmt, codes=RULE_CODES)


@app.command("remove")
def remove_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help=N_("Name of the rule to remove."))],
) -> None:
    """Remove a scope rule by name (admin); audited.

    Example: resv scope remove kodomo-view
    """
    from resv_cli.access.rules import remove_rule

    with work(ctx) as w:
        remove_rule(w.session, w.actor, name)
    echo_err(_("Removed scope rule {name}.").format(name=name))


@app.command("explain")
def explain_cmd(
    ctx: typer.Context,
    account: Annotated[str, typer.Option("--account", help=N_("Login ID of the account."))],
    action: Annotated[
        str,
        typer.Option(
            "--action", help=N_("register, view, search, update, lend or check_duplicate.")
        ),
    ],
    facility: Annotated[str, typer.Option("--facility", help=N_("Facility code."))],
    resource: Annotated[
        str, typer.Option("--resource", help=N_("registrants or bookings."))
    ] = "registrants",
    on: Annotated[
        str | None, typer.Option("--on", help=N_("Day to decide for (default today, JST)."))
    ] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Print allow or deny for an account, action and facility, and what decided it.

    Example: resv scope explain --account fm-sato --action search --facility chuo-rojin
    """
    from resv_cli.commands.render import render_record

    from resv_cli.access.rules import explain
    from resv_cli.core.clock import parse_date

    day = parse_date(on, what="--on") if on else None
    with work(ctx) as w:
        row = explain(
            w.session,
            w.actor,
            login_id=account,
            action=action,
            facility=facility,
            resource=resource,
            on=day,
        )
    render_record(row, fmt, codes=EXPLAIN_CODES)


PolicyArg = Annotated[
    Path,
    typer.Argument(exists=True, dir_okay=False, readable=True, help=N_("TOML policy file.")),
]
OnOpt = Annotated[
    str | None,
    typer.Option("--on", help=N_("Day for the effective-access difference (default today).")),
]


@app.command("plan")
def plan_cmd(
    ctx: typer.Context, file: PolicyArg, on: OnOpt = None, fmt: FormatOpt = Format.table
) -> None:
    """Show what applying a policy file would change, in rules and in access; writes nothing.

    Example: resv scope plan policy/scope.toml --on 2017-04-01
    """
    _plan_or_apply(ctx, file, on, fmt, apply=False)


@app.command("apply")
def apply_cmd(
    ctx: typer.Context, file: PolicyArg, on: OnOpt = None, fmt: FormatOpt = Format.table
) -> None:
    """Make the scope rules match a policy file, in one transaction, audited, idempotent.

    Example: resv scope apply policy/scope.toml
    """
    _plan_or_apply(ctx, file, on, fmt, apply=True)


def _plan_or_apply(
    ctx: typer.Context, file: Path, on: str | None, fmt: Format, *, apply: bool
) -> None:
    import json
    import sys

    from resv_cli.commands.render import render

    from resv_cli.access.policy import apply_policy, plan_policy
    from resv_cli.core.clock import parse_date

    day = parse_date(on, what="--on") if on else None
    with work(ctx) as w:
        fn = apply_policy if apply else plan_policy
        plan = fn(w.session, w.actor, file, day)
    if fmt is Format.json:
        json.dump(plan.as_dict(), sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        render(plan.rows(), fmt, columns=["change", "what", "detail"])
    if plan.empty:
        done = (
            _("Applied: no changes; the rules already match {file}.")
            if apply
            else _("Plan: no changes; the rules already match {file}.")
        )
        echo_err(done.format(file=file.name))
    else:
        done = (
            _(
                "Applied: {add} to add, {change} to change, {remove} to remove; "
                "access +{gained} -{lost} on {day}."
            )
            if apply
            else _(
                "Plan: {add} to add, {change} to change, {remove} to remove; "
                "access +{gained} -{lost} on {day}."
            )
        )
        echo_err(
            done.format(
                add=len(plan.add),
                change=len(plan.change),
                remove=len(plan.remove),
                gained=len(plan.gained),
                lost=len(plan.lost),
                day=plan.on,
            )
        )
