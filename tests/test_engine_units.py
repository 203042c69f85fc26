"""The engine's step logic on a small project and a real database (the real migrations), no
CLI: each action handler called as a run calls it, asserting the rows it wrote and the
Outcome it returned, so that a failure points at the action, not at the command around it;
then the engine's queue behaviour (one failing step fails its run alone).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import open_project, written_project

from salesflow.engine.actions import HANDLERS
from salesflow.engine.context import Renderer, environment
from salesflow.engine.outcome import Act, Outcome, StepFailed
from salesflow.engine.process import Processor
from salesflow.engine.runs import Engine, change_run
from salesflow.engine.state import RunState
from salesflow.engine.steps import find
from salesflow.phrases import say
from salesflow.store import contacts, deals, runs
from salesflow.store.db import inserted_id
from salesflow.store.session import Store

pytestmark = pytest.mark.engines  # each test on SQLite and on PostgreSQL

NOW = "2026-12-01T12:00:00+00:00"
PROJECT = {
    "salesflow.yaml": """
        name: Unités
        timezone: UTC
        locale: en_GB
        currency: EUR
        email: {from: "Unités <hello@units.example>"}
        team:
          - {id: marie, name: Marie Dupont, email: marie@units.example}
          - {id: paul, name: Paul Martin, email: paul@units.example}
        fields:
          contact:
            date_essai: {type: datetime}
        """,
    "pipelines/ventes.yaml": """
        id: ventes
        name: Ventes
        stages:
          - {id: nouveau, name: Nouveau}
          - {id: essai, name: Essai}
          - {id: gagne, name: Gagné, outcome: won}
          - {id: perdu, name: Perdu, outcome: lost}
        """,
    "pipelines/support.yaml": """
        id: support
        name: Support
        object: ticket
        stages:
          - {id: ouvert, name: Ouvert}
          - {id: en-cours, name: En cours}
          - {id: resolu, name: Résolu, outcome: won}
        """,
    "workflows/templates/bonjour.txt.j2": """
        ---
        subject: "Bonjour {{ contact.first_name }}"
        ---
        À bientôt.
        """,
    # Every action once, each step called on its own by the tests (never run in order).
    "workflows/unit.yaml": """
        id: unit
        trigger: {manual: true}
        steps:
          - id: contact
            upsert_contact: {email: julie@units.example, first_name: Julie, tags: [essai]}
          - id: voix
            update_contact: {company: Chorale, tags: [alto]}
          - id: affaire
            create_deal: {pipeline: ventes, stage: nouveau, title: "Essai {{ contact.first_name }}"}
          - id: montant
            update_deal: {amount: 240, next_step: Appeler}
          - id: avance
            move_deal: {stage: essai}
          - id: ticket
            create_ticket: {pipeline: support, subject: "Clé perdue", priority: high}
          - id: pris
            move_ticket: {stage: en-cours}
          - id: urgence
            update_ticket: {priority: low}
          - id: tour
            assign_owner: {among: [marie, paul]}
          - id: bienvenue
            send_email: {template: bonjour}
          - id: equipe
            notify: {to: team, template: bonjour}
          - id: tache
            create_task: {title: "Appeler {{ contact.first_name }}", assignee: marie, due_in: 1d}
          - id: appel
            http: {url: "http://127.0.0.1:9/hook", json: {email: "{{ contact.email }}"}}
          - id: pause
            wait: 2d
          - id: veille
            wait_until: {at: "{{ contact.date_essai }}", before: 1d}
          - id: choix
            branch:
              if: "'alto' in contact.tags"
              then: [{id: alto, stop: alto}]
              else: [{id: autre, stop: autre}]
          - id: fin
            stop: "plus rien"
        """,
    # For the queue: a task, then a wait on the contact's date (none: the step fails).
    "workflows/accueil.yaml": """
        id: accueil
        trigger: {event: contact.created}
        steps:
          - id: tache
            create_task: {title: "Appeler {{ contact.email }}", assignee: paul}
          - id: veille
            wait_until: {at: "{{ contact.date_essai }}"}
        """,
}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    root = written_project(tmp_path / "units", PROJECT)
    return Store.open(open_project(root), datetime.fromisoformat(NOW))


def rows(store: Store, sql: str, *params) -> list[tuple]:
    return [tuple(row) for row in store.conn.execute(sql, params).fetchall()]


def a_run(store: Store, contact_id=None, deal_id=None, email="julie@units.example") -> RunState:
    """A run of `unit` (its row, as enrolment leaves it), with the event that started it."""
    run_id = runs.start(store, "unit", "hash", "contact", ["contact"], contact_id=contact_id,
                        deal_id=deal_id)["id"]  # fmt: skip
    event = {"id": None, "type": "workflow.started", "data": {"email": email}}
    return RunState(run_id, contact_id=contact_id, deal_id=deal_id, event=event)


def step(store: Store, step_id: str, run: RunState) -> Outcome:
    """What the step `step_id` of `unit` does for `run`, as the engine calls it (its detail
    as the CLI says it)."""
    workflow = store.project.workflows["unit"]
    found = find(workflow.steps, [step_id])
    renderer = Renderer(environment(store.project))
    outcome = HANDLERS[found.action](Act(store, renderer, workflow, found, run), found.config)
    return replace(outcome, detail=say(outcome.detail))


def julie(store: Store, tags=(), **fields) -> int:
    return contacts.add(store, "julie@units.example", {"first_name": "Julie"}, tags, fields)["id"]


def test_upsert_contact_creates_the_contact_and_binds_the_run_to_it(store):
    run = a_run(store)
    outcome = step(store, "contact", run)
    assert outcome == Outcome("created contact julie@units.example")
    contact = contacts.find(store, "julie@units.example")
    assert (contact["first_name"], json.loads(contact["tags"])) == ("Julie", ["essai"])
    assert run.bound_contact == contact["id"] and run.contact_id is None  # the engine takes it on
    again = step(store, "contact", a_run(store))
    assert again.detail == "updated contact julie@units.example: no change"


def test_update_contact_changes_the_runs_contact(store):
    run = a_run(store, contact_id=julie(store))
    assert step(store, "voix", run).detail == "updated contact julie@units.example: company, tags"
    contact = contacts.public(contacts.find(store, "julie@units.example"), store)
    assert (contact["company"], contact["tags"]) == ("Chorale", ["alto"])
    with pytest.raises(StepFailed, match="no contact yet"):
        step(store, "voix", a_run(store))


def test_create_update_and_move_a_deal(store):
    run = a_run(store, contact_id=julie(store))
    assert step(store, "affaire", run).detail == "created deal #1 Essai Julie in nouveau"
    assert run.bound_deal == 1
    run.deal_id = run.bound_deal
    assert step(store, "montant", run).detail == "updated deal #1: amount, next_step"
    assert step(store, "avance", run).detail == "moved deal #1 from nouveau to essai"
    assert step(store, "avance", run) == Outcome("deal #1 already in essai", "skipped")
    assert rows(store, "SELECT title, stage, amount, next_step, contact_id FROM deals") == [
        ("Essai Julie", "essai", 24000, "Appeler", run.contact_id)
    ]
    moves = rows(store, "SELECT data FROM events WHERE type = 'deal.stage_changed'")
    assert [json.loads(data)["to"] for (data,) in moves] == ["essai"]


def test_new_rows_ids_are_the_rows_own_on_both_engines(store):
    """Ids come from the cursor on SQLite (RETURNING costs as much as the insert there):
    a deal's, not that of the summary row its trigger wrote; none for an insert that
    did nothing (a contact's email taken); the deal's stage bit set by its INSERT."""
    contacts.add(store, "marc@units.example", {"first_name": "Marc"})
    first = julie(store)
    assert rows(store, "SELECT email FROM contacts WHERE id = ?", first) == [
        ("julie@units.example",)
    ]
    assert contacts.upsert(store, "julie@units.example", {"phone": "0612"})[1] is False
    taken = "INSERT INTO contacts (email, created_at, updated_at) VALUES (?, ?, ?)"
    assert inserted_id(store.conn, taken + " ON CONFLICT (email) DO NOTHING",
                       ("julie@units.example", store.stamp, store.stamp)) is None  # fmt: skip
    deals.add(store, "Autre", "marc@units.example", "ventes", "essai")
    deal = deals.add(store, "Essai Julie", first, "ventes", "essai")
    assert rows(store, "SELECT id, title FROM deals WHERE id = ?", deal["id"]) == [
        (2, "Essai Julie")
    ]
    bit = deals.stage_bit(store, "ventes", "essai")
    assert deal["stages_mask"] == 1 << bit
    assert rows(store, "SELECT count FROM deal_masks WHERE stages_mask = ?", 1 << bit) == [(2,)]
    assert runs.get(store, a_run(store, contact_id=first).id)["contact_id"] == first


def test_a_deal_opens_in_a_stage_numbered_63_on_both_engines(store):
    """A pipeline numbers a bit for every stage it ever had: the 64th is bit 63, the sign
    bit of a 64-bit mask, and a deal still opens there."""
    store.conn.execute(
        "INSERT INTO stage_bits (pipeline, stage, bit) VALUES ('ventes', 'essai', 63)"
    )
    deal = deals.add(store, "Essai", julie(store), "ventes", "essai")
    assert deal["stages_mask"] == -(1 << 63)


def test_create_move_and_update_a_ticket(store):
    run = a_run(store, contact_id=julie(store))
    assert step(store, "ticket", run).detail == "created ticket #1 Clé perdue in ouvert (high)"
    run.deal_id = run.bound_deal
    assert step(store, "pris", run).detail == "moved ticket #1 from ouvert to en-cours"
    assert step(store, "urgence", run).detail == "updated ticket #1: priority"
    assert rows(store, "SELECT title, pipeline, stage, priority, contact_id FROM deals") == [
        ("Clé perdue", "support", "en-cours", "low", run.contact_id)
    ]
    with pytest.raises(StepFailed, match="is a ticket, not a deal"):
        step(store, "avance", run)


def test_assign_owner_takes_turns_across_runs(store):
    owners = []
    for name in ("anna", "bob", "cleo"):
        contact = contacts.add(store, f"{name}@units.example", {})["id"]
        outcome = step(store, "tour", a_run(store, contact_id=contact))
        owners.append(contacts.get(store, contact)["owner"])
        assert outcome.detail == f"owner {owners[-1]} (in turn among marie, paul)"
    assert owners == ["marie", "paul", "marie"]
    assert rows(store, "SELECT key, position FROM rotations") == [("unit/tour", 3)]
    with pytest.raises(StepFailed, match="nothing to assign"):
        step(store, "tour", a_run(store))


def test_send_email_and_notify_queue_rendered_messages(store):
    run = a_run(store, contact_id=julie(store))
    assert step(store, "bienvenue", run).detail == (
        "email #1 to julie@units.example: “Bonjour Julie”"
    )
    outcome = step(store, "equipe", run)
    assert outcome.detail == "notified marie, paul (email #2, #3): “Bonjour Julie”"
    queued = rows(store, "SELECT kind, run_id, step, to_addr, subject, status FROM outbox")
    assert queued == [
        ("email", run.id, "bienvenue", "julie@units.example", "Bonjour Julie", "queued"),
        ("email", run.id, "equipe", "marie@units.example", "Bonjour Julie", "queued"),
        ("email", run.id, "equipe", "paul@units.example", "Bonjour Julie", "queued"),
    ]
    contacts.unsubscribe(store, run.contact_id)
    run.context = None  # the engine rebuilds it after a change
    assert step(store, "bienvenue", run).status == "skipped"


def test_create_task_for_the_runs_contact(store):
    run = a_run(store, contact_id=julie(store))
    outcome = step(store, "tache", run)
    assert outcome.detail == "task #1 “Appeler Julie” for marie, due 2026-12-02 12:00"
    assert rows(store, "SELECT title, assignee, contact_id, created_by FROM tasks") == [
        ("Appeler Julie", "marie", run.contact_id, "workflow:unit")
    ]


def test_http_queues_the_request(store):
    run = a_run(store, contact_id=julie(store))
    outcome = step(store, "appel", run)
    assert outcome.detail == "request #1 queued: POST http://127.0.0.1:9/hook"
    [(kind, run_id, method, body, request, status)] = rows(
        store, "SELECT kind, run_id, subject, text, request, status FROM outbox"
    )
    assert (kind, run_id, method, status) == ("http", run.id, "POST", "queued")
    assert json.loads(body) == {"email": "julie@units.example"}
    assert json.loads(request)["headers"] == {"Content-Type": ["application/json"]}


def test_wait_and_wait_until(store):
    run = a_run(store, contact_id=julie(store, date_essai="2026-12-10T18:00"))
    now = store.now
    assert step(store, "pause", run) == Outcome(
        "waiting 2d, until 2026-12-03 12:00", "wait", now + timedelta(days=2)
    )
    waiting = step(store, "veille", run)
    eve = datetime.fromisoformat("2026-12-09T18:00:00+00:00")  # the day before
    assert (waiting.status, waiting.wake_at, waiting.anchor) == ("wait", eve, "contact.date_essai")
    contacts.update(store, contacts.get(store, run.contact_id), {}, (),
                    {"date_essai": "2026-12-01T18:00"})  # fmt: skip
    run.context = None
    past = step(store, "veille", run)  # the day before is past: the next step is skipped
    assert past == Outcome("2026-11-30 18:00 has passed: skipping the next step", "skip_next")


def test_branch_and_stop(store):
    run = a_run(store, contact_id=julie(store, tags=["alto"]))
    assert step(store, "choix", run) == Outcome("'alto' in contact.tags is true: then", arm="then")
    other = a_run(store, contact_id=contacts.add(store, "bob@units.example", {})["id"])
    assert step(store, "choix", other).arm == "else"
    assert step(store, "fin", run) == Outcome("plus rien", "stop")


def test_a_failing_step_fails_its_run_alone(store):
    """Two contacts created: the run of the one without a date fails at its wait (what the
    step did before stays, the failure is the run's, traced); the other run waits; both
    events are handled, none failed."""
    contacts.add(store, "anna@units.example", {}, (), {"date_essai": "2026-12-10T18:00"})
    contacts.add(store, "bob@units.example", {})
    lines = []
    result = Processor(store, on_line=lines.append).run()
    assert (result.events, result.runs, result.failed) == (2, 2, 0)
    reasons = rows(store, "SELECT contact_id, status, reason FROM runs ORDER BY id")
    assert [(contact, status, say(reason)) for contact, status, reason in reasons] == [
        (1, "waiting", None),
        (2, "failed", "step veille: wait_until: {{ contact.date_essai }} is empty"),
    ]
    assert rows(store, "SELECT title FROM tasks ORDER BY id") == [
        ("Appeler anna@units.example",), ("Appeler bob@units.example",)
    ]  # fmt: skip
    assert rows(store, "SELECT run_id, step, outcome FROM run_steps ORDER BY id") == [
        (1, "tache", "done"), (1, "veille", "waiting"), (2, "tache", "done"),
        (2, "veille", "failed"),
    ]  # fmt: skip
    assert [line.outcome for line in lines] == ["done", "waiting", "done", "failed"]
    assert rows(store, "SELECT count(*) FROM events WHERE processed_at IS NULL") == [(0,)]


def test_a_failed_run_is_retried_and_a_contact_enrols_once(store):
    contacts.add(store, "bob@units.example", {})
    Processor(store).run()
    engine = Engine(store, Renderer(environment(store.project)))
    workflow = store.project.workflows["accueil"]
    assert engine.enrol(workflow, {"id": 1, "type": "contact.created"}, contact_id=1) is None
    contacts.update(store, contacts.get(store, 1), {}, (), {"date_essai": "2026-12-10T18:00"})
    change_run(store, 1, lambda engine: engine.retry(1))  # as `runs retry` does
    assert rows(store, "SELECT status, reason FROM runs") == [("waiting", None)]
    assert rows(store, "SELECT outcome FROM run_steps WHERE run_id = 1 ORDER BY id")[-2:] == [
        ("retried",), ("waiting",)
    ]  # fmt: skip
