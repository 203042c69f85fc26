"""`salesflow import`: prospects from a CSV file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from salesflow.cli.options import AsJson, DryRun
from salesflow.cli.render import to_json
from salesflow.cli.stages import stage_id
from salesflow.errors import display_path
from salesflow.ingest.importer import options_for
from salesflow.wording import counted

if TYPE_CHECKING:
    from salesflow.ingest.importer import ImportResult

SHOWN_ERRORS = 10


def parse_map(pairs: list[str] | None) -> dict[str, str]:
    mapping = {}
    for pair in pairs or []:
        column, sep, target = pair.rpartition("=")
        if not sep or not column.strip():
            raise typer.BadParameter(f"'{pair}' is not Column=field", param_hint="--map")
        mapping[column.strip()] = target.strip()
    return mapping


def _check_delimiter(value: str | None) -> str | None:
    """One of the delimiters spreadsheets write; `tab` (or `\\t`) for a tab."""
    from salesflow.ingest.csvread import DELIMITERS

    if value is None:
        return None
    value = {"tab": "\t", "\\t": "\t"}.get(value.lower(), value)
    if value not in DELIMITERS:
        raise typer.BadParameter(f"{value!r} is not a CSV delimiter: use , ; | or tab")
    return value


def import_(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The CSV file.", dir_okay=False)],
    mapping: Annotated[
        str | None, typer.Option(help="A named mapping from salesflow.yaml `imports:`.")
    ] = None,
    map_: Annotated[
        list[str] | None,
        typer.Option("--map", help='"Column=field" (repeatable); field `ignore` skips a column.'),
    ] = None,
    encoding: Annotated[
        str | None, typer.Option(help="The file's encoding (default: detect).")
    ] = None,
    delimiter: Annotated[
        str | None,
        typer.Option(help=", ; | or tab (default: detect).", callback=_check_delimiter),
    ] = None,
    pipeline: Annotated[
        str | None, typer.Option(help="Also open a deal in this pipeline per new contact.")
    ] = None,
    stage: Annotated[
        str | None, typer.Option(help="The stage of those deals (id or name).")
    ] = None,
    source: Annotated[str | None, typer.Option(help="The source of new contacts.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Tag every contact.")] = None,
    no_trigger: Annotated[
        bool,
        typer.Option("--no-trigger", help="Record no events: workflows do not react."),
    ] = False,
    strict: Annotated[bool, typer.Option(help="Exit 1 if any row is rejected.")] = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="The file's values replace the contacts' (default: only fill blanks).",
        ),
    ] = False,
    dry_run: DryRun = False,
    as_json: AsJson = False,
) -> None:
    """Import prospects from a CSV file (any usual encoding, delimiter and header names).

    Bad rows are rejected into FILE.rejected.csv with the reason; the others go in. Importing
    the same file again changes nothing. A contact's values are kept and its blanks filled
    (within the file, the first non-empty value wins); --overwrite takes the file's values.
    Values not taken are listed.

    Example: salesflow import prospects.csv --pipeline cours-essai --stage nouveau
    """
    from salesflow.ingest.importer import import_csv

    store = ctx.obj.store()
    if stage:
        stage = stage_id(store.project, stage, pipeline, "deal")
    options = options_for(
        store.project, mapping, encoding=encoding, delimiter=delimiter, pipeline=pipeline,
        stage=stage, source=source, tags=tag or [], trigger=not no_trigger, dry_run=dry_run,
        mapping_pairs=parse_map(map_), overwrite=overwrite,
    )  # fmt: skip
    with _progress(file) as progress:
        result = import_csv(store, file, options, progress)
    if as_json:
        typer.echo(to_json(result.as_json()))
    else:
        _report(result, dry_run)
    if strict and result.rejected:
        raise typer.Exit(1)


def _report(result: ImportResult, dry_run: bool) -> None:
    name = display_path(result.file)
    for row, error in result.errors[:SHOWN_ERRORS]:
        typer.echo(f"{name}:{row}: {error}", err=True)
    if result.rejected > SHOWN_ERRORS:
        more = counted(result.rejected - SHOWN_ERRORS, "rejected row")
        typer.echo(f"… and {more} more", err=True)
    if result.ignored:
        columns = ", ".join(result.ignored)
        typer.echo(f"ignored columns (no such field; --map 'Column=field'): {columns}", err=True)
    if result.deal_columns:
        columns = ", ".join(result.deal_columns)
        typer.echo(f"deal columns, used with --pipeline only: {columns}", err=True)
    for row, field_name, value, held in result.conflicts[:SHOWN_ERRORS]:
        label = field_name.replace("_", " ")
        fate = (
            f"replaced '{held}'" if result.overwrite else f"not taken: the contact keeps '{held}'"
        )
        typer.echo(f"{name}:{row}: {label} '{value}' {fate}", err=True)
    verb = "would import" if dry_run else "imported"
    where = f"{result.format.encoding}, {result.format.delimiter_name}"
    if result.header_line > 1:
        where += f", header on line {result.header_line}"
    typer.echo(f"{verb} {name} ({where}): {_accounts(result)}{_notes(result)}")
    if result.rejected_file:
        typer.echo(f"rejected rows are in {display_path(result.rejected_file)}")
    if dry_run:
        typer.echo("dry run: nothing was written")


def _accounts(result: ImportResult) -> str:
    """`5 rows read = 2 created + 1 updated + 0 unchanged + 1 duplicate + 1 rejected`."""
    terms = [
        f"{result.created} created", f"{result.updated} updated",
        f"{result.unchanged} unchanged", f"{result.duplicates} duplicate",
        f"{result.rejected} rejected",
    ]  # fmt: skip
    return f"{counted(result.rows, 'row')} read = {' + '.join(terms)}"


def _notes(result: ImportResult) -> str:
    notes = []
    if result.deals:
        notes.append(f"{counted(result.deals, 'deal')} opened")
    if result.duplicates:
        notes.append("each duplicate merged into the row of its email above")
    if result.conflict_count:
        fate = "replaced" if result.overwrite else "not taken (--overwrite takes them)"
        notes.append(f"{counted(result.conflict_count, 'value')} {fate}")
    if result.control_characters:
        notes.append(f"{counted(result.control_characters, 'control character')} removed")
    if result.composed:
        notes.append(f"{counted(result.composed, 'value')} in decomposed Unicode composed (NFC)")
    if result.blank_lines:
        notes.append(f"{counted(result.blank_lines, 'blank line')} skipped")
    return "".join(f"; {note}" for note in notes)


class _progress:
    """A progress bar on a terminal, for files over a few MB; nothing otherwise."""

    def __init__(self, file: Path):
        size = file.stat().st_size if file.is_file() else 0
        self.size = size
        self.bar = None
        if sys.stderr.isatty() and size > 4_000_000:
            from rich.progress import Progress

            self.bar = Progress(transient=True)

    def __enter__(self):
        if self.bar is None:
            return None
        self.bar.start()
        task = self.bar.add_task("importing", total=self.size)
        return lambda done: self.bar.update(task, completed=done)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()
