"""`salesflow workflows`: the automations, and trying one on an event before merging it."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from salesflow.cli.options import AsJson, DryRun, OutputFormat
from salesflow.cli.render import Format, chosen, emit_rows, to_json
from salesflow.cli.runs import print_processed, trace_sink, trace_text
from salesflow.cli.stages import stage_id
from salesflow.errors import UserError, did_you_mean
from salesflow.reports import Column
from salesflow.store import events, runs
from salesflow.store.copy import throwaway_copy
from salesflow.store.db import transaction
from salesflow.store.session import Store

app = typer.Typer(
    no_args_is_help=True, help="List workflows; try one on an event; start one by hand."
)
COLUMNS = [
    Column("id", "workflow"),
    Column("enabled", "enabled"),
    Column("trigger", "trigger"),
    Column("steps", "steps", "int"),
    Column("active_runs", "active runs", "int"),
]


@app.command("list")
def list_(ctx: typer.Context, output: OutputFormat = Format.table, as_json: AsJson = False):
    """List workflows with their trigger and how many runs are under way.

    Example: salesflow workflows list
    """
    store = ctx.obj.store()
    active = runs.active_by_workflow(store)
    rows = []
    for workflow in store.project.workflows.values():
        trigger = workflow.trigger
        match = " ".join(f"{k}={'|'.join(v)}" for k, v in trigger.match.items())
        when = f"cron {trigger.schedule}" if trigger.schedule else f"{trigger.event} {match}"
        when = "manual" if trigger.manual else when
        rows.append({
            "id": workflow.id, "name": workflow.name, "enabled": workflow.enabled,
            "trigger": when.strip(), "steps": len(workflow.steps),
            "active_runs": active.get(workflow.id, 0),
        })  # fmt: skip
    emit_rows(rows, COLUMNS, chosen(output, as_json), store.project, "Workflows")


@app.command()
def test(
    ctx: typer.Context,
    workflow: str,
    event: Annotated[
        Path,
        typer.Option(
            help='An event as JSON ({"type": …, "data": …}), or a form submission as `ingest`'
            " takes it."
        ),
    ],
    form: Annotated[
        str | None, typer.Option(help="The form of a submission (default: the trigger's).")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Run one workflow on an event in a throw-away copy of the database; print the trace.

    Example: salesflow workflows test essai-formulaire --event examples/forms/julie.json
    """
    from salesflow.engine.process import Processor

    store = ctx.obj.store()
    if workflow not in store.project.workflows:
        hint = did_you_mean(workflow, list(store.project.workflows))
        raise UserError(f"no workflow '{workflow}'{hint}")
    spec = _read_event(event, store, store.project.workflows[workflow], form)
    with tempfile.TemporaryDirectory() as scratch:
        copy = Store(
            throwaway_copy(store.conn, Path(scratch) / "test.db"), store.project, store.now
        )
        with transaction(copy.conn):
            events.mark_all_processed(copy)
            copy.record_event(spec["type"], spec.get("subject_type"), spec.get("subject_id"),
                              spec["data"])  # fmt: skip
        on_line, kept = trace_sink(as_json)
        result = Processor(copy, only=workflow, on_line=on_line).run()
        copy.conn.close()
    print_processed(result, kept, as_json, dry_run=False)
    if not as_json:
        typer.echo("(a throw-away copy of the database: nothing was written)")


def _read_event(path: Path, store: Store, workflow, form: str | None) -> dict:
    """The event to test with: one written out (`{"type", "data"}`, a form's fields filled in
    as `ingest` would), or a form submission read exactly as `ingest` reads it."""
    from salesflow.ingest.forms import FormReader, Rejected

    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise UserError(f"{path}: not JSON ({error})") from None
    if not isinstance(spec, dict):
        raise UserError(f'{path}: an event {{"type": …, "data": {{…}}}} or a form submission')
    if "type" in spec and isinstance(spec.get("data"), dict):
        named = store.project.forms.get(spec.get("form") or spec["data"].get("form") or "")
        declared = dict.fromkeys(named.fields) if named else {}
        form_data = {"form": named.name} if named else {}
        return {**spec, "data": {**form_data, **declared, **spec["data"]}}
    forms = workflow.trigger.match.get("form", ())
    name = form or spec.get("form") or (forms[0] if forms else None)
    if not name:
        raise UserError(f"{path}: which form is this submission for? pass --form NAME")
    try:
        _, data = FormReader(store.project, name).read(spec)
    except Rejected as error:
        raise UserError(f"{path}: {error}") from None
    return {"type": "form.submitted", "data": data}


@app.command("start")
def start_(
    ctx: typer.Context,
    workflow: str,
    contact: Annotated[
        list[str] | None, typer.Option(help="A contact (email or id); repeat for more.")
    ] = None,
    deal: Annotated[list[int] | None, typer.Option(help="A deal id; repeat for more.")] = None,
    ticket: Annotated[list[int] | None, typer.Option(help="A ticket id; repeat for more.")] = None,
    from_file: Annotated[
        Path | None,
        typer.Option(
            "--from", help="A CSV file with an email, a deal or a ticket column.", metavar="FILE"
        ),
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(help="stage=…, pipeline=… (open deals or tickets), tag=… (contacts), owner=…"),
    ] = None,
    dry_run: DryRun = False,
    as_json: AsJson = False,
) -> None:
    """Start a workflow that has `trigger: {manual: true}` for chosen contacts, deals or tickets
    (each once, unless the workflow says reenroll).

    Example: salesflow workflows start inviter --where stage=essai-realise --dry-run
    """
    from salesflow.engine.manual import chosen as chosen_subjects
    from salesflow.engine.manual import manual_workflow, start

    store = ctx.obj.store()
    flow = manual_workflow(store, workflow)
    where = _stages_named(store.project, where or [])
    subjects, missing = chosen_subjects(store, contact or [], deal or [], from_file, where,
                                        ticket or [])  # fmt: skip
    if not subjects and not missing:
        raise UserError("for whom? --contact EMAIL, --deal ID, --ticket ID, --from FILE.csv or"
                        " --where KEY=VALUE")  # fmt: skip
    lines: list = []
    result = start(store, flow, subjects, dry_run, None if as_json else lines.append)
    result.missing = missing
    if as_json:
        typer.echo(to_json(result.__dict__))
    else:
        for line in lines:
            typer.echo(trace_text(line))
        typer.echo(start_summary(flow.id, result, dry_run))
    for problem in (*missing, *result.failed) if not as_json else ():
        typer.echo(f"error: {problem}", err=True)
    if missing or result.failed:
        raise typer.Exit(1)


def _stages_named(project, where: list[str]) -> list[str]:
    """--where with `stage=` given by the stage's name as well as its id."""
    pipeline = next((w.partition("=")[2] for w in where if w.startswith("pipeline=")), None)
    return [f"stage={stage_id(project, w.partition('=')[2], pipeline)}"
            if w.startswith("stage=") else w for w in where]  # fmt: skip


def start_summary(workflow: str, result, dry_run: bool) -> str:
    """`inviter: 2 started, 1 already in it, 1 not found (dry run: nothing written)`."""
    parts = [f"{len(result.started)} started", f"{len(result.already)} already in it"]
    parts += [f"{len(result.skipped)} skipped (its `if` does not hold)"] if result.skipped else []
    parts += [f"{len(result.failed)} failed"] if result.failed else []
    parts += [f"{len(result.missing)} not found"] if result.missing else []
    return f"{workflow}: {', '.join(parts)}" + (" (dry run: nothing written)" if dry_run else "")
