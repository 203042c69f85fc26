"""The SQL of `salesflow import`: batches of contact rows upserted set-based, in one
transaction, and what really changed counted and recorded by SQL on the whole set.

An import goes: `start` (scratch tables), `stage` each batch (a snapshot of the contacts it
will meet for the first time, then the upsert: executemany), `settle` (compare every
snapshot with the contact now; the file's emails without one are the contacts it created),
`counts`, `open_deals` and `record_contact_events` (set-based INSERT … SELECT), then `finish`
(the scratch tables go). Memory does not grow with the file: no Python set of every email
is kept. The same statements run on SQLite and PostgreSQL, with per-dialect fragments where
their JSON functions differ; nothing assumes one writer (no "new ids are above the largest").
"""

from __future__ import annotations

from dataclasses import dataclass

from salesflow.config.model import Pipeline, Stage
from salesflow.store import contacts, deals, playbook
from salesflow.store.session import Store

# The contact columns a row fills, in the order of the row tuples `stage` takes.
CONTACT_COLUMNS = ("email", "first_name", "last_name", "phone", "company", "owner", "source",
                   "tags", "fields")  # fmt: skip
UPDATABLE = ("first_name", "last_name", "phone", "company", "owner")  # after the email
_KEPT = (*CONTACT_COLUMNS[1:], "updated_at")  # what a contact's "before" snapshot holds
_SCRATCH = ("import_log", "import_emails", "import_new", "deal_values")
_ID = {"sqlite": "INTEGER", "postgresql": "bigint"}  # SQLite's INTEGER PRIMARY KEY: the rowid

# Per dialect: a custom field's value (SQL NULL when absent), tags' set operations, the
# fields' merge (RFC 7396 on SQLite; the import's fields hold no JSON null, so jsonb's
# shallow `||` is the same merge), and a value as JSON text (the JSON that json.dumps writes).
_FIELD = {"sqlite": "json_extract({doc}, '$.{name}')", "postgresql": "({doc}::jsonb -> '{name}')"}
_HAS_NEW_TAG = {
    "sqlite": "EXISTS (SELECT 1 FROM json_each(excluded.tags) AS t"
    " WHERE t.value NOT IN (SELECT value FROM json_each(contacts.tags)))",
    "postgresql": "NOT contacts.tags::jsonb @> excluded.tags::jsonb",
}
_TAG_UNION = {
    "sqlite": "(SELECT json_group_array(value) FROM (SELECT value FROM json_each(contacts.tags)"
    " UNION SELECT value FROM json_each(excluded.tags) ORDER BY value))",
    "postgresql": "(SELECT '[' || string_agg(to_json(v)::text, ',' ORDER BY v COLLATE \"C\")"
    " || ']' FROM (SELECT jsonb_array_elements_text(contacts.tags::jsonb) UNION"
    " SELECT jsonb_array_elements_text(excluded.tags::jsonb)) AS u (v))",
}
_MERGE = {"sqlite": "json_patch({a}, {b})", "postgresql": "({a}::jsonb || {b}::jsonb)::text"}
_JSON_VALUE = {"sqlite": "json_quote({})", "postgresql": "coalesce(to_json({})::text, 'null')"}


@dataclass(frozen=True)
class Staging:
    """One import under way."""

    upsert: str  # the statement that inserts or updates one contact row


@dataclass(frozen=True)
class Counts:
    created: int
    updated: int
    unchanged: int
    duplicates: int  # rows that repeated an email of the file


def start(store: Store, with_deals: bool, overwrite: bool) -> Staging:
    """The scratch tables of an import (the deal values only `with_deals`)."""
    conn = store.conn
    conn.execute(
        f"CREATE TEMP TABLE import_log (contact_id {_ID[conn.dialect]} PRIMARY KEY,"
        f" changed TEXT NOT NULL DEFAULT '', {', '.join(f'{n} TEXT' for n in _KEPT)})"
    )
    conn.execute("CREATE TEMP TABLE import_emails (email TEXT PRIMARY KEY, rows INTEGER)")
    conn.execute(f"CREATE TEMP TABLE import_new (contact_id {_ID[conn.dialect]} PRIMARY KEY)")
    if with_deals:
        conn.execute(
            "CREATE TEMP TABLE deal_values (email TEXT PRIMARY KEY, title TEXT, amount BIGINT,"
            " expected_close TEXT)"
        )
    return Staging(_upsert_statement(store, overwrite))


def held_values(store: Store, emails: list[str]) -> dict[str, list]:
    """The UPDATABLE values of the contacts with these emails (those that exist), by email."""
    if not emails:  # `IN ()`: SQLite reads it, PostgreSQL does not
        return {}
    return {
        row[0]: list(row[1:])
        for row in store.conn.execute(
            f"SELECT email, {', '.join(UPDATABLE)} FROM contacts"
            f" WHERE email IN ({', '.join('?' * len(emails))})",
            emails,
        )
    }


def stage(store: Store, staging: Staging, contacts: list, deal_values: list) -> None:
    """Keep the existing contacts of a batch met for the first time as they are, upsert the
    batch's rows, count each row against its email, and keep the deal values (title, amount,
    expected close) of each email: the first non-empty value wins."""
    conn = store.conn
    if not contacts:
        return
    emails = [row[0] for row in contacts]
    conn.execute(_SNAPSHOT.format(marks=", ".join("?" * len(emails))), emails)
    conn.executemany(staging.upsert, contacts)
    conn.executemany(
        "INSERT INTO import_emails VALUES (?, 1) ON CONFLICT (email)"
        " DO UPDATE SET rows = import_emails.rows + 1",
        [row[:1] for row in contacts],
    )
    if deal_values:
        conn.executemany(
            "INSERT INTO deal_values VALUES (?, ?, ?, ?) ON CONFLICT (email) DO UPDATE SET"
            " title = coalesce(excluded.title, deal_values.title),"
            " amount = coalesce(excluded.amount, deal_values.amount),"
            " expected_close = coalesce(excluded.expected_close, deal_values.expected_close)",
            deal_values,
        )


# The state before the import of the contacts that exist among a batch's emails, except
# those an earlier batch met (kept already, or created by this import): what `settle`
# compares with. It replaces a temporary trigger (PostgreSQL has none) and "new contacts have
# ids above the largest before" (not so when other writers insert meanwhile).
_SNAPSHOT = (
    f"INSERT INTO import_log (contact_id, {', '.join(_KEPT)}) SELECT id, {', '.join(_KEPT)}"
    " FROM contacts WHERE email IN ({marks})"
    " AND NOT EXISTS (SELECT 1 FROM import_emails e WHERE e.email = contacts.email)"
)


def _upsert_statement(store: Store, overwrite: bool) -> str:
    """Insert, or update — only when that changes something. A contact's non-empty values
    are kept and its blanks filled (within a file: the first non-empty value wins); with
    `overwrite` the file's non-empty values replace them (the last one wins)."""
    now = store.stamp  # our own ISO text, safe to inline: executemany takes one kind of params
    dialect = store.conn.dialect
    plain = UPDATABLE
    if overwrite:
        differs = [f"(excluded.{n} IS NOT NULL AND excluded.{n} IS DISTINCT FROM contacts.{n})"
                   for n in plain]  # fmt: skip
        keep = ", ".join(f"{n} = coalesce(excluded.{n}, contacts.{n})" for n in plain)
        fields = _MERGE[dialect].format(a="contacts.fields", b="excluded.fields")
    else:
        differs = [f"(excluded.{n} IS NOT NULL AND contacts.{n} IS NULL)" for n in plain]
        keep = ", ".join(f"{n} = coalesce(contacts.{n}, excluded.{n})" for n in plain)
        fields = _MERGE[dialect].format(a="excluded.fields", b="contacts.fields")
    differs += [
        "(excluded.source IS NOT NULL AND contacts.source IS NULL)",
        f"(excluded.tags != '[]' AND {_HAS_NEW_TAG[dialect]})",
    ]
    for name in store.project.contact_fields:  # cheaper than comparing whole JSON documents
        new = _FIELD[dialect].format(doc="excluded.fields", name=name)
        old = _FIELD[dialect].format(doc="contacts.fields", name=name)
        existing = f"IS DISTINCT FROM {new}" if overwrite else "IS NULL"
        differs.append(f"({new} IS NOT NULL AND {old} {existing})")
    return (
        f"INSERT INTO contacts ({', '.join(CONTACT_COLUMNS)}, created_at, updated_at)"
        f" VALUES ({', '.join('?' * len(CONTACT_COLUMNS))}, '{now}', '{now}')"
        f" ON CONFLICT (email) DO UPDATE SET {keep},"
        " source = coalesce(contacts.source, excluded.source),"
        f" tags = CASE WHEN excluded.tags = '[]' THEN contacts.tags ELSE {_TAG_UNION[dialect]} END,"
        f" fields = {fields}, updated_at = excluded.updated_at"
        f" WHERE {' OR '.join(differs)}"
    )


def settle(store: Store) -> None:
    """What changed for each existing contact, all rows considered (a contact that ends as
    it began gets its updated_at back, as if untouched), and which contacts are new. Only
    what the upsert touched (stamped now) is compared, and only what differs is written."""
    conn = store.conn
    field = _FIELD[conn.dialect]
    pairs = [(n, f"l.{n}", f"c.{n}") for n in CONTACT_COLUMNS[1:8]]
    pairs += [(n, field.format(doc="l.fields", name=n), field.format(doc="c.fields", name=n))
              for n in store.project.contact_fields]  # fmt: skip
    differs = [f"{old} IS DISTINCT FROM {new}" for _, old, new in pairs]
    names = [f"CASE WHEN {test} THEN '{n},' ELSE '' END"
             for (n, *_), test in zip(pairs, differs, strict=True)]  # fmt: skip
    conn.execute(
        f"UPDATE import_log AS l SET changed = (SELECT rtrim({' || '.join(names)}, ',')"
        " FROM contacts c WHERE c.id = l.contact_id) WHERE EXISTS (SELECT 1 FROM contacts c"
        f" WHERE c.id = l.contact_id AND c.updated_at = ? AND ({' OR '.join(differs)}))",
        (store.stamp,),
    )
    conn.execute(
        "UPDATE contacts SET updated_at = (SELECT l.updated_at FROM import_log l"
        " WHERE l.contact_id = contacts.id) WHERE id IN (SELECT contact_id FROM import_log"
        " WHERE changed = '' AND updated_at != ?) AND updated_at = ?",
        (store.stamp, store.stamp),
    )
    conn.execute(
        "INSERT INTO import_new (contact_id) SELECT c.id FROM import_emails e"
        " JOIN contacts c ON c.email = e.email"
        " WHERE NOT EXISTS (SELECT 1 FROM import_log l WHERE l.contact_id = c.id)"
    )


def counts(store: Store, staging: Staging) -> Counts:
    """Contacts created, changed and unchanged, and rows that repeated an email of the file,
    each counted on its own (after `settle`)."""

    def one(sql: str) -> int:
        return store.conn.execute(sql).fetchone()[0]

    return Counts(
        created=one("SELECT count(*) FROM import_new"),
        updated=one("SELECT count(*) FROM import_log WHERE changed != ''"),
        unchanged=one("SELECT count(*) FROM import_log WHERE changed = ''"),
        duplicates=one("SELECT coalesce(sum(rows - 1), 0) FROM import_emails"),
    )


def record_contact_events(store: Store, staging: Staging) -> None:
    """contact.created for each new contact; contact.updated, with what changed, for each
    contact that existed before and ends different (after `settle`)."""
    conn = store.conn
    created = _json_object(conn.dialect, {"email": "c.email", "source": "c.source"})
    conn.execute(
        "INSERT INTO events (type, subject_type, subject_id, data, created_at)"
        f" SELECT 'contact.created', 'contact', c.id, {created}, ?"
        " FROM import_new n JOIN contacts c ON c.id = n.contact_id ORDER BY c.id",
        (store.stamp,),
    )
    changed = "'[\"' || replace(l.changed, ',', '\", \"') || '\"]'"  # names: no quote, no comma
    updated = _json_object(conn.dialect, {"email": "c.email"}, {"changed": changed})
    conn.execute(
        "INSERT INTO events (type, subject_type, subject_id, data, created_at)"
        f" SELECT 'contact.updated', 'contact', c.id, {updated}, ?"
        " FROM import_log l JOIN contacts c ON c.id = l.contact_id"
        " WHERE l.changed != '' ORDER BY c.id",
        (store.stamp,),
    )


def open_deals(
    store: Store, staging: Staging, pipeline: Pipeline, stage: Stage, with_events: bool
) -> int:
    """One open deal in `stage` for each new contact (none where one is open already), its
    stage history and (`with_events`) its deal.created; how many were opened. The deals of
    the new contacts are the import's own: no other writer sees those contacts yet."""
    conn = store.conn
    params = {
        "pipeline": pipeline.id, "stage": stage.id, "status": deals.status_of(stage),
        "currency": store.project.currency, "now": store.stamp,
        "closed": store.stamp if stage.outcome else None,
        "bit": deals.stage_bit(store, pipeline.id, stage.id),
    }  # fmt: skip
    created = conn.execute(
        "INSERT INTO deals (pipeline, stage, status, title, contact_id, owner, amount, currency,"
        " created_at, expected_close, closed_at, stage_entered_at, stages_mask)"
        " SELECT :pipeline, :stage, :status, coalesce(v.title, nullif(trim(coalesce(c.first_name,"
        " '') || ' ' || coalesce(c.last_name, '')), ''), c.email), c.id, c.owner, v.amount,"
        " :currency, :now, v.expected_close, :closed, :now, CAST(1 AS bigint) << :bit"
        " FROM import_new n JOIN contacts c ON c.id = n.contact_id"
        " JOIN deal_values v ON v.email = c.email WHERE NOT EXISTS (SELECT 1 FROM deals d"
        " WHERE d.contact_id = c.id AND d.pipeline = :pipeline AND d.status = 'open')"
        " ORDER BY c.id",
        params,
    ).rowcount
    opened = " FROM deals d JOIN import_new n ON n.contact_id = d.contact_id"
    conn.execute(
        "INSERT INTO stage_history (deal_id, pipeline, from_stage, to_stage, at, by)"
        f" SELECT d.id, d.pipeline, NULL, d.stage, d.created_at, 'import'{opened} ORDER BY d.id"
    )
    if with_events:
        data = _json_object(conn.dialect, {"pipeline": "d.pipeline", "stage": "d.stage"})
        conn.execute(
            "INSERT INTO events (type, subject_type, subject_id, data, created_at)"
            f" SELECT 'deal.created', 'deal', d.id, {data}, d.created_at{opened} ORDER BY d.id"
        )
    return created


def existing_emails(store: Store, emails: list[str]) -> set[str]:
    """Those of `emails` that contacts have already (one indexed query for a batch)."""
    if not emails:
        return set()
    marks = ", ".join("?" * len(emails))
    sql = f"SELECT email FROM contacts WHERE email IN ({marks})"
    return {row[0] for row in store.conn.execute(sql, emails)}


def make_entry_tasks(store: Store, pipeline: Pipeline, stage: Stage, chunk: int = 2000) -> None:
    """The stage's `on_enter_tasks` for each deal the import opened (after `open_deals`),
    as a deal entering the stage by hand gets them; read a chunk of deals (and their
    contacts) at a time, so that memory does not grow with the file."""
    last = 0
    while True:
        rows = store.conn.execute(
            "SELECT d.*, c.email AS contact_email FROM deals d JOIN contacts c ON c.id ="
            " d.contact_id JOIN import_new n ON n.contact_id = d.contact_id"
            " WHERE d.pipeline = ? AND d.id > ? ORDER BY d.id LIMIT ?",
            (pipeline.id, last, chunk),
        ).fetchall()
        if not rows:
            return
        ids = [row["contact_id"] for row in rows]
        people = {
            row["id"]: contacts.public(row, store)
            for row in store.conn.execute(
                f"SELECT * FROM contacts WHERE id IN ({', '.join('?' * len(ids))})", ids
            )
        }
        tasks = []
        for deal, data in zip(rows, deals.public_all(rows, store), strict=True):
            context = {"deal": data, "contact": people[deal["contact_id"]], "stage": stage.name}
            tasks += playbook.entry_task_rows(store, deal["id"], stage, deal["owner"], context)
        playbook.insert_entry_tasks(store, tasks)  # new deals: no task of theirs is open yet
        last = rows[-1]["id"]


def finish(store: Store) -> None:
    """The scratch tables go (the transaction stays the caller's)."""
    for table in _SCRATCH:
        store.conn.execute(f"DROP TABLE IF EXISTS {table}")  # temporary: found first


def _json_object(dialect: str, values: dict[str, str], raw: dict[str, str] | None = None) -> str:
    """SQL building the JSON text `{"key": value, …, "by": "import"}` from SQL expressions
    (`raw` ones are JSON text already): the same text on both engines, and as `json.dumps`
    writes the events' data elsewhere."""
    quote = _JSON_VALUE[dialect]
    parts = [(key, quote.format(sql)) for key, sql in values.items()]
    parts += list((raw or {}).items())
    sql, separator = "'{", ""
    for key, value in parts:
        sql += f"{separator}\"{key}\": ' || {value} || '"
        separator = ", "
    return sql + ', "by": "import"}\''
