"""`salesflow deals`: deals in pipelines, moved by hand."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from salesflow.cli.contacts import show_change
from salesflow.cli.options import AsJson, DryRun, Fields, Id, OutputFormat, parse_fields
from salesflow.cli.render import Format, chosen, emit_rows, print_record, to_json, when
from salesflow.cli.stages import stage_id
from salesflow.reports import Column
from salesflow.reports.record import shown
from salesflow.reports.stalled import stalled_rows
from salesflow.store import deals
from salesflow.store.db import transaction
from salesflow.store.session import Store

app = typer.Typer(no_args_is_help=True, help="List, show, add, move and close deals.")

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
    """Show one deal with its stage history (with --json: its runs and messages too).

    Example: salesflow deals show 12
    """
    store = ctx.obj.store()
    print_with_history(shown(store, deal, "deal"), store, as_json)


def print_with_history(data: dict, store: Store, as_json: bool, kind: str = "deal") -> None:
    """A deal or a ticket as `show` prints it: its fields, then its stage history."""
    if as_json:
        typer.echo(to_json(data))
        return
    fields = {key: value for key, value in data.items() if key not in ("runs", "messages")}
    print_record(fields, store.project, kind)
    typer.echo("history:")
    for entry in data["history"]:
        origin = f"{entry['from']} → " if entry["from"] else ""
        typer.echo(f"  {when(entry['at'], store.project)}  {origin}{entry['to']}  ({entry['by']})")


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
    dry_run: DryRun = False,
    as_json: AsJson = False,
) -> None:
    """Open a deal.

    Example: salesflow deals add --title "Essai Julie" --contact julie@example.org
    --pipeline cours-essai --stage essai-planifie --amount 120
    """
    store = ctx.obj.store()
    values = {
        "amount": amount, "owner": owner, "expected_close": expected_close,
        "next_step": next_step, "probability": probability, "fields": parse_fields(field),
    }  # fmt: skip
    with transaction(store.conn, dry_run):
        if stage:
            stage = stage_id(store.project, stage, pipeline, "deal")
        row = deals.add(store, title, contact, pipeline, stage, values)
        data = deals.public(deals.with_contact(store, row), store)
    show_change("created", data, store, as_json, dry_run)


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


def to_stage(store: Store, stage: str, reopen: bool):
    """The move `deals move` and `tickets move` make: to the stage named, by its id or its
    name, in the record's own pipeline."""

    def move(row, why: str | None):
        return deals.move(store, row, stage_id(store.project, stage, row["pipeline"]), why, reopen)

    return move


def moved(
    store: Store, deal: Id, reason: str | None, dry_run: bool, move, record: str = "deal"
) -> dict:
    """Run `move(row, reason)`; a missing lost reason is asked for on a terminal only.
    `moved` in the result says whether the deal (ticket) changed stage."""
    while True:
        try:
            with transaction(store.conn, dry_run):
                before = deals.get(store, deal, record)
                row = move(before, reason)
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
    dry_run: DryRun = False,
    as_json: AsJson = False,
) -> None:
    """Move a deal to another stage of its pipeline (the stage's id, or its name).

    Example: salesflow deals move 12 perdu --reason "trop loin"
    """
    store = ctx.obj.store()
    data = moved(store, deal, reason, dry_run, to_stage(store, stage, reopen))
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
def won(ctx: typer.Context, deal: Id, dry_run: DryRun = False, as_json: AsJson = False) -> None:
    """Mark a deal won (its pipeline's won stage).

    Example: salesflow deals won 12
    """
    store = ctx.obj.store()
    data = moved(store, deal, None, dry_run, lambda row, _: deals.close(store, row, "won", None))
    show_move("won", data, store, as_json, dry_run)


@app.command()
def lost(
    ctx: typer.Context,
    deal: Id,
    reason: Reason = None,
    dry_run: DryRun = False,
    as_json: AsJson = False,
) -> None:
    """Mark a deal lost (its pipeline's lost stage), with the reason.

    Example: salesflow deals lost 12 --reason "price"
    """
    store = ctx.obj.store()
    data = moved(
        store, deal, reason, dry_run, lambda row, why: deals.close(store, row, "lost", why)
    )
    show_move("lost", data, store, as_json, dry_run)
