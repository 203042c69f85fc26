"""What the robot did: workflow runs and messages, failed ones first, the rest paged; and
a deal's own runs (with their traces) and emails."""

from __future__ import annotations

from dataclasses import dataclass

from salesflow.engine.runs import public as public_run
from salesflow.engine.runs import trace
from salesflow.store.outbox import public as public_message
from salesflow.store.session import Store

PAGE = 50
FAILED_SHOWN = 200  # failed items listed in full before the paged rest
_RUNS = (
    "SELECT r.*, c.email AS contact_email FROM runs r LEFT JOIN contacts c ON c.id = r.contact_id"
)


@dataclass
class Activity:
    failed_runs: list[dict]
    runs: list[dict]
    failed_messages: list[dict]
    messages: list[dict]
    page: int
    more: bool  # is there a next page?


def activity(store: Store, page: int = 0) -> Activity:
    offset = page * PAGE
    failed_runs = store.conn.execute(
        f"{_RUNS} WHERE r.status = 'failed' ORDER BY r.id DESC LIMIT ?", (FAILED_SHOWN,)
    ).fetchall()
    runs = store.conn.execute(
        f"{_RUNS} WHERE r.status != 'failed' ORDER BY r.id DESC LIMIT ? OFFSET ?",
        (PAGE + 1, offset),
    ).fetchall()
    failed_messages = store.conn.execute(
        "SELECT * FROM outbox WHERE status = 'failed' ORDER BY id DESC LIMIT ?", (FAILED_SHOWN,)
    ).fetchall()
    messages = store.conn.execute(
        "SELECT * FROM outbox WHERE status != 'failed' ORDER BY id DESC LIMIT ? OFFSET ?",
        (PAGE + 1, offset),
    ).fetchall()
    return Activity(
        [public_run(row, store) for row in failed_runs],
        [public_run(row, store) for row in runs[:PAGE]],
        [public_message(row, store) for row in failed_messages],
        [public_message(row, store) for row in messages[:PAGE]],
        page,
        len(runs) > PAGE or len(messages) > PAGE,
    )


def deal_runs(store: Store, deal_id: int) -> list[dict]:
    """The workflow runs that touched the deal, newest first, each with its trace."""
    rows = store.conn.execute(
        f"{_RUNS} WHERE r.deal_id = ? ORDER BY r.id DESC", (deal_id,)
    ).fetchall()
    return [{**public_run(row, store), "trace": trace(store, row["id"])} for row in rows]


def deal_messages(store: Store, deal_id: int) -> list[dict]:
    """The emails of the deal's runs, and those to its contact, newest first."""
    rows = store.conn.execute(
        "SELECT o.* FROM outbox o WHERE o.run_id IN (SELECT id FROM runs WHERE deal_id = ?)"
        " OR o.to_addr = (SELECT c.email FROM deals d JOIN contacts c ON c.id = d.contact_id"
        " WHERE d.id = ?) ORDER BY o.id DESC",
        (deal_id, deal_id),
    ).fetchall()
    return [public_message(row, store) for row in rows]
