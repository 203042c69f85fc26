"""A contact's conversation: the emails salesflow sent to their address and the messages that
came back from or about them (replies, automatic answers, bounces, complaints, and those kept
unmatched or unreadable), in the order they happened — for the contact's and the deal's pages.

Two indexed queries, each bounded: the outbox by its recipient (`to_addr`), the inbound
messages by their contact (`contact_id`). A page shows the latest `limit` of the merged list,
oldest first, and says whether earlier ones were left out.

When each happened: an email when it left (`sent_at`), else when it was queued; a received
message when our server received it (`received_at`, from its headers), unless that is later
than when salesflow read it — a sender's clock or a forged date cannot put a message after
its own arrival — and when no date could be read, when it was read."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from salesflow.store import inbound, outbox
from salesflow.store.session import Store

CONTACT_LIMIT = 100  # a contact's page: the latest 100 messages, sent and received
DEAL_LIMIT = 20  # a deal's page: its contact's latest 20, the rest on the contact's page

_SENT_AT = "coalesce(o.sent_at, o.created_at)"
_RECEIVED_AT = (
    "CASE WHEN i.received_at IS NOT NULL AND i.received_at < i.recorded_at"
    " THEN i.received_at ELSE i.recorded_at END"
)
# The columns of outbox.public and inbound.public, and the texts; never a message's raw
# bytes (up to the size limit each) nor an email's HTML part.
_SENT = (
    "SELECT o.id, o.message_id, o.to_addr, o.to_name, o.subject, o.text, o.status, o.attempts,"
    " o.last_error, o.run_id, o.step, o.kind, o.response, o.created_at, o.sent_at,"
    f" o.next_attempt_at, r.workflow, r.deal_id, {_SENT_AT} AS at"
    " FROM outbox o LEFT JOIN runs r ON r.id = o.run_id"
    " WHERE o.to_addr = ? AND o.kind = 'email'"
    f" ORDER BY {_SENT_AT} DESC, o.id DESC LIMIT ?"
)
_RECEIVED_ROWS = (
    "SELECT i.id, i.message_id, i.kind, i.sender, i.subject, i.received_at, i.recorded_at,"
    " i.outbox_id, i.matched_by, i.text, i.recipient, i.status, i.severity, i.feedback_type,"
    f" i.reason, i.contact_id, i.size, o.subject AS answered_subject, {_RECEIVED_AT} AS at"
    " FROM inbound i LEFT JOIN outbox o ON o.id = i.outbox_id WHERE i.contact_id = ?"
)
_RECEIVED = f"{_RECEIVED_ROWS} ORDER BY {_RECEIVED_AT} DESC, i.id DESC LIMIT ?"
_LATEST_BOUNCE = f"{_RECEIVED_ROWS} AND i.kind = 'bounce' ORDER BY i.id DESC LIMIT 1"


def of_contact(store: Store, contact: sqlite3.Row, limit: int = CONTACT_LIMIT) -> dict:
    """Everything sent to the contact's address and received from or about them: the latest
    `limit` `messages`, oldest first, each with its `direction` ("sent" or "received") and
    `at`; `earlier`: whether older ones were left out."""
    sent = store.conn.execute(_SENT, (contact["email"], limit + 1)).fetchall()
    received = store.conn.execute(_RECEIVED, (contact["id"], limit + 1)).fetchall()
    merged = sorted(
        [(row["at"], 0, row["id"], _sent(row, store)) for row in sent]
        + [(row["at"], 1, row["id"], _received(row, store)) for row in received],
        key=lambda entry: entry[:3],  # on the same instant, what was sent came first
    )
    return {"messages": [entry[3] for entry in merged[-limit:]], "earlier": len(merged) > limit}


def of_deal(store: Store, contact: sqlite3.Row | None, limit: int = DEAL_LIMIT) -> dict:
    """A deal's conversation: its contact's latest `limit` messages, whatever deal they were
    about (as the deal page lists every email to its contact) — a person writes to the team,
    not to a deal; the contact's page has the rest. A deal without a contact has none."""
    if contact is None:
        return {"messages": [], "earlier": False}
    return of_contact(store, contact, limit)


def latest_bounce(store: Store, contact_id: int, within: timedelta) -> dict | None:
    """The contact's latest bounce, as the conversation gives it, with `transient_bounces`:
    for a temporary one, how many temporary bounces came within `within` up to it (0 for a
    permanent one). None when no bounce was recorded."""
    row = store.conn.execute(_LATEST_BOUNCE, (contact_id,)).fetchone()
    if row is None:
        return None
    transient = 0
    if row["severity"] == "transient":
        came = datetime.fromisoformat(row["received_at"] or row["recorded_at"])
        transient = inbound.transient_bounces(store, contact_id, came - within, row["id"])
    return {**_received(row, store), "transient_bounces": transient}


def _sent(row: sqlite3.Row, store: Store) -> dict:
    return {"direction": "sent", "at": _instant(row["at"], store), **outbox.public(row, store),
            "text": row["text"], "workflow": row["workflow"],
            "deal_id": row["deal_id"]}  # fmt: skip


def _received(row: sqlite3.Row, store: Store) -> dict:
    return {"direction": "received", "at": _instant(row["at"], store),
            **inbound.public(row, store),
            "answered_subject": row["answered_subject"]}  # fmt: skip


def _instant(text: str, store: Store) -> str:
    return datetime.fromisoformat(text).astimezone(store.project.timezone).isoformat()
