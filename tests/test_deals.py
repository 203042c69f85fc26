"""`salesflow deals` and `salesflow tasks`: by hand, checked in the database."""

from __future__ import annotations

import json

import pytest
from conftest import query

pytestmark = pytest.mark.engines


@pytest.fixture
def julie(sf):
    """Julie, Marie's contact, her trial lesson booked (its date: what "Cours d'essai
    planifié" requires)."""
    sf("contacts", "add", "julie@example.org", "--first-name", "Julie", "--owner", "marie",
       "--field", "date_essai=2026-12-05T18:30")  # fmt: skip
    return sf


def test_add_a_deal_with_french_amount_and_date(julie):
    deal = julie(
        "deals", "add", "--title", "Essai Julie", "--contact", "JULIE@example.org",
        "--pipeline", "cours-essai", "--stage", "essai-planifie", "--amount", "1 200,50",
        "--expected-close", "05/12/2026", "--json",
    )  # fmt: skip
    assert deal["id"] == 1
    assert deal["contact"] == "julie@example.org"
    assert deal["amount"] == "1200.50"
    assert deal["owner"] == "marie"  # the contact's owner, when none is given
    assert deal["probability"] == 40  # the stage's
    assert deal["expected_close"] == "2026-12-05"
    assert query(julie.project, "SELECT amount FROM deals") == [(120050,)]
    assert query(julie.project, "SELECT from_stage, to_stage, by FROM stage_history") == [
        (None, "essai-planifie", "cli")
    ]
    assert query(julie.project, "SELECT type FROM events ORDER BY id")[-1] == ("deal.created",)


def test_a_misspelt_stage_gets_a_did_you_mean(julie):
    result = julie("deals", "add", "--title", "X", "--stage", "essai-plan", code=1)
    assert "'essai-plan' is not a stage of pipeline 'cours-essai' (did you mean" in result.output
    assert query(julie.project, "SELECT count(*) FROM deals") == [(0,)]


def test_move_records_history_event_and_closing(julie):
    julie("deals", "add", "--title", "Essai", "--contact", "julie@example.org")
    julie("deals", "move", "1", "essai-planifie", now="2026-11-21T10:00")
    won = julie("deals", "move", "1", "inscrit", "--json", now="2026-11-25T18:00")
    assert (won["status"], won["closed_at"]) == ("won", "2026-11-25T18:00:00+01:00")
    history = query(julie.project, "SELECT from_stage, to_stage, at FROM stage_history ORDER BY id")
    assert history == [
        (None, "nouveau", "2026-11-20T09:00:00Z"),
        ("nouveau", "essai-planifie", "2026-11-21T09:00:00Z"),
        ("essai-planifie", "inscrit", "2026-11-25T17:00:00Z"),
    ]
    changes = query(
        julie.project, "SELECT data FROM events WHERE type = 'deal.stage_changed' ORDER BY id"
    )
    assert [(json.loads(data)["from"], json.loads(data)["to"]) for data, in changes] == [
        ("nouveau", "essai-planifie"), ("essai-planifie", "inscrit")]  # fmt: skip


def test_a_closed_deal_moves_only_with_reopen(julie):
    julie("deals", "add", "--title", "Essai", "--contact", "julie@example.org")
    julie("deals", "won", "1")
    result = julie("deals", "move", "1", "essai-realise", code=1)
    assert "deal #1 is won; pass --reopen" in result.output
    reopened = julie("deals", "move", "1", "essai-realise", "--reopen", "--json")
    assert (reopened["status"], reopened["closed_at"]) == ("open", None)


def test_a_lost_reason_is_required_when_the_pipeline_says_so(julie):
    julie("deals", "add", "--title", "Essai", "--contact", "julie@example.org")
    result = julie("deals", "lost", "1", code=1)
    assert "pipeline 'cours-essai' needs a reason to move a deal to 'perdu': pass --reason" in (
        result.output
    )
    lost = julie("deals", "lost", "1", "--reason", "trop loin", "--json")
    assert (lost["status"], lost["lost_reason"]) == ("lost", "trop loin")


def test_update_changes_values_and_dry_run_does_not(julie):
    julie("deals", "add", "--title", "Essai", "--contact", "julie@example.org")
    julie("deals", "update", "1", "--amount", "99", "--dry-run")
    assert query(julie.project, "SELECT amount FROM deals") == [(None,)]
    deal = julie("deals", "update", "1", "--amount", "99", "--next-step", "Rappeler", "--json")
    assert (deal["amount"], deal["next_step"]) == ("99.00", "Rappeler")


def test_list_filters(julie):
    julie("contacts", "add", "ines@example.org")
    julie("deals", "add", "--title", "A", "--contact", "julie@example.org", "--owner", "paul")
    julie(
        "deals", "add", "--title", "B", "--contact", "ines@example.org", "--stage", "essai-realise"
    )
    julie("deals", "lost", "1", "--reason", "prix")
    titles = lambda *args: [d["title"] for d in julie("deals", "list", *args, "--json")]  # noqa: E731
    assert titles() == ["B", "A"]
    assert titles("--status", "lost") == ["A"]
    assert titles("--stage", "essai-realise") == ["B"]
    assert titles("--owner", "paul") == ["A"]
    assert titles("--stalled") == []
    stalled = julie("deals", "list", "--stalled", "--json", now="2026-11-28T10:00")
    assert [d["title"] for d in stalled] == ["B"]  # 8 days in a stage that rots after 1w
    assert julie("deals", "list", "--pipeline", "cours", code=1).output.startswith(
        "error: no pipeline"
    )


def test_show_gives_the_history(julie):
    julie("deals", "add", "--title", "Essai", "--contact", "julie@example.org")
    julie("deals", "move", "1", "essai-planifie", now="2026-11-21T10:00")
    deal = julie("deals", "show", "1", "--json")
    assert [(h["from"], h["to"]) for h in deal["history"]] == [
        (None, "nouveau"), ("nouveau", "essai-planifie"),
    ]  # fmt: skip


def test_tasks_add_list_done_and_overdue(julie):
    julie("tasks", "add", "Appeler Julie", "--assignee", "marie", "--due", "2d",
          "--contact", "julie@example.org")  # fmt: skip
    task = julie("tasks", "add", "Préparer partitions", "--assignee", "paul",
                 "--due", "21/11/2026 18:00", "--json")  # fmt: skip
    assert task["due_at"] == "2026-11-21T18:00:00+01:00"
    listed = julie("tasks", "list", "--json", now="2026-11-21T19:00")
    assert [(t["title"], t["overdue"]) for t in listed] == [
        ("Préparer partitions", True), ("Appeler Julie", False),
    ]  # fmt: skip
    overdue = julie("tasks", "list", "--overdue", "--json", now="2026-11-21T19:00")
    assert [t["title"] for t in overdue] == ["Préparer partitions"]
    julie("tasks", "done", "2")
    assert [t["title"] for t in julie("tasks", "list", "--json")] == ["Appeler Julie"]
    assert len(julie("tasks", "list", "--all", "--json")) == 2
    assert (
        "--due: 'demain' is neither" in julie("tasks", "add", "X", "--due", "demain", code=1).output
    )


def test_moving_a_deal_where_it_is_changes_nothing_and_says_so(julie):
    julie("deals", "add", "--title", "Essai", "--contact", "julie@example.org")
    assert julie("deals", "move", "1", "nouveau").output == (
        "#1 Essai is already in Nouveau prospect: nothing changed\n"
    )
    julie("deals", "won", "1")
    assert julie("deals", "won", "1").output == "#1 Essai is already won: nothing changed\n"
    assert query(julie.project, "SELECT count(*) FROM stage_history") == [(2,)]
