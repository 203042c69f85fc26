"""The PostgreSQL connection of store/postgres.py: the store's SQL text, written with SQLite's
placeholders, runs unchanged, and rows read as sqlite3's do."""

import subprocess
import sys

import pytest

from salesflow.config.model import DatabaseUrl
from salesflow.store import db

postgres = pytest.importorskip("salesflow.store.postgres")


TRANSLATIONS = [
    ("SELECT * FROM deals WHERE id = ? AND stage = ?",
     "SELECT * FROM deals WHERE id = %s AND stage = %s"),
    ("UPDATE runs SET at = :at WHERE id = :id",
     "UPDATE runs SET at = %(at)s WHERE id = %(id)s"),
    ("SELECT data::jsonb ->> 'email' FROM events WHERE id = ?",
     "SELECT data::jsonb ->> 'email' FROM events WHERE id = %s"),
    ("SELECT substr(at, 1, 7), '%Y-%m', 'a ? b', 'x:y' FROM t",
     "SELECT substr(at, 1, 7), '%%Y-%%m', 'a ? b', 'x:y' FROM t"),
    ("SELECT 'it''s ?' || ? -- a comment?\nFROM t",
     "SELECT 'it''s ?' || %s -- a comment?\nFROM t"),
    ("SELECT amount % 100 FROM deals", "SELECT amount %% 100 FROM deals"),
]  # fmt: skip


@pytest.mark.parametrize(("sqlite", "psycopg"), TRANSLATIONS)
def test_placeholders_are_translated_outside_literals_and_comments(sqlite, psycopg):
    assert postgres.translate(sqlite) == psycopg


def test_rows_read_by_name_and_by_position(postgres_url):
    connection = postgres.connect(DatabaseUrl(postgres_url), 2.0)
    connection.execute("CREATE TABLE t (id bigint, email text)")
    connection.executemany("INSERT INTO t VALUES (?, ?)", [(1, "ana@example.org"), (2, "bo@x.org")])
    row = connection.execute(
        "SELECT id, email FROM t WHERE email LIKE :pattern", {"pattern": "a%"}
    ).fetchone()
    assert (row["email"], row[0], row.keys(), dict(row)) == (
        "ana@example.org", 1, ["id", "email"], {"id": 1, "email": "ana@example.org"},
    )  # fmt: skip
    assert [tuple(row) for row in connection.execute("SELECT id FROM t ORDER BY id")] == [
        (1,),
        (2,),
    ]


def test_transactions_and_savepoints_as_on_sqlite(postgres_url):
    connection = postgres.connect(DatabaseUrl(postgres_url), 2.0)
    connection.execute("CREATE TABLE t (id bigint PRIMARY KEY)")
    with db.transaction(connection):
        assert connection.in_transaction
        db.isolated(connection, lambda: connection.execute("INSERT INTO t VALUES (1)"), print)
        failures = []
        db.isolated(
            connection, lambda: connection.execute("INSERT INTO t VALUES (1)"), failures.append
        )
        db.isolated(connection, lambda: connection.execute("INSERT INTO t VALUES (2)"), print)
    assert not connection.in_transaction
    assert [row[0] for row in connection.execute("SELECT id FROM t ORDER BY id")] == [1, 2]
    assert "UniqueViolation" in db.describe(failures[0])


def test_an_unreachable_server_is_one_line_naming_the_database_without_its_password(tmp_path):
    url = DatabaseUrl(f"postgresql://bob:secret@/nowhere?host={tmp_path}")
    with pytest.raises(db.EnvironmentFault) as raised:
        db.connect(url, 1.0)
    message = str(raised.value)
    assert message.startswith("postgresql://bob:***@/nowhere")
    assert "cannot be reached" in message and "secret" not in message


def test_a_missing_database_says_to_create_it(postgres_cluster):
    with pytest.raises(db.EnvironmentFault, match="does not exist: create it"):
        db.connect(DatabaseUrl(postgres_cluster.url("no_such_club")), 1.0)


def test_the_server_identity_changes_with_a_database_made_anew(postgres_cluster, postgres_url):
    first = postgres.connect(DatabaseUrl(postgres_url), 2.0).identity
    again = postgres.connect(DatabaseUrl(postgres_url), 2.0).identity
    other = postgres.connect(DatabaseUrl(postgres_cluster.url()), 2.0).identity
    assert first == again and first[0] == other[0] and first[1] != other[1]


def test_a_sqlite_project_never_imports_the_postgresql_driver(sf):
    """psycopg costs ~150 ms to import: a SQLite project's cron `run` must not pay it."""
    sf("process")  # the database exists: `run` below takes its quick path, then the full one
    for argv in (["run"], ["process"], ["pipeline", "board"]):
        command = [sys.executable, "-X", "importtime", "-m", "salesflow", "--project",
                   str(sf.project), "--now", "2026-11-20T10:00", *argv]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=True)
        imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines()}
        assert "salesflow.store.db" in imported or argv == ["run"]
        assert not {name for name in imported if name.startswith("psycopg")}, argv


def test_a_password_in_the_url_is_masked_and_never_cached(sf, monkeypatch):
    url = DatabaseUrl("postgresql://bob:s3cret@/club?host=/nowhere&password=s3cret2")
    assert url.shown == "postgresql://bob:***@/club?host=/nowhere&password=***"
    monkeypatch.setenv("SALESFLOW_DB", url)
    failed = sf("contacts", "list", code=1)
    assert "s3cret" not in failed.output and "postgresql://bob:***@/club" in failed.output
    cached = b"".join(path.read_bytes() for path in (sf.project / ".salesflow").glob("*"))
    assert b"s3cret" not in cached


def test_a_sqlite_older_than_3_39_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(db.sqlite3, "sqlite_version_info", (3, 37, 2))
    monkeypatch.setattr(db.sqlite3, "sqlite_version", "3.37.2")
    with pytest.raises(db.EnvironmentFault, match=r"SQLite is 3\.37\.2; salesflow needs 3\.39"):
        db.connect(tmp_path / "salesflow.db")
