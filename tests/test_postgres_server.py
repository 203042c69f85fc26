"""The throwaway PostgreSQL the backend's tests run on (tests/postgres.py): it answers, each
test has a database of its own, and a restart cuts connections the way a real outage does."""

import psycopg
import pytest


def test_a_query_runs_on_the_test_database(postgres_url):
    with psycopg.connect(postgres_url) as connection:
        connection.execute("CREATE TABLE contacts (id bigint PRIMARY KEY, email text)")
        connection.execute("INSERT INTO contacts VALUES (1, 'ana@example.org')")
        rows = connection.execute("SELECT email, current_setting('fsync') FROM contacts")
        assert rows.fetchall() == [("ana@example.org", "off")]


def test_each_test_starts_from_an_empty_database(postgres_url):
    """The table the test above created is not here: a fresh copy of the template per test."""
    with psycopg.connect(postgres_url) as connection:
        tables = connection.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        )
        assert tables.fetchone() == (0,)


def test_a_restart_cuts_open_connections_and_new_ones_succeed(postgres_cluster, postgres_url):
    with psycopg.connect(postgres_url) as connection:
        postgres_cluster.restart()
        with pytest.raises(psycopg.OperationalError):
            connection.execute("SELECT 1")
    with psycopg.connect(postgres_url) as connection:
        assert connection.execute("SELECT 1").fetchone() == (1,)
