"""Tasks for team members, made by hand or by workflows."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from salesflow.errors import NotFound
from salesflow.store import contacts, deals
from salesflow.store.session import Store
from salesflow.values import read_instant, stored_instant


def add(
    store: Store,
    title: str,
    assignee: str | None,
    due: datetime | None = None,
    contact: str | int | None = None,
    deal: int | None = None,
    by: str = "cli",
) -> sqlite3.Row:
    contacts.check_owner(store, assignee)
    contact_id = contacts.get(store, contact)["id"] if contact else None
    deal_row = deals.get(store, deal) if deal else None
    if deal_row is not None and contact_id is None:
        contact_id = deal_row["contact_id"]
    task_id = store.conn.execute(
        "INSERT INTO tasks (title, contact_id, deal_id, assignee, due_at, created_at, created_by)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            title.strip(), contact_id, deal_row["id"] if deal_row else None, assignee,
            stored_instant(due) if due else None, store.stamp, by,
        ),
    ).fetchone()[0]  # fmt: skip
    return get(store, task_id)


def get(store: Store, task_id: int | str) -> sqlite3.Row:
    row = None
    if str(task_id).isdigit():
        row = store.conn.execute(_SELECT + " WHERE t.id = ?", (int(task_id),)).fetchone()
    if row is None:
        raise NotFound(f"no task #{task_id} (see `salesflow tasks list`)")
    return row


def done(store: Store, task_id: int | str) -> sqlite3.Row:
    task = get(store, task_id)
    if task["done_at"] is None:
        store.conn.execute("UPDATE tasks SET done_at = ? WHERE id = ?", (store.stamp, task["id"]))
    return get(store, task["id"])


_SELECT = (
    "SELECT t.*, c.email AS contact_email, d.title AS deal_title FROM tasks t"
    " LEFT JOIN contacts c ON c.id = t.contact_id LEFT JOIN deals d ON d.id = t.deal_id"
)


def search(
    store: Store, assignee: str | None = None, overdue: bool = False, include_done: bool = False
) -> list[sqlite3.Row]:
    """Open tasks (or all), soonest due first; `overdue`: due before now and not done."""
    clauses, params = [], []
    if assignee:
        clauses.append("t.assignee = ?")
        params.append(assignee)
    if not include_done or overdue:
        clauses.append("t.done_at IS NULL")
    if overdue:
        clauses.append("t.due_at < ?")
        params.append(store.stamp)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    return store.conn.execute(
        f"{_SELECT}{where} ORDER BY t.due_at IS NULL, t.due_at, t.id", params
    ).fetchall()


def of_contacts_deals(store: Store, contact_id: int) -> list[sqlite3.Row]:
    """The tasks of the contact's deals and tickets, the open ones first, soonest due first.
    Read through the deals' and tasks' indexes by deal: tasks have none by contact, so a
    task tied to the contact alone (`tasks add --contact`) is not among them."""
    return store.conn.execute(
        f"{_SELECT} WHERE t.deal_id IN (SELECT id FROM deals WHERE contact_id = ?)"
        " ORDER BY t.done_at IS NOT NULL, t.due_at IS NULL, t.due_at, t.id",
        (contact_id,),
    ).fetchall()


def public(task: sqlite3.Row, store: Store) -> dict[str, Any]:
    zone = store.project.timezone
    due = read_instant(task["due_at"], zone)
    done_at = read_instant(task["done_at"], zone)
    return {
        "id": task["id"],
        "title": task["title"],
        "assignee": task["assignee"],
        "due_at": due.isoformat() if due else None,
        "done_at": done_at.isoformat() if done_at else None,
        "overdue": bool(due and not done_at and due < store.now),
        "contact": task["contact_email"],
        "deal_id": task["deal_id"],
        "deal": task["deal_title"],
        "created_at": read_instant(task["created_at"], zone).isoformat(),
        "created_by": task["created_by"],
    }
