"""`salesflow inbound reprocess`: read stored messages again, against the outbox as it is now.

A reply that matched no sent message when it was read (unmatched) becomes a reply once its
sent message is known, and acts then; a message kept as `failed` (its recording raised) is
recorded properly. The stored bytes are classified again (`mail.inbound.classify`) and the
new reading replaces the old through `store.inbound.reclassify`, which acts only when the
reading changed: reprocessing twice records nothing twice.

Each message is reprocessed in a savepoint of its own (the poison principle of the queues):
one that raises again is left as it was, with the error reported, and the others go on. A
message over the size limit was kept as its header only: it cannot be read again whole, and
is recorded from its header as too big (as a poll records it).
"""

from __future__ import annotations

from dataclasses import dataclass

from salesflow.mail.inbound import MAX_BYTES, Verp, classify, too_big
from salesflow.store import inbound
from salesflow.store.db import describe, isolated, transaction
from salesflow.store.session import Store


@dataclass
class Reprocessed:
    """What became of one message: its kind before and after, whether its reading changed
    (and so it acted), `error` when reprocessing it raised, `header_only` when only its
    header was kept."""

    id: int
    before: str
    after: str
    changed: bool = False
    outbox_id: int | None = None
    matched_by: str | None = None
    reason: str | None = None
    header_only: bool = False
    error: str | None = None

    def as_json(self) -> dict:
        return dict(self.__dict__)


def reprocess(store: Store, inbound_ids: list[int]) -> list[Reprocessed]:
    """Classify each message again and record what changed, each in its own savepoint, all
    in one transaction."""
    known = inbound.OutboxKnown(store)
    path = store.project.email.return_path
    verp = Verp(path) if path else None
    settings = store.project.email.inbound
    max_bytes = settings.max_bytes if settings else MAX_BYTES
    outcomes = []
    with transaction(store.conn):
        for inbound_id in inbound_ids:
            row = inbound.get(store, inbound_id)
            outcome = Reprocessed(inbound_id, row["kind"], row["kind"])

            def again(row=row, outcome=outcome) -> None:
                raw = bytes(row["raw"] or b"")
                outcome.header_only = len(raw) < row["size"]
                if outcome.header_only:
                    reading = too_big(raw, row["size"], max_bytes)
                else:
                    reading = classify(raw, known, verp=verp, max_bytes=max_bytes)
                outcome.changed = inbound.reclassify(store, row["id"], reading)
                outcome.after, outcome.reason = reading.kind, reading.reason
                outcome.outbox_id, outcome.matched_by = reading.outbox_id, reading.matched_by

            def failed(error: Exception, outcome=outcome) -> None:
                outcome.error = describe(error)

            isolated(store.conn, again, failed)
            outcomes.append(outcome)
    return outcomes
