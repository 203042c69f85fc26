"""`salesflow import`'s work and summary, without typer: the command (cli/imports.py) and
the plain call's quick path (cli/quick.py) both run `import_file` and print with `report`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from salesflow.cli.say import echo
from salesflow.errors import display_path
from salesflow.ingest.importer import import_csv, options_for
from salesflow.wording import counted

if TYPE_CHECKING:
    from salesflow.ingest.importer import ImportResult
    from salesflow.store.session import Store

SHOWN_ERRORS = 10


def import_file(
    store: Store,
    file: Path,
    mapping: str | None = None,
    *,
    mapping_pairs: dict[str, str] | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    pipeline: str | None = None,
    stage: str | None = None,
    source: str | None = None,
    tags: list[str] | None = None,
    trigger: bool = True,
    overwrite: bool = False,
    dry_run: bool = False,
) -> ImportResult:
    """Import `file` into `store` (see `salesflow import`; `stage` an id)."""
    options = options_for(
        store.project, mapping, encoding=encoding, delimiter=delimiter, pipeline=pipeline,
        stage=stage, source=source, tags=tags or [], trigger=trigger, dry_run=dry_run,
        mapping_pairs=mapping_pairs or {}, overwrite=overwrite,
    )  # fmt: skip
    with _progress(file) as progress:
        return import_csv(store, file, options, progress)


def report(result: ImportResult, dry_run: bool) -> None:
    """The summary: rejected rows, ignored columns and values not taken on stderr (the first
    few), then the accounts of the rows on stdout."""
    name = display_path(result.file)
    for row, error in result.errors[:SHOWN_ERRORS]:
        echo(f"{name}:{row}: {error}", err=True)
    if result.rejected > SHOWN_ERRORS:
        more = counted(result.rejected - SHOWN_ERRORS, "rejected row")
        echo(f"… and {more} more", err=True)
    if result.ignored:
        columns = ", ".join(result.ignored)
        echo(f"ignored columns (no such field; --map 'Column=field'): {columns}", err=True)
    if result.deal_columns:
        columns = ", ".join(result.deal_columns)
        echo(f"deal columns, used with --pipeline only: {columns}", err=True)
    for row, field_name, value, held in result.conflicts[:SHOWN_ERRORS]:
        label = field_name.replace("_", " ")
        fate = (
            f"replaced '{held}'" if result.overwrite else f"not taken: the contact keeps '{held}'"
        )
        echo(f"{name}:{row}: {label} '{value}' {fate}", err=True)
    verb = "would import" if dry_run else "imported"
    where = f"{result.format.encoding}, {result.format.delimiter_name}"
    if result.header_line > 1:
        where += f", header on line {result.header_line}"
    echo(f"{verb} {name} ({where}): {_accounts(result)}{_notes(result)}")
    if result.rejected_file:
        echo(f"rejected rows are in {display_path(result.rejected_file)}")
    if dry_run:
        echo("dry run: nothing was written")


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
