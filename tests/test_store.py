"""The SQLite store: created on first use, migrated forward without losing a row."""

from __future__ import annotations

import sqlite3

import pytest

from salesflow.errors import UserError
from salesflow.store.db import connect
from salesflow.store.migrations import MIGRATIONS, migrate, schema_version


def test_a_new_database_is_created_at_the_latest_version_in_wal_mode(tmp_path):
    connection = connect(tmp_path / "salesflow.db")
    assert schema_version(connection) == len(MIGRATIONS)
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_an_old_database_is_upgraded_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.db"
    old = sqlite3.connect(path, isolation_level=None)
    migrate(old, upto=1)
    old.execute(
        "INSERT INTO contacts (email, first_name, created_at, updated_at)"
        " VALUES ('julie@example.org', 'Julie', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')"
    )
    old.execute(
        "INSERT INTO deals (pipeline, stage, title, contact_id, amount, created_at,"
        " stage_entered_at) VALUES ('cours-essai', 'nouveau', 'Essai', 1, 12050,"
        " '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')"
    )
    old.close()
    upgraded = connect(path)
    assert schema_version(upgraded) == len(MIGRATIONS)
    assert [tuple(r) for r in upgraded.execute("SELECT email, first_name FROM contacts")] == [
        ("julie@example.org", "Julie")
    ]
    assert [tuple(r) for r in upgraded.execute("SELECT title, amount FROM deals")] == [
        ("Essai", 12050)
    ]
    assert upgraded.execute("SELECT count(*) FROM tasks").fetchone()[0] == 0


def test_a_database_from_a_newer_salesflow_is_refused(tmp_path):
    path = tmp_path / "new.db"
    connect(path).execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(UserError, match="newer than this salesflow knows"):
        connect(path)
