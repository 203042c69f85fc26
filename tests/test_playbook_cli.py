"""The stages' playbooks at the command line (the demo's pipelines): a refused move says
what to do; --force needs --by, and both are recorded; `deals check` / `tickets check` tick
an item; `deals show` prints the stage's playbook and marks forced moves and ticks."""

from __future__ import annotations

import json

import pytest
from conftest import query

JULIE = "julie@example.org"


@pytest.fixture
def tried(sf):
    """Julie's deal #1, her lesson done (“Cours d'essai réalisé”): enrolling her needs
    “Paiement reçu” ticked."""
    sf("contacts", "add", JULIE, "--first-name", "Julie", "--owner", "marie",
       "--field", "date_essai=2026-11-28T18:30")  # fmt: skip
    sf("deals", "add", "--title", "Essai Julie", "--contact", JULIE, "--stage", "essai-realise")
    return sf


def history(project) -> list[tuple]:
    return query(project, "SELECT from_stage, to_stage, by, forced FROM stage_history ORDER BY id")


def test_a_refused_move_says_why_and_what_to_do_and_changes_nothing(tried):
    refused = tried("deals", "won", "1", code=1)
    assert refused.output == (
        "error: deal #1 cannot enter “Inscription confirmée”: “Paiement reçu” is not ticked"
        " in “Cours d'essai réalisé”\n"
        '  tick it: salesflow deals check 1 "Paiement reçu" --by MEMBER\n'
        "  or force it: add --force --by MEMBER\n"
    )
    by_marie = tried("deals", "move", "1", "inscrit", "--by", "marie", "--dry-run", code=1)
    assert '  tick it: salesflow deals check 1 "Paiement reçu" --by marie\n' in by_marie.output
    assert history(tried.project) == [(None, "essai-realise", "cli", 0)]


def test_a_refused_move_names_the_command_that_sets_a_missing_field(sf):
    sf("contacts", "add", JULIE, "--owner", "marie")
    sf("deals", "add", "--title", "Essai Julie", "--contact", JULIE)
    planned = sf("deals", "move", "1", "essai-planifie", code=1)
    assert planned.output == (
        "error: deal #1 cannot enter “Cours d'essai planifié”: contact.date_essai is not set\n"
        "  set it: salesflow contacts update julie@example.org --field date_essai=…\n"
        "  or force it: add --force --by MEMBER\n"
    )
    sf("tickets", "add", "--subject", "Créneau")  # nobody's: “En cours” requires an owner
    started = sf("tickets", "move", "2", "en-cours", code=1)
    assert started.output.splitlines()[1:] == [
        "  set it: salesflow tickets update 2 --owner …",
        "  or force it: add --force --by MEMBER",
    ]


def test_a_record_opened_in_a_stage_needs_what_the_stage_requires_or_force(sf):
    sf("contacts", "add", JULIE, "--owner", "marie")
    planned = ("deals", "add", "--title", "Essai", "--contact", JULIE, "--stage", "essai-planifie")
    assert sf(*planned, code=1).output == (
        "error: a new deal cannot enter “Cours d'essai planifié”: contact.date_essai is not set\n"
        "  set it: salesflow contacts update julie@example.org --field date_essai=…\n"
        "  or force it: add --force --by MEMBER\n"
    )
    started = sf("tickets", "add", "--subject", "Créneau", "--stage", "en-cours", code=1)
    assert started.output.splitlines()[1:] == [
        "  set it: give --owner …",
        "  or force it: add --force --by MEMBER",
    ]
    sf(*planned, "--force", "--by", "marie")
    assert history(sf.project) == [(None, "essai-planifie", "marie", 1)]


def test_force_needs_by_a_team_member(tried):
    alone = tried("deals", "won", "1", "--force", code=2)
    assert "Invalid value for '--force': give --by MEMBER too: the history must say who" in (
        " ".join(alone.output.replace("│", " ").split())
    )
    misspelt = tried("deals", "won", "1", "--force", "--by", "mari", code=1)
    assert misspelt.output == "error: 'mari' is not a team member (did you mean 'marie'?)\n"
    assert history(tried.project) == [(None, "essai-realise", "cli", 0)]


@pytest.mark.engines
def test_a_forced_move_is_recorded_with_who_forced_it_and_shown(tried):
    tried("deals", "won", "1", "--force", "--by", "marie", "--dry-run")
    assert history(tried.project) == [(None, "essai-realise", "cli", 0)]
    won = tried("deals", "won", "1", "--force", "--by", "marie", "--json", now="2026-11-21T10:00")
    assert won["status"] == "won"
    tried("deals", "move", "1", "essai-realise", "--reopen", "--by", "paul",
          now="2026-11-22T10:00")  # --by alone: named, not forced  # fmt: skip
    assert history(tried.project) == [
        (None, "essai-realise", "cli", 0),
        ("essai-realise", "inscrit", "marie", 1),
        ("inscrit", "essai-realise", "paul", 0),
    ]
    [changed, _] = query(
        tried.project, "SELECT data FROM events WHERE type = 'deal.stage_changed' ORDER BY id"
    )
    assert json.loads(changed[0])["forced"] is True
    shown = tried("deals", "show", "1", "--json")
    assert [(entry["by"], entry["forced"]) for entry in shown["history"]] == [
        ("cli", False), ("marie", True), ("paul", False)]  # fmt: skip
    text = tried("deals", "show", "1").output
    assert "  2026-11-21 10:00  essai-realise → inscrit  (marie, forced)\n" in text
    assert "  2026-11-22 10:00  inscrit → essai-realise  (paul)\n" in text


def test_check_ticks_then_the_move_goes_through_and_undo_unticks(tried):
    ticked = tried("deals", "check", "1", "paiement  REÇU", "--by", "marie")
    assert ticked.output == (
        "ticked “Paiement reçu” in “Cours d'essai réalisé” of deal #1 Essai Julie (by marie)\n"
    )
    again = tried("deals", "check", "1", "Paiement reçu", "--by", "paul", "--json")
    assert (again["item"], again["ticked"], again["changed"]) == ("Paiement reçu", True, False)
    assert tried("deals", "check", "1", "Paiement reçu", "--by", "paul").output == (
        "“Paiement reçu” in “Cours d'essai réalisé” of deal #1 Essai Julie is already ticked:"
        " nothing changed\n"
    )
    tried("deals", "check", "1", "Paiement reçu", "--by", "paul", "--undo")
    assert tried("deals", "won", "1", code=1).exit_code == 1
    tried("deals", "check", "1", "Paiement reçu", "--by", "marie", now="2026-11-21T10:00")
    assert "won #1 Essai Julie" in tried("deals", "won", "1", "--by", "marie").output
    assert query(tried.project, "SELECT item, ticked, by FROM checklist_history ORDER BY id") == [
        ("Paiement reçu", 1, "marie"), ("Paiement reçu", 0, "paul"),
        ("Paiement reçu", 1, "marie"),
    ]  # fmt: skip
    events = query(tried.project, "SELECT data FROM events WHERE type = 'deal.checklist_ticked'")
    assert [json.loads(data)["ticked"] for (data,) in events] == [True, False, True]


def test_an_unknown_item_is_one_line_naming_the_stages_items(tried):
    unknown = tried("deals", "check", "1", "Paiement", "--by", "marie", code=1)
    assert unknown.output == (
        "error: no checklist item 'Paiement' in stage 'essai-realise' (did you mean"
        " 'Paiement reçu'?): its items: Avis recueilli, Bulletin d'inscription envoyé,"
        " Paiement reçu\n"
    )
    assert tried("deals", "check", "1", "Paiement reçu", code=2).exit_code == 2  # no --by


def test_tickets_check_lets_a_ticket_be_resolved(sf):
    sf("tickets", "add", "--subject", "Créneau", "--owner", "paul", "--stage", "en-cours")
    assert "“Réponse envoyée au membre” is not ticked in “En cours”" in (
        sf("tickets", "close", "1", code=1).output
    )
    assert sf("tickets", "check", "1", "Réponse envoyée au membre", "--by", "paul").output == (
        "ticked “Réponse envoyée au membre” in “En cours” of ticket #1 Créneau (by paul)\n"
    )
    assert "closed #1 Créneau → Résolue (won)" in sf("tickets", "close", "1", "--by", "paul").output
    assert query(sf.project, "SELECT to_stage, by FROM stage_history ORDER BY id") == [
        ("en-cours", "cli"), ("resolu", "paul")]  # fmt: skip
    assert "  2026-11-20 10:00  ticked “Réponse envoyée au membre” in en-cours  (paul)\n" in (
        sf("tickets", "show", "1").output
    )


def test_show_prints_the_stages_playbook_and_its_json_carries_it(tried):
    tried("deals", "check", "1", "Avis recueilli", "--by", "paul", now="2026-11-20T11:00")
    text = tried("deals", "show", "1", now="2026-11-20T12:00").output
    playbook = text[text.index("playbook of") : text.index("history:")]
    assert playbook == (
        "playbook of “Cours d'essai réalisé”:\n"
        "  Demander son avis après le cours, envoyer le bulletin d'inscription, et encaisser la\n"
        "  cotisation. L'inscription se confirme une fois le paiement reçu.\n"
        "checklist:\n"
        "  [x] Avis recueilli  (paul, 2026-11-20 11:00)\n"
        "  [ ] Bulletin d'inscription envoyé\n"
        "  [ ] Paiement reçu  (required)\n"
        "on entry, a task for the owner: Demander son avis à Julie après l'essai (due in 1d)\n"
        "next stage: “Inscription confirmée” needs “Paiement reçu” ticked here\n"
    )
    assert text.endswith(
        "history:\n"
        "  2026-11-20 10:00  essai-realise  (cli)\n"
        "  2026-11-20 11:00  ticked “Avis recueilli” in essai-realise  (paul)\n"
    )
    shown = tried("deals", "show", "1", "--json", now="2026-11-20T12:00")
    book = shown["playbook"]
    assert (book["stage"], book["guidance"].split(",")[0]) == (
        "essai-realise", "Demander son avis après le cours")  # fmt: skip
    assert book["checklist"][0] == {
        "item": "Avis recueilli", "required": False, "ticked": True,
        "ticked_at": "2026-11-20T11:00:00+01:00", "ticked_by": "paul",
    }  # fmt: skip
    assert book["checklist"][2]["required"] and not book["checklist"][2]["ticked"]
    assert book["entry_tasks"] == [
        {"title": "Demander son avis à Julie après l'essai",
         "template": "Demander son avis à {{ contact.first_name }} après l'essai", "due_in": "1d"}
    ]  # fmt: skip
    assert book["next"] == {
        "stage": "inscrit", "stage_name": "Inscription confirmée", "requires": [],
        "missing_fields": [], "missing_items": ["Paiement reçu"],
    }  # fmt: skip
    assert shown["checklist_history"] == [{
        "stage": "essai-realise", "item": "Avis recueilli", "ticked": True,
        "at": "2026-11-20T11:00:00+01:00", "by": "paul",
    }]  # fmt: skip


def test_show_puts_a_tick_before_the_move_it_allowed_and_no_empty_playbook(tried):
    """The payment ticked and the deal won in the same instant: `show` prints the tick
    first, as the deal page does; “Inscription confirmée” has no playbook to print."""
    tried("deals", "check", "1", "Paiement reçu", "--by", "paul", now="2026-11-20T11:00")
    tried("deals", "won", "1", "--by", "paul", now="2026-11-20T11:00")
    text = tried("deals", "show", "1", now="2026-11-20T12:00").output
    assert "playbook of" not in text
    assert text.endswith(
        "history:\n"
        "  2026-11-20 10:00  essai-realise  (cli)\n"
        "  2026-11-20 11:00  ticked “Paiement reçu” in essai-realise  (paul)\n"
        "  2026-11-20 11:00  essai-realise → inscrit  (paul)\n"
    )
