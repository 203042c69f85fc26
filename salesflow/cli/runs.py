"""`salesflow process`, `salesflow runs`, `salesflow events`: what the workflows did."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from salesflow.cli.options import AsJson, DryRun, Id, OutputFormat
from salesflow.cli.render import Format, chosen, emit_rows, to_json, when
from salesflow.phrases import phrase, say
from salesflow.reports import Column
from salesflow.store.db import LARGEST_ID
from salesflow.wording import counted

if TYPE_CHECKING:
    from salesflow.engine.process import ProcessResult
    from salesflow.engine.runs import TraceLine

app = typer.Typer(no_args_is_help=True, help="List, show, retry and cancel workflow runs.")
events_app = typer.Typer(no_args_is_help=True, help="The events workflows react to.")

RUN_COLUMNS = [
    Column("id", "#", "int"),
    Column("workflow", "workflow"),
    Column("contact", "contact"),
    Column("status", "status"),
    Column("next_step", "next step"),
    Column("wake_at", "wakes at", "datetime"),
    Column("reason", "reason"),
]
EVENT_COLUMNS = [
    Column("id", "#", "int"),
    Column("type", "type"),
    Column("subject", "subject"),
    Column("created_at", "received", "datetime"),
    Column("status", "status"),
    Column("processed_at", "processed", "datetime"),
    Column("error", "error"),
    Column("note", "note"),
]


def process(ctx: typer.Context, dry_run: DryRun = False, as_json: AsJson = False) -> None:
    """Handle pending events: match workflows, enrol subjects, run steps until they wait.

    Example: salesflow process --dry-run
    """
    from salesflow.engine.process import Processor

    store = ctx.obj.store()
    on_line, kept = trace_sink(as_json)
    result = Processor(store, on_line=on_line).run(dry_run)
    print_processed(result, kept, as_json, dry_run)


def trace_sink(as_json: bool) -> tuple[Callable[[TraceLine], None], list[TraceLine]]:
    """Where the engine's lines go: printed as they happen, or kept for the JSON document."""
    kept: list[TraceLine] = []
    if as_json:
        return kept.append, kept
    write = sys.stdout.write  # print() costs ~4 µs a line more; a pass prints 6 a submission
    return (lambda line: write(f"{trace_text(line)}\n")), kept


def trace_text(line: TraceLine) -> str:
    """`run #3 essai-formulaire: bienvenue (send_email) — done: …`; a line about the run as
    a whole (cancelled, fired…) has no step: `run #3 essai-formulaire: cancelled: …`."""
    where = f"run #{line.run_id} {line.workflow}:"
    detail = say(line.detail)
    said = detail if detail.startswith(line.outcome) else f"{line.outcome}: {detail}"
    if line.step:
        return f"{where} {line.step} ({line.action}) — {said}"
    return f"{where} {said}"


def said_line(line: TraceLine) -> dict:
    """A trace line for a JSON document, its detail in English."""
    return {**line.__dict__, "detail": say(line.detail)}


def print_processed(
    result: ProcessResult, kept: list[TraceLine], as_json: bool, dry_run: bool
) -> None:
    """The summary of a processing pass (its lines were printed as they happened)."""
    if as_json:
        lines = [said_line(line) for line in kept]
        typer.echo(to_json({"events": result.events, "runs_started": result.runs,
                            "failed": result.failed, "steps": lines,
                            "warnings": result.warnings}))  # fmt: skip
        return
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)
    verb = "would handle" if dry_run else "handled"
    failed = f", {result.failed} failed" if result.failed else ""
    typer.echo(f"{verb} {counted(result.events, 'event')}, {counted(result.runs, 'run')}"
               f" started{failed}"
               + (" (dry run: nothing was written)" if dry_run else ""))  # fmt: skip


@app.command("list")
def list_(
    ctx: typer.Context,
    workflow: Annotated[str | None, typer.Option(help="Only this workflow's runs.")] = None,
    status: Annotated[
        str | None, typer.Option(help="running, waiting, done, failed or cancelled.")
    ] = None,
    waiting: Annotated[bool, typer.Option("--waiting", help="Only waiting runs.")] = False,
    contact: Annotated[str | None, typer.Option(help="Only this contact's runs.")] = None,
    output: OutputFormat = Format.table,
    as_json: AsJson = False,
) -> None:
    """List runs, newest first (waiting ones: soonest to wake first).

    Example: salesflow runs list --waiting
    """
    from salesflow.reports.activity import in_english
    from salesflow.store import runs
    from salesflow.store.contacts import get as get_contact

    store = ctx.obj.store()
    if waiting:
        status = "waiting"
    contact_id = get_contact(store, contact)["id"] if contact else None
    rows = runs.listing(store, workflow or None, status or None, contact_id, soonest_first=waiting)
    data = [in_english(runs.public(row, store)) for row in rows]
    emit_rows(data, RUN_COLUMNS, chosen(output, as_json), store.project, "Runs")


@app.command()
def show(ctx: typer.Context, run: Id, as_json: AsJson = False) -> None:
    """Show a run and the trace of every step it took.

    Example: salesflow runs show 1
    """
    from salesflow.reports.activity import in_english
    from salesflow.store import deals
    from salesflow.store.runs import get, public, trace, with_contact

    store = ctx.obj.store()
    run_row = public(with_contact(store, get(store, run)["id"]), store)
    data = in_english({**run_row, "trace": trace(store, run)})
    if as_json:
        typer.echo(to_json(data))
        return
    typer.echo(f"run #{data['id']} of {data['workflow']}: {data['status']}"
               + (f" ({data['reason']})" if data["reason"] else ""))  # fmt: skip
    about = [f"contact: {data['contact']}"] if data["contact"] else []
    if data["deal_id"]:  # the run's deal, or its ticket
        record = deals.object_of(store, deals.get(store, data["deal_id"]))
        about.append(f"{record} #{data['deal_id']}")
    if about:
        typer.echo(", ".join(about))
    if data["wake_at"]:
        typer.echo(
            f"waiting until {when(data['wake_at'], store.project)} to run {data['next_step']}"
        )
    for entry in data["trace"]:
        step = f"{entry['step']} ({entry['action']})" if entry["step"] else "—"
        typer.echo(f"  {when(entry['at'], store.project)}  {step:<28} {entry['outcome']:<10}"
                   f" {entry['detail']}")  # fmt: skip


@app.command()
def retry(ctx: typer.Context, run: Id, as_json: AsJson = False) -> None:
    """Retry a failed run from the step that failed (after fixing the cause).

    Example: salesflow runs retry 4
    """
    _change(ctx, run, lambda engine: engine.retry(run), as_json)


@app.command()
def cancel(
    ctx: typer.Context,
    run: Id,
    reason: Annotated[
        str | None, typer.Option(help="Why (kept in the trace; default: cancelled by hand).")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Cancel a running, waiting or failed run.

    Example: salesflow runs cancel 4 --reason "a rappelé"
    """
    why = reason or phrase("cancelled_by_hand")
    _change(ctx, run, lambda engine: engine.cancel(run, why), as_json)


def _change(ctx: typer.Context, run: Id, change, as_json: bool) -> None:
    from salesflow.engine.runs import change_run
    from salesflow.reports.activity import in_english
    from salesflow.store.runs import get, public

    store = ctx.obj.store()
    lines = change_run(store, run, change)
    row = in_english(public(get(store, run), store))
    if as_json:
        typer.echo(to_json(row))
        return
    for line in lines:
        typer.echo(f"{line.step or line.outcome}: {say(line.detail)}")
    typer.echo(f"run #{run}: {row['status']}" + (f" ({row['reason']})" if row["reason"] else ""))


@events_app.command("list")
def events_list(
    ctx: typer.Context,
    pending: Annotated[bool, typer.Option("--pending", help="Only unprocessed events.")] = False,
    failed: Annotated[
        bool, typer.Option("--failed", help="Only events whose handling failed.")
    ] = False,
    limit: Annotated[
        int, typer.Option(help="At most this many (newest first).", min=1, max=LARGEST_ID)
    ] = 100,
    output: OutputFormat = Format.table,
    as_json: AsJson = False,
) -> None:
    """List events, newest first.

    Example: salesflow events list --failed
    """
    from salesflow.store import events

    store = ctx.obj.store()
    wanted = "failed" if failed else "pending" if pending else None
    data = [events.public(row, store) for row in events.listing(store, wanted, limit)]
    emit_rows(data, EVENT_COLUMNS, chosen(output, as_json), store.project, "Events")


@events_app.command("show")
def events_show(ctx: typer.Context, event: Id, as_json: AsJson = False) -> None:
    """Show one event: its data, its status, and the error if its handling failed.

    Example: salesflow events show 12
    """
    from salesflow.store import events

    store = ctx.obj.store()
    data = events.public(events.get(store, event), store)
    if as_json:
        typer.echo(to_json(data))
        return
    typer.echo(f"event #{data['id']} {data['type']}: {data['status']}"
               + (f" — {data['error']}" if data["status"] == "failed" else ""))  # fmt: skip
    for name in ("key", "subject", "created_at", "processed_at", "failed_at", "note"):
        if data[name]:
            value = when(data[name], store.project) if name.endswith("_at") else data[name]
            typer.echo(f"{name}: {value}")
    typer.echo(json.dumps(data["data"], ensure_ascii=False, indent=2))


@events_app.command("retry")
def events_retry(
    ctx: typer.Context,
    event: Annotated[
        list[int] | None, typer.Argument(help="Failed events to retry.", min=1, max=LARGEST_ID)
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Every failed event.")] = False,
    as_json: AsJson = False,
) -> None:
    """Handle failed events again, after fixing what made them fail.

    Example: salesflow events retry --all
    """
    from salesflow.engine.process import Processor
    from salesflow.store import events

    if not event and not every:
        raise typer.BadParameter("name the events to retry, or pass --all")
    store = ctx.obj.store()
    count = events.retry(store, None if every else event)
    if not as_json:
        typer.echo(f"{counted(count, 'event')} back in the queue")
    on_line, kept = trace_sink(as_json)
    print_processed(Processor(store, on_line=on_line).run(), kept, as_json, dry_run=False)


@events_app.command("cancel")
def events_cancel(
    ctx: typer.Context,
    event: Annotated[
        list[int], typer.Argument(help="Failed events to set aside.", min=1, max=LARGEST_ID)
    ],
) -> None:
    """Set failed events aside for good (they stay listed, as processed, with a note).

    Example: salesflow events cancel 12
    """
    from salesflow.store import events

    store = ctx.obj.store()
    count = events.cancel(store, event)
    typer.echo(f"{counted(count, 'event')} cancelled")
