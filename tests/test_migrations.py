"""One list of migrations for both engines: it gives SQLite and PostgreSQL the same schema, an
old SQLite database (as salesflow made it before PostgreSQL) still upgrades, and PostgreSQL's
concurrent migrators are serialised."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from salesflow.config.model import DatabaseUrl
from salesflow.errors import EnvironmentFault
from salesflow.store import postgres
from salesflow.store.db import connect
from salesflow.store.migrations import MIGRATIONS, migrate, schema_version

OLD_DATABASE = Path(__file__).parent / "fixtures" / "salesflow-v12.sql"
FAMILIES = {  # a column's type, as each engine names it → the family the two must share
    "integer": "int", "bigint": "int", "text": "text", "real": "float", "double precision": "float",
    "blob": "bytes", "bytea": "bytes",
}  # fmt: skip


def unmigrated(url: str) -> postgres.Connection:
    """A connection to the PostgreSQL database at `url`, as store/ has one, not yet migrated
    (store.db.connect migrates on opening)."""
    return postgres.connect(DatabaseUrl(url), timeout=30)


def rows(connection, sql: str) -> list[tuple]:
    return [tuple(row) for row in connection.execute(sql)]


def sqlite_schema(connection: sqlite3.Connection) -> dict:
    """Each table's columns (type family, not null, default), primary key, foreign keys and
    indexes (columns, unique), as SQLite describes them."""
    tables = [row[0] for row in connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
    )]  # fmt: skip
    schema = {}
    for table in tables:
        info = connection.execute(f"SELECT * FROM pragma_table_info('{table}')").fetchall()
        pk = tuple(name for *_, name in sorted((r[5], r[1]) for r in info if r[5]))
        indexes = {
            name: (tuple(c[2] for c in connection.execute(
                f"SELECT * FROM pragma_index_info('{name}') ORDER BY seqno"
            )), bool(unique))
            for _, name, unique, origin, _ in connection.execute(
                f"SELECT * FROM pragma_index_list('{table}')"
            ) if origin != "pk"
        }  # fmt: skip
        schema[table] = {
            "columns": {
                name: (FAMILIES[kind.lower()], bool(notnull) or name in pk, default)
                for _, name, kind, notnull, default, _ in info
            },
            "pk": pk,
            "foreign_keys": {
                (r[3], r[2], r[4])
                for r in connection.execute(f"SELECT * FROM pragma_foreign_key_list('{table}')")
            },
            "indexes": indexes,
        }
    return schema


def postgres_schema(connection: postgres.Connection) -> dict:
    """The same description, from PostgreSQL's catalogs (its version table aside)."""
    schema: dict = {}
    for table, name, kind, nullable, default in connection.execute(
        "SELECT table_name, column_name, data_type, is_nullable, column_default"
        " FROM information_schema.columns WHERE table_schema = 'public'"
        " AND table_name <> 'schema_version' ORDER BY table_name, ordinal_position"
    ):
        default = default.split("::")[0] if default else None  # '{}'::text → '{}'
        entry = schema.setdefault(
            table, {"columns": {}, "pk": (), "foreign_keys": set(), "indexes": {}}
        )
        entry["columns"][name] = (FAMILIES[kind], nullable == "NO", default)
    for table, name, columns, unique, primary in connection.execute(
        "SELECT t.relname, i.relname, array(SELECT a.attname FROM unnest(x.indkey)"
        " WITH ORDINALITY k(attnum, n) JOIN pg_attribute a ON a.attrelid = t.oid"
        " AND a.attnum = k.attnum ORDER BY k.n), x.indisunique, x.indisprimary"
        " FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
        " JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace s ON s.oid = t.relnamespace"
        " WHERE s.nspname = 'public' AND t.relname <> 'schema_version'"
    ):
        if primary:
            schema[table]["pk"] = tuple(columns)
        else:
            schema[table]["indexes"][name] = (tuple(columns), unique)
    for table, column, other, other_column in connection.execute(
        "SELECT c.conrelid::regclass::text, a.attname, c.confrelid::regclass::text, f.attname"
        " FROM pg_constraint c"
        " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]"
        " JOIN pg_attribute f ON f.attrelid = c.confrelid AND f.attnum = c.confkey[1]"
        " WHERE c.contype = 'f'"
    ):
        schema[table]["foreign_keys"].add((column, other, other_column))
    return schema


def test_the_one_list_gives_both_engines_the_same_schema(tmp_path, postgres_url):
    on_sqlite = connect(tmp_path / "salesflow.db")
    on_postgres = connect(DatabaseUrl(postgres_url))
    assert schema_version(on_postgres) == len(MIGRATIONS)
    expected = sqlite_schema(on_sqlite)
    assert "idx_rejects_source_body" in expected["rejects"]["indexes"]  # the description works
    # PostgreSQL's own (v14): it has no skip-scan of the index SQLite reads that column from
    expected["deals"]["indexes"]["idx_deals_stage_entered_at"] = (("stage_entered_at",), False)
    assert postgres_schema(on_postgres) == expected


def test_postgresql_text_sorts_by_bytes_as_sqlite_does_whatever_the_locale(postgres_cluster):
    """`contacts list` sorted by name gives the same order on both engines, even in a
    database whose locale would put 'alice' before 'Bob' and ignore the dashes."""
    import psycopg  # here: a run without psycopg skips the PostgreSQL tests, not the module

    name = "test_migrations_icu"
    try:
        postgres_cluster.admin(
            f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'"
            " LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'"
        )
    except psycopg.Error as error:  # a PostgreSQL built without ICU
        pytest.skip(f"no ICU locale to test with: {error}")
    try:
        connection = connect(DatabaseUrl(postgres_cluster.url(name)))
        names = ["alice", "Bob", "Zoé", "a-b", "ab", "Émile", "2026-11-20T10:00:00Z"]
        for last_name in names:
            connection.execute(
                "INSERT INTO contacts (email, last_name, created_at, updated_at)"
                " VALUES (?, ?, 'now', 'now')",
                (f"{len(last_name)}{last_name}@example.org", last_name),
            )
        ordered = connection.execute("SELECT last_name FROM contacts ORDER BY last_name")
        assert [row[0] for row in ordered] == sorted(names, key=lambda n: n.encode())
        connection.close()
    finally:
        postgres_cluster.admin(f"DROP DATABASE {name} WITH (FORCE)")


def test_a_database_from_before_postgresql_upgrades_and_looks_like_a_new_one(tmp_path):
    old = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    old.executescript(OLD_DATABASE.read_text())
    old.execute("PRAGMA user_version = 12")
    old.close()
    upgraded = connect(tmp_path / "old.db")
    assert schema_version(upgraded) == len(MIGRATIONS)
    assert sqlite_schema(upgraded) == sqlite_schema(connect(tmp_path / "new.db"))
    assert rows(upgraded, "SELECT email, first_name FROM contacts") == [
        ("julie@example.org", "Julie")
    ]
    assert rows(upgraded, "SELECT title, amount, stages_mask FROM deals") == [("Essai", 12050, 3)]
    assert rows(upgraded, "SELECT count(*) FROM stage_history") == [(2,)]
    assert rows(upgraded, "SELECT source FROM rejects") == [("ingest:leads.json",)]


def test_migrators_at_once_on_postgresql_end_at_the_same_version(postgres_url):
    connections = [unmigrated(postgres_url) for _ in range(3)]
    start, errors = threading.Barrier(len(connections)), []

    def run(connection: postgres.Connection) -> None:
        start.wait(timeout=10)
        try:
            migrate(connection)
        except Exception as error:  # reported below, with the others
            errors.append(error)

    threads = [threading.Thread(target=run, args=(c,)) for c in connections]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert [schema_version(c) for c in connections] == [len(MIGRATIONS)] * len(connections)
    assert connections[0].execute("SELECT count(*) FROM schema_version").fetchone()[0] == 1


def test_a_postgresql_database_from_a_newer_salesflow_is_refused(postgres_url):
    connect(DatabaseUrl(postgres_url)).execute(
        "UPDATE schema_version SET version = ?", (len(MIGRATIONS) + 1,)
    )
    with pytest.raises(EnvironmentFault, match="newer than this salesflow knows"):
        connect(DatabaseUrl(postgres_url))


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_migration_21_keeps_every_contact_deliverable_and_each_message_once(
    engine, tmp_path, request
):
    """A database of the version before the replies mailbox: its contacts are deliverable
    (`ok`) after the upgrade, as new ones are; a message's identity is kept once."""
    if engine == "sqlite":
        connection = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    else:
        connection = unmigrated(request.getfixturevalue("postgres_url"))
    migrate(connection, upto=20)
    add = "INSERT INTO contacts (email, created_at, updated_at) VALUES (?, 'then', 'then')"
    connection.execute(add, ("julie@example.org",))
    migrate(connection)
    connection.execute(add, ("paul@example.org",))
    assert rows(connection, "SELECT email, email_status FROM contacts ORDER BY id") == [
        ("julie@example.org", "ok"), ("paul@example.org", "ok"),
    ]  # fmt: skip
    keep = ("INSERT INTO inbound (identity, kind, recorded_at, size)"
            " VALUES ('INBOX;1', 'reply', 'now', 1)")  # fmt: skip
    connection.execute(keep)
    with pytest.raises(Exception, match=r"(?i)unique|duplicate key"):
        connection.execute(keep)
    assert rows(connection, "SELECT uidvalidity, last_uid FROM mailbox_reads") == []
