"""The SQL of `salesflow import`: batches of contact rows upserted set-based, in one
transaction, and what really changed counted and recorded by SQL on the whole set.

An import goes: `start` (scratch tables), `stage` each batch (one query finds the contacts
its emails name as they stand — `lookup` —; a row that would change nothing is not written,
so importing a file again reads it and writes nothing; the contacts a row will change get a
snapshot first, then the rows that may change something are upserted with executemany, and
each contact met is noted once, by id), `settle` (compare every snapshot with the contact
now), `counts`, `open_deals` and `record_contact_events` (set-based INSERT … SELECT), then
`finish` (the scratch tables go). Memory does not grow with the file: what an import must
remember of every contact it met is in scratch tables, kept on disk on SQLite
(`scratch_on_disk`), and no Python set of every email is kept. The same statements run on
SQLite and PostgreSQL, with per-dialect fragments where their JSON functions differ;
nothing assumes one writer (no "new ids are above the largest").
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from operator import itemgetter

from salesflow.config.model import Pipeline, Stage
from salesflow.store import contacts, deals, playbook
from salesflow.store.session import Store

# The contact columns a row fills, in the order of the row tuples `stage` takes.
CONTACT_COLUMNS = ("email", "first_name", "last_name", "phone", "company", "owner", "source",
                   "tags", "fields")  # fmt: skip
UPDATABLE = ("first_name", "last_name", "phone", "company", "owner")  # after the email
# A column's value when a row gives none: one of these that no row of an import can set
# (no column of the file, no option) is left out of its upsert — each value bound costs
# (0.3 s a million rows), and `excluded.` names the default all the same.
DEFAULTS = {"owner": None, "source": None, "tags": "[]"}
_SQL_DEFAULT = {name: "NULL" if value is None else f"'{value}'"
                for name, value in DEFAULTS.items()}  # fmt: skip
_KEPT = (*CONTACT_COLUMNS[1:], "updated_at")  # what a contact's "before" snapshot holds
_SCRATCH = ("import_log", "import_met", "deal_values")
# A row of `lookup`: the contact's CONTACT_COLUMNS (so that known[i] is row[i]'s column),
# then its id, then whether this import met it before (NULL: not yet; 0: it existed; 1: it
# created it).
_ID_AT, _MET_AT = len(CONTACT_COLUMNS), len(CONTACT_COLUMNS) + 1
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


@dataclass
class Staging:
    """One import under way."""

    upsert: str  # the statement that inserts or updates one contact row
    overwrite: bool
    bound: itemgetter | None  # a row's values the upsert takes (None: all of them)
    held: str  # what `lookup` reads of a contact: CONTACT_COLUMNS, defaulted ones as such
    duplicates: int = 0  # rows so far whose email an earlier row of the file had


@dataclass(frozen=True)
class Counts:
    created: int
    updated: int
    unchanged: int
    duplicates: int  # rows that repeated an email of the file


def start(
    store: Store, with_deals: bool, overwrite: bool, defaulted: tuple[str, ...] = ()
) -> Staging:
    """The scratch tables of an import (the deal values only `with_deals`). `defaulted`:
    columns of DEFAULTS that hold their default in every row of the import."""
    conn = store.conn
    conn.execute(
        f"CREATE TEMP TABLE import_log (contact_id {_ID[conn.dialect]} PRIMARY KEY,"
        f" changed TEXT NOT NULL DEFAULT '', {', '.join(f'{n} TEXT' for n in _KEPT)})"
    )
    conn.execute(
        f"CREATE TEMP TABLE import_met (contact_id {_ID[conn.dialect]} PRIMARY KEY,"
        " created INTEGER NOT NULL)"
    )
    if with_deals:
        conn.execute(
            "CREATE TEMP TABLE deal_values (email TEXT PRIMARY KEY, title TEXT, amount BIGINT,"
            " expected_close TEXT)"
        )
    columns = [name for name in CONTACT_COLUMNS if name not in defaulted]
    bound = None
    if len(columns) < len(CONTACT_COLUMNS):
        bound = itemgetter(*(CONTACT_COLUMNS.index(name) for name in columns))
    # A defaulted column is read as its default: every row holds that, so no row compares
    # with it, and a contact's value left unread is one value fewer to make per contact.
    held = ", ".join(f"c.{name}" if name in columns else _SQL_DEFAULT[name]
                     for name in CONTACT_COLUMNS)  # fmt: skip
    return Staging(_upsert_statement(store, overwrite, columns), overwrite, bound, held)


@contextmanager
def scratch_on_disk(store: Store) -> Iterator[None]:
    """Around an import's transaction: its scratch tables in a temporary file on SQLite
    (whose page cache is bounded) rather than in memory, where a million rows' notes would
    stay; the connection's usual setting after. PostgreSQL keeps them on the server."""
    sqlite = store.conn.dialect == "sqlite"
    if sqlite:
        store.conn.execute("PRAGMA temp_store = FILE")  # outside a transaction only
    try:
        yield
    finally:
        if sqlite and not store.conn.in_transaction:
            store.conn.execute("PRAGMA temp_store = MEMORY")  # as db.connect sets it


def lookup(store: Store, staging: Staging, emails: list[str]) -> dict[str, tuple]:
    """The contacts these (distinct) emails name, as they stand, by email: their
    CONTACT_COLUMNS (those the import leaves to their default: as that default), their id,
    and whether this import met them before (see _MET_AT)."""
    if not emails:  # `IN ()`: SQLite reads it, PostgreSQL does not
        return {}
    sql = (
        f"SELECT {staging.held}, c.id, m.created FROM contacts c"
        " LEFT JOIN import_met m ON m.contact_id = c.id"
        f" WHERE c.email IN ({', '.join('?' * len(emails))})"
    )
    if store.conn.dialect == "sqlite":  # plain tuples (PostgreSQL's rows are tuples already)
        cursor = store.conn.cursor()
        cursor.row_factory = None
        return {row[0]: row for row in cursor.execute(sql, emails)}
    return {row[0]: row for row in store.conn.execute(sql, emails)}


def stage(
    store: Store, staging: Staging, contacts: list, deal_values: list, known: dict | None = None
) -> None:
    """A batch of contact rows in: each contact it changes is kept as it was first (once an
    import), the rows that may change something are upserted — a row that would leave its
    contact as it is, is not written —, each contact met is noted once (and each row whose
    email was met before counted as a duplicate), and the deal values (title, amount,
    expected close) of each email kept: the first non-empty value wins. `known`: what
    `lookup` says of the batch's emails, when the caller has it already."""
    conn = store.conn
    if not contacts:
        return
    if known is None:
        known = lookup(store, staging, list(dict.fromkeys(row[0] for row in contacts)))
    writing, existing, new, before = [], [], [], []
    met, written = set(), set()
    for row in contacts:
        email = row[0]
        contact = known.get(email)
        if email in met or (contact is not None and contact[_MET_AT] is not None):
            staging.duplicates += 1
        else:
            met.add(email)
            if contact is None:
                new.append(email)
            else:
                existing.append(contact[_ID_AT])
        if (
            email in written
            or contact is None
            or (row[1:9] != contact[1:9] and _may_change(row, contact, staging.overwrite))
        ):  # the same values again (a re-import) change nothing: no call
            writing.append(row)
            if email not in written:
                written.add(email)
                if contact is not None and not contact[_MET_AT]:  # it was there before
                    before.append(contact[_ID_AT])
    if before:
        conn.execute(_SNAPSHOT.format(marks=", ".join("?" * len(before))), before)
    if writing:
        top = _largest_id(store)
        conn.executemany(staging.upsert, map(staging.bound, writing) if staging.bound else writing)
    if existing:  # one statement: executemany costs 2.5× as much, reading the ids 1.5×
        conn.execute(
            "INSERT INTO import_met (contact_id, created)"
            f" VALUES {', '.join(['(?, 0)'] * len(existing))}",
            existing,
        )
    if new and top is not None:  # the contacts the upsert inserted: above the largest id
        conn.execute("INSERT INTO import_met SELECT id, 1 FROM contacts WHERE id > ?", (top,))
    elif new:
        conn.execute(
            "INSERT INTO import_met SELECT id, 1 FROM contacts"
            f" WHERE email IN ({', '.join('?' * len(new))})",
            new,
        )
    if deal_values:
        conn.executemany(
            "INSERT INTO deal_values VALUES (?, ?, ?, ?) ON CONFLICT (email) DO UPDATE SET"
            " title = coalesce(excluded.title, deal_values.title),"
            " amount = coalesce(excluded.amount, deal_values.amount),"
            " expected_close = coalesce(excluded.expected_close, deal_values.expected_close)",
            deal_values,
        )


# The state before the import of the contacts a batch will change (those that were there
# before it: not the ones it created), unless an earlier batch kept it: what `settle`
# compares with. It replaces a temporary trigger (PostgreSQL has none) and "new contacts have
# ids above the largest before" (not so when other writers insert meanwhile).
_SNAPSHOT = (
    f"INSERT INTO import_log (contact_id, {', '.join(_KEPT)}) SELECT id, {', '.join(_KEPT)}"
    " FROM contacts WHERE id IN ({marks}) ON CONFLICT (contact_id) DO NOTHING"
)


def _largest_id(store: Store) -> int | None:
    """On SQLite, the largest contact id: the import holds the database's write lock (BEGIN
    IMMEDIATE), so the contacts above it after an upsert are the ones it inserted — read as
    a range rather than by their emails. None on PostgreSQL, where other writers insert
    meanwhile."""
    if store.conn.dialect != "sqlite":
        return None
    return store.conn.execute("SELECT coalesce(max(id), 0) FROM contacts").fetchone()[0]


def _may_change(row: tuple, contact: tuple, overwrite: bool) -> bool:
    """Whether upserting `row` may change `contact` (as `lookup` gives it): the upsert's own
    test (see _upsert_statement), in Python, so that a row that changes nothing is not sent.
    It may answer True for nothing (the upsert then writes nothing); never False for a
    change."""
    for index in range(1, len(UPDATABLE) + 1):
        mine, theirs = row[index], contact[index]
        if mine is not None and (mine != theirs if overwrite else theirs is None):
            return True
    if row[6] is not None and contact[6] is None:  # source: a blank filled only
        return True
    tags, held_tags = row[7], contact[7]
    if (
        tags != "[]"
        and tags != held_tags
        and not set(json.loads(tags)) <= set(json.loads(held_tags or "[]"))
    ):
        return True
    fields, held_fields = row[8], contact[8]
    if fields == "{}" or fields == held_fields:
        return False
    held = json.loads(held_fields or "{}")
    for name, value in json.loads(fields).items():
        theirs = held.get(name)
        if value is not None and (value != theirs if overwrite else theirs is None):
            return True
    return False


def _upsert_statement(store: Store, overwrite: bool, columns: list[str]) -> str:
    """Insert, or update — only when that changes something. A contact's non-empty values
    are kept and its blanks filled (within a file: the first non-empty value wins); with
    `overwrite` the file's non-empty values replace them (the last one wins). `columns`:
    those the rows give (CONTACT_COLUMNS but defaulted ones, whose `excluded.` value is the
    default)."""
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
        f"INSERT INTO contacts ({', '.join(columns)}, created_at, updated_at)"
        f" VALUES ({', '.join('?' * len(columns))}, '{now}', '{now}')"
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


def counts(store: Store, staging: Staging) -> Counts:
    """Contacts created, changed and unchanged, and rows that repeated an email of the file,
    each counted on its own (after `settle`)."""

    def one(sql: str) -> int:
        return store.conn.execute(sql).fetchone()[0]

    return Counts(
        created=one("SELECT count(*) FROM import_met WHERE created = 1"),
        updated=one("SELECT count(*) FROM import_log WHERE changed != ''"),
        unchanged=one(
            "SELECT count(*) FROM import_met m WHERE created = 0 AND NOT EXISTS (SELECT 1"
            " FROM import_log l WHERE l.contact_id = m.contact_id AND l.changed != '')"
        ),
        duplicates=staging.duplicates,
    )


def record_contact_events(store: Store, staging: Staging) -> None:
    """contact.created for each new contact; contact.updated, with what changed, for each
    contact that existed before and ends different (after `settle`)."""
    conn = store.conn
    created = _json_object(conn.dialect, {"email": "c.email", "source": "c.source"})
    conn.execute(
        "INSERT INTO events (type, subject_type, subject_id, data, created_at)"
        f" SELECT 'contact.created', 'contact', c.id, {created}, ?"
        " FROM import_met n JOIN contacts c ON c.id = n.contact_id WHERE n.created = 1"
        " ORDER BY n.contact_id",  # not c.id: SQLite would then read every contact
        (store.stamp,),
    )
    changed = "'[\"' || replace(l.changed, ',', '\", \"') || '\"]'"  # names: no quote, no comma
    updated = _json_object(conn.dialect, {"email": "c.email"}, {"changed": changed})
    conn.execute(
        "INSERT INTO events (type, subject_type, subject_id, data, created_at)"
        f" SELECT 'contact.updated', 'contact', c.id, {updated}, ?"
        " FROM import_log l JOIN contacts c ON c.id = l.contact_id"
        " WHERE l.changed != '' ORDER BY l.contact_id",
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
        " FROM import_met n JOIN contacts c ON c.id = n.contact_id"
        " JOIN deal_values v ON v.email = c.email WHERE n.created = 1"
        " AND NOT EXISTS (SELECT 1 FROM deals d WHERE d.contact_id = c.id"
        " AND d.pipeline = :pipeline AND d.status = 'open')"
        " ORDER BY n.contact_id",  # not c.id: SQLite would then read every contact
        params,
    ).rowcount
    # A new contact's only deal is the one just opened, in the contacts' order: ordered by
    # contact, the deals are read off the index (by d.id, SQLite would read every deal).
    opened = (
        " FROM import_met n JOIN deals d ON d.contact_id = n.contact_id WHERE n.created = 1"
        " ORDER BY n.contact_id"
    )
    conn.execute(
        "INSERT INTO stage_history (deal_id, pipeline, from_stage, to_stage, at, by)"
        f" SELECT d.id, d.pipeline, NULL, d.stage, d.created_at, 'import'{opened}"
    )
    if with_events:
        data = _json_object(conn.dialect, {"pipeline": "d.pipeline", "stage": "d.stage"})
        conn.execute(
            "INSERT INTO events (type, subject_type, subject_id, data, created_at)"
            f" SELECT 'deal.created', 'deal', d.id, {data}, d.created_at{opened}"
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
            " d.contact_id JOIN import_met n ON n.contact_id = d.contact_id AND n.created = 1"
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
