"""The SQL of `salesflow import`: batches of contact rows upserted set-based, in one
transaction, and what really changed counted and recorded by SQL on the whole set.

An import goes: `start` (scratch tables, and a temporary trigger that keeps each existing
contact's state from before its first change), `stage` each batch (executemany), `settle`
(compare every touched contact with its state before), `counts`, `open_deals` and
`record_contact_events` (set-based INSERT … SELECT), then `finish` (the scratch tables go).
Memory does not grow with the file: no Python set of every email is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from salesflow.config.model import Pipeline, Stage
from salesflow.store import deals
from salesflow.store.session import Store

# The contact columns a row fills, in the order of the row tuples `stage` takes.
CONTACT_COLUMNS = ("email", "first_name", "last_name", "phone", "company", "owner", "source",
                   "tags", "fields")  # fmt: skip
UPDATABLE = ("first_name", "last_name", "phone", "company", "owner")  # after the email
_KEPT = (*CONTACT_COLUMNS[1:], "updated_at")  # what a contact's "before" snapshot holds
_SCRATCH = ("import_log", "import_emails", "deal_values")


@dataclass(frozen=True)
class Staging:
    """One import under way."""

    before: int  # the largest contact id before the import: new contacts are above it
    upsert: str  # the statement that inserts or updates one contact row


@dataclass(frozen=True)
class Counts:
    created: int
    updated: int
    unchanged: int
    duplicates: int  # rows that repeated an email of the file


def start(store: Store, with_deals: bool, overwrite: bool) -> Staging:
    """The scratch tables of an import (the deal values only `with_deals`), and the
    temporary trigger that keeps each existing contact's state before its first change."""
    conn = store.conn
    before = _largest_id(store, "contacts")
    conn.execute(
        f"CREATE TEMP TABLE import_log (contact_id INTEGER PRIMARY KEY, changed TEXT,"
        f" {', '.join(_KEPT)})"
    )
    conn.execute(
        "CREATE TEMP TRIGGER import_updated AFTER UPDATE ON main.contacts"
        f" WHEN OLD.id <= {int(before)} BEGIN"
        f" INSERT INTO import_log (contact_id, {', '.join(_KEPT)})"
        f" VALUES (OLD.id, {', '.join(f'OLD.{n}' for n in _KEPT)})"
        " ON CONFLICT DO NOTHING; END"
    )
    conn.execute("CREATE TEMP TABLE import_emails (email TEXT PRIMARY KEY, rows INTEGER)")
    if with_deals:
        conn.execute(
            "CREATE TEMP TABLE deal_values (email TEXT PRIMARY KEY, title, amount, expected_close)"
        )
    return Staging(before, _upsert_statement(store, overwrite))


def held_values(store: Store, emails: list[str]) -> dict[str, list]:
    """The UPDATABLE values of the contacts with these emails (those that exist), by email."""
    return {
        row[0]: list(row[1:])
        for row in store.conn.execute(
            f"SELECT email, {', '.join(UPDATABLE)} FROM contacts"
            f" WHERE email IN ({', '.join('?' * len(emails))})",
            emails,
        )
    }


def stage(store: Store, staging: Staging, contacts: list, deal_values: list) -> None:
    """Upsert a batch of contact rows, count each row against its email, and keep the deal
    values (title, amount, expected close) of each email: the first non-empty value wins."""
    conn = store.conn
    conn.executemany(staging.upsert, contacts)
    conn.executemany(
        "INSERT INTO import_emails VALUES (?, 1) ON CONFLICT DO UPDATE SET rows = rows + 1",
        [row[:1] for row in contacts],
    )
    if deal_values:
        conn.executemany(
            "INSERT INTO deal_values VALUES (?, ?, ?, ?) ON CONFLICT (email) DO UPDATE SET"
            " title = coalesce(excluded.title, title), amount = coalesce(excluded.amount, amount),"
            " expected_close = coalesce(excluded.expected_close, expected_close)",
            deal_values,
        )


def _upsert_statement(store: Store, overwrite: bool) -> str:
    """Insert, or update — only when that changes something. A contact's non-empty values
    are kept and its blanks filled (within a file: the first non-empty value wins); with
    `overwrite` the file's non-empty values replace them (the last one wins)."""
    now = store.stamp  # our own ISO text, safe to inline: executemany takes one kind of params
    plain = UPDATABLE
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


def settle(store: Store) -> None:
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


def counts(store: Store, staging: Staging) -> Counts:
    """Contacts created, changed and unchanged, and rows that repeated an email of the file,
    each counted on its own (after `settle`)."""

    def one(sql: str, *params) -> int:
        return store.conn.execute(sql, params).fetchone()[0]

    return Counts(
        created=one("SELECT count(*) FROM contacts WHERE id > ?", staging.before),
        updated=one("SELECT count(*) FROM import_log WHERE changed != ''"),
        unchanged=one(
            "SELECT count(*) FROM import_emails e JOIN contacts c ON c.email = e.email"
            " WHERE c.id <= ? AND c.id NOT IN"
            " (SELECT contact_id FROM import_log WHERE changed != '')",
            staging.before,
        ),
        duplicates=one("SELECT coalesce(sum(rows - 1), 0) FROM import_emails"),
    )


def record_contact_events(store: Store, staging: Staging) -> None:
    """contact.created for each new contact; contact.updated, with what changed, for each
    contact that existed before and ends different (after `settle`)."""
    conn = store.conn
    conn.execute(
        "INSERT INTO events (type, subject_type, subject_id, data, created_at)"
        " SELECT 'contact.created', 'contact', id, json_object('email', email, 'source', source,"
        " 'by', 'import'), ? FROM contacts WHERE id > ? ORDER BY id",
        (store.stamp, staging.before),
    )
    conn.execute(
        "INSERT INTO events (type, subject_type, subject_id, data, created_at)"
        " SELECT 'contact.updated', 'contact', c.id, json_object('email', c.email, 'changed',"
        " json('[\"' || replace(l.changed, ',', '\",\"') || '\"]'), 'by', 'import'), ?"
        " FROM import_log l JOIN contacts c ON c.id = l.contact_id"
        " WHERE l.changed != '' ORDER BY c.id",
        (store.stamp,),
    )


def open_deals(
    store: Store, staging: Staging, pipeline: Pipeline, stage: Stage, with_events: bool
) -> int:
    """One open deal in `stage` for each new contact (none where one is open already), its
    stage history and (`with_events`) its deal.created; how many were opened."""
    conn = store.conn
    max_deal = _largest_id(store, "deals")
    params = {
        "pipeline": pipeline.id, "stage": stage.id, "status": deals.status_of(stage),
        "currency": store.project.currency, "now": store.stamp, "max_contact": staging.before,
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
    if with_events:
        conn.execute(
            "INSERT INTO events (type, subject_type, subject_id, data, created_at)"
            " SELECT 'deal.created', 'deal', id, json_object('pipeline', pipeline, 'stage', stage,"
            " 'by', 'import'), created_at FROM deals WHERE id > ? ORDER BY id",
            (max_deal,),
        )
    return created


def finish(store: Store) -> None:
    """The scratch tables go (the transaction stays the caller's)."""
    for table in _SCRATCH:
        store.conn.execute(f"DROP TABLE IF EXISTS temp.{table}")


def _largest_id(store: Store, table: str) -> int:
    return store.conn.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0]
