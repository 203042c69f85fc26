"""Messages and requests in the outbox as the CLI and the pages show them."""

from __future__ import annotations

import json
import sqlite3

from salesflow.errors import NotFound
from salesflow.store.session import Store
from salesflow.values import read_instant
from salesflow.webhooks.request import Request


def public(row, store: Store, full: bool = False) -> dict:
    zone = store.project.timezone
    moments = {
        name: (read_instant(row[name], zone).isoformat() if row[name] else None)
        for name in ("created_at", "sent_at", "next_attempt_at")
    }
    data = {
        "id": row["id"], "message_id": row["message_id"], "to": row["to_addr"],
        "to_name": row["to_name"], "subject": row["subject"], "status": row["status"],
        "attempts": row["attempts"], "last_error": row["last_error"], "run_id": row["run_id"],
        "step": row["step"], "kind": row["kind"], "response": row["response"], **moments,
    }  # fmt: skip
    if row["status"] not in ("queued", "retrying"):
        data["next_attempt_at"] = None
    if full and row["kind"] == "http":
        data["request"] = Request.from_row(row).shown()
    elif full:
        attachments = [item["filename"] for item in json.loads(row["attachments"])]
        headers = json.loads(row["headers"])
        data.update(text=row["text"], html=row["html"], headers=headers, attachments=attachments)
    return data


def get(store: Store, message: int) -> sqlite3.Row:
    row = store.conn.execute("SELECT * FROM outbox WHERE id = ?", (message,)).fetchone()
    if row is None:
        raise NotFound(f"no message #{message} (see `salesflow outbox list`)")
    return row


# --- Listing for the CLI (outbox list) ---


def listing(store: Store, status: str | None = None, kind: str | None = None) -> list[sqlite3.Row]:
    """Messages and requests, newest first, of this status and kind if given."""
    filters = [(name, value) for name, value in (("status", status), ("kind", kind)) if value]
    where = " AND ".join(f"{name} = ?" for name, _ in filters)
    return store.conn.execute(
        f"SELECT * FROM outbox{' WHERE ' + where if where else ''} ORDER BY id DESC",
        [value for _, value in filters],
    ).fetchall()
