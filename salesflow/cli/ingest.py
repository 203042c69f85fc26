"""`salesflow ingest`: web-form submissions, and the inbox folder."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from salesflow.cli.options import AsJson, DryRun
from salesflow.cli.render import to_json
from salesflow.errors import display_path
from salesflow.wording import counted

if TYPE_CHECKING:
    from salesflow.ingest.forms import IngestResult
    from salesflow.ingest.inbox import InboxResult


def ingest(
    ctx: typer.Context,
    file: Annotated[
        str | None, typer.Argument(help="A JSON / JSON Lines file, or - for standard input.")
    ] = None,
    form: Annotated[
        str | None, typer.Option(help='The form (default: the payload\'s "form").')
    ] = None,
    inbox: Annotated[
        bool,
        typer.Option("--inbox", help="Take in every file of the project's inbox folder."),
    ] = False,
    strict: Annotated[bool, typer.Option(help="Exit 1 if any submission is rejected.")] = False,
    dry_run: DryRun = False,
    as_json: AsJson = False,
) -> None:
    """Record web-form submissions as form.submitted events (each one once).

    Example: salesflow ingest examples/forms/julie.json --form cours-essai
    """
    from salesflow.ingest.forms import ingest_stream, rejects_for
    from salesflow.ingest.inbox import drain_project_inbox
    from salesflow.ingest.jsonread import open_submissions

    store = ctx.obj.store()
    if inbox:
        if file or dry_run:
            raise typer.BadParameter("--inbox takes no FILE and no --dry-run")
        result = drain_project_inbox(store)
        _report_inbox(result, as_json)
        if strict and (result.rejected or result.failed):
            raise typer.Exit(1)
        return
    if file is None:
        raise typer.BadParameter("give a FILE, - for standard input, or --inbox")
    path = None if file == "-" else Path(file)
    rejects = rejects_for(path, store.project.root, store.now)
    with contextlib.nullcontext(sys.stdin) if path is None else open_submissions(path) as stream:
        result = ingest_stream(store, stream, file if path else "stdin", form, rejects, dry_run)
    _report(result, as_json, dry_run)
    if strict and result.rejected:
        raise typer.Exit(1)


def _report(result: IngestResult, as_json: bool, dry_run: bool) -> None:
    if as_json:
        typer.echo(to_json(result.as_json()))
        return
    for index, error in result.errors[:10]:
        typer.echo(f"{result.source}: submission {index}: {error}", err=True)
    verb = "would record" if dry_run else "recorded"
    typer.echo(
        f"{verb} {result.accepted} submission{'s' if result.accepted != 1 else ''} from"
        f" {result.source} ({result.duplicates} already received, {result.rejected} rejected)"
        + (f"; {counted(result.control_characters, 'control character')} removed"
           if result.control_characters else "")
    )  # fmt: skip
    if result.rejected_file:
        typer.echo(f"rejected submissions are in {display_path(result.rejected_file)}")


def _report_inbox(result: InboxResult, as_json: bool) -> None:
    if as_json:
        typer.echo(to_json(result.as_json()))
        return
    for name, error in result.failed:
        typer.echo(f"inbox/{name}: {error} (moved to inbox/failed/)", err=True)
    typer.echo(
        f"inbox: {len(result.done)} file(s) taken in ({result.accepted} records,"
        f" {result.rejected} rejected), {len(result.failed)} failed"
    )
