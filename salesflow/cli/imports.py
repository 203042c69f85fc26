"""`salesflow import`: prospects from a CSV file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from salesflow.cli.import_file import import_file, report
from salesflow.cli.options import AsJson, DryRun
from salesflow.cli.render import to_json
from salesflow.cli.stages import stage_id


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
    store = ctx.obj.store()
    if stage:
        stage = stage_id(store.project, stage, pipeline, "deal")
    result = import_file(
        store, file, mapping, mapping_pairs=parse_map(map_), encoding=encoding,
        delimiter=delimiter, pipeline=pipeline, stage=stage, source=source, tags=tag,
        trigger=not no_trigger, overwrite=overwrite, dry_run=dry_run,
    )  # fmt: skip
    if as_json:
        typer.echo(to_json(result.as_json()))
    else:
        report(result, dry_run)
    if strict and result.rejected:
        raise typer.Exit(1)
