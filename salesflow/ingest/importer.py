"""`salesflow import`: a CSV file of prospects into contacts (and deals), in one transaction.

Records are streamed and upserted in batches (executemany): a new email is inserted, a known
one gets the row's non-empty values, and a row that changes nothing is not written at all —
one query a batch reads the contacts its emails name, for that and for the values not taken.
The contacts a row changes are kept as they were first; comparing that with the state after
gives what really changed — so rows of one email within the file (duplicates) that undo each
other change nothing, and importing a file twice changes nothing (and writes nothing).
Counting, comparing and the events are set-based SQL: memory does not grow with the file,
and no Python set of every email is kept.

Every row is accounted for: rows read = created + updated + unchanged + duplicate rows +
rejected, each term counted on its own (the rows, rejects and duplicates as they are read,
the others from the database); a sum that does not hold imports nothing. The SQL is in
store/imports.py.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from unicodedata import is_normalized

from salesflow.config.model import Pipeline, Project, Stage
from salesflow.config.playbook import missing_to_move
from salesflow.errors import UserError, did_you_mean
from salesflow.ingest.csvread import CsvFormat, Records, sniff
from salesflow.ingest.headers import find_header, resolve
from salesflow.ingest.rows import RowParser
from salesflow.store import deals, imports, playbook
from salesflow.store.db import transaction
from salesflow.store.playbook import RequirementsMissing
from salesflow.store.session import Store
from salesflow.values import has_control

BATCH = 2000
LISTED = 1000  # conflicts kept to be listed (all are counted): memory stays flat
_HELD = slice(1, len(imports.UPDATABLE) + 1)  # those values in a contact row, after its email


@dataclass
class ImportOptions:
    encoding: str | None = None
    delimiter: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)
    pipeline: str | None = None
    stage: str | None = None
    source: str | None = None
    tags: list[str] = field(default_factory=list)
    trigger: bool = True
    dry_run: bool = False
    overwrite: bool = False  # the file's values replace the contacts' (else: only fill blanks)


@dataclass
class ImportResult:
    file: Path
    format: CsvFormat
    header_line: int = 1  # lines above it (notes, `sep=`) are not rows
    rows: int = 0  # records after the header, blank lines aside
    blank_lines: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    duplicates: int = 0
    deals: int = 0
    control_characters: int = 0  # removed from the cells, see values.clean_line
    composed: int = 0  # values written in decomposed Unicode, stored composed (NFC)
    conflicts: list[tuple[int, str, str, str]] = field(default_factory=list)  # row, field, …
    conflict_count: int = 0  # all of them; `conflicts` lists the first LISTED
    overwrite: bool = False
    rejected_file: Path | None = None
    ignored: list[str] = field(default_factory=list)
    deal_columns: list[str] = field(default_factory=list)  # known, unused without deals
    errors: list[tuple[int, str]] = field(default_factory=list)

    @property
    def accounted(self) -> int:
        """The rows whose fate is known: equal to `rows` for every import that lands."""
        return self.created + self.updated + self.unchanged + self.duplicates + self.rejected

    def as_json(self) -> dict:
        return {
            "file": str(self.file), "encoding": self.format.encoding,
            "delimiter": self.format.delimiter, "header_line": self.header_line,
            "rows": self.rows, "created": self.created, "updated": self.updated,
            "unchanged": self.unchanged, "duplicate_rows": self.duplicates,
            "rejected": self.rejected, "blank_lines": self.blank_lines,
            "deals_created": self.deals,
            "control_characters_removed": self.control_characters,
            "values_composed": self.composed,
            "conflicts": [{"row": row, "field": name, "value": value, "held": held}
                          for row, name, value, held in self.conflicts],
            "conflict_count": self.conflict_count,
            "rejected_file": str(self.rejected_file) if self.rejected_file else None,
            "ignored_columns": self.ignored,
            "deal_columns_unused": self.deal_columns,
            "errors": [{"row": row, "error": error} for row, error in self.errors],
        }  # fmt: skip


def options_for(project: Project, mapping: str | None, **given) -> ImportOptions:
    """Import options: a named mapping from salesflow.yaml, overridden by what is given."""
    options = ImportOptions()
    if mapping:
        if mapping not in project.imports:
            hint = did_you_mean(mapping, list(project.imports))
            raise UserError(f"no import mapping '{mapping}' in salesflow.yaml{hint}")
        spec = project.imports[mapping]
        options = ImportOptions(
            encoding=spec.encoding, delimiter=spec.delimiter, mapping=dict(spec.map),
            pipeline=spec.pipeline, stage=spec.stage, source=spec.source, tags=list(spec.tags),
        )  # fmt: skip
    for name, value in given.items():
        if name == "mapping_pairs":
            options.mapping.update(value)
        elif value not in (None, [], ()):
            setattr(options, name, value)
    return options


def rejected_path(path: Path) -> Path:
    """`prospects.csv` → `prospects.rejected.csv`, beside it."""
    return path.with_name(f"{path.stem}.rejected{path.suffix or '.csv'}")


def import_csv(
    store: Store,
    path: Path,
    options: ImportOptions,
    progress: Callable[[int], None] | None = None,
    also: Callable[[], None] | None = None,
) -> ImportResult:
    """Import `path`; bad rows are rejected (and kept in the rejects file), good ones go in.
    `also` runs last inside the import's transaction (the inbox records the file there)."""
    project = store.project
    fmt = sniff(path, project.locale, options.encoding, options.delimiter)
    target = _deal_target(store, options)
    reader = Records(path, fmt, progress)
    records = iter(reader)
    found = find_header(records, options.mapping)
    if found is None:
        raise UserError(f"{path.name} is empty")
    header_line, header = found
    columns = resolve(header, options.mapping, project, with_deals=target is not None)
    reader.width = len(header)
    parser = RowParser(columns, project, options.source, options.tags)
    result = ImportResult(
        path, fmt, header_line, ignored=columns.ignored, overwrite=options.overwrite,
        deal_columns=columns.deal_columns,
    )  # fmt: skip
    rejects = _Rejects(rejected_path(path), fmt, header, write=not options.dry_run)
    try:
        with imports.scratch_on_disk(store), transaction(store.conn, options.dry_run):
            with_deals = target is not None
            staging = imports.start(store, with_deals, options.overwrite, parser.defaulted)
            rule = _EntryRule(store, *target) if target and target[1].requires else None
            batch = _Batch(store, staging, parser, result, rejects, with_deals,
                           options.overwrite, rule)  # fmt: skip
            _upsert(records, parser, result, rejects, batch)
            imports.settle(store)
            _count(store, staging, result)
            if target:
                result.deals = imports.open_deals(store, staging, *target, options.trigger)
                if target[1].on_enter_tasks:
                    imports.make_entry_tasks(store, *target)
            if options.trigger:
                imports.record_contact_events(store, staging)
            imports.finish(store)
            if also:
                also()
    except BaseException:
        rejects.discard()
        raise
    result.rejected_file = rejects.close()
    return result


def _deal_target(store: Store, options: ImportOptions):
    if not options.pipeline:
        if options.stage:
            raise UserError("--stage goes with --pipeline")
        return None
    pipeline = deals.pipeline(store, options.pipeline)
    stage = deals.stage(pipeline, options.stage) if options.stage else pipeline.stages[0]
    return pipeline, stage


class _Rejects:
    """The rejects file: the original columns plus `error`, in the input's encoding and
    delimiter; written only when a row is rejected, removed when a run rejects nothing."""

    def __init__(self, path: Path, fmt: CsvFormat, header: list[str], write: bool):
        self.path, self.fmt, self.header, self.write = path, fmt, header, write
        self.file = self.writer = None

    def add(self, cells: list[str], error: str) -> None:
        if not self.write:
            return
        if self.writer is None:
            self.file = self.path.open(
                "w", encoding=self.fmt.encoding, newline="", errors="replace"
            )
            self.writer = csv.writer(self.file, delimiter=self.fmt.delimiter)
            self.writer.writerow([*self.header, "error"])
        width = len(self.header)
        if len(cells) > width:  # the extra cells back into the last column, as they were
            cells = [*cells[: width - 1], self.fmt.delimiter.join(cells[width - 1 :])]
        padded = cells + [""] * (width - len(cells))
        self.writer.writerow([*padded, error])

    def close(self) -> Path | None:
        if self.file:
            self.file.close()
            return self.path
        if self.write:
            self.path.unlink(missing_ok=True)  # an old rejects file no longer applies
        return None

    def discard(self) -> None:
        if self.file:
            self.file.close()
            self.path.unlink(missing_ok=True)


class _EntryRule:
    """The stage's `requires` for the deal a row would open: only a row whose contact is new
    opens one (open_deals), and such a contact has only what the file gives it, so a row is
    judged on its own values. One query a batch tells the new emails from the known."""

    def __init__(self, store: Store, pipeline: Pipeline, stage: Stage):
        self.store, self.pipeline, self.stage = store, pipeline, stage

    def refused(self, batch: list, deal_values: list) -> list[str | None]:
        """For each row of the batch, why its deal may not enter the stage, or None."""
        known = imports.existing_emails(self.store, [row[0] for row in batch])
        return [None if row[0] in known else self._lacks(row, deal)
                for row, deal in zip(batch, deal_values, strict=True)]  # fmt: skip

    def _lacks(self, row: tuple, deal: list) -> str | None:
        contact = dict(zip(imports.CONTACT_COLUMNS[:7], row[:7], strict=True))
        contact.update(json.loads(row[8]))
        record = {"title": deal[1] or row[0], "amount": deal[2], "expected_close": deal[3],
                  "owner": row[5], "probability": self.stage.probability}  # fmt: skip
        values = playbook.values_of(record, contact)
        missing = missing_to_move(self.pipeline, None, self.stage, values, ())
        return str(RequirementsMissing("deal", None, missing)) if missing else None


def _upsert(records, parser: RowParser, result: ImportResult, rejects: _Rejects,
            batch: _Batch) -> None:  # fmt: skip
    """Each record read: a blank line skipped, a broken one refused, the others (cleaned
    where they must be) gathered; `batch` written each BATCH records, and at the end."""
    width = len(rejects.header)
    add, refuse = batch.add, batch.refuse  # looked up once: this loop runs for every row
    for row_no, cells, broken in records:  # row_no: the line the record starts on
        text = "".join(cells)
        if not broken and (not text or text.isspace()):
            result.blank_lines += 1  # a blank line is not a record
            continue
        result.rows += 1
        if broken:
            gathered = refuse(row_no, cells, broken)
        elif len(cells) > width and "".join(cells[width:]).strip():
            why = (
                f"{len(cells)} cells, the header has {width}: a value holding"
                f" '{rejects.fmt.delimiter}' without quotes? quote it or fix the row"
            )
            gathered = refuse(row_no, cells, why)
        else:
            # the rare case (a printable text holds no control character: one C-level test)
            if (not text.isprintable() and has_control(text)) or not (
                text.isascii() or is_normalized("NFC", text)
            ):
                cells, removed, composed = parser.clean(cells)
                result.control_characters += removed
                result.composed += composed
            gathered = add(row_no, cells)
        if gathered >= BATCH:
            batch.write()
    batch.write()


@dataclass
class _Batch:
    """Records on their way into the staging tables, a batch at a time: parsed together
    (RowParser.parse), less those refused, which are rejected in the file's order."""

    store: Store
    staging: object
    parser: RowParser
    result: ImportResult
    rejects: _Rejects
    with_deals: bool
    overwrite: bool
    rule: _EntryRule | None
    rows: list[int] = field(default_factory=list)  # each record's line
    cells: list[list[str]] = field(default_factory=list)
    refused: list[tuple[int, list[str], str]] = field(default_factory=list)  # before parsing

    def add(self, row_no: int, cells: list[str]) -> int:
        """A record to parse; the records gathered now."""
        self.rows.append(row_no)
        self.cells.append(cells)
        return len(self.rows) + len(self.refused)

    def refuse(self, row_no: int, cells: list[str], why: str) -> int:
        """A record rejected as it is read; the records gathered now."""
        self.refused.append((row_no, cells, why))
        return len(self.rows) + len(self.refused)

    def write(self) -> None:
        """The batch into the database, less the records refused; then empty."""
        contacts, deals, refused = self.parser.parse(self.cells)
        if self.rule and len(refused) < len(contacts):
            kept = [i for i in range(len(contacts)) if i not in refused]
            reasons = self.rule.refused([contacts[i] for i in kept], [deals[i] for i in kept])
            refused.update((i, why) for i, why in zip(kept, reasons, strict=True) if why)
        rows = self.rows
        if refused:
            kept = [i for i in range(len(contacts)) if i not in refused]
            contacts, deals, rows = ([items[i] for i in kept] for items in (contacts, deals, rows))
            self.refused += [(self.rows[i], self.cells[i], why) for i, why in refused.items()]
        for row_no, cells, why in sorted(self.refused, key=itemgetter(0)):
            _reject(self.result, self.rejects, row_no, cells, why)
        emails = list(dict.fromkeys(row[0] for row in contacts))
        known = imports.lookup(self.store, self.staging, emails)
        found = _conflicts(known, contacts, rows, self.overwrite)
        self.result.conflict_count += len(found)
        self.result.conflicts += found[: LISTED - len(self.result.conflicts)]
        imports.stage(self.store, self.staging, contacts, deals if self.with_deals else [], known)
        for gathered in (self.rows, self.cells, self.refused):
            gathered.clear()


def _reject(result: ImportResult, rejects: _Rejects, row_no: int, cells: list, why: str) -> None:
    result.rejected += 1
    if len(result.errors) < 100:
        result.errors.append((row_no, why))
    rejects.add(cells, why)


def _conflicts(known: dict, batch: list, rows: list[int], overwrite: bool) -> list[tuple]:
    """(row, field, the row's value, the contact's) for each value of the batch that differs
    from what the contact holds by then — the database's (earlier batches included: `known`,
    from imports.lookup) or an earlier row's of this batch."""
    held: dict = dict(known)  # a contact's columns, or a row of the batch, as it stands
    found = []
    for row_no, row in zip(rows, batch, strict=True):
        current = held.get(row[0])
        if current is None:
            held[row[0]] = row  # new so far: kept as it is, copied only if it repeats
            continue
        if isinstance(current, tuple):  # its values start where a row's do (imports.lookup)
            if current[_HELD] == row[_HELD]:
                continue  # the same values again (a re-import): nothing to compare
            current = held[row[0]] = list(current[_HELD])
        for index, name in enumerate(imports.UPDATABLE):
            mine, theirs = row[index + 1], current[index]
            if mine is not None and theirs is not None and mine != theirs:
                found.append((row_no, name, mine, theirs))
            if mine is not None and (overwrite or theirs is None):
                current[index] = mine
    return found


def _count(store: Store, staging, result: ImportResult) -> None:
    """Contacts created, changed and unchanged, and duplicate rows, each counted on its own;
    UserError (nothing imported) if with the rejects they do not add up to the rows read."""
    counted = imports.counts(store, staging)
    result.created, result.updated = counted.created, counted.updated
    result.unchanged, result.duplicates = counted.unchanged, counted.duplicates
    if result.accounted != result.rows:
        raise UserError(
            f"{result.file.name}: {result.rows} rows read but {result.accounted} accounted for"
            " (created, updated, unchanged, duplicate, rejected); nothing was imported —"
            " this is a bug in salesflow: please report it with the file"
        )
