"""`salesflow workflows`: the automations, and trying one on an event before merging it."""

from __future__ import annotations

import json
import sqlite3
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from salesflow.cli.options import AsJson, OutputFormat
from salesflow.cli.render import Format, chosen, emit_rows
from salesflow.cli.runs import print_processed
from salesflow.errors import UserError, did_you_mean
from salesflow.reports import Column
from salesflow.store.db import transaction
from salesflow.store.session import Store

app = typer.Typer(no_args_is_help=True, help="List workflows; try one on an event.")
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
    active = dict(
        store.conn.execute(
            "SELECT workflow, count(*) FROM runs WHERE status IN ('running', 'waiting')"
            " GROUP BY workflow"
        ).fetchall()
    )
    rows = []
    for workflow in store.project.workflows.values():
        trigger = workflow.trigger
        match = " ".join(f"{k}={'|'.join(v)}" for k, v in trigger.match.items())
        when = f"cron {trigger.schedule}" if trigger.schedule else f"{trigger.event} {match}"
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
    event: Annotated[Path, typer.Option(help='The event, as JSON: {"type": …, "data": …}.')],
    as_json: AsJson = False,
) -> None:
    """Run one workflow on an event in a throw-away copy of the database; print the trace.

    Example: salesflow workflows test essai-formulaire --event examples/events/essai.json
    """
    from salesflow.engine.process import Processor

    store = ctx.obj.store()
    if workflow not in store.project.workflows:
        hint = did_you_mean(workflow, list(store.project.workflows))
        raise UserError(f"no workflow '{workflow}'{hint}")
    spec = _read_event(event)
    with tempfile.TemporaryDirectory() as scratch:
        copy = Store(
            _copy_database(store.conn, Path(scratch) / "test.db"), store.project, store.now
        )
        with transaction(copy.conn):
            copy.conn.execute("UPDATE events SET processed_at = ? WHERE processed_at IS NULL",
                              (copy.stamp,))  # fmt: skip
            form = store.project.forms.get(spec.get("form", ""))
            declared = dict.fromkeys(form.fields) if form else {}  # as `ingest` would give it
            data = {**({"form": spec["form"]} if form else {}), **declared, **spec["data"]}
            copy.record_event(spec["type"], spec.get("subject_type"), spec.get("subject_id"), data)
        result = Processor(copy, only=workflow).run()
        copy.conn.close()
    print_processed(result, store, as_json, dry_run=False)
    if not as_json:
        typer.echo("(a throw-away copy of the database: nothing was written)")


def _read_event(path: Path) -> dict:
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise UserError(f"{path}: not a JSON event ({error})") from None
    if not isinstance(spec, dict) or "type" not in spec or not isinstance(spec.get("data"), dict):
        raise UserError(
            f'{path}: an event is {{"type": "form.submitted", "form": …, "data": {{…}}}}'
        )
    return spec


def _copy_database(connection: sqlite3.Connection, target: Path) -> sqlite3.Connection:
    copy = sqlite3.connect(target, isolation_level=None)
    connection.backup(copy)
    copy.row_factory = sqlite3.Row
    return copy
