"""`salesflow serve` (web forms over HTTP, and the robot without cron), `salesflow rejects`
(submissions that could not go in, from the web, `ingest` and the inbox) and `salesflow
secret` (the secret that signs links)."""

from __future__ import annotations

from typing import Annotated

import typer

from salesflow.cli.options import AsJson, Id, OutputFormat
from salesflow.cli.render import Format, chosen, emit_rows, to_json, when
from salesflow.phrases import say
from salesflow.reports import Column
from salesflow.store.db import LARGEST_ID

rejects_app = typer.Typer(no_args_is_help=True, help="Submissions that could not go in.")
secret_app = typer.Typer(no_args_is_help=True, help="The secret that signs links and sessions.")
REJECT_COLUMNS = [
    Column("id", "#", "int"),
    Column("received_at", "received", "datetime"),
    Column("source", "source"),
    Column("form", "form"),
    Column("status", "status"),
    Column("error", "error"),
]


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="The address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="The port to listen on.")] = 8000,
    no_worker: Annotated[
        bool,
        typer.Option("--no-worker", help="Only receive; leave the work to cron."),
    ] = False,
    log_format: Annotated[
        str, typer.Option(help="One line per request: text or json.", metavar="text|json")
    ] = "text",
) -> None:
    """Receive web forms, show the team's pages, and do the work of `run` in the background.

    Example: salesflow serve --host 0.0.0.0 --port 8000
    """
    from salesflow.web.server import serve as run_server

    if log_format not in ("text", "json"):
        raise typer.BadParameter("text or json", param_hint="--log-format")
    project = ctx.obj.project()
    forms = ", ".join(f"/forms/{name}" for name in project.forms) or "no forms declared"
    worker = "off (run `salesflow run` from cron)" if no_worker else "on"
    announcement = f"serving {project.name} at http://{host}:{port} ({forms}; worker {worker})"
    run_server(project, host, port, not no_worker, log_format, ctx.obj.now_text,
               announce=lambda: typer.echo(announcement, err=True))  # fmt: skip


@rejects_app.command("list")
def rejects_list(
    ctx: typer.Context,
    every: Annotated[bool, typer.Option("--all", help="Also those retried already.")] = False,
    limit: Annotated[
        int, typer.Option(help="At most this many (newest first).", min=1, max=LARGEST_ID)
    ] = 100,
    output: OutputFormat = Format.table,
    as_json: AsJson = False,
) -> None:
    """List rejected submissions, newest first (open ones only, unless --all).

    Example: salesflow rejects list
    """
    from salesflow.store import rejects

    store = ctx.obj.store()
    rows = rejects.listing(store, None if every else "open", limit)
    data = [said_reject(rejects.public(row, store)) for row in rows]
    emit_rows(data, REJECT_COLUMNS, chosen(output, as_json), store.project, "Rejects")


def said_reject(reject: dict) -> dict:
    """A reject with its reason in English (the store keeps it as a phrase)."""
    return {**reject, "error": say(reject["error"])}


@rejects_app.command("show")
def rejects_show(ctx: typer.Context, reject: Id, as_json: AsJson = False) -> None:
    """Show one rejected submission: why, and what was received.

    Example: salesflow rejects show 3
    """
    from salesflow.store import rejects

    store = ctx.obj.store()
    data = said_reject(rejects.public(rejects.get(store, reject), store, with_body=True))
    if as_json:
        typer.echo(to_json(data))
        return
    typer.echo(f"reject #{data['id']} from {data['source']} ({data['form'] or 'no form'}),"
               f" {data['status']}: {data['error']}")  # fmt: skip
    typer.echo(f"received_at: {when(data['received_at'], store.project)}")
    if data["event_id"]:
        typer.echo(f"became event #{data['event_id']}")
    typer.echo(data["body"])


@rejects_app.command("retry")
def rejects_retry(ctx: typer.Context, reject: Id, as_json: AsJson = False) -> None:
    """Take a rejected submission in again, after a fix of the form in salesflow.yaml.

    Example: salesflow rejects retry 3
    """
    from salesflow.ingest.forms import retry_reject

    received = retry_reject(ctx.obj.store(), reject)
    if as_json:
        typer.echo(to_json(received.as_json()))
    elif received.error:
        typer.echo(f"reject #{reject}: still rejected: {received.error}", err=True)
    elif received.duplicate:
        typer.echo(f"reject #{reject}: already received as event #{received.event_id}")
    else:
        typer.echo(f"reject #{reject}: recorded as event #{received.event_id}")
    if received.error:
        raise typer.Exit(1)


@secret_app.command("rotate")
def secret_rotate(ctx: typer.Context) -> None:
    """Replace the secret that signs unsubscribe links and sessions (after a leak, say).

    Links in emails sent or queued before stop working (their readers can still reply to
    unsubscribe), and everyone must log in to the pages again.

    Example: salesflow secret rotate
    """
    from salesflow.store import secrets
    from salesflow.store.db import transaction

    store = ctx.obj.store()
    with transaction(store.conn):
        secrets.rotate(store)
    typer.echo("the signing secret is new; unsubscribe links signed before no longer work,"
               " and everyone must log in to the pages again")  # fmt: skip
