"""Ticking a record's checklist item in a test, as `deals check ID ITEM --by MEMBER` does
(store/playbook.tick, at the test's chosen time)."""

from __future__ import annotations

from datetime import datetime

from conftest import open_project

from salesflow.store import deals, playbook
from salesflow.store.db import transaction
from salesflow.store.session import Store


def tick(sf, record: int, item: str, now: str, by: str = "marie", undo: bool = False) -> None:
    project = open_project(sf.project)
    store = Store.open(project, datetime.fromisoformat(now).replace(tzinfo=project.timezone))
    try:
        with transaction(store.conn):
            row = deals.get(store, record)
            playbook.tick(store, row, project.pipelines[row["pipeline"]], item, by, undo)
    finally:
        store.conn.close()
