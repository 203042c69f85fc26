"""`salesflow tickets`: support requests in ticket pipelines, with the conventions of `deals`."""

from __future__ import annotations

from typing import Annotated

import typer

from salesflow.cli.contacts import show_change
from salesflow.cli.deals import moved, only_stalled, opened, show_move, to_outcome, to_stage
from salesflow.cli.options import (
    AsJson,
    By,
    DryRun,
    Fields,
    Force,
    Id,
    OutputFormat,
    parse_fields,
)
from salesflow.cli.playbook import Item, Member, Undo, check, mover, print_shown
from salesflow.cli.render import Format, chosen, emit_rows
from salesflow.cli.stages import stage_id
from salesflow.config.model import PRIORITIES
from salesflow.reports import Column
from salesflow.reports.record import shown
from salesflow.store import deals
from salesflow.store.db import transaction

app = typer.Typer(
    no_args_is_help=True,
    help="List, show, add, move, update, close tickets and tick their checklists.",
)

COLUMNS = [
    Column("id", "#", "int"),
    Column("subject", "ticket"),
    Column("contact", "contact"),
    Column("priority", "priority"),
    Column("stage_name", "stage"),
    Column("owner", "owner"),
    Column("days_in_stage", "days", "int"),
    Column("stalled", "stalled", "bool"),
]
STATUSES = ("open", "won", "lost")
Owner = Annotated[str | None, typer.Option(help="Team member id of the owner.")]
Priority = Annotated[str | None, typer.Option(help=", ".join(PRIORITIES) + ".")]
Pipeline = Annotated[str | None, typer.Option(help="Ticket pipeline id (default: the only one).")]


def _priority(value: str | None) -> str | None:
    if value and value not in PRIORITIES:
        raise typer.BadParameter(f"'{value}' is not one of {', '.join(PRIORITIES)}")
    return value


@app.command("list")
def list_(
    ctx: typer.Context,
    pipeline: Annotated[str | None, typer.Option(help="Only this pipeline.")] = None,
    stage: Annotated[str | None, typer.Option(help="Only this stage (its id or its name).")] = None,
    owner: Owner = None,
    priority: Priority = None,
    status: Annotated[str | None, typer.Option(help="open, won (resolved) or lost.")] = None,
    stalled: Annotated[bool, typer.Option("--stalled", help="Only stalled tickets.")] = False,
    output: OutputFormat = Format.table,
    as_json: AsJson = False,
) -> None:
    """List tickets, newest first.

    Example: salesflow tickets list --priority urgent --status open
    """
    if status and status not in STATUSES:
        raise typer.BadParameter(f"'{status}' is not one of {', '.join(STATUSES)}")
    store = ctx.obj.store()
    if pipeline:
        deals.pipeline(store, pipeline, "ticket")  # a typo is an error, not an empty list
    if stage:
        stage = stage_id(store.project, stage, pipeline, "ticket")
    rows = deals.search(store, pipeline, stage, owner, status, record="ticket",
                        priority=_priority(priority))  # fmt: skip
    rows = only_stalled(store, rows, pipeline) if stalled else rows
    data = deals.public_all(rows, store)
    emit_rows(data, COLUMNS, chosen(output, as_json), store.project, "Tickets")


@app.command()
def show(ctx: typer.Context, ticket: Id, as_json: AsJson = False) -> None:
    """Show one ticket: its first response and its resolution time, its stage's playbook
    (guidance, checklist, what the next stage needs) and its history (with --json: its runs
    and messages too).

    Example: salesflow tickets show 7
    """
    store = ctx.obj.store()
    print_shown(shown(store, ticket, "ticket"), store, as_json, "ticket")


@app.command()
def add(
    ctx: typer.Context,
    subject: Annotated[str, typer.Option(help="What the request is about.")],
    contact: Annotated[str | None, typer.Option(help="The contact's email or id.")] = None,
    pipeline: Pipeline = None,
    stage: Annotated[
        str | None, typer.Option(help="Stage id or name (default: the first).")
    ] = None,
    priority: Priority = None,
    owner: Owner = None,
    field: Fields = None,
    force: Force = False,
    by: By = None,
    dry_run: DryRun = False,
    as_json: AsJson = False,
) -> None:
    """Open a ticket (priority normal unless given; owner: the contact's). Opening it in a
    stage enters the stage: the fields the stage requires must be set, unless --force --by
    MEMBER.

    Example: salesflow tickets add --subject "Changer de créneau" --contact julie@example.org
    --priority high
    """
    store = ctx.obj.store()
    values = {"priority": _priority(priority), "owner": owner, "fields": parse_fields(field)}
    who = mover(store, by, force)
    with transaction(store.conn, dry_run):
        if stage:
            stage = stage_id(store.project, stage, pipeline, "ticket")
        row = opened(store, subject, contact, pipeline, stage, values, "ticket", who, force)
        data = deals.public(deals.with_contact(store, row), store)
    show_change("created", data, store, as_json, dry_run)


@app.command()
def update(
    ctx: typer.Context,
    ticket: Id,
    subject: Annotated[str | None, typer.Option(help="What the request is about.")] = None,
    priority: Priority = None,
    owner: Owner = None,
    field: Fields = None,
    dry_run: DryRun = False,
    as_json: AsJson = False,
) -> None:
    """Change a ticket's subject, priority, owner or fields (to move it, `tickets move`).

    Example: salesflow tickets update 7 --priority urgent --owner paul
    """
    store = ctx.obj.store()
    values = {"title": subject, "priority": _priority(priority), "owner": owner,
              "fields": parse_fields(field)}  # fmt: skip
    with transaction(store.conn, dry_run):
        deals.update(store, deals.get(store, ticket, "ticket"), values)
        data = deals.public(deals.with_contact(store, deals.get(store, ticket)), store)
    show_change("updated", data, store, as_json, dry_run)


@app.command()
def move(
    ctx: typer.Context,
    ticket: Id,
    stage: str,
    reason: Annotated[str | None, typer.Option(help="Why (for a lost stage).")] = None,
    reopen: Annotated[bool, typer.Option(help="Allow moving a closed ticket.")] = False,
    force: Force = False,
    by: By = None,
    dry_run: DryRun = False,
    as_json: AsJson = False,
) -> None:
    """Move a ticket to another stage of its pipeline (the stage's id, or its name); refused,
    saying what to do, when the stage's requirements are not met, unless --force --by MEMBER.

    Example: salesflow tickets move 7 attente-client --by paul
    """
    store = ctx.obj.store()
    who = mover(store, by, force)
    data = moved(store, ticket, reason, dry_run, to_stage(store, stage, reopen, who, force),
                 "ticket", who)  # fmt: skip
    show_move("moved", data, store, as_json, dry_run)


@app.command()
def close(
    ctx: typer.Context,
    ticket: Id,
    abandoned: Annotated[
        bool, typer.Option("--abandoned", help="Close it unresolved (lost stage).")
    ] = False,
    reason: Annotated[str | None, typer.Option(help="Why it was abandoned.")] = None,
    force: Force = False,
    by: By = None,
    dry_run: DryRun = False,
    as_json: AsJson = False,
) -> None:
    """Close a ticket: resolved (its pipeline's won stage), or --abandoned (its lost stage).

    Example: salesflow tickets close 7 --by paul
    """
    store = ctx.obj.store()
    who = mover(store, by, force)
    close = to_outcome(store, "lost" if abandoned else "won", who, force)
    data = moved(store, ticket, reason, dry_run, close, "ticket", who)
    show_move("closed", data, store, as_json, dry_run)


@app.command("check")
def check_(
    ctx: typer.Context,
    ticket: Id,
    item: Item,
    by: Member,
    undo: Undo = False,
    as_json: AsJson = False,
) -> None:
    """Tick an item of the checklist of the ticket's stage (--undo: untick it); the ticket's
    history keeps who ticked what, and when.

    Example: salesflow tickets check 7 "Réponse envoyée au membre" --by paul
    """
    check(ctx, ticket, item, by, undo, as_json, "ticket")
