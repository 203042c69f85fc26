"""`salesflow import`: a CSV file of prospects into contacts (and deals), in one transaction.

Records are streamed into a temporary staging table in batches; deduplication (within the
file and against the database), the created/updated/unchanged split, the changed fields of
each event and the deals are then done by SQLite, set-based — memory does not grow with the
file and no Python set of every email is kept.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from salesflow.errors import UserError
from salesflow.ingest.csvread import CsvFormat, read_rows, sniff
from salesflow.ingest.headers import resolve
from salesflow.ingest.rows import STAGED, RowParser
from salesflow.store import deals
from salesflow.store.db import transaction
from salesflow.store.session import Store

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


@dataclass
class ImportResult:
    file: Path
    format: CsvFormat
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    merged: int = 0
    deals: int = 0
    rejected_file: Path | None = None
    ignored: list[str] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "file": str(self.file), "encoding": self.format.encoding,
            "delimiter": self.format.delimiter, "rows": self.rows, "created": self.created,
            "updated": self.updated, "unchanged": self.unchanged, "rejected": self.rejected,
            "merged_duplicates": self.merged, "deals_created": self.deals,
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
    result = ImportResult(path, fmt, ignored=columns.ignored)
    rejects = _Rejects(rejected_path(path), fmt, header, write=not options.dry_run)
    try:
        with transaction(store.conn, options.dry_run):
            _stage(store, records, parser, result, rejects)
            max_contact = _max_id(store, "contacts")
            result.merged = _merge_duplicates(store)
            result.created = _insert_new(store, max_contact)
            result.updated, result.unchanged = _update_existing(store, max_contact)
            if target:
                result.deals = _open_deals(store, max_contact, *target, options.trigger)
            if options.trigger:
                _record_contact_events(store, max_contact)
            store.conn.execute("DROP TABLE temp.changed")
            store.conn.execute("DROP TABLE temp.staging")
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


def _stage(store: Store, records, parser: RowParser, result: ImportResult, rejects) -> None:
    conn = store.conn
    columns = ", ".join(STAGED)
    conn.execute(f"CREATE TEMP TABLE staging (row_no INTEGER PRIMARY KEY, {', '.join(STAGED[1:])})")
    insert = f"INSERT INTO staging ({columns}) VALUES ({', '.join('?' * len(STAGED))})"
    batch = []
    for row_no, cells in enumerate(records, start=2):  # row 1 is the header
        if not any(cell.strip() for cell in cells):
            continue  # a blank line is not a record
        result.rows += 1
        try:
            batch.append(parser.parse(row_no, cells))
        except ValueError as error:
            result.rejected += 1
            if len(result.errors) < 100:
                result.errors.append((row_no, str(error)))
            rejects.add(cells, str(error))
            continue
        if len(batch) >= BATCH:
            conn.executemany(insert, batch)
            batch.clear()
    conn.executemany(insert, batch)
    conn.execute("CREATE INDEX temp.staging_email ON staging (email)")


def _max_id(store: Store, table: str) -> int:
    return store.conn.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0]


def _merge_duplicates(store: Store) -> int:
    """Rows of one email become one: later non-empty values win, tags and fields add up.
    Only the duplicated emails come into Python."""
    conn = store.conn
    rows = conn.execute(
        "SELECT * FROM staging WHERE email IN"
        " (SELECT email FROM staging GROUP BY email HAVING count(*) > 1) ORDER BY email, row_no"
    ).fetchall()
    merged: dict[str, dict] = {}
    removed = []
    for row in rows:
        current = merged.get(row["email"])
        if current is None:
            merged[row["email"]] = dict(row)
            continue
        removed.append(current["row_no"])
        for name in STAGED[1:]:
            if name in ("tags", "fields"):
                continue
            if row[name] is not None:
                current[name] = row[name]
        current["tags"] = _union_json(current["tags"], row["tags"], list)
        current["fields"] = _union_json(current["fields"], row["fields"], dict)
        current["row_no"] = row["row_no"]
    conn.executemany("DELETE FROM staging WHERE row_no = ?", [(n,) for n in removed])
    conn.executemany(
        f"UPDATE staging SET {', '.join(f'{n} = ?' for n in STAGED[1:])} WHERE row_no = ?",
        [(*(row[n] for n in STAGED[1:]), row["row_no"]) for row in merged.values()],
    )
    return len(removed)


def _union_json(old: str | None, new: str | None, kind):
    if not new:
        return old
    if not old:
        return new
    if kind is list:
        return json.dumps(sorted(set(json.loads(old)) | set(json.loads(new))), ensure_ascii=False)
    return json.dumps({**json.loads(old), **json.loads(new)}, ensure_ascii=False)


def _insert_new(store: Store, max_contact: int) -> int:
    cursor = store.conn.execute(
        "INSERT INTO contacts (email, first_name, last_name, phone, company, owner, source,"
        " tags, fields, created_at, updated_at)"
        " SELECT s.email, s.first_name, s.last_name, s.phone, s.company, s.owner, s.source,"
        " coalesce(s.tags, '[]'), coalesce(s.fields, '{}'), :now, :now FROM staging s"
        " WHERE NOT EXISTS (SELECT 1 FROM contacts c WHERE c.email = s.email) ORDER BY s.row_no",
        {"now": store.stamp},
    )
    return cursor.rowcount


def _update_existing(store: Store, max_contact: int) -> tuple[int, int]:
    """Existing contacts get the file's non-empty values; returns (updated, unchanged)."""
    conn = store.conn
    tests = [
        f"CASE WHEN s.{name} IS NOT NULL AND s.{name} IS NOT c.{name} THEN '{name},' ELSE '' END"
        for name in _UPDATABLE
    ]
    tests.append("CASE WHEN s.source IS NOT NULL AND c.source IS NULL THEN 'source,' ELSE '' END")
    tests.append(
        "CASE WHEN s.tags IS NOT NULL AND EXISTS (SELECT 1 FROM json_each(s.tags) t"
        " WHERE t.value NOT IN (SELECT value FROM json_each(c.tags))) THEN 'tags,' ELSE '' END"
    )
    tests += [
        f"CASE WHEN json_extract(s.fields, '$.{name}') IS NOT NULL AND json_extract(s.fields,"
        f" '$.{name}') IS NOT json_extract(c.fields, '$.{name}') THEN '{name},' ELSE '' END"
        for name in store.project.contact_fields
    ]
    conn.execute(
        f"CREATE TEMP TABLE changed AS SELECT c.id, s.row_no, rtrim({' || '.join(tests)}, ',')"
        " AS names FROM staging s JOIN contacts c ON c.email = s.email WHERE c.id <= ?",
        (max_contact,),
    )
    assignments = ", ".join(f"{name} = coalesce(s.{name}, contacts.{name})" for name in _UPDATABLE)
    conn.execute(
        f"UPDATE contacts SET {assignments}, source = coalesce(contacts.source, s.source),"
        " tags = CASE WHEN s.tags IS NULL THEN contacts.tags ELSE (SELECT json_group_array(value)"
        "  FROM (SELECT value FROM json_each(contacts.tags) UNION"
        "  SELECT value FROM json_each(s.tags) ORDER BY value)) END,"
        " fields = json_patch(contacts.fields, coalesce(s.fields, '{}')), updated_at = ?"
        " FROM changed ch JOIN staging s ON s.row_no = ch.row_no"
        " WHERE contacts.id = ch.id AND ch.names != ''",
        (store.stamp,),
    )
    updated, unchanged = conn.execute(
        "SELECT coalesce(sum(names != ''), 0), coalesce(sum(names = ''), 0) FROM changed"
    ).fetchone()
    return updated, unchanged


def _record_contact_events(store: Store, max_contact: int) -> None:
    """contact.created for the new, contact.updated (with what changed) for the others."""
    conn = store.conn
    conn.execute(
        "INSERT INTO events (type, subject_type, subject_id, data, created_at)"
        " SELECT 'contact.created', 'contact', id, json_object('email', email, 'source', source,"
        " 'by', 'import'), ? FROM contacts WHERE id > ? ORDER BY id",
        (store.stamp, max_contact),
    )
    conn.execute(
        "INSERT INTO events (type, subject_type, subject_id, data, created_at)"
        " SELECT 'contact.updated', 'contact', ch.id, json_object('email', c.email, 'changed',"
        " json('[\"' || replace(ch.names, ',', '\",\"') || '\"]'), 'by', 'import'), ?"
        " FROM changed ch JOIN contacts c ON c.id = ch.id WHERE ch.names != '' ORDER BY ch.row_no",
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
        " SELECT :pipeline, :stage, :status, coalesce(s.title, nullif(trim(coalesce(c.first_name,"
        " '') || ' ' || coalesce(c.last_name, '')), ''), c.email), c.id, c.owner, s.amount,"
        " :currency, :now, s.expected_close, :closed, :now, 1 << :bit"
        " FROM contacts c JOIN staging s ON s.email = c.email WHERE c.id > :max_contact"
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
