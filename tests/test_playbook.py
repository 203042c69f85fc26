"""The stages' playbooks, where the rule lives: config/playbook.py (pure) and store/deals.py
+ store/playbook.py (every creation and stage change of a record, whichever door calls it).
The doors themselves (CLI, pages, workflows, import) have their own tests."""

from __future__ import annotations

from datetime import datetime

import pytest
from conftest import open_project, query

from salesflow.config.model import Pipeline
from salesflow.config.playbook import is_forward, missing_to_move
from salesflow.errors import UserError
from salesflow.phrases import say
from salesflow.store import deals, playbook
from salesflow.store.db import transaction
from salesflow.store.playbook import RequirementsMissing
from salesflow.store.session import Store

NOW = "2026-11-20T10:00"


def _pipeline(sf, pipeline_id: str = "cours-essai") -> Pipeline:
    return open_project(sf.project).pipelines[pipeline_id]


def test_forward_moves_need_the_left_stages_required_items_back_and_lost_never(sf):
    of = _pipeline(sf)
    new, planned, done, won, lost = (of.stage(s) for s in
                                     ("nouveau", "essai-planifie", "essai-realise", "inscrit",
                                      "perdu"))  # fmt: skip
    assert is_forward(of, planned, done) and is_forward(of, done, won)
    assert not is_forward(of, done, planned) and not is_forward(of, planned, lost)
    # skipping stages: only the stage left counts (nouveau has no required item)
    assert not missing_to_move(of, new, won, {}, ())
    assert missing_to_move(of, done, won, {}, ()).items == ("Paiement reçu",)
    assert not missing_to_move(of, done, won, {}, ("Paiement reçu", "Avis recueilli"))
    assert not missing_to_move(of, done, planned, {"contact.date_essai": "2026-12-01"}, ())
    assert not missing_to_move(of, done, lost, {}, ())
    # entering needs the target's requires, whichever way the record comes
    assert missing_to_move(of, done, planned, {}, ()).fields == ("contact.date_essai",)
    assert missing_to_move(of, None, planned, {"contact.date_essai": "  "}, ()).fields


@pytest.fixture
def store(sf):
    project = open_project(sf.project)
    opened = Store.open(project, datetime.fromisoformat(NOW).replace(tzinfo=project.timezone))
    yield opened
    opened.conn.close()


def _deal(sf, stage: str = "nouveau", email: str = "julie@example.org", *options: str) -> int:
    sf("contacts", "add", email, *options, now=NOW)
    sf("deals", "add", "--title", "Essai Julie", "--contact", email, "--stage", stage,
       "--owner", "marie", now=NOW)  # fmt: skip
    return sf("deals", "list", "--json", now=NOW)[0]["id"]


@pytest.mark.engines
def test_a_refused_move_says_what_is_missing_and_changes_nothing(sf, store):
    deal_id = _deal(sf)
    row = deals.get(store, deal_id)
    with pytest.raises(RequirementsMissing) as refused, transaction(store.conn):
        deals.move(store, row, "essai-planifie")
    assert str(refused.value) == (
        f"deal #{deal_id} cannot enter “Cours d'essai planifié”: contact.date_essai is not set"
    )
    assert refused.value.missing.fields == ("contact.date_essai",)
    assert deals.get(store, deal_id)["stage"] == "nouveau"
    assert query(sf.project, "SELECT count(*) FROM stage_history WHERE deal_id = ?", deal_id) == [
        (1,)
    ]


@pytest.mark.engines
def test_forcing_goes_through_and_is_marked_in_the_history_and_the_event(sf, store):
    deal_id = _deal(sf)
    with transaction(store.conn):
        deals.move(store, deals.get(store, deal_id), "essai-planifie", by="marie", force=True)
    assert deals.get(store, deal_id)["stage"] == "essai-planifie"
    assert query(
        sf.project, "SELECT by, forced FROM stage_history WHERE deal_id = ? ORDER BY id", deal_id
    ) == [("cli", 0), ("marie", 1)]
    data = query(sf.project, "SELECT data FROM events WHERE type = 'deal.stage_changed'")
    assert '"forced": true' in data[-1][0]
    # forcing a move that meets its requirements is no forcing
    with transaction(store.conn):
        deals.move(store, deals.get(store, deal_id), "nouveau", by="marie", force=True)
    last = "SELECT forced FROM stage_history ORDER BY id DESC LIMIT 1"
    assert query(sf.project, last) == [(0,)]


@pytest.mark.engines
def test_ticking_the_required_item_lets_the_deal_move_forward(sf, store):
    deal_id = _deal(sf, "essai-realise")
    of = _pipeline(sf)
    refused = pytest.raises(RequirementsMissing, match="“Paiement reçu” is not ticked")
    with refused, transaction(store.conn):
        deals.move(store, deals.get(store, deal_id), "inscrit")
    with transaction(store.conn):
        ticked = playbook.tick(store, deals.get(store, deal_id), of, "paiement  REÇU", "paul")
    assert (ticked[0].id, ticked[1], ticked[2]) == ("essai-realise", "Paiement reçu", True)
    with transaction(store.conn):
        again = playbook.tick(store, deals.get(store, deal_id), of, "Paiement reçu", "paul")
        assert again[2] is False  # already ticked: nothing changes, no second event
        deals.move(store, deals.get(store, deal_id), "inscrit", by="paul")
    ticks = playbook.ticked(store, deal_id, "essai-realise")
    assert ticks["Paiement reçu"]["ticked_by"] == "paul"
    events = query(sf.project, "SELECT data FROM events WHERE type = 'deal.checklist_ticked'")
    assert len(events) == 1 and '"required": true' in events[0][0]


@pytest.mark.engines
def test_undo_unticks_and_the_move_is_refused_again(sf, store):
    deal_id = _deal(sf, "essai-realise")
    of = _pipeline(sf)
    with transaction(store.conn):
        playbook.tick(store, deals.get(store, deal_id), of, "Paiement reçu", "paul")
        playbook.tick(store, deals.get(store, deal_id), of, "Paiement reçu", "marie", True)
    assert playbook.ticked(store, deal_id, "essai-realise") == {}
    assert [(row["ticked"], row["by"]) for row in playbook.tick_history(store, deal_id)] == [
        (1, "paul"), (0, "marie")
    ]  # fmt: skip
    with pytest.raises(RequirementsMissing), transaction(store.conn):
        deals.move(store, deals.get(store, deal_id), "inscrit")
    kinds = query(sf.project, "SELECT data FROM events WHERE type = 'deal.checklist_ticked'")
    assert ['"ticked": true' in k and '"ticked": false' not in k for (k,) in kinds] == [True, False]


@pytest.mark.engines
def test_an_unknown_item_or_ticker_is_one_clear_error(sf, store):
    deal_id = _deal(sf)
    of = _pipeline(sf)
    with pytest.raises(
        UserError, match=r"no checklist item 'Appel de presentation' .*did you mean"
    ):
        playbook.tick(store, deals.get(store, deal_id), of, "Appel de presentation", "marie")
    with pytest.raises(UserError, match="'nobody' is not a team member"):
        playbook.tick(store, deals.get(store, deal_id), of, "Voix demandée", "nobody")


@pytest.mark.engines
def test_creating_a_record_in_a_stage_enters_it(sf, store):
    sf("contacts", "add", "paul@example.org", now=NOW)
    refused = pytest.raises(RequirementsMissing, match="a new deal cannot enter")
    with refused, transaction(store.conn):
        deals.add(store, "Essai", "paul@example.org", "cours-essai", "essai-planifie")
    with transaction(store.conn):
        forced = deals.add(store, "Essai", "paul@example.org", "cours-essai", "essai-planifie",
                           by="marie", force=True)  # fmt: skip
    assert forced["stage"] == "essai-planifie"
    with pytest.raises(RequirementsMissing, match="owner is not set"), transaction(store.conn):
        deals.add(store, "Créneau", None, "support", "en-cours", record="ticket")
    with transaction(store.conn):
        ticket = deals.add(store, "Créneau", None, "support", "en-cours", {"owner": "paul"},
                           record="ticket")  # fmt: skip
    assert ticket["stage"] == "en-cours"


@pytest.mark.engines
def test_entering_a_stage_makes_its_tasks_for_the_owner(sf, store):
    deal_id = _deal(sf, "essai-planifie", "julie@example.org", "--first-name", "Julie", "--field",
                    "date_essai=2026-11-28T18:00")  # fmt: skip
    with transaction(store.conn):
        deals.move(store, deals.get(store, deal_id), "essai-realise", by="marie")
    assert query(
        sf.project, "SELECT title, assignee, due_at, created_by FROM tasks WHERE deal_id = ?",
        deal_id,
    ) == [("Demander son avis à Julie après l'essai", "marie", "2026-11-21T09:00:00Z",
           "stage:essai-realise")]  # fmt: skip


def test_the_refusal_is_a_phrase_the_pages_say_in_their_language(sf, store):
    deal_id = _deal(sf, "essai-realise")
    with pytest.raises(RequirementsMissing) as refused, transaction(store.conn):
        deals.move(store, deals.get(store, deal_id), "inscrit")
    assert say(refused.value.phrase) == str(refused.value)
    french = say(refused.value.phrase, lambda text: {"{items} is not ticked in “{stage}”":
                                                     "{items} n'est pas cochée dans « {stage} »"
                                                     }.get(text, text))  # fmt: skip
    assert "“Paiement reçu” n'est pas cochée dans « Cours d'essai réalisé »" in french


def test_an_entry_task_of_a_deal_without_contact_leaves_the_missing_name_blank(sf, store):
    with transaction(store.conn):
        deal = deals.add(store, "Sans contact", None, "cours-essai", "essai-realise",
                         {"owner": "paul"})  # fmt: skip
    assert query(sf.project, "SELECT title, assignee FROM tasks WHERE deal_id = ?", deal["id"]) == [
        ("Demander son avis à après l'essai", "paul")
    ]


@pytest.mark.engines
def test_only_the_open_records_current_stage_can_be_ticked(sf, store):
    deal_id = _deal(sf)
    of = _pipeline(sf)
    elsewhere = pytest.raises(UserError, match="it is an item of 'essai-realise', to tick there")
    with elsewhere:
        playbook.tick(store, deals.get(store, deal_id), of, "Paiement reçu", "marie")
    with transaction(store.conn):
        deals.move(store, deals.get(store, deal_id), "perdu", "trop loin")
    with pytest.raises(UserError, match=r"deal #\d+ is lost: its checklist is closed"):
        playbook.tick(store, deals.get(store, deal_id), of, "Voix demandée", "marie")
    assert query(sf.project, "SELECT count(*) FROM checklist_history") == [(0,)]


@pytest.mark.engines
def test_entering_a_stage_again_makes_no_second_open_task(sf, store):
    deal_id = _deal(sf, "essai-realise")
    with transaction(store.conn):
        deals.move(store, deals.get(store, deal_id), "nouveau")
        deals.move(store, deals.get(store, deal_id), "essai-realise")
    made = "SELECT count(*) FROM tasks WHERE created_by = 'stage:essai-realise'"
    assert query(sf.project, made) == [(1,)]
    sf("tasks", "done", "1", now=NOW)
    with transaction(store.conn):
        deals.move(store, deals.get(store, deal_id), "nouveau")
        deals.move(store, deals.get(store, deal_id), "essai-realise")
    assert query(sf.project, made) == [(2,)]  # the first one is done: a new one to do


@pytest.mark.engines
def test_a_forced_creation_says_so_in_its_event(sf, store):
    sf("contacts", "add", "paul@example.org", now=NOW)
    with transaction(store.conn):
        deals.add(store, "Essai", "paul@example.org", "cours-essai", "essai-planifie", by="marie",
                  force=True)  # fmt: skip
    [(data,)] = query(sf.project, "SELECT data FROM events WHERE type = 'deal.created'")
    assert '"forced": true' in data and '"by": "marie"' in data
