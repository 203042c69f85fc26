"""`salesflow tick`, `salesflow run` (the cron entry point) and `salesflow schedule`."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer

from salesflow.cli.options import AsJson, OutputFormat
from salesflow.cli.render import Format, chosen, emit_rows, to_json
from salesflow.reports import Column

if TYPE_CHECKING:
    from salesflow.engine.tick import TickResult
    from salesflow.mail.poll import PollResult


def tick(ctx: typer.Context, as_json: AsJson = False) -> None:
    """Do what is due: fire schedules, resume waits, flag stalled deals, process, deliver.

    Example: salesflow --now 2026-12-04T18:30 tick
    """
    from salesflow.cli.runs import trace_sink
    from salesflow.engine.tick import tick as tick_work

    store = ctx.obj.store()
    on_line, kept = trace_sink(as_json)
    _report(tick_work(store, on_line=on_line), kept, as_json)


def run(ctx: typer.Context, as_json: AsJson = False) -> None:
    """The cron entry point: take in the inbox, then tick. Quiet on success off a terminal
    (cron mails any output); problems go to stderr. When another command holds the database
    (a long import), the run skips its turn quietly and `salesflow check` counts the skips.

    Example (crontab): * * * * * cd /srv/club && salesflow run
    """
    from salesflow.cli.runs import trace_sink
    from salesflow.engine.tick import tick as tick_work
    from salesflow.ingest.inbox import drain_project_inbox
    from salesflow.mail.poll import poll_if_due
    from salesflow.store.db import is_locked
    from salesflow.store.health import clear_skipped_runs, note_skipped_run

    project = ctx.obj.project()
    quiet = not as_json and not sys.stdout.isatty()
    on_line, kept = trace_sink(as_json)
    try:
        store = ctx.obj.store()
        inbox = drain_project_inbox(store) if store.project.inbox else None
        mail = poll_if_due(store)
        result = tick_work(store, on_line=None if quiet else on_line)
    except Exception as error:
        if not is_locked(error):
            raise
        note_skipped_run(project, ctx.obj.now(project))
        if as_json:
            typer.echo(to_json({"skipped": "another command held the database"}))
        return  # all work is claimed in transactions: the next run takes up what is left
    clear_skipped_runs(project)
    if inbox:
        for name, error in inbox.failed:
            typer.echo(f"inbox/{name}: {error} (moved to inbox/failed/)", err=True)
    if mail and mail.error:
        typer.echo(f"error: {mail.summary()}", err=True)
    _report(result, kept, as_json, quiet, mail)


def _report(
    result: TickResult,
    kept: list,
    as_json: bool,
    quiet: bool = False,
    mail: PollResult | None = None,
) -> None:
    """What a tick did (its steps' lines were printed as they happened), and what a read of
    the replies mailbox found."""
    from salesflow.cli.runs import said_line

    if as_json:
        mailbox = {"mailbox": mail.as_json()} if mail else {}
        steps = [said_line(line) for line in kept]
        typer.echo(to_json({**result.as_json(), **mailbox, "steps": steps}))
        return
    if mail and mail.read and not quiet:
        typer.echo(mail.summary())
    for error in result.delivery.errors + result.requests.errors:
        typer.echo(error, err=True)
    for warning in result.processed.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if not quiet:
        typer.echo(result.summary())


SCHEDULE_COLUMNS = [
    Column("workflow", "workflow"),
    Column("schedule", "cron"),
    Column("next", "next", "datetime"),
    Column("last_slot", "last fired slot", "datetime"),
    Column("catch_up", "catch up"),
]


def schedule(ctx: typer.Context, output: OutputFormat = Format.table, as_json: AsJson = False):
    """List scheduled workflows with their next fire time, in local time.

    Example: salesflow schedule
    """
    from salesflow.engine.schedules import listing

    store = ctx.obj.store()
    rows = listing(store)
    emit_rows(rows, SCHEDULE_COLUMNS, chosen(output, as_json), store.project, "Schedules")
