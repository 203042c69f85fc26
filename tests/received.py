"""Mail coming back in a test: a message of the corpus (tests/fixtures/inbound/) addressed to
the test's contacts and answering its emails, read as `poll` reads each message — classified
against the outbox, recorded and acted on (store/inbound.record), at the test's chosen time."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from conftest import open_project

from salesflow.mail.inbound import classify
from salesflow.store import inbound
from salesflow.store.db import transaction
from salesflow.store.session import Store

CORPUS = Path(__file__).parent / "fixtures" / "inbound"


def corpus(name: str, swaps: dict[str, str] | None = None) -> bytes:
    """Corpus message `name`, each text of `swaps` replaced by its value (an address, the
    Message-ID it answers, its words)."""
    raw = (CORPUS / name).read_bytes()
    for old, new in (swaps or {}).items():
        raw = raw.replace(old.encode(), new.encode())
    return raw


def record(store: Store, raw: bytes) -> int:
    """`raw` classified against the store's outbox, recorded and acted on; its inbound id."""
    with transaction(store.conn):
        reading = classify(raw, inbound.OutboxKnown(store))
        identity = f"test:{store.conn.execute('SELECT count(*) FROM inbound').fetchone()[0]}"
        return inbound.record(store, identity, len(raw), raw, reading)


def receive(project: Path, raw: bytes, now: str) -> int:
    """`record` in the project at `project`, read at `now` (project time)."""
    opened = open_project(project)
    store = Store.open(opened, datetime.fromisoformat(now).replace(tzinfo=opened.timezone))
    try:
        return record(store, raw)
    finally:
        store.conn.close()
