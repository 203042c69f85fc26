"""`salesflow import`: a CSV file of prospects into contacts (and deals), in one transaction.

Records are streamed and upserted in batches (executemany): a new email is inserted, a known
one gets the row's non-empty values, and a row that changes nothing writes nothing. Temporary
triggers keep each touched contact's state from before the import; comparing it with the
state after gives what really changed — so rows of one email within the file (duplicates)
that undo each other change nothing, and importing a file twice changes nothing. Counting,
comparing and the events are set-based SQL: memory does not grow with the file, and no
Python set of every email is kept.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from salesflow.errors import UserError
from salesflow.ingest.csvread import CsvFormat, read_rows, sniff
from salesflow.ingest.headers import resolve
from salesflow.ingest.rows import CONTACT_COLUMNS, RowParser
from salesflow.store import deals
from salesflow.store.db import transaction
from salesflow.store.session import Store
from salesflow.values import has_control

BATCH = 2000
_UPDATABLE = ("first_name", "last_name", "phone", "company", "owner")


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
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    duplicates: int = 0
    deals: int = 0
    control_characters: int = 0  # removed from the cells, see values.clean_line
    conflicts: list[tuple[int, str, str, str]] = field(default_factory=list)  # row, field, …
    overwrite: bool = False
    rejected_file: Path | None = None
    ignored: list[str] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "file": str(self.file), "encoding": self.format.encoding,
            "delimiter": self.format.delimiter, "rows": self.rows, "created": self.created,
            "updated": self.updated, "unchanged": self.unchanged, "rejected": self.rejected,
            "duplicate_rows": self.duplicates, "deals_created": self.deals,
            "control_characters_removed": self.control_characters,
            "conflicts": [{"row": row, "field": name, "value": value, "held": held}
                          for row, name, value, held in self.conflicts],
            "rejected_file": str(self.rejected_file) if self.rejected_file else None,
            "ignored_columns": self.ignored,
            "errors": [{"row": row, "error": error} for row, error in self.errors],
        }  # fmt: skip


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
    records = read_rows(path, fmt, progress)
    header = next(records, None)
    if header is None:
        raise UserError(f"{path.name} is empty")
    columns = resolve(header, options.mapping, project, with_deals=target is not None)
    parser = RowParser(columns, project, options.source, options.tags)
    result = ImportResult(path, fmt, ignored=columns.ignored, overwrite=options.overwrite)
    rejects = _Rejects(rejected_path(path), fmt, header, write=not options.dry_run)
    try:
        with transaction(store.conn, options.dry_run):
            max_contact = _max_id(store, "contacts")
            _watch_contacts(store, max_contact)
            _upsert(store, records, parser, result, rejects, target is not None, options.overwrite)
            _compare_with_before(store)
            result.created, result.updated, emails = _counts(store, max_contact)
            result.unchanged = emails - result.created - result.updated
            result.duplicates = result.rows - result.rejected - emails
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
        padded = cells + [""] * (len(self.header) - len(cells))
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
    conn.execute("CREATE TEMP TABLE import_emails (email TEXT)")
    if with_deals:
        conn.execute(
            "CREATE TEMP TABLE deal_values (email TEXT PRIMARY KEY, title, amount, expected_close)"
        )
    contacts_batch, row_numbers, deals_batch = [], [], []
    for row_no, cells in enumerate(records, start=2):  # row 1 is the header
        if not any(cell.strip() for cell in cells):
            continue  # a blank line is not a record
        result.rows += 1
        if has_control("".join(cells)):  # one search a record; cleaning is the rare case
            cells, removed = parser.clean(cells)
            result.control_characters += removed
        try:
            contact, deal = parser.parse(cells)
        except ValueError as error:
            result.rejected += 1
            if len(result.errors) < 100:
                result.errors.append((row_no, str(error)))
            rejects.add(cells, str(error))
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
            current = held[row[0]] = list(current[1 : len(_UPDATABLE) + 1])
        for index, name in enumerate(_UPDATABLE):
            mine, theirs = row[index + 1], current[index]
            if mine is not None and theirs is not None and mine != theirs:
                found.append((row_no, name, mine, theirs))
            if mine is not None and (overwrite or theirs is None):
                current[index] = mine
    return found


def _flush(conn, statement: str, contacts_batch: list, deals_batch: list) -> None:
    conn.executemany(statement, contacts_batch)
    conn.executemany("INSERT INTO import_emails VALUES (?)", [row[:1] for row in contacts_batch])
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


def _counts(store: Store, max_contact: int) -> tuple[int, int, int]:
    """(contacts created, contacts changed, distinct emails among the good rows)."""
    created = store.conn.execute(
        "SELECT count(*) FROM contacts WHERE id > ?", (max_contact,)
    ).fetchone()[0]
    updated = store.conn.execute("SELECT count(*) FROM import_log WHERE changed != ''").fetchone()[
        0
    ]
    emails = store.conn.execute("SELECT count(DISTINCT email) FROM import_emails").fetchone()[0]
    return created, updated, emails


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
