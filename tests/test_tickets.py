"""Tickets: the third kind of record, through the CLI, the engine's actions and events, the
response-time report and the board page (the demo's support pipeline)."""

from __future__ import annotations

import json

import pytest
from conftest import query

pytestmark = pytest.mark.engines


JULIE = "julie@example.org"


def events(project, kind: str) -> list[dict]:
    rows = query(project, "SELECT data FROM events WHERE type = ? ORDER BY id", kind)
    return [json.loads(data) for (data,) in rows]


def test_tickets_are_added_listed_updated_moved_and_closed_like_deals(sf):
    sf("contacts", "add", JULIE, "--owner", "marie")
    created = sf("tickets", "add", "--subject", "Changer de créneau", "--contact", JULIE, "--json")
    assert (created["priority"], created["owner"], created["stage"]) == (
        "normal",
        "marie",
        "nouveau",
    )
    sf("deals", "add", "--title", "Essai", "--pipeline", "cours-essai")
    assert [t["id"] for t in sf("tickets", "list", "--json")] == [1]
    assert [d["id"] for d in sf("deals", "list", "--json")] == [2]  # one table, two lists
    assert sf("tickets", "list", "--priority", "urgent", "--json") == []
    sf("tickets", "update", "1", "--priority", "urgent", "--subject", "Changer de jour")
    sf("tickets", "update", "1", "--priority", "urgent")  # no change: no event
    assert events(sf.project, "ticket.updated") == [{
        "pipeline": "support", "subject": "Changer de créneau",
        "changed": ["priority", "subject"],
        "old": {"priority": "normal", "subject": "Changer de créneau"},
        "new": {"priority": "urgent", "subject": "Changer de jour"}, "by": "cli",
    }]  # fmt: skip
    sf("tickets", "move", "1", "en-cours", now="2026-11-20T13:00")
    sf("tickets", "check", "1", "Réponse envoyée au membre", "--by", "marie",
       now="2026-11-20T13:30")  # fmt: skip
    closed = sf("tickets", "close", "1", now="2026-11-20T14:00").output
    assert "closed #1 Changer de jour → Résolue (won)" in closed
    assert [(e["from"], e["to"]) for e in events(sf.project, "ticket.stage_changed")] == [
        ("nouveau", "en-cours"), ("en-cours", "resolu")]  # fmt: skip
    shown = sf("tickets", "show", "1", "--json", now="2026-11-20T15:00")
    assert [entry["to"] for entry in shown["history"]] == ["nouveau", "en-cours", "resolu"]
    assert shown["first_response_hours"] == 3.0 and shown["status"] == "won"
    assert events(sf.project, "deal.stage_changed") == []


def test_a_record_shown_at_a_now_before_it_existed_has_no_times_and_no_negative_days(sf):
    """`--now` earlier than the ticket: `tickets show` crashed (ValueError, exit 3), and
    `deals list`/`show` printed -4 days in stage where the board says 0."""
    sf("tickets", "add", "--subject", "Absence", now="2026-11-24T10:00")
    sf("deals", "add", "--title", "Essai", "--pipeline", "cours-essai", now="2026-11-24T10:00")
    shown = sf("tickets", "show", "1", "--json", now="2026-11-20T10:00")
    assert shown["first_response_hours"] is None and shown["resolution_hours"] is None
    assert shown["days_in_stage"] == 0
    assert sf("deals", "show", "2", "--json", now="2026-11-20T10:00")["days_in_stage"] == 0
    assert "-4" not in sf("deals", "list", now="2026-11-20T10:00").output


def test_a_ticket_in_a_project_without_a_ticket_pipeline_says_what_to_add(sf):
    """Was 'error: name a pipeline: (none of tickets)'."""
    for name in ("pipelines/support.yaml", "workflows/demande-en-attente.yaml",
                 "workflows/demande-membre.yaml"):  # fmt: skip
        (sf.project / name).unlink()
    refused = sf("tickets", "add", "--subject", "Absence", code=1).output
    assert "the project has no ticket pipeline: add one in pipelines/" in refused


def test_the_wrong_kind_of_record_or_pipeline_is_one_clear_error(sf):
    sf("tickets", "add", "--subject", "Absence")
    wrong = sf("deals", "show", "1", code=1)
    assert "#1 is a ticket, not a deal: see `salesflow tickets show 1`" in wrong.output
    wrong = sf("tickets", "add", "--subject", "x", "--pipeline", "cours-essai", code=1)
    assert "'cours-essai' is a deal pipeline: use `salesflow deals`" in wrong.output
    wrong = sf("tickets", "add", "--subject", "x", "--priority", "asap", code=2)
    assert "'asap' is not one of low, normal, high, urgent" in wrong.output


def test_a_new_ticket_notifies_its_owner_and_the_teachers_channel(sf):
    sf("contacts", "add", JULIE, "--first-name", "Julie", "--owner", "paul")
    sf("tickets", "add", "--subject", "Passer au jeudi", "--contact", JULIE, "--priority", "high")
    sf("tick")
    [(to, subject)] = query(sf.project, "SELECT to_addr, subject FROM outbox WHERE kind = 'email'")
    assert (to, subject) == ("paul@club.example", "Demande de Julie : Passer au jeudi")
    [written] = (sf.project / "outbox" / "requests").glob("*.http")
    body = json.loads(written.read_text(encoding="utf-8").split("\n\n", 1)[1])
    assert body == {"text": "Demande de Julie : Passer au jeudi (priorité haute), suivie par"
                            " Paul Martin", "ticket": "1"}  # fmt: skip


def test_a_ticket_left_a_day_without_answer_becomes_urgent_with_a_task(sf):
    sf("tickets", "add", "--subject", "Absente le 10", "--priority", "low", "--owner", "marie")
    sf("tick", now="2026-11-21T09:00")  # 23 h: not yet
    assert query(sf.project, "SELECT priority FROM deals") == [("low",)]
    sf("tick", now="2026-11-21T10:01")
    assert query(sf.project, "SELECT priority FROM deals") == [("urgent",)]
    assert query(sf.project, "SELECT title, assignee FROM tasks") == [
        ("Répondre à la demande : Absente le 10", "marie")]  # fmt: skip
    assert events(sf.project, "ticket.stalled")[0]["stage"] == "nouveau"


def test_the_ticket_actions_create_move_and_update_the_runs_ticket(sf):
    (sf.project / "workflows" / "ouvrir.yaml").write_text(
        "id: ouvrir\ntrigger: {event: contact.created}\nsteps:\n"
        "  - create_ticket: {pipeline: support, subject: 'Accueil de {{ contact.email }}',"
        " priority: high, owner: marie}\n"
        "  - move_ticket: {stage: attente-client}\n"
        '  - update_ticket: {priority: \'{{ "low" if ticket.stage == "attente-client" }}\'}\n',
        encoding="utf-8",
    )
    sf("contacts", "add", JULIE)
    sf("process")
    [ticket] = sf("tickets", "list", "--json")
    assert (ticket["subject"], ticket["stage"], ticket["priority"], ticket["owner"]) == (
        f"Accueil de {JULIE}", "attente-client", "low", "marie")  # fmt: skip
    trace = sf("runs", "show", "1").output
    assert (
        "created ticket #1" in trace and "moved ticket #1 from nouveau to attente-client" in trace
    )
    assert f"contact: {JULIE}, ticket #1" in trace  # was 'deal #1'
    assert events(sf.project, "ticket.created")[0]["by"] == "workflow:ouvrir"


def test_a_deal_action_on_a_ticket_run_fails_that_run_alone(sf):
    (sf.project / "workflows" / "mauvais.yaml").write_text(
        "id: mauvais\ntrigger: {event: ticket.created, match: {pipeline: support}}\nsteps:\n"
        "  - update_deal: {next_step: appeler}\n",
        encoding="utf-8",
    )
    sf("tickets", "add", "--subject", "Absence", "--owner", "marie")
    sf("process")
    [(status,)] = query(sf.project, "SELECT status FROM runs WHERE workflow = 'mauvais'")
    assert status == "failed"
    assert "#1 is a ticket, not a deal" in sf("runs", "show", "2").output
    [(other,)] = query(sf.project, "SELECT status FROM runs WHERE workflow = 'demande-membre'")
    assert other == "done"


def test_response_times_take_the_first_email_or_move_whichever_came_first(sf):
    sf("contacts", "add", JULIE, "--owner", "marie")
    sf("tickets", "add", "--subject", "A", "--contact", JULIE, "--priority", "high",
       now="2026-11-20T09:00")  # fmt: skip
    sf("tickets", "add", "--subject", "B", "--priority", "high", "--owner", "paul",
       now="2026-11-20T09:00")  # fmt: skip
    sf("workflows", "start", "inviter", "--contact", JULIE, now="2026-11-20T10:00")  # an email
    sf("tickets", "move", "1", "en-cours", now="2026-11-20T12:00")
    sf("tickets", "move", "2", "en-cours", now="2026-11-20T15:00")
    sf("tickets", "check", "2", "Réponse envoyée au membre", "--by", "paul",
       now="2026-11-21T08:00")  # fmt: skip
    sf("tickets", "close", "2", now="2026-11-21T09:00")
    [high] = sf("pipeline", "response", "support", "--json", now="2026-11-21T10:00")["rows"]
    assert high == {"priority": "high", "tickets": 2, "open": 1, "first_response_hours": 3.5,
                    "resolved": 1, "resolution_hours": 24.0}  # fmt: skip


def test_workflows_start_by_hand_for_a_ticket(sf):
    (sf.project / "workflows" / "relancer.yaml").write_text(
        "id: relancer\ntrigger: {manual: true}\nsteps:\n"
        "  - create_task: {title: 'Relancer : {{ ticket.subject }}', assignee: marie}\n",
        encoding="utf-8",
    )
    sf("tickets", "add", "--subject", "Absence")
    result = sf("workflows", "start", "relancer", "--ticket", "1", "--ticket", "9", code=1)
    assert "relancer: 1 started, 0 already in it, 1 not found" in result.output
    assert query(sf.project, "SELECT title FROM tasks") == [("Relancer : Absence",)]
    started = sf("workflows", "start", "relancer", "--where", "pipeline=support", "--json")
    assert started["already"] == [["ticket", 1]]


def test_a_ticket_without_owner_goes_to_whoever_has_the_fewest_open_tickets(sf):
    for title in ("Essai A", "Essai B"):  # paul's deals do not count against him for tickets
        sf("deals", "add", "--title", title, "--pipeline", "cours-essai", "--owner", "paul")
    sf("tickets", "add", "--subject", "Partition perdue", "--owner", "marie")
    sf("tickets", "add", "--subject", "Absence")
    sf("tick")
    assert sf("tickets", "show", "4", "--json")["owner"] == "paul"
    notified = query(sf.project, "SELECT to_addr FROM outbox WHERE subject = 'Demande : Absence'")
    assert notified == [("paul@club.example",)]
