"""A contact whole, as the contact page and its JSON give it: what `contacts show --json`
prints (the contact and their deals), with their tickets, the tasks of both, the
conversation (sent and received, in order) and, for an address marked undeliverable, the
bounce that made it so."""

from __future__ import annotations

import sqlite3

from salesflow.config.model import InboundSettings
from salesflow.store import contacts, conversation, deals, tasks
from salesflow.store.inbound import UNDELIVERABLE
from salesflow.store.session import Store


def shown(store: Store, reference: str | int) -> dict:
    """Contact `reference` (an id or an email)."""
    row = contacts.get(store, reference)
    data = contacts.public(row, store)
    for record in ("deal", "ticket"):
        found = deals.search(store, contact=row["id"], record=record)
        data[f"{record}s"] = deals.public_all(found, store)
    data["tasks"] = [
        tasks.public(task, store) for task in tasks.of_contacts_deals(store, row["id"])
    ]
    data["conversation"] = conversation.of_contact(store, row)
    undeliverable = row["email_status"] == UNDELIVERABLE
    data["undeliverable_because"] = _bounce(store, row) if undeliverable else None
    return data


def _bounce(store: Store, row: sqlite3.Row) -> dict | None:
    """The latest bounce, with the window temporary ones are counted in (None: the address
    was marked by hand, no bounce was recorded)."""
    settings = store.project.email.inbound
    within = settings.transient_within if settings else InboundSettings.transient_within
    bounce = conversation.latest_bounce(store, row["id"], within)
    return bounce and {**bounce, "transient_within_days": within.days}
