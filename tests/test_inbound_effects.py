"""What replies, bounces and complaints do to the workflows, through the real CLI: a sequence
with `stop_on_reply` ends when its contact answers, one without goes on; `email.replied`
starts a workflow that tells the owner; `cancel_on: email.bounced`; an undeliverable address
is skipped with the reason, and written to again once a person clears it."""

from __future__ import annotations

import json

import pytest
from conftest import query
from mail_project import bounce, deliver, project, reply, store_at

from salesflow.store import contacts
from salesflow.store.db import transaction

pytestmark = pytest.mark.engines  # each test on SQLite and on PostgreSQL

SENT = "2026-12-01T09:00"  # Tuesday; the sequences wait 3 days, until Friday 09:00
REPLIED = "2026-12-02T10:00"
LATER = "2026-12-04T10:00"


@pytest.fixture
def sf(cli, tmp_path):
    root = project(tmp_path / "club")

    def run(*args: str, now: str = SENT, code: int = 0):
        result = cli("--project", root, "--now", now, *args)
        assert result.exit_code == code, result.output
        return result

    run.root = root
    return run


def enrolled(sf, email: str, *tags: str) -> dict[str, str]:
    """A contact in the sequences `tags`, their first emails sent: {workflow: Message-ID}."""
    sf("contacts", "add", email, *(f"--tag={tag}" for tag in tags))
    sf("run")
    rows = query(sf.root, "SELECT r.workflow, o.message_id FROM outbox o JOIN runs r"
                 " ON r.id = o.run_id WHERE o.to_addr = ?", email)  # fmt: skip
    return dict(rows)


def run_of(sf, workflow: str, email: str = "julie@example.org") -> dict:
    [(run_id,)] = query(sf.root, "SELECT r.id FROM runs r JOIN contacts c ON c.id = r.contact_id"
                        " WHERE r.workflow = ? AND c.email = ?", workflow, email)  # fmt: skip
    return json.loads(sf("runs", "show", str(run_id), "--json", now=LATER).stdout)


def tasks(sf) -> list[str]:
    return [title for (title,) in query(sf.root, "SELECT title FROM tasks ORDER BY id")]


def test_a_reply_ends_the_waiting_run_of_a_sequence_that_stops_on_reply(sf):
    sent = enrolled(sf, "julie@example.org", "relance")["relance"]
    deliver(sf.root, reply("Julie Martin <julie@example.org>", sent))
    sf("run", now=REPLIED)
    run = run_of(sf, "relance")
    assert (run["status"], run["reason"]) == (
        "cancelled", "stopped: julie@example.org replied to “Envie de continuer,"
        " julie@example.org ?”",
    )  # fmt: skip
    sf("run", now=LATER)
    assert tasks(sf) == []


def test_a_reply_read_in_the_same_run_as_the_end_of_the_wait_still_stops_it(sf):
    """The mailbox was not read for days (cron stopped, or a long `poll`): the reply came on
    Wednesday, the run that reads it on Saturday is also the one the wait ends in."""
    sent = enrolled(sf, "julie@example.org", "relance")["relance"]
    deliver(sf.root, reply("julie@example.org", sent))
    sf("run", now="2026-12-05T10:00")
    assert run_of(sf, "relance")["status"] == "cancelled"
    assert tasks(sf) == []


def test_without_stop_on_reply_the_sequence_goes_on(sf):
    sent = enrolled(sf, "julie@example.org", "suivi")["suivi"]
    deliver(sf.root, reply("julie@example.org", sent))
    sf("run", now=REPLIED)
    assert run_of(sf, "suivi")["status"] == "waiting"
    sf("run", now=LATER)
    assert tasks(sf) == ["Appeler julie@example.org"]


def test_a_reply_to_another_workflows_email_does_not_stop_the_sequence(sf):
    sent = enrolled(sf, "julie@example.org", "relance", "suivi")
    deliver(sf.root, reply("julie@example.org", sent["suivi"]))
    sf("run", now=REPLIED)
    assert run_of(sf, "relance")["status"] == "waiting"
    sf("run", now=LATER)
    assert sorted(tasks(sf)) == ["Appeler julie@example.org"] * 2


def test_someone_else_answering_in_the_thread_does_not_stop_the_contacts_sequence(sf):
    """Paul (another contact) and Marie (the team, copying the club) write in Julie's
    thread: Julie has not answered."""
    sent = enrolled(sf, "julie@example.org", "relance")["relance"]
    sf("contacts", "add", "paul@example.org")
    deliver(sf.root, reply("paul@example.org", sent, message_id="<paul@example.org>"))
    deliver(sf.root, reply("Marie Dupont <marie@club.example>", sent,
                           message_id="<marie@club.example>"))  # fmt: skip
    sf("run", now=REPLIED)
    assert run_of(sf, "relance")["status"] == "waiting"


def test_a_reply_tells_the_owner_through_a_workflow_on_email_replied(sf):
    sent = enrolled(sf, "julie@example.org", "relance")["relance"]
    deliver(sf.root, reply("julie@example.org", sent))
    sf("run", now=REPLIED)
    [(subject, text, status)] = query(
        sf.root, "SELECT subject, text, status FROM outbox WHERE to_addr = 'marie@club.example'"
    )
    assert (subject, status) == ("julie@example.org a répondu", "sent")
    assert text.startswith(
        "julie@example.org a répondu à « Envie de continuer, julie@example.org ? » :\n"
        "Oui, je m'inscris demain.\n"
    )


def test_the_owner_is_not_told_of_a_reply_to_a_workflow_the_trigger_does_not_name(sf):
    sent = enrolled(sf, "julie@example.org", "suivi")["suivi"]
    deliver(sf.root, reply("julie@example.org", sent))
    sf("run", now=REPLIED)
    assert query(sf.root, "SELECT count(*) FROM outbox WHERE to_addr = 'marie@club.example'") == [
        (0,)
    ]


def test_cancel_on_email_bounced_ends_the_run(sf):
    sent = enrolled(sf, "julie@example.org", "rappel")["rappel"]
    deliver(sf.root, bounce("julie@example.org", "5.1.1", original=sent))
    sf("run", now=REPLIED)
    run = run_of(sf, "rappel")
    assert (run["status"], run["reason"]) == ("cancelled", "cancelled by email.bounced")


def test_an_undeliverable_address_is_skipped_with_the_reason_until_a_person_clears_it(sf):
    sent = enrolled(sf, "julie@example.org", "relance")["relance"]
    deliver(sf.root, bounce("julie@example.org", "5.1.1", original=sent))
    sf("run", now=REPLIED)
    sf("workflows", "start", "envoi", "--contact", "julie@example.org", now=REPLIED)
    skipped = run_of(sf, "envoi")
    assert skipped["status"] == "done"
    assert [(step["outcome"], step["detail"]) for step in skipped["trace"]][-1:] == [
        ("skipped", "not sent: julie@example.org is undeliverable (it bounced)")
    ]
    assert (
        "not sent: julie@example.org is undeliverable (it bounced)"
        in sf("runs", "show", str(skipped["id"]), now=REPLIED).stdout
    )
    assert query(sf.root, "SELECT count(*) FROM outbox WHERE to_addr = 'julie@example.org'") == [
        (1,)
    ]
    store = store_at(sf.root, LATER)  # what `contacts update --email-status ok` does
    try:
        with transaction(store.conn):
            contacts.set_email_status(store, "julie@example.org", "ok")
    finally:
        store.conn.close()
    sf("workflows", "start", "envoi", "--contact", "julie@example.org", now=LATER)
    sf("run", now=LATER)
    assert query(sf.root, "SELECT count(*) FROM outbox WHERE to_addr = 'julie@example.org'"
                 " AND status = 'sent'") == [(2,)]  # fmt: skip
