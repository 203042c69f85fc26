"""The stages' rule in workflows (#29): a `create_deal`, `move_deal`, `create_ticket` or
`move_ticket` step whose record would not meet the stage's `requires` (or leave its stage
without the required checklist items) fails its run alone, with the refusal as the run's
reason; `force: true` moves it anyway, marked forced in the history, by the workflow."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from conftest import open_project, written_project

from salesflow.engine.actions import HANDLERS
from salesflow.engine.context import Renderer, environment
from salesflow.engine.outcome import Act, Outcome, StepFailed
from salesflow.engine.process import Processor
from salesflow.engine.state import RunState
from salesflow.engine.steps import find
from salesflow.phrases import say
from salesflow.store import contacts, deals, runs
from salesflow.store.session import Store
from salesflow.translations import translations

pytestmark = pytest.mark.engines  # each test on SQLite and on PostgreSQL

NOW = "2026-12-01T12:00:00+00:00"
PROJECT = {
    "salesflow.yaml": """
        name: Règles
        timezone: UTC
        locale: en_GB
        currency: EUR
        email: {from: "Règles <hello@rules.example>"}
        team:
          - {id: marie, name: Marie Dupont, email: marie@rules.example}
          - {id: paul, name: Paul Martin, email: paul@rules.example}
        fields:
          contact:
            date_essai: {type: datetime}
        """,
    "pipelines/ventes.yaml": """
        id: ventes
        name: Ventes
        stages:
          - id: nouveau
            name: Nouveau
            checklist: [{item: Appel fait, required: true}]
          - id: essai
            name: Essai
            requires: [contact.date_essai]
            on_enter_tasks: [{title: "Préparer l'essai de {{ contact.email }}", due_in: 1d}]
          - {id: gagne, name: Gagné, outcome: won}
          - {id: perdu, name: Perdu, outcome: lost}
        """,
    "pipelines/support.yaml": """
        id: support
        name: Support
        object: ticket
        stages:
          - {id: ouvert, name: Ouvert}
          - {id: en-cours, name: En cours, requires: [owner]}
          - {id: resolu, name: Résolu, outcome: won}
        """,
    # A contact created opens a deal in `essai` (its date needed), then gets a task.
    "workflows/accueil.yaml": """
        id: accueil
        trigger: {event: contact.created}
        steps:
          - id: affaire
            create_deal: {pipeline: ventes, stage: essai, title: "Essai {{ contact.email }}"}
          - id: tache
            create_task: {title: "Appeler {{ contact.email }}", assignee: paul}
        """,
    # Each step called on its own by the tests.
    "workflows/unit.yaml": """
        id: unit
        trigger: {manual: true}
        steps:
          - {id: essai, create_deal: {pipeline: ventes, stage: essai, title: Essai}}
          - {id: essai-force, create_deal: {pipeline: ventes, stage: essai, title: Essai,
             force: true}}
          - {id: avance, move_deal: {stage: essai}}
          - {id: avance-force, move_deal: {stage: essai, force: true}}
          - {id: ticket, create_ticket: {pipeline: support, subject: Clé, stage: en-cours}}
          - {id: ticket-force, create_ticket: {pipeline: support, subject: Clé, stage: en-cours,
             force: true}}
          - {id: pris, move_ticket: {stage: en-cours}}
          - {id: pris-force, move_ticket: {stage: en-cours, force: true}}
        """,
}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    root = written_project(tmp_path / "rules", PROJECT)
    return Store.open(open_project(root), datetime.fromisoformat(NOW))


def rows(store: Store, sql: str, *params) -> list[tuple]:
    return [tuple(row) for row in store.conn.execute(sql, params).fetchall()]


def a_run(store: Store, contact_id=None, deal_id=None) -> RunState:
    run_id = runs.start(store, "unit", "hash", "contact", ["contact"], contact_id=contact_id,
                        deal_id=deal_id)["id"]  # fmt: skip
    event = {"id": None, "type": "workflow.started", "data": {}}
    return RunState(run_id, contact_id=contact_id, deal_id=deal_id, event=event)


def step(store: Store, step_id: str, run: RunState) -> Outcome:
    workflow = store.project.workflows["unit"]
    found = find(workflow.steps, [step_id])
    renderer = Renderer(environment(store.project))
    outcome = HANDLERS[found.action](Act(store, renderer, workflow, found, run), found.config)
    return replace(outcome, detail=say(outcome.detail))


def refusal(store: Store, step_id: str, run: RunState) -> str:
    """The step's failure as the run keeps it (a phrase), said in English."""
    with pytest.raises(StepFailed) as failed:
        step(store, step_id, run)
    assert json.loads(failed.value.phrase)["msg"] == "cannot_enter"  # a phrase, not English
    return say(failed.value.phrase)


def history(store: Store) -> list[tuple]:
    return rows(store, "SELECT deal_id, from_stage, to_stage, by, forced FROM stage_history"
                " ORDER BY id")  # fmt: skip


def test_a_deal_the_stage_refuses_fails_its_run_alone(store):
    """Two contacts created: the run of the one without a trial date fails at create_deal,
    visibly (its reason the refusal, in English for the CLI and French for a French page),
    with nothing of the step left; the other run opens its deal and goes on."""
    contacts.add(store, "anna@rules.example", {}, (), {"date_essai": "2026-12-10T18:00"})
    contacts.add(store, "bob@rules.example", {})
    result = Processor(store).run()
    assert (result.runs, result.failed) == (2, 0)  # no event failed: one run did
    reasons = rows(store, "SELECT contact_id, status, reason FROM runs ORDER BY id")
    refused = "a new deal cannot enter “Essai”: contact.date_essai is not set"
    assert [(contact, status, say(reason)) for contact, status, reason in reasons] == [
        (1, "done", None),
        (2, "failed", f"step affaire: {refused}"),
    ]
    french = say(reasons[1][2], translations("fr_FR").gettext)
    assert french == ("étape affaire : une nouvelle affaire ne peut pas entrer dans « Essai » :"
                      " contact.date_essai n’est pas renseigné")  # fmt: skip
    assert rows(store, "SELECT contact_id, stage FROM deals") == [(1, "essai")]
    assert rows(store, "SELECT run_id, step, outcome FROM run_steps ORDER BY id") == [
        (1, "affaire", "done"), (1, "tache", "done"), (2, "affaire", "failed"),
    ]  # fmt: skip


def test_create_deal_with_force_enters_the_stage_marked_forced(store):
    run = a_run(store, contact_id=contacts.add(store, "bob@rules.example", {})["id"])
    assert refusal(store, "essai", run) == (
        "a new deal cannot enter “Essai”: contact.date_essai is not set"
    )
    assert rows(store, "SELECT count(*) FROM deals") == [(0,)]
    assert step(store, "essai-force", run).detail == "created deal #1 Essai in essai"
    assert history(store) == [(1, None, "essai", "workflow:unit", 1)]
    assert rows(store, "SELECT title, created_by FROM tasks") == [
        ("Préparer l'essai de bob@rules.example", "stage:essai")  # entering makes its task
    ]


def test_move_deal_needs_the_stage_met_or_force(store):
    """The step names both what the target requires and the item the stage left lacks."""
    contact = contacts.add(store, "bob@rules.example", {})["id"]
    deal = deals.add(store, "Bob", contact, "ventes", "nouveau", {})
    run = a_run(store, contact_id=contact, deal_id=deal["id"])
    assert refusal(store, "avance", run) == (
        "deal #1 cannot enter “Essai”: contact.date_essai is not set; “Appel fait” is not"
        " ticked in “Nouveau”"
    )
    assert deals.get(store, 1)["stage"] == "nouveau"
    assert step(store, "avance-force", run).detail == "moved deal #1 from nouveau to essai"
    assert history(store)[-1] == (1, "nouveau", "essai", "workflow:unit", 1)
    [data] = rows(store, "SELECT data FROM events WHERE type = 'deal.stage_changed'")
    assert json.loads(data[0]) == {"pipeline": "ventes", "from": "nouveau", "to": "essai",
                                   "by": "workflow:unit", "forced": True}  # fmt: skip


def test_a_move_that_meets_the_stage_is_not_forced(store):
    contact = contacts.add(store, "anna@rules.example", {}, (), {"date_essai": "2026-12-10"})
    deal = deals.add(store, "Anna", contact["id"], "ventes", "nouveau", {})
    from salesflow.store import playbook

    playbook.tick(store, deal, deals.pipeline(store, "ventes"), "appel fait", "marie")
    run = a_run(store, contact_id=contact["id"], deal_id=deal["id"])
    assert step(store, "avance-force", run).detail == "moved deal #1 from nouveau to essai"
    assert history(store)[-1] == (1, "nouveau", "essai", "workflow:unit", 0)


def test_create_deal_bringing_the_open_deal_forward_meets_the_rule_too(store):
    """The contact's open deal stands for the new one and moves on: by the same rule."""
    contact = contacts.add(store, "bob@rules.example", {})["id"]
    deals.add(store, "Bob", contact, "ventes", "nouveau", {})
    run = a_run(store, contact_id=contact)
    assert refusal(store, "essai", run) == (
        "deal #1 cannot enter “Essai”: contact.date_essai is not set; “Appel fait” is not"
        " ticked in “Nouveau”"
    )
    assert step(store, "essai-force", run).detail == "kept open deal #1 Bob, moved on to essai"
    assert history(store)[-1] == (1, "nouveau", "essai", "workflow:unit", 1)


def test_tickets_follow_the_rule_in_workflows(store):
    run = a_run(store, contact_id=contacts.add(store, "bob@rules.example", {})["id"])
    assert refusal(store, "ticket", run) == (
        "a new ticket cannot enter “En cours”: owner is not set"
    )
    forced = step(store, "ticket-force", run)
    assert forced.detail == "created ticket #1 Clé in en-cours (normal)"
    ticket = deals.add(store, "Porte", run.contact_id, "support", "ouvert", {}, record="ticket")
    run.deal_id = ticket["id"]
    assert refusal(store, "pris", run) == ("ticket #2 cannot enter “En cours”: owner is not set")
    assert step(store, "pris-force", run).detail == "moved ticket #2 from ouvert to en-cours"
    assert history(store) == [
        (1, None, "en-cours", "workflow:unit", 1),
        (2, None, "ouvert", "cli", 0),
        (2, "ouvert", "en-cours", "workflow:unit", 1),
    ]
