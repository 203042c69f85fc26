"""`salesflow deals`: deals in pipelines, moved by hand."""

from __future__ import annotations

import sqlite3
import sys
from typing import Annotated

import typer

from salesflow.cli.contacts import show_change
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
from salesflow.cli.playbook import Item, Member, Undo, check, mover, print_shown, refusal
from salesflow.cli.render import Format, chosen, emit_rows
from salesflow.cli.stages import stage_id
from salesflow.reports import Column
from salesflow.reports.record import shown
from salesflow.reports.stalled import stalled_rows
from salesflow.store import contacts, deals
from salesflow.store.db import transaction
from salesflow.store.playbook import RequirementsMissing
from salesflow.store.session import Store

app = typer.Typer(
    no_args_is_help=True, help="List, show, add, move, close deals and tick their checklists."
)

COLUMNS = [
    Column("id", "#", "int"),
    Column("title", "deal"),
    Column("contact", "contact"),
    Column("stage_name", "stage"),
    Column("amount", "amount", "money"),
    Column("owner", "owner"),
    Column("expected_close", "expected close", "date"),
    Column("days_in_stage", "days", "int"),
    Column("stalled", "stalled", "bool"),
]
STATUSES = ("open", "won", "lost")
Amount = Annotated[str | None, typer.Option(help="Amount in major units: 1200.50 or 1 200,50.")]
Owner = Annotated[str | None, typer.Option(help="Team member id of the owner.")]
Close = Annotated[
    str | None, typer.Option("--expected-close", help="Expected close date (ISO or local form).")
]
NextStep = Annotated[str | None, typer.Option(help="The next thing to do.")]
Probability = Annotated[
    int | None, typer.Option(min=0, max=100, help="Override the stage's probability (0–100).")
]
Reason = Annotated[str | None, typer.Option(help="Why the deal was lost.")]


@app.command("list")
def list_(
    ctx: typer.Context,
    pipeline: Annotated[str | None, typer.Option(help="Only this pipeline.")] = None,
    stage: Annotated[str | None, typer.Option(help="Only this stage (its id or its name).")] = None,
    owner: Owner = None,
    status: Annotated[str | None, typer.Option(help="open, won or lost.")] = None,
    stalled: Annotated[bool, typer.Option("--stalled", help="Only stalled deals.")] = False,
    output: OutputFormat = Format.table,
    as_json: AsJson = False,
) -> None:
    """List deals, newest first.

    Example: salesflow deals list --stage essai-planifie --json
    """
    if status and status not in STATUSES:
        raise typer.BadParameter(f"'{status}' is not one of {', '.join(STATUSES)}")
    store = ctx.obj.store()
    if pipeline:
        deals.pipeline(store, pipeline)  # a typo is an error, not an empty list
    if stage:
        stage = stage_id(store.project, stage, pipeline, "deal")
    rows = deals.search(store, pipeline, stage, owner, status)
    rows = only_stalled(store, rows, pipeline) if stalled else rows
    data = deals.public_all(rows, store)
    emit_rows(data, COLUMNS, chosen(output, as_json), store.project, "Deals")


def only_stalled(store: Store, rows: list, pipeline: str | None) -> list:
    stuck = {row["id"] for row in stalled_rows(store, pipeline)}
    return [row for row in rows if row["id"] in stuck]


@app.command()
def show(ctx: typer.Context, deal: Id, as_json: AsJson = False) -> None:
    """Show one deal: its fields, its stage's playbook (guidance, checklist, what the next
    stage needs) and its history (with --json: its runs and messages too).

    Example: salesflow deals show 12
    """
    store = ctx.obj.store()
    print_shown(shown(store, deal, "deal"), store, as_json, "deal")


@app.command()
def add(
    ctx: typer.Context,
    title: Annotated[str, typer.Option(help="What the deal is.")],
    contact: Annotated[str | None, typer.Option(help="The contact's email or id.")] = None,
    pipeline: Annotated[
        str | None, typer.Option(help="Pipeline id (default: the only one).")
    ] = None,
    stage: Annotated[
        str | None, typer.Option(help="Stage id or name (default: the first).")
    ] = None,
    amount: Amount = None,
    owner: Owner = None,
    expected_close: Close = None,
    next_step: NextStep = None,
    probability: Probability = None,
    field: Fields = None,
    force: Force = False,
    by: By = None,
    dry_run: DryRun = False,
    as_json: AsJson = False,
) -> None:
    """Open a deal. Opening it in a stage enters the stage: the fields the stage requires
    must be set, unless --force --by MEMBER.

    Example: salesflow deals add --title "Essai Julie" --contact julie@example.org
    --pipeline cours-essai --stage essai-planifie --amount 120
    """
    store = ctx.obj.store()
    values = {
        "amount": amount, "owner": owner, "expected_close": expected_close,
        "next_step": next_step, "probability": probability, "fields": parse_fields(field),
    }  # fmt: skip
    who = mover(store, by, force)
    with transaction(store.conn, dry_run):
        if stage:
            stage = stage_id(store.project, stage, pipeline, "deal")
        row = opened(store, title, contact, pipeline, stage, values, "deal", who, force)
        data = deals.public(deals.with_contact(store, row), store)
    show_change("created", data, store, as_json, dry_run)


def opened(
    store: Store, title: str, contact: str | None, pipeline: str | None, stage: str | None,
    values: dict, record: str, by: str, force: bool,
) -> sqlite3.Row:  # fmt: skip
    """The record `deals add` and `tickets add` open; refused, it says what to do."""
    try:
        return deals.add(store, title, contact, pipeline, stage, values, by, record, force)
    except RequirementsMissing as error:
        person = contacts.get(store, contact)["id"] if contact is not None else None
        raise refusal(error, store, record, None, person, by) from None


@app.command()
def update(
    ctx: typer.Context,
    deal: Id,
    title: Annotated[str | None, typer.Option(help="What the deal is.")] = None,
    amount: Amount = None,
    owner: Owner = None,
    expected_close: Close = None,
    next_step: NextStep = None,
    probability: Probability = None,
    field: Fields = None,
    dry_run: DryRun = False,
    as_json: AsJson = False,
) -> None:
    """Change a deal's values (to move it, use `deals move`).

    Example: salesflow deals update 12 --amount "1 200,50" --next-step "Call on Monday"
    """
    store = ctx.obj.store()
    values = {
        "title": title, "amount": amount, "owner": owner, "expected_close": expected_close,
        "next_step": next_step, "probability": probability, "fields": parse_fields(field),
    }  # fmt: skip
    with transaction(store.conn, dry_run):
        deals.update(store, deals.get(store, deal, "deal"), values)
        data = deals.public(deals.with_contact(store, deals.get(store, deal)), store)
    show_change("updated", data, store, as_json, dry_run)


def to_stage(store: Store, stage: str, reopen: bool, by: str, force: bool):
    """The move `deals move` and `tickets move` make: to the stage named, by its id or its
    name, in the record's own pipeline."""

    def move(row, why: str | None):
        target = stage_id(store.project, stage, row["pipeline"])
        return deals.move(store, row, target, why, reopen, by=by, force=force)

    return move


def to_outcome(store: Store, outcome: str, by: str, force: bool):
    """The move the closing commands make: to the pipeline's won (or lost) stage."""

    def close(row, why: str | None):
        return deals.close(store, row, outcome, why, by=by, force=force)

    return close


def moved(
    store: Store, deal: Id, reason: str | None, dry_run: bool, move, record: str = "deal",
    by: str = "cli",
) -> dict:  # fmt: skip
    """Run `move(row, reason)`; a missing lost reason is asked for on a terminal only; a
    refused move says what to do (`by`: who moves it, as `mover` says). `moved` in the
    result says whether the deal (ticket) changed stage."""
    while True:
        try:
            with transaction(store.conn, dry_run):
                before = deals.get(store, deal, record)
                try:
                    row = move(before, reason)
                except RequirementsMissing as error:
                    raise refusal(error, store, record, deal, before["contact_id"], by) from None
                data = deals.public(deals.with_contact(store, row), store)
                return {**data, "moved": row["stage"] != before["stage"]}
        except deals.ReasonRequired:
            if not sys.stdin.isatty() or reason:
                raise
            reason = typer.prompt(f"Why was the {record} lost?")


@app.command()
def move(
    ctx: typer.Context,
    deal: Id,
    stage: str,
    reason: Reason = None,
    reopen: Annotated[bool, typer.Option(help="Allow moving a won or lost deal.")] = False,
    force: Force = False,
    by: By = None,
    dry_run: DryRun = False,
    as_json: AsJson = False,
) -> None:
    """Move a deal to another stage of its pipeline (the stage's id, or its name). The stage
    entered may require fields, the stage left (moving forward) ticked items: a move that
    lacks them is refused, and says what to do, unless --force --by MEMBER.

    Example: salesflow deals move 12 perdu --reason "trop loin"
    """
    store = ctx.obj.store()
    who = mover(store, by, force)
    data = moved(store, deal, reason, dry_run, to_stage(store, stage, reopen, who, force),
                 by=who)  # fmt: skip
    show_move("moved", data, store, as_json, dry_run)


def show_move(verb: str, data: dict, store: Store, as_json: bool, dry_run: bool) -> None:
    """The deal where it now stands; a deal already there is said to be, and nothing moved."""
    if data["moved"] or as_json:
        show_change(verb, data, store, as_json, dry_run, details=False)
        return
    where = f"in {data['stage_name']}" if verb == "moved" else data["status"]
    label = data.get("title") or data.get("subject")
    typer.echo(f"#{data['id']} {label} is already {where}: nothing changed")


@app.command()
def won(
    ctx: typer.Context,
    deal: Id,
    force: Force = False,
    by: By = None,
    dry_run: DryRun = False,
    as_json: AsJson = False,
) -> None:
    """Mark a deal won (its pipeline's won stage; refused, as `move` is, when the stage's
    requirements are not met, unless --force --by MEMBER).

    Example: salesflow deals won 12 --by marie
    """
    store = ctx.obj.store()
    who = mover(store, by, force)
    data = moved(store, deal, None, dry_run, to_outcome(store, "won", who, force), by=who)
    show_move("won", data, store, as_json, dry_run)


@app.command()
def lost(
    ctx: typer.Context,
    deal: Id,
    reason: Reason = None,
    force: Force = False,
    by: By = None,
    dry_run: DryRun = False,
    as_json: AsJson = False,
) -> None:
    """Mark a deal lost (its pipeline's lost stage), with the reason.

    Example: salesflow deals lost 12 --reason "price"
    """
    store = ctx.obj.store()
    who = mover(store, by, force)
    data = moved(store, deal, reason, dry_run, to_outcome(store, "lost", who, force), by=who)
    show_move("lost", data, store, as_json, dry_run)


@app.command("check")
def check_(
    ctx: typer.Context,
    deal: Id,
    item: Item,
    by: Member,
    undo: Undo = False,
    as_json: AsJson = False,
) -> None:
    """Tick an item of the checklist of the deal's stage (--undo: untick it); the deal's
    history keeps who ticked what, and when.

    Example: salesflow deals check 4 "Paiement reçu" --by marie
    """
    check(ctx, deal, item, by, undo, as_json, "deal")
