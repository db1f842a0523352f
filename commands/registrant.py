"""resv registrant: add, search, show, update, suspend, reinstate, delete, issue-card,
issue-certificate, check-duplicate.

Every command goes through the access layer (resv_cli.access.decide): you see and change
only the registrants of the facilities your organisation manages today, plus
what explicit scope rules grant.
"""

from __future__ import annotations

from typing import Annotated

import typer
from resv_cli.commands._common import FormatOpt, work
from resv_cli.commands.render import Format

from resv_cli.core.i18n import N_

app = typer.Typer(no_args_is_help=True)

# the code columns of a registrant's tables (other tables' kind and status differ)
CODES = {"kind": "registrant_kind", "status": "registrant_status"}
CERTIFICATE_CODES = {"kind": "certificate_kind"}

IdArg = Annotated[int, typer.Argument(help=N_("Registrant number (ID)."))]
NameOpt = Annotated[str | None, typer.Option("--name", help=N_("Name (group name for groups)."))]
KanaOpt = Annotated[str | None, typer.Option("--kana", help=N_("Reading (フリガナ)."))]
DOB_HELP = N_("Date of birth: 1940-03-02, 1940/3/2 or 和暦 (昭和15年3月2日, S15.3.2).")
DobOpt = Annotated[str | None, typer.Option("--dob", help=DOB_HELP)]
PhoneOpt = Annotated[str | None, typer.Option("--phone", help=N_("Phone number."))]
AddressOpt = Annotated[str | None, typer.Option("--address", help=N_("Address."))]
PostalOpt = Annotated[str | None, typer.Option("--postal-code", help=N_("Postal code."))]
EmNameOpt = Annotated[
    str | None, typer.Option("--emergency-name", help=N_("Emergency contact (family) name."))
]
EmPhoneOpt = Annotated[
    str | None, typer.Option("--emergency-phone", help=N_("Emergency contact phone."))
]
RepOpt = Annotated[
    str | None, typer.Option("--representative", help=N_("Representative's name (groups)."))
]
CardFromOpt = Annotated[
    str | None,
    typer.Option(
        "--card-valid-from",
        help=N_("First day the registration card is valid (和暦 accepted)."),
    ),
]
CardUntilOpt = Annotated[
    str | None,
    typer.Option(
        "--card-valid-until",
        help=N_("Last day the registration card is valid, 有効期限 (和暦 accepted)."),
    ),
]


def _dob(text: str | None):  # noqa: ANN202 - returns date | None
    from resv_cli.core.clock import parse_date

    return parse_date(text, what="--dob") if text else None


AllowDuplicateOpt = Annotated[
    str | None,
    typer.Option(
        "--allow-duplicate",
        metavar="REASON",
        help=N_(
            "Register although the facility has a registrant with the same name, kind "
            "and date of birth (why, e.g. the application number; audited)."
        ),
    ),
]


@app.command("add")
def add_cmd(
    ctx: typer.Context,
    facility: Annotated[str, typer.Option("--facility", help=N_("Facility code to register at."))],
    name: Annotated[str, typer.Option("--name", help=N_("Name (group name for groups)."))],
    kind: Annotated[
        str, typer.Option("--kind", help=N_("individual (個人) or group (団体)."))
    ] = "individual",
    kana: KanaOpt = None,
    dob: DobOpt = None,
    phone: PhoneOpt = None,
    address: AddressOpt = None,
    postal_code: PostalOpt = None,
    emergency_name: EmNameOpt = None,
    emergency_phone: EmPhoneOpt = None,
    representative: RepOpt = None,
    card_valid_from: CardFromOpt = None,
    card_valid_until: CardUntilOpt = None,
    allow_duplicate: AllowDuplicateOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Register a person or group at a facility in your scope (operator); audited.

    The values pass the legacy importer's rules (readings in kana, 7-digit postal
    codes, phone forms, dates of birth in western or era form, not in the future);
    a likely duplicate at the facility is refused unless --allow-duplicate says why.

    Example: resv registrant add --facility chuo-rojin --name "髙橋 花子" --dob 昭和23年5月3日
    """
    from resv_cli.commands.render import render_record

    from resv_cli.records.registrants import NewRegistrant, add_registrant

    new = NewRegistrant(
        facility=facility,
        name=name,
        kind=kind,
        kana=kana,
        date_of_birth=_dob(dob),
        postal_code=postal_code,
        address=address,
        phone=phone,
        emergency_name=emergency_name,
        emergency_phone=emergency_phone,
        representative_name=representative,
        card_valid_from=card_valid_from,
        card_valid_until=card_valid_until,
    )
    with work(ctx) as w:
        row = add_registrant(w.session, w.actor, new, allow_duplicate=allow_duplicate)
    render_record(row, fmt, codes=CODES)


@app.command("search")
def search_cmd(
    ctx: typer.Context,
    name: NameOpt = None,
    kana: KanaOpt = None,
    dob: DobOpt = None,
    phone: PhoneOpt = None,
    facility: Annotated[
        str | None, typer.Option("--facility", help=N_("Only this facility."))
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=10000, help=N_("At most N rows."))
    ] = 100,
    count: Annotated[
        bool, typer.Option("--count", help=N_("Print only the number of matches."))
    ] = False,
    include_deleted: Annotated[
        bool,
        typer.Option(
            "--include-deleted",
            help=N_("Also show deleted registrations (hidden by default)."),
        ),
    ] = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """Search registrants in your scope by name, reading, date of birth or phone; audited.

    Names and readings match regardless of width, kana form, spacing and variant
    kanji (髙/高, 﨑/崎), by prefix. Results come in 五十音 order of the reading,
    with each registration's status; deleted ones only with --include-deleted.

    Example: resv registrant search --name "高橋" --dob 1948-05-03
    """
    from resv_cli.commands.render import render, render_record

    from resv_cli.records.registrants import SEARCH_COLUMNS, Criteria, search_registrants

    crit = Criteria(
        name=name,
        kana=kana,
        date_of_birth=_dob(dob),
        phone=phone,
        facility=facility,
        include_deleted=include_deleted,
    )
    with work(ctx) as w:
        result = search_registrants(w.session, w.actor, crit, limit=limit, count_only=count)
    if isinstance(result, int):
        render_record({"count": result}, fmt)
    else:
        render(result, fmt, columns=SEARCH_COLUMNS, codes=CODES)


@app.command("show")
def show_cmd(ctx: typer.Context, registrant_id: IdArg, fmt: FormatOpt = Format.table) -> None:
    """Show one registrant in your scope: status, card validity, certificates; audited.

    Example: resv registrant show 42
    """
    from resv_cli.commands.render import render_record

    from resv_cli.records.registrants import show_registrant

    with work(ctx) as w:
        row = show_registrant(w.session, w.actor, registrant_id)
    render_record(row, fmt, codes=CODES)


@app.command("update")
def update_cmd(
    ctx: typer.Context,
    registrant_id: IdArg,
    name: NameOpt = None,
    kana: KanaOpt = None,
    dob: DobOpt = None,
    phone: PhoneOpt = None,
    address: AddressOpt = None,
    postal_code: PostalOpt = None,
    emergency_name: EmNameOpt = None,
    emergency_phone: EmPhoneOpt = None,
    representative: RepOpt = None,
    card_valid_from: CardFromOpt = None,
    card_valid_until: CardUntilOpt = None,
    allow_duplicate: AllowDuplicateOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Change fields of a registrant in your scope; audited (field names only).

    A blank value clears an optional field. The status has its own commands
    (suspend, reinstate, delete). A new name or date of birth that makes the
    registrant a likely duplicate of another at the facility is refused unless
    --allow-duplicate says why.

    Example: resv registrant update 42 --phone 0476-11-2222 --card-valid-until 2027-03-31
    """
    from resv_cli.commands.render import render_record

    from resv_cli.records.registrants import update_registrant

    changes = {
        "name": name,
        "kana": kana,
        "date_of_birth": _dob(dob),
        "phone": phone,
        "address": address,
        "postal_code": postal_code,
        "emergency_name": emergency_name,
        "emergency_phone": emergency_phone,
        "representative_name": representative,
        "card_valid_from": card_valid_from,
        "card_valid_until": card_valid_until,
    }
    with work(ctx) as w:
        row = update_registrant(
            w.session, w.actor, registrant_id, changes, allow_duplicate=allow_duplicate
        )
    render_record(row, fmt, codes=CODES)


ReasonOpt = Annotated[
    str | None,
    typer.Option("--reason", help=N_("Why (e.g. the notice number); kept with the registrant.")),
]
OnOpt = Annotated[
    str | None,
    typer.Option("--on", help=N_("Day the change took effect (default today; 和暦 accepted).")),
]


def _set_status(
    ctx: typer.Context,
    registrant_id: int,
    status: str,
    reason: str | None,
    on: str | None,
    fmt: Format,
) -> None:
    from resv_cli.commands.render import render_record

    from resv_cli.records.registrants import set_status

    with work(ctx) as w:
        row = set_status(w.session, w.actor, registrant_id, status, reason=reason, on=on)
    render_record(row, fmt, codes=CODES)


@app.command("suspend")
def suspend_cmd(
    ctx: typer.Context,
    registrant_id: IdArg,
    reason: ReasonOpt = None,
    on: OnOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Suspend a registration (利用停止): it cannot book until reinstated; audited.

    --reason is required. The registrant is still found by search and shown.

    Example: resv registrant suspend 42 --reason "通知 2026-15"
    """
    _set_status(ctx, registrant_id, "suspended", reason, on, fmt)


@app.command("reinstate")
def reinstate_cmd(
    ctx: typer.Context,
    registrant_id: IdArg,
    reason: ReasonOpt = None,
    on: OnOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Make a suspended or deleted registration active again; audited.

    Example: resv registrant reinstate 42
    """
    _set_status(ctx, registrant_id, "active", reason, on, fmt)


@app.command("delete")
def delete_cmd(
    ctx: typer.Context,
    registrant_id: IdArg,
    reason: ReasonOpt = None,
    on: OnOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Delete a registration (登録抹消): a status, the record is kept; audited.

    A deleted registration cannot book and is hidden from search unless
    --include-deleted is given; `reinstate` undoes it. --reason is required.

    Example: resv registrant delete 42 --reason "転出届 2026-07"
    """
    _set_status(ctx, registrant_id, "deleted", reason, on, fmt)


@app.command("issue-card")
def issue_card_cmd(ctx: typer.Context, registrant_id: IdArg, fmt: FormatOpt = Format.table) -> None:
    """Issue a user card (利用者カード) to a group registrant in your scope; audited.

    Example: resv registrant issue-card 43
    """
    from resv_cli.commands.render import render_record

    from resv_cli.records.certificates import issue_card

    with work(ctx) as w:
        row = issue_card(w.session, w.actor, registrant_id)
    render_record(row, fmt, codes=CERTIFICATE_CODES)


@app.command("issue-certificate")
def issue_certificate_cmd(
    ctx: typer.Context,
    registrant_id: IdArg,
    override_reason: Annotated[
        str | None,
        typer.Option(
            "--override-reason",
            help=N_("Issue although another senior centre holds a certificate (audited)."),
        ),
    ] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Issue a senior certificate (登録証) to an individual, after the duplicate check.

    Refuses when another senior facility already issued one to the same person,
    unless --override-reason is given.

    Example: resv registrant issue-certificate 42
    """
    from resv_cli.commands.render import render_record

    from resv_cli.records.certificates import issue_certificate

    with work(ctx) as w:
        row = issue_certificate(w.session, w.actor, registrant_id, override_reason)
    render_record(row, fmt, codes=CERTIFICATE_CODES)


@app.command("check-duplicate")
def check_duplicate_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help=N_("Name of the applicant."))],
    dob: Annotated[str, typer.Option("--dob", help=DOB_HELP)],
    reason: Annotated[
        str, typer.Option("--reason", help=N_("Why (e.g. the application number); required."))
    ],
    kana: KanaOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Check the senior centres for an existing certificate (senior welfare centre staff only).

    Shows only match or not, the facility, the certificate number and its date;
    rate-limited per hour; audited with the search terms as a keyed hash.

    Example: resv registrant check-duplicate --name "髙橋 花子" --dob 1948-05-03 --reason "申請 123"
    """
    from resv_cli.commands.render import render

    from resv_cli.records.certificates import DUPLICATE_COLUMNS, check_duplicate

    day = _dob(dob)
    assert day is not None
    with work(ctx) as w:
        rows = check_duplicate(
            w.session, w.actor, name=name, kana=kana, date_of_birth=day, reason=reason
        )
    render(rows, fmt, columns=DUPLICATE_COLUMNS)
