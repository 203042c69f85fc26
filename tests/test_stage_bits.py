"""A stage's bit in deals.stages_mask (what the funnel counts) is numbered on its first use.
Two hosts numbering two new stages at once on one PostgreSQL database must not give both the
same bit; SQLite's write lock serialises the numbering already."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from salesflow.config.model import DatabaseUrl
from salesflow.config.project import load_project
from salesflow.store import deals
from salesflow.store.db import transaction
from salesflow.store.session import Store

NOW = datetime(2026, 11, 20, 10, tzinfo=UTC)


def numbered(store: Store, stage: str) -> int:
    with transaction(store.conn):
        return deals.stage_bit(store, "cours-essai", stage)


def waiting_or_done(url: str, later) -> None:
    """Until the second host's numbering waits for a lock (or has finished without), ≤ 10 s."""
    import psycopg  # here: without psycopg the test skips (postgres_url), not the module

    with psycopg.connect(url, autocommit=True) as watcher:
        for _ in range(1000):
            waits = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'"
            ).fetchone()[0]
            if waits or later.done():
                return
            time.sleep(0.01)
    pytest.fail("the second numbering neither waited nor finished")


def test_two_hosts_numbering_two_new_stages_at_once_give_each_its_own_bit(demo, postgres_url):
    project = load_project(demo, DatabaseUrl(postgres_url))
    first, second = Store.open(project, NOW), Store.open(project, NOW)
    with ThreadPoolExecutor(1) as pool:
        with transaction(first.conn):
            bit = deals.stage_bit(first, "cours-essai", "nouveau")
            later = pool.submit(numbered, second, "essai-planifie")
            waiting_or_done(postgres_url, later)
        assert sorted([bit, later.result(timeout=10)]) == [0, 1]
