"""Outbox items as `outbox show` and the message page show them whole."""

from __future__ import annotations

import json
import sqlite3

from salesflow.store.outbox import public
from salesflow.store.session import Store
from salesflow.webhooks.request import Request


def noun(row: sqlite3.Row) -> str:
    """How messages name an outbox item: `message #3`, `request #4`."""
    return f"{'request' if row['kind'] == 'http' else 'message'} #{row['id']}"


def full(row: sqlite3.Row, store: Store) -> dict:
    """An item with its content: a request as text, `{{ env.NAME }}` unresolved; an email's
    text, HTML, headers and attachments' names."""
    data = public(row, store)
    if row["kind"] == "http":
        data["request"] = Request.from_row(row).shown()
    else:
        attachments = [item["filename"] for item in json.loads(row["attachments"])]
        headers = json.loads(row["headers"])
        data.update(text=row["text"], html=row["html"], headers=headers, attachments=attachments)
    return data
