"""What a run keeps between its steps instead of reading it again (its contact's row, its new
row), and the events its steps record that no workflow could react to (recorded already
processed): the rows and the words must be those a fresh read, or a later batch, gives."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from conftest import open_project, written_project

from salesflow.engine.process import Processor
from salesflow.store.db import transaction
from salesflow.store.session import Store
from salesflow.templating import make_environment

pytestmark = pytest.mark.engines  # each test on SQLite and on PostgreSQL

NOW = "2026-12-01T12:00:00+00:00"
PROJECT = {
    "salesflow.yaml": """
        name: Reprises
        timezone: UTC
        locale: en_GB
        currency: EUR
        email: {from: "Reprises <hello@reprises.example>"}
        team:
          - {id: marie, name: Marie Dupont, email: marie@reprises.example}
          - {id: paul, name: Paul Martin, email: paul@reprises.example}
        """,
    "pipelines/ventes.yaml": """
        id: ventes
        name: Ventes
        stages:
          - {id: nouveau, name: Nouveau}
          - {id: gagne, name: Gagné, outcome: won}
        """,
    "workflows/templates/fiche.txt.j2": """
        ---
        subject: "{{ contact.first_name }} {{ contact.company }}"
        ---
        {{ owner.name if owner else "-" }} / {{ contact.owner.id if contact.owner else "-" }} / {{
        deal.title if deal else "-" }} / {{ contact.tags | join(",") }}
        """,
    # the contact written by three steps, read by a message after each
    "workflows/accueil.yaml": """
        id: accueil
        trigger: {event: form.submitted}
        steps:
          - id: contact
            upsert_contact: {email: "{{ event.data.email }}", first_name: Julie, tags: [essai]}
          - id: avant
            send_email: {to: contact, template: fiche}
          - id: responsable
            assign_owner: {among: [marie, paul]}
          - id: voix
            update_contact: {company: Chorale, tags: [alto]}
          - id: apres
            send_email: {to: contact, template: fiche}
          - id: affaire
            create_deal: {pipeline: ventes, stage: nouveau, title: "Essai {{ contact.company }}"}
          - id: enfin
            send_email: {to: contact, template: fiche}
        """,
    # disabled, but it listens to deal.created: those events wait for a pass as before
    "workflows/suivi.yaml": """
        id: suivi
        enabled: false
        trigger: {event: deal.created}
        steps:
          - {id: fin, stop: fini}
        """,
}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    root = written_project(tmp_path / "reprises", PROJECT)
    return Store.open(open_project(root), datetime.fromisoformat(NOW))


def submitted(store: Store, email: str) -> int:
    with transaction(store.conn):
        return store.record_event("form.submitted", None, None, {"email": email})


def test_each_message_shows_the_contact_as_the_steps_before_it_left_it(store):
    submitted(store, "julie@reprises.example")
    Processor(store).run()
    messages = store.conn.execute("SELECT step, subject, text FROM outbox ORDER BY id").fetchall()
    assert [(m["step"], m["subject"], m["text"].split("\n")[0]) for m in messages] == [
        ("avant", "Julie", "- / - / - / essai"),
        ("apres", "Julie Chorale", "Marie Dupont / marie / - / alto,essai"),
        ("enfin", "Julie Chorale", "Marie Dupont / marie / Essai Chorale / alto,essai"),
    ]
    contact = store.conn.execute("SELECT owner, company, tags FROM contacts").fetchone()
    assert tuple(contact) == ("marie", "Chorale", json.dumps(["alto", "essai"]))


def test_a_run_reads_its_contact_once(store):
    """Read once by email to find it, once by id by the upsert: the steps after it go on
    with the row they wrote."""
    if store.conn.dialect != "sqlite":
        pytest.skip("statements counted on SQLite's trace callback")
    submitted(store, "julie@reprises.example")
    read: list[str] = []
    store.conn.set_trace_callback(read.append)
    Processor(store).run()
    store.conn.set_trace_callback(None)
    assert sum("FROM contacts WHERE" in sql for sql in read) == 2
    assert not [sql for sql in read if sql.startswith("SELECT * FROM runs WHERE id")]


def test_events_no_workflow_hears_are_recorded_processed(store):
    """contact.created (no workflow listens) is recorded processed by the run; contact.updated
    (it may move a wait) and deal.created (a disabled workflow listens) wait for the next
    batch — and every one is counted as handled, as before."""
    first = submitted(store, "julie@reprises.example")
    processor = Processor(store)
    batches = iter([False, True])  # one batch, of the form alone, then stop
    processor.run(stop=lambda: next(batches), batch=1)
    assert recorded(store, after=first) == [
        ("contact.created", 1), ("contact.updated", 0), ("contact.updated", 0),
        ("deal.created", 0),
    ]  # fmt: skip
    result = processor.run()
    assert result.events == 1 + 1 + 3  # the form, contact.created, then the 3 left
    pending = store.conn.execute("SELECT count(*) FROM events WHERE processed_at IS NULL")
    assert pending.fetchone()[0] == 0


def test_a_run_started_by_hand_leaves_what_it_records_for_process(store):
    """`handle_one` (a run started by hand) marks nothing in advance: the workflows of the
    `process` that handles them may not be these."""
    first = submitted(store, "julie@reprises.example")
    with transaction(store.conn):
        assert Processor(store).handle_one(first) == 1
    assert recorded(store, after=first) == [
        ("contact.created", 0), ("contact.updated", 0), ("contact.updated", 0),
        ("deal.created", 0),
    ]  # fmt: skip


def recorded(store: Store, after: int) -> list[tuple]:
    """The events recorded after this one, by kind, each with whether it is processed."""
    states = store.conn.execute(
        "SELECT type, processed_at IS NOT NULL FROM events WHERE id > ?", (after,)
    ).fetchall()
    return sorted((row[0], int(row[1])) for row in states)


def test_templates_read_a_dicts_keys_as_jinja_does():
    env = make_environment(None, "en_GB", datetime.now().astimezone().tzinfo, "EUR")
    record = {"name": "Julie", "items": "mine", "none": None}
    assert env.from_string("{{ r.name }}|{{ r.none }}|{{ r.get('name') }}").render(r=record) == (
        "Julie||Julie"
    )
    assert env.from_string("{{ r.items }}").render(r=record).startswith("<built-in method items")
    with pytest.raises(Exception, match="'dict object' has no attribute 'missing'"):
        env.from_string("{{ r.missing }}").render(r=record)
