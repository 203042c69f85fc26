"""`salesflow contacts`: the people in the pipeline."""

from __future__ import annotations

from typing import Annotated

import typer

from salesflow.cli.options import AsJson, DryRun, Fields, OutputFormat, parse_fields
from salesflow.cli.render import Format, chosen, emit_rows, print_record, to_json
from salesflow.reports import Column
from salesflow.store import contacts, deals
from salesflow.store.db import LARGEST_ID, transaction
from salesflow.store.session import Store

app = typer.Typer(no_args_is_help=True, help="List, show, add and change contacts.")

COLUMNS = [
    Column("id", "#", "int"),
    Column("email", "email"),
    Column("first_name", "first name"),
    Column("last_name", "last name"),
    Column("phone", "phone"),
    Column("company", "company"),
    Column("owner", "owner"),
    Column("tags", "tags"),
]
FirstName = Annotated[str | None, typer.Option(help="First name.")]
LastName = Annotated[str | None, typer.Option(help="Last name.")]
Phone = Annotated[str | None, typer.Option(help="Phone number (kept as written).")]
Company = Annotated[str | None, typer.Option(help="Company.")]
Owner = Annotated[str | None, typer.Option(help="Team member id of the owner.")]
Source = Annotated[str | None, typer.Option(help="Where the contact came from.")]
Tags = Annotated[list[str] | None, typer.Option("--tag", help="A tag to add (repeatable).")]
EmailStatus = Annotated[
    str | None,
    typer.Option(
        help="ok, or undeliverable (emails to it are skipped): clears or sets what a bounce"
        " decided."
    ),
]
EMAIL_STATUS = Column("email_status", "email status")


def _values(first_name, last_name, phone, company, owner, source) -> dict:
    return {
        "first_name": first_name, "last_name": last_name, "phone": phone,
        "company": company, "owner": owner, "source": source,
    }  # fmt: skip


_INFINITIVE = {"won": "win", "lost": "lose"}


def show_change(
    verb: str,
    data: dict,
    store: Store,
    as_json: bool,
    dry_run: bool,
    details: bool = True,
    status_asked: bool = False,
) -> None:
    """What a command created or changed: the object (JSON), or a line (and its fields)."""
    if as_json:
        typer.echo(to_json(data))
        return
    prefix = f"would {_INFINITIVE.get(verb, verb.removesuffix('d'))}" if dry_run else verb
    label = data.get("email") or data.get("title") or data.get("subject")
    if "stage_name" in data and not details:
        label += f" → {data['stage_name']} ({data['status']})"
    typer.echo(
        f"{prefix} #{data['id']} {label}" + (" (dry run: nothing written)" if dry_run else "")
    )
    if details:
        print_record(_for_people(data, status_asked), store.project)


@app.command("list")
def list_(
    ctx: typer.Context,
    owner: Owner = None,
    tag: Annotated[str | None, typer.Option(help="Only contacts with this tag.")] = None,
    search: Annotated[str | None, typer.Option(help="Text in email, names or company.")] = None,
    limit: Annotated[
        int | None, typer.Option(help="At most this many.", min=1, max=LARGEST_ID)
    ] = None,
    output: OutputFormat = Format.table,
    as_json: AsJson = False,
) -> None:
    """List contacts, newest first.

    Example: salesflow contacts list --owner marie --format csv > contacts.csv
    """
    store = ctx.obj.store()
    rows = [
        contacts.public(row, store) for row in contacts.search(store, owner, tag, search, limit)
    ]
    output = chosen(output, as_json)
    if output is not Format.table:
        columns = [*COLUMNS, EMAIL_STATUS, *_custom_columns(store)]
    elif any(row["email_status"] != "ok" for row in rows):
        columns = [*COLUMNS, EMAIL_STATUS]
        rows = [_for_people(row) for row in rows]
    else:
        columns = COLUMNS
    emit_rows(rows, columns, output, store.project, "Contacts")


def _for_people(data: dict, asked: bool = False) -> dict:
    """The contact as tables and records show it: its email status only when it is not ok,
    or when the command set it (JSON and exports always have it)."""
    if asked or data.get("email_status") != "ok":
        return data
    return {key: value for key, value in data.items() if key != "email_status"}


def _custom_columns(store: Store) -> list[Column]:
    """The project's own contact fields, for exports (the terminal table stays narrow)."""
    kinds = {"datetime": "datetime", "date": "date", "money": "money"}
    return [
        Column(name, spec.label or name, kinds.get(spec.type, "text"))
        for name, spec in store.project.contact_fields.items()
    ]


@app.command()
def show(ctx: typer.Context, contact: str, as_json: AsJson = False) -> None:
    """Show one contact (by email or id) with their deals.

    Example: salesflow contacts show julie.martin@example.org
    """
    store = ctx.obj.store()
    row = contacts.get(store, contact)
    data = contacts.public(row, store)
    data["deals"] = deals.public_all(deals.search(store, contact=row["id"]), store)
    if as_json:
        typer.echo(to_json(data))
        return
    print_record(_for_people(data), store.project)
    for deal in data["deals"]:
        typer.echo(
            f"  deal #{deal['id']} {deal['title']} — {deal['stage_name']} ({deal['status']})"
        )


@app.command()
def add(
    ctx: typer.Context,
    email: str,
    first_name: FirstName = None,
    last_name: LastName = None,
    phone: Phone = None,
    company: Company = None,
    owner: Owner = None,
    source: Source = None,
    tag: Tags = None,
    field: Fields = None,
    dry_run: DryRun = False,
    as_json: AsJson = False,
) -> None:
    """Add a contact.

    Example: salesflow contacts add julie@example.org --first-name Julie --field voix=alto
    """
    store = ctx.obj.store()
    values = _values(first_name, last_name, phone, company, owner, source)
    with transaction(store.conn, dry_run):
        row = contacts.add(store, email, values, tag or [], parse_fields(field))
        data = contacts.public(row, store)
    show_change("created", data, store, as_json, dry_run)


@app.command()
def update(
    ctx: typer.Context,
    contact: str,
    first_name: FirstName = None,
    last_name: LastName = None,
    phone: Phone = None,
    company: Company = None,
    owner: Owner = None,
    source: Source = None,
    tag: Tags = None,
    field: Fields = None,
    email_status: EmailStatus = None,
    dry_run: DryRun = False,
    as_json: AsJson = False,
) -> None:
    """Change a contact (by email or id); only the values given change.

    Example: salesflow contacts update julie@example.org --phone "06 12 34 56 78"
    """
    if email_status is not None and email_status not in contacts.EMAIL_STATUSES:
        statuses = " or ".join(contacts.EMAIL_STATUSES)
        raise typer.BadParameter(f"'{email_status}' is not {statuses}", param_hint="--email-status")
    store = ctx.obj.store()
    values = _values(first_name, last_name, phone, company, owner, source)
    with transaction(store.conn, dry_run):
        row = contacts.get(store, contact)
        contacts.update(store, row, values, tag or [], parse_fields(field))
        if email_status is not None:
            contacts.set_email_status(store, row["id"], email_status, reason="by hand")
        data = contacts.public(contacts.get(store, row["id"]), store)
    show_change("updated", data, store, as_json, dry_run, status_asked=email_status is not None)


@app.command()
def unsubscribe(
    ctx: typer.Context, contact: str, dry_run: DryRun = False, as_json: AsJson = False
) -> None:
    """Stop all emails to a contact (workflows skip their send_email steps).

    Example: salesflow contacts unsubscribe julie@example.org
    """
    store = ctx.obj.store()
    with transaction(store.conn, dry_run):
        data = contacts.public(contacts.unsubscribe(store, contact), store)
    show_change("unsubscribed", data, store, as_json, dry_run)
