"""`salesflow import`: a CSV file of prospects into contacts (and deals), in one transaction.

Records are streamed and upserted in batches (executemany): a new email is inserted, a known
one gets the row's non-empty values, and a row that changes nothing writes nothing. Temporary
triggers keep each touched contact's state from before the import; comparing it with the
state after gives what really changed — so rows of one email within the file (duplicates)
that undo each other change nothing, and importing a file twice changes nothing. Counting,
comparing and the events are set-based SQL: memory does not grow with the file, and no
Python set of every email is kept.

Every row is accounted for: rows read = created + updated + unchanged + duplicate rows +
rejected, each term counted on its own (the rows and rejects as they are read, the others
from the database); a sum that does not hold imports nothing.
"""

from __future__ import annotations

import csv
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from salesflow.config.model import Project
from salesflow.errors import UserError, did_you_mean
from salesflow.ingest.csvread import CsvFormat, Records, sniff
from salesflow.ingest.headers import find_header, resolve
from salesflow.ingest.rows import CONTACT_COLUMNS, RowParser
from salesflow.store import deals
from salesflow.store.db import transaction
from salesflow.store.session import Store
from salesflow.values import has_control

BATCH = 2000
_UPDATABLE = ("first_name", "last_name", "phone", "company", "owner")
_HELD = slice(1, len(_UPDATABLE) + 1)  # those values in a contact row, after its email


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
        with transaction(store.conn, options.dry_run):
            max_contact = _max_id(store, "contacts")
            _watch_contacts(store, max_contact)
            _upsert(store, records, parser, result, rejects, target is not None, options.overwrite)
            _compare_with_before(store)
            _count(store, max_contact, result)
            if target:
                result.deals = _open_deals(store, max_contact, *target, options.trigger)
            if options.trigger:
                _record_contact_events(store, max_contact)
            _unwatch_contacts(store)
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


def _upsert(store: Store, records, parser, result, rejects, with_deals: bool, overwrite: bool):
    conn = store.conn
    statement = _upsert_statement(store, overwrite)
    conn.execute("CREATE TEMP TABLE import_emails (email TEXT PRIMARY KEY, rows INTEGER)")
    if with_deals:
        conn.execute(
            "CREATE TEMP TABLE deal_values (email TEXT PRIMARY KEY, title, amount, expected_close)"
        )
    contacts_batch, row_numbers, deals_batch = [], [], []
    width = len(rejects.header)
    for row_no, cells, broken in records:  # row_no: the line the record starts on
        text = "".join(cells)
        if not broken and not text.strip():
            result.blank_lines += 1  # a blank line is not a record
            continue
        result.rows += 1
        if broken:
            _reject(result, rejects, row_no, cells, broken)
            continue
        if len(cells) > width and "".join(cells[width:]).strip():
            why = (
                f"{len(cells)} cells, the header has {width}: a value holding"
                f" '{rejects.fmt.delimiter}' without quotes? quote it or fix the row"
            )
            _reject(result, rejects, row_no, cells, why)
            continue
        if has_control(text) or not (text.isascii() or _composed(text)):  # the rare case
            cells, removed, composed = parser.clean(cells)
            result.control_characters += removed
            result.composed += composed
        try:
            contact, deal = parser.parse(cells)
        except ValueError as error:
            _reject(result, rejects, row_no, cells, str(error))
            continue
        contacts_batch.append(contact)
        row_numbers.append(row_no)
        if with_deals:
            deals_batch.append(deal)
        if len(contacts_batch) >= BATCH:
            result.conflicts += _conflicts(conn, contacts_batch, row_numbers, overwrite)
            _flush(conn, statement, contacts_batch, deals_batch)
            row_numbers.clear()
    result.conflicts += _conflicts(conn, contacts_batch, row_numbers, overwrite)
    _flush(conn, statement, contacts_batch, deals_batch)


def _composed(text: str) -> bool:
    return unicodedata.is_normalized("NFC", text)


def _reject(result: ImportResult, rejects: _Rejects, row_no: int, cells: list, why: str) -> None:
    result.rejected += 1
    if len(result.errors) < 100:
        result.errors.append((row_no, why))
    rejects.add(cells, why)


def _conflicts(conn, batch: list, rows: list[int], overwrite: bool) -> list[tuple]:
    """(row, field, the row's value, the contact's) for each value of the batch that differs
    from what the contact holds by then — the database's (earlier batches included) or an
    earlier row's of this batch. One indexed query a batch: only emails seen before count."""
    emails = [row[0] for row in batch]
    held: dict = {
        row[0]: list(row[1:])
        for row in conn.execute(
            f"SELECT email, {', '.join(_UPDATABLE)} FROM contacts"
            f" WHERE email IN ({', '.join('?' * len(emails))})",
            emails,
        )
    }
    found = []
    for row_no, row in zip(rows, batch, strict=True):
        current = held.get(row[0])
        if current is None:
            held[row[0]] = row  # new so far: kept as it is, copied only if it repeats
            continue
        if isinstance(current, tuple):
            if current[_HELD] == row[_HELD]:
                continue  # the same values again (a re-import): nothing to compare
            current = held[row[0]] = list(current[_HELD])
        for index, name in enumerate(_UPDATABLE):
            mine, theirs = row[index + 1], current[index]
            if mine is not None and theirs is not None and mine != theirs:
                found.append((row_no, name, mine, theirs))
            if mine is not None and (overwrite or theirs is None):
                current[index] = mine
    return found


def _flush(conn, statement: str, contacts_batch: list, deals_batch: list) -> None:
    conn.executemany(statement, contacts_batch)
    conn.executemany(
        "INSERT INTO import_emails VALUES (?, 1) ON CONFLICT DO UPDATE SET rows = rows + 1",
        [row[:1] for row in contacts_batch],
    )
    contacts_batch.clear()
    if deals_batch:
        conn.executemany(
            "INSERT INTO deal_values VALUES (?, ?, ?, ?) ON CONFLICT (email) DO UPDATE SET"
            " title = coalesce(excluded.title, title), amount = coalesce(excluded.amount, amount),"
            " expected_close = coalesce(excluded.expected_close, expected_close)",
            deals_batch,
        )
        deals_batch.clear()


def _upsert_statement(store: Store, overwrite: bool) -> str:
    """Insert, or update — only when that changes something. A contact's non-empty values
    are kept and its blanks filled (within a file: the first non-empty value wins); with
    `overwrite` the file's non-empty values replace them (the last one wins)."""
    now = store.stamp  # our own ISO text, safe to inline: executemany takes one kind of params
    plain = _UPDATABLE
    if overwrite:
        differs = [f"(excluded.{n} IS NOT NULL AND excluded.{n} IS NOT {n})" for n in plain]
        keep = ", ".join(f"{n} = coalesce(excluded.{n}, {n})" for n in plain)
        fields = "json_patch(fields, excluded.fields)"
    else:
        differs = [f"(excluded.{n} IS NOT NULL AND {n} IS NULL)" for n in plain]
        keep = ", ".join(f"{n} = coalesce({n}, excluded.{n})" for n in plain)
        fields = "json_patch(excluded.fields, fields)"
    differs += [
        "(excluded.source IS NOT NULL AND source IS NULL)",
        "(excluded.tags != '[]' AND EXISTS (SELECT 1 FROM json_each(excluded.tags) AS t"
        " WHERE t.value NOT IN (SELECT value FROM json_each(contacts.tags))))",
    ]
    existing = "IS NOT json_extract(excluded.fields, '$.{n}')" if overwrite else "IS NULL"
    differs += [  # per declared field: cheaper than comparing whole JSON documents
        f"(json_extract(excluded.fields, '$.{n}') IS NOT NULL AND"
        f" json_extract(fields, '$.{n}') {existing.format(n=n)})"
        for n in store.project.contact_fields
    ]
    return (
        f"INSERT INTO contacts ({', '.join(CONTACT_COLUMNS)}, created_at, updated_at)"
        f" VALUES ({', '.join('?' * len(CONTACT_COLUMNS))}, '{now}', '{now}')"
        f" ON CONFLICT (email) DO UPDATE SET {keep}, source = coalesce(source, excluded.source),"
        " tags = CASE WHEN excluded.tags = '[]' THEN tags ELSE (SELECT json_group_array(value)"
        "  FROM (SELECT value FROM json_each(contacts.tags) UNION"
        "  SELECT value FROM json_each(excluded.tags) ORDER BY value)) END,"
        f" fields = {fields}, updated_at = excluded.updated_at"
        f" WHERE {' OR '.join(differs)}"
    )


_KEPT = (*CONTACT_COLUMNS[1:], "updated_at")  # what a contact's "before" snapshot holds


def _watch_contacts(store: Store, max_contact: int) -> None:
    """A temporary trigger keeps each existing contact's state before its first change in
    this import (new contacts are those above the largest id before it)."""
    conn = store.conn
    conn.execute(
        f"CREATE TEMP TABLE import_log (contact_id INTEGER PRIMARY KEY, changed TEXT,"
        f" {', '.join(_KEPT)})"
    )
    conn.execute(
        "CREATE TEMP TRIGGER import_updated AFTER UPDATE ON main.contacts"
        f" WHEN OLD.id <= {int(max_contact)} BEGIN"
        f" INSERT INTO import_log (contact_id, {', '.join(_KEPT)})"
        f" VALUES (OLD.id, {', '.join(f'OLD.{n}' for n in _KEPT)})"
        " ON CONFLICT DO NOTHING; END"
    )


def _compare_with_before(store: Store) -> None:
    """What changed for each existing contact, all rows considered; a contact that ends as
    it began gets its updated_at back, as if untouched."""
    conn = store.conn
    conn.execute("DROP TRIGGER temp.import_updated")
    tests = [f"CASE WHEN l.{n} IS NOT c.{n} THEN '{n},' ELSE '' END" for n in CONTACT_COLUMNS[1:8]]
    tests += [
        f"CASE WHEN json_extract(l.fields, '$.{n}') IS NOT json_extract(c.fields, '$.{n}')"
        f" THEN '{n},' ELSE '' END"
        for n in store.project.contact_fields
    ]
    conn.execute(
        f"UPDATE import_log AS l SET changed = rtrim({' || '.join(tests)}, ',')"
        " FROM contacts c WHERE c.id = l.contact_id"
    )
    conn.execute(
        "UPDATE contacts SET updated_at = l.updated_at FROM import_log l"
        " WHERE contacts.id = l.contact_id AND l.changed = ''"
    )


def _unwatch_contacts(store: Store) -> None:
    for table in ("import_log", "import_emails", "deal_values"):
        store.conn.execute(f"DROP TABLE IF EXISTS temp.{table}")


def _max_id(store: Store, table: str) -> int:
    return store.conn.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0]


def _count(store: Store, max_contact: int, result: ImportResult) -> None:
    """Contacts created, changed and unchanged, and rows that repeated an email of the file,
    each counted on its own; UserError (nothing imported) if with the rejects they do not
    add up to the rows read."""

    def one(sql: str, *params) -> int:
        return store.conn.execute(sql, params).fetchone()[0]

    result.created = one("SELECT count(*) FROM contacts WHERE id > ?", max_contact)
    result.updated = one("SELECT count(*) FROM import_log WHERE changed != ''")
    result.unchanged = one(
        "SELECT count(*) FROM import_emails e JOIN contacts c ON c.email = e.email"
        " WHERE c.id <= ? AND c.id NOT IN (SELECT contact_id FROM import_log WHERE changed != '')",
        max_contact,
    )
    result.duplicates = one("SELECT coalesce(sum(rows - 1), 0) FROM import_emails")
    if result.accounted != result.rows:
        raise UserError(
            f"{result.file.name}: {result.rows} rows read but {result.accounted} accounted for"
            " (created, updated, unchanged, duplicate, rejected); nothing was imported —"
            " this is a bug in salesflow: please report it with the file"
        )


def _record_contact_events(store: Store, max_contact: int) -> None:
    """contact.created for each new contact; contact.updated, with what changed, for each
    contact that existed before and ends different."""
    conn = store.conn
    conn.execute(
        "INSERT INTO events (type, subject_type, subject_id, data, created_at)"
        " SELECT 'contact.created', 'contact', id, json_object('email', email, 'source', source,"
        " 'by', 'import'), ? FROM contacts WHERE id > ? ORDER BY id",
        (store.stamp, max_contact),
    )
    conn.execute(
        "INSERT INTO events (type, subject_type, subject_id, data, created_at)"
        " SELECT 'contact.updated', 'contact', c.id, json_object('email', c.email, 'changed',"
        " json('[\"' || replace(l.changed, ',', '\",\"') || '\"]'), 'by', 'import'), ?"
        " FROM import_log l JOIN contacts c ON c.id = l.contact_id"
        " WHERE l.changed != '' ORDER BY c.id",
        (store.stamp,),
    )


def _open_deals(store: Store, max_contact: int, pipeline, stage, trigger: bool) -> int:
    """One open deal in `stage` for each new contact (none where one is open already)."""
    conn = store.conn
    max_deal = _max_id(store, "deals")
    params = {
        "pipeline": pipeline.id, "stage": stage.id, "status": deals.status_of(stage),
        "currency": store.project.currency, "now": store.stamp, "max_contact": max_contact,
        "closed": store.stamp if stage.outcome else None,
        "bit": deals.stage_bit(store, pipeline.id, stage.id),
    }  # fmt: skip
    created = conn.execute(
        "INSERT INTO deals (pipeline, stage, status, title, contact_id, owner, amount, currency,"
        " created_at, expected_close, closed_at, stage_entered_at, stages_mask)"
        " SELECT :pipeline, :stage, :status, coalesce(v.title, nullif(trim(coalesce(c.first_name,"
        " '') || ' ' || coalesce(c.last_name, '')), ''), c.email), c.id, c.owner, v.amount,"
        " :currency, :now, v.expected_close, :closed, :now, 1 << :bit"
        " FROM contacts c JOIN deal_values v ON v.email = c.email WHERE c.id > :max_contact"
        " AND NOT EXISTS (SELECT 1 FROM deals d WHERE d.contact_id = c.id"
        " AND d.pipeline = :pipeline AND d.status = 'open') ORDER BY c.id",
        params,
    ).rowcount
    conn.execute(
        "INSERT INTO stage_history (deal_id, pipeline, from_stage, to_stage, at, by)"
        " SELECT id, pipeline, NULL, stage, created_at, 'import' FROM deals WHERE id > ?",
        (max_deal,),
    )
    if trigger:
        conn.execute(
            "INSERT INTO events (type, subject_type, subject_id, data, created_at)"
            " SELECT 'deal.created', 'deal', id, json_object('pipeline', pipeline, 'stage', stage,"
            " 'by', 'import'), created_at FROM deals WHERE id > ? ORDER BY id",
            (max_deal,),
        )
    return created
