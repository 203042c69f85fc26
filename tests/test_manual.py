"""Workflows started by hand (`trigger: {manual: true}`, `salesflow workflows start`): for
contacts, deals, a CSV file's rows or a filter; each subject once; a dry run writes nothing."""

from __future__ import annotations

import pytest
from conftest import open_project, query

from salesflow import clock
from salesflow.engine.manual import chosen, manual_workflow, start
from salesflow.store.session import Store

pytestmark = pytest.mark.engines  # each test on SQLite and on PostgreSQL


def imported(sf) -> None:
    """The demo's three prospects, each with a deal in `nouveau`."""
    sf("import", sf.project / "examples/prospects.csv", "--pipeline", "cours-essai",
       "--stage", "nouveau")  # fmt: skip


def test_a_contact_is_started_once_and_the_second_start_says_so(sf):
    imported(sf)
    first = sf("workflows", "start", "inviter", "--contact", "julie.martin@example.org")
    assert "email #1 to julie.martin@example.org" in first.output
    assert first.output.rstrip().endswith("inviter: 1 started, 0 already in it")
    again = sf("workflows", "start", "inviter", "--contact", "julie.martin@example.org")
    assert again.output.strip() == "inviter: 0 started, 1 already in it"
    assert query(sf.project, "SELECT workflow, subject, status FROM runs") == [
        ("inviter", "contact", "waiting")]  # fmt: skip
    assert query(sf.project, "SELECT to_addr FROM outbox") == [("julie.martin@example.org",)]


def test_a_dry_run_shows_the_plan_and_writes_nothing(sf):
    imported(sf)
    plan = sf("workflows", "start", "inviter", "--where", "stage=nouveau", "--dry-run")
    assert plan.output.count("(send_email) — done") == 3
    assert "inviter: 3 started, 0 already in it (dry run: nothing written)" in plan.output
    assert query(sf.project, "SELECT count(*) FROM runs") == [(0,)]
    assert query(sf.project, "SELECT count(*) FROM events WHERE type = 'workflow.started'") == [
        (0,)]  # fmt: skip


def test_a_csv_file_names_contacts_and_a_row_naming_nobody_is_said(sf, tmp_path):
    imported(sf)
    names = tmp_path / "relancer.csv"
    names.write_text("Nom;Email\nJulie;julie.martin@example.org\nX;x@example.org\n"
                     "Inès;INES.BREVAL@example.org\n")  # fmt: skip
    result = sf("workflows", "start", "inviter", "--from", names, code=1)
    assert "inviter: 2 started, 0 already in it, 1 not found" in result.output
    assert "error: relancer.csv row 3: no contact 'x@example.org'" in result.output
    assert len(query(sf.project, "SELECT id FROM runs WHERE status = 'waiting'")) == 2
    one_column = tmp_path / "un.csv"  # the commonest list: emails alone, no delimiter at all
    one_column.write_text("email\noedipe.lefevre@example.org\n")
    assert "inviter: 1 started" in sf("workflows", "start", "inviter", "--from", one_column).output


def test_deals_are_chosen_by_a_filter_and_only_a_manual_workflow_starts_by_hand(sf):
    imported(sf)
    sf("deals", "move", "1", "essai-planifie")
    result = sf("workflows", "start", "inviter", "--where", "stage=nouveau", "--where",
                "pipeline=cours-essai")  # fmt: skip
    assert "inviter: 2 started" in result.output
    assert query(sf.project, "SELECT subject, deal_id FROM runs ORDER BY id") == [
        ("deal", 2), ("deal", 3)]  # fmt: skip
    refused = sf("workflows", "start", "essai-formulaire", "--deal", "1", code=1)
    assert "starts on its trigger; to start it by hand, give it `trigger: {manual: true}`" in (
        refused.output)  # fmt: skip
    assert "did you mean 'inviter'" in sf("workflows", "start", "invite", "--deal", "1",
                                          code=1).output  # fmt: skip
    assert "nobody matches --where tag=vip" in sf("workflows", "start", "inviter", "--where",
                                                  "tag=vip", code=1).output  # fmt: skip


def test_the_engine_starts_each_subject_once_in_its_own_right(sf):
    """The library under the command: subjects named twice count once; a deal's run knows
    the deal's contact."""
    imported(sf)
    project = open_project(sf.project)
    store = Store.open(project, clock.now("2026-11-20T11:00", project.timezone))
    subjects, missing = chosen(store, ["julie.martin@example.org", "1"], [2, 2], None, [])
    assert (subjects, missing) == ([("contact", 1), ("deal", 2)], [])
    result = start(store, manual_workflow(store, "inviter"), subjects)
    assert (result.started, result.already, result.failed) == (subjects, [], [])
    assert query(sf.project, "SELECT contact_id, deal_id FROM runs ORDER BY id") == [
        (1, None), (2, 2)]  # fmt: skip


def test_a_subject_whose_start_raises_fails_alone_and_the_others_start(sf):
    """Poison: the workflow's `if` raises for a contact without a first name (None has no
    startswith); that subject is reported failed, the others start, the exit code says so."""
    (sf.project / "workflows" / "prenoms.yaml").write_text(
        "id: prenoms\ntrigger: {manual: true}\nif: contact.first_name.startswith('J')\n"
        "steps:\n  - create_task: {title: 'Appeler {{ contact.email }}', assignee: marie}\n",
        encoding="utf-8",
    )
    sf("contacts", "add", "julie@example.org", "--first-name", "Julie")
    sf("contacts", "add", "anonyme@example.org")
    sf("contacts", "add", "jeanne@example.org", "--first-name", "Jeanne")
    result = sf("workflows", "start", "prenoms", "--contact", "julie@example.org",
                "--contact", "anonyme@example.org", "--contact", "jeanne@example.org",
                code=1)  # fmt: skip
    assert "prenoms: 2 started, 0 already in it, 1 failed" in result.output
    assert "error: contact #2: workflow prenoms: its `if` failed" in result.output
    assert "Traceback" not in result.output
    assert query(sf.project, "SELECT title FROM tasks ORDER BY id") == [
        ("Appeler julie@example.org",), ("Appeler jeanne@example.org",)]  # fmt: skip
    sf("contacts", "add", "paul@example.org", "--first-name", "Paul")
    other = sf("workflows", "start", "prenoms", "--contact", "paul@example.org")
    assert "prenoms: 0 started, 0 already in it, 1 skipped (its `if` does not hold)" in (
        other.output)  # fmt: skip


def test_a_ticket_given_as_a_deal_is_said_to_be_a_ticket_as_deals_show_says(sf):
    imported(sf)
    sf("tickets", "add", "--subject", "Changer de créneau")  # #4, after the three deals
    result = sf("workflows", "start", "inviter", "--deal", "4", code=1)
    assert "#4 is a ticket, not a deal: see `salesflow tickets show 4`" in result.output
    assert query(sf.project, "SELECT count(*) FROM runs") == [(0,)]
