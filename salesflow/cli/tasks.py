"""`salesflow tasks`: things to do for team members."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from salesflow.cli.contacts import show_change
from salesflow.cli.options import AsJson, DryRun, Id, OutputFormat
from salesflow.cli.render import Format, chosen, emit_rows
from salesflow.durations import parse_duration
from salesflow.errors import UserError
from salesflow.reports import Column
from salesflow.store import tasks
from salesflow.store.db import transaction
from salesflow.store.session import Store
from salesflow.values import parse_datetime

app = typer.Typer(no_args_is_help=True, help="List, add and complete tasks.")

COLUMNS = [
    Column("id", "#", "int"),
    Column("title", "task"),
    Column("assignee", "assignee"),
    Column("due_at", "due", "datetime"),
    Column("overdue", "overdue", "bool"),
    Column("contact", "contact"),
    Column("deal", "deal"),
]


@app.command("list")
def list_(
    ctx: typer.Context,
    assignee: Annotated[str | None, typer.Option(help="Only this team member's.")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only overdue tasks.")] = False,
    all_: Annotated[bool, typer.Option("--all", help="Done tasks too.")] = False,
    output: OutputFormat = Format.table,
    as_json: AsJson = False,
) -> None:
    """List open tasks, soonest due first.

    Example: salesflow tasks list --assignee marie --overdue
    """
    store = ctx.obj.store()
    rows = [tasks.public(row, store) for row in tasks.search(store, assignee, overdue, all_)]
    emit_rows(rows, COLUMNS, chosen(output, as_json), store.project, "Tasks")


def _due(text: str | None, store: Store) -> datetime | None:
    """`2d` (from now), or a date-time in ISO or the locale's form."""
    if not text:
        return None
    try:
        return store.now + parse_duration(text)
    except ValueError:
        pass
    try:
        return parse_datetime(text, store.project.locale, store.project.timezone)
    except ValueError:
        raise UserError(f"--due: '{text}' is neither a duration (2d) nor a date-time") from None


@app.command()
def add(
    ctx: typer.Context,
    title: str,
    assignee: Annotated[str | None, typer.Option(help="Team member id.")] = None,
    due: Annotated[
        str | None, typer.Option(help="A duration from now (2d) or a date-time.")
    ] = None,
    contact: Annotated[str | None, typer.Option(help="The contact's email or id.")] = None,
    deal: Annotated[int | None, typer.Option(help="The deal's id.")] = None,
    dry_run: DryRun = False,
    as_json: AsJson = False,
) -> None:
    """Add a task.

    Example: salesflow tasks add "Appeler Julie" --assignee marie --due 2d
    """
    store = ctx.obj.store()
    with transaction(store.conn, dry_run):
        row = tasks.add(store, title, assignee, _due(due, store), contact, deal)
        data = tasks.public(row, store)
    show_change("created", data, store, as_json, dry_run)


@app.command()
def done(ctx: typer.Context, task: Id, dry_run: DryRun = False, as_json: AsJson = False) -> None:
    """Mark a task done.

    Example: salesflow tasks done 3
    """
    store = ctx.obj.store()
    with transaction(store.conn, dry_run):
        data = tasks.public(tasks.done(store, task), store)
    show_change("completed", data, store, as_json, dry_run)
