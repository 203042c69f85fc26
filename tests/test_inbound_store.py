"""The `inbound` table and what a message changes (salesflow/store/inbound.py), on both
engines: emails really sent by a small project's workflows, answered by messages written to
the shapes servers send, each classified against the store's outbox and recorded as `poll`
records it."""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta

import pytest
from conftest import query
from mail_project import auto_reply, bounce, complaint, project, reply, store_at

from salesflow.mail.inbound import Verp, classify
from salesflow.store import inbound
from salesflow.store.db import transaction

pytestmark = pytest.mark.engines  # each test on SQLite and on PostgreSQL

SENT = "2026-12-01T09:00"  # the project's time zone (Europe/Paris)
READ = "2026-12-02T10:00"
JULIE = "julie@example.org"
_identities = itertools.count(1)


class Club:
    """The test project: contacts added and their emails sent through the real CLI, the
    store opened at any moment to read messages as `poll` does."""

    def __init__(self, root, cli):
        self.root, self.cli = project(root), cli

    def sf(self, *args, now: str = SENT) -> str:
        result = self.cli("--project", self.root, "--now", now, *args)
        assert result.exit_code == 0, result.output
        return result.output

    def send(self, email: str, tag: str = "relance", now: str = SENT) -> str:
        """A new contact in the `tag` sequence, its first email sent; that email's
        Message-ID."""
        self.sf("contacts", "add", email, "--tag", tag, now=now)
        self.sf("run", now=now)
        return self.message_id(email)

    def again(self, email: str, now: str) -> str:
        """One more email to the contact (the manual workflow `envoi`), sent; its
        Message-ID."""
        self.sf("workflows", "start", "envoi", "--contact", email, now=now)
        self.sf("run", now=now)
        return self.message_id(email)

    def message_id(self, email: str) -> str:
        return query(self.root, "SELECT message_id FROM outbox WHERE to_addr = ?"
                     " ORDER BY id DESC LIMIT 1", email)[0][0]  # fmt: skip

    def outbox_id(self, message_id: str) -> int:
        return query(self.root, "SELECT id FROM outbox WHERE message_id = ?", message_id)[0][0]

    def take(self, raw: bytes, now: str = READ, identity: str | None = None) -> int | None:
        """Classify and record one message as `poll` does; its inbound id."""
        store = store_at(self.root, now)
        try:
            reading = classify(raw, inbound.OutboxKnown(store),
                               verp=Verp(store.project.email.return_path))  # fmt: skip
            with transaction(store.conn):
                name = identity or f"test;{next(_identities)}"
                return inbound.record(store, name, len(raw), raw, reading)
        finally:
            store.conn.close()

    def row(self, inbound_id: int) -> dict:
        store = store_at(self.root, READ)
        try:
            return inbound.public(inbound.get(store, inbound_id), store)
        finally:
            store.conn.close()

    def events(self, kind: str = "email.%") -> list[tuple]:
        rows = query(self.root, "SELECT type, subject_id, data FROM events WHERE type LIKE ?"
                     " ORDER BY id", kind)  # fmt: skip
        return [(kind, subject, json.loads(data)) for kind, subject, data in rows]

    def contact(self, email: str) -> dict:
        [(status, unsubscribed)] = query(
            self.root, "SELECT email_status, unsubscribed_at FROM contacts WHERE email = ?", email
        )
        return {"email_status": status, "unsubscribed": unsubscribed is not None}


@pytest.fixture
def club(tmp_path, cli) -> Club:
    return Club(tmp_path / "club", cli)


# -- which sent email a message answers


def test_a_reply_matched_by_in_reply_to_records_the_event_a_workflow_reads(club):
    sent = club.send("julie@example.org")
    taken = club.take(reply("Julie Martin <julie@example.org>", sent))
    row = club.row(taken)
    assert (row["kind"], row["matched_by"], row["outbox_id"]) == (
        "reply", "in-reply-to", club.outbox_id(sent)
    )  # fmt: skip
    [(kind, subject, data)] = club.events()
    [(run,)] = query(club.root, "SELECT id FROM runs WHERE workflow = 'relance'")
    assert (kind, subject) == ("email.replied", row["contact_id"])
    assert data == {
        "inbound": taken, "email": "julie@example.org", "from": "julie@example.org",
        "subject": "Re: Envie de continuer ?", "matched_by": "in-reply-to",
        "outbox": club.outbox_id(sent), "message_id": sent,
        "sent_subject": "Envie de continuer, julie@example.org ?", "run": run,
        "workflow": "relance", "text": "Oui, je m'inscris demain.",  # the quoted part removed
    }  # fmt: skip


def test_a_reply_from_another_address_of_the_thread_is_the_contacts(club):
    sent = club.send("julie@example.org")
    row = club.row(club.take(reply("julie.martin@gmail.com", sent)))
    [(julie,)] = query(club.root, "SELECT id FROM contacts WHERE email = 'julie@example.org'")
    assert (row["kind"], row["sender"], row["contact_id"]) == (
        "reply", "julie.martin@gmail.com", julie
    )  # fmt: skip
    assert [(kind, subject) for kind, subject, _ in club.events()] == [("email.replied", julie)]


def test_a_message_without_threading_answers_the_latest_email_sent_within_30_days(club):
    first = club.send("julie@example.org")
    latest = club.again("julie@example.org", now="2026-12-01T11:00")
    assert latest != first
    near = club.row(club.take(reply("julie@example.org"), now="2026-12-30T10:00"))
    assert (near["kind"], near["matched_by"], near["outbox_id"]) == (
        "reply", "sender", club.outbox_id(latest)
    )  # fmt: skip
    late = club.row(club.take(reply("julie@example.org", message_id="<r2@example.org>"),
                              now="2027-01-01T10:00"))  # fmt: skip
    assert (late["kind"], late["outbox_id"]) == ("unmatched", None)
    assert late["reason"] == (
        "answers no message salesflow sent, and nothing was sent to its sender lately"
    )


def test_an_email_that_never_left_is_not_what_a_message_answers(club):
    """A cancelled email was never read by anyone: a message from its address answers
    nothing (and a bounce for it bounced something else)."""
    club.sf("contacts", "add", "julie@example.org", "--tag", "relance")
    club.sf("process")  # queued, not delivered
    [(queued,)] = query(club.root, "SELECT id FROM outbox WHERE to_addr = 'julie@example.org'")
    club.sf("outbox", "cancel", str(queued))
    row = club.row(club.take(reply("julie@example.org")))
    assert (row["kind"], row["outbox_id"]) == ("unmatched", None)


def test_a_bounce_names_its_message_by_its_return_path_even_with_nothing_enclosed(club):
    sent = club.send("julie@example.org")
    token = sent.strip("<>").partition("@")[0]
    row = club.row(club.take(bounce("julie@example.org",
                                    delivered_to=f"bounces+{token}@club.example")))  # fmt: skip
    assert (row["kind"], row["matched_by"], row["outbox_id"]) == (
        "bounce", "verp", club.outbox_id(sent)
    )  # fmt: skip


def test_a_return_path_token_names_one_message_exactly(club):
    """A token is a whole Message-ID's left part: a shorter token (cut by a mail server)
    names none, and falls back to the recipient's latest email."""
    sent = club.send("julie@example.org")
    other = club.send("paul@example.org")
    token = sent.strip("<>").partition("@")[0]
    shorter = f"bounces+{token[:-1]}@club.example"
    cut = club.row(club.take(bounce("paul@example.org", delivered_to=shorter)))
    assert (cut["matched_by"], cut["outbox_id"]) == ("recipient", club.outbox_id(other))


# -- once: the same message read again records nothing more


def test_the_same_message_is_seen_by_its_identity_and_after_a_reread_by_its_message_id(club):
    sent = club.send("julie@example.org")
    raw = reply("julie@example.org", sent)
    club.take(raw, identity="INBOX;UIDVALIDITY=1;UID=7")
    store = store_at(club.root, READ)
    try:
        assert inbound.seen(store, "INBOX;UIDVALIDITY=1;UID=7", None, reread=False)
        assert not inbound.seen(store, "INBOX;UIDVALIDITY=2;UID=1", "<reply-1@example.org>",
                                reread=False)  # fmt: skip
        assert inbound.seen(store, "INBOX;UIDVALIDITY=2;UID=1", "<reply-1@example.org>",
                            reread=True)  # fmt: skip
    finally:
        store.conn.close()


def test_a_message_two_polls_found_new_at_once_is_recorded_by_the_first_alone(club):
    """`run` and `serve`'s worker (or two hosts on PostgreSQL) read the same message: both
    asked `seen` before either committed; the second one's record is a no-op, not an
    error that would undo its whole batch."""
    sent = club.send("julie@example.org")
    raw = reply("julie@example.org", sent)
    first = club.take(raw, identity="INBOX;UIDVALIDITY=1;UID=7")
    assert club.take(raw, identity="INBOX;UIDVALIDITY=1;UID=7") is None
    assert query(club.root, "SELECT id FROM inbound") == [(first,)]
    assert [kind for kind, _, _ in club.events()] == ["email.replied"]


def test_reclassifying_and_applying_again_record_one_event(club):
    """`inbound reprocess` of a message that was unmatched: its email is known now."""
    raw = reply("julie@example.org", "<not-yet@club.example>")
    taken = club.take(raw)
    assert club.row(taken)["kind"] == "unmatched" and club.events() == []
    sent = club.send("julie@example.org")
    raw = raw.replace(b"<not-yet@club.example>", sent.encode())  # as if it had been known
    store = store_at(club.root, READ)
    try:
        reading = classify(raw, inbound.OutboxKnown(store))
        for _ in range(2):
            with transaction(store.conn):
                inbound.reclassify(store, taken, reading)
                inbound.apply(store, taken)
        with transaction(store.conn):
            assert inbound.reclassify(store, taken, reading) is False
    finally:
        store.conn.close()
    assert [kind for kind, _, _ in club.events()] == ["email.replied"]
    assert club.row(taken)["kind"] == "reply"


def test_an_automatic_answer_is_recorded_and_changes_nothing(club):
    sent = club.send("julie@example.org")
    row = club.row(club.take(auto_reply("julie@example.org", sent)))
    assert (row["kind"], row["outbox_id"]) == ("auto_reply", club.outbox_id(sent))
    assert [kind for kind, _, _ in club.events()] == ["email.auto_replied"]
    assert club.contact("julie@example.org") == {"email_status": "ok", "unsubscribed": False}


# -- effects


def test_a_permanent_bounce_makes_the_address_undeliverable_with_the_reason(club):
    sent = club.send("julie@example.org")
    club.take(bounce("julie@example.org", "5.1.1", original=sent))
    assert club.contact("julie@example.org")["email_status"] == "undeliverable"
    [(_, _, updated)] = club.events("contact.updated")
    assert (updated["changed"], updated["by"], updated["reason"]) == (
        ["email_status"], "bounce", "bounced: 5.1.1"
    )  # fmt: skip
    [(kind, _, data)] = club.events()
    assert (kind, data["severity"], data["status"], data["recipient"]) == (
        "email.bounced", "permanent", "5.1.1", "julie@example.org"
    )  # fmt: skip


def transient(club: Club, days: list[int]) -> str:
    """Temporary bounces of emails to Julie, one for each of `days` after Dec 1st (each for
    an email of its own, sent that morning and read the bounce the same day); her email
    status after."""
    # (called again by a test, Julie is there already: that `contacts add` says so, harmless)
    club.cli("--project", club.root, "--now", "2026-12-01T08:00", "contacts", "add", JULIE)
    for day in days:
        when = (datetime(2026, 12, 1, 10) + timedelta(days=day)).isoformat(timespec="minutes")
        sent = club.again("julie@example.org", now=when)
        club.take(bounce("julie@example.org", "4.2.2", original=sent,
                         message_id=f"<dsn-{day}@mx.club.example>",
                         date=f"{when}:00+01:00"), now=when)  # fmt: skip
    return club.contact("julie@example.org")["email_status"]


def test_two_temporary_bounces_change_nothing(club):
    assert transient(club, [0, 5]) == "ok"


def test_three_temporary_bounces_within_30_days_make_it_undeliverable(club):
    assert transient(club, [0, 10, 25]) == "undeliverable"
    [(_, _, updated)] = club.events("contact.updated")
    assert updated["reason"] == "3 temporary bounces within 30 days"


def test_three_temporary_bounces_spread_over_40_days_do_not(club):
    assert transient(club, [0, 20, 40]) == "ok"


def test_delay_notices_for_one_email_count_once(club):
    """A server that is still trying says so more than once for the same email."""
    sent = club.send("julie@example.org")
    for n in range(3):
        club.take(bounce("julie@example.org", "4.4.1", original=sent,
                         message_id=f"<delay-{n}@mx.club.example>"))  # fmt: skip
    assert club.contact("julie@example.org")["email_status"] == "ok"


def test_a_backlog_of_old_temporary_bounces_read_at_once_counts_by_when_they_came(club):
    """The mailbox is set up on a folder holding the last weeks' bounces: read on the same
    day, they still came over 40 days."""
    club.sf("contacts", "add", "julie@example.org", now="2026-10-20T08:00")
    for n, day in enumerate(["2026-10-20", "2026-11-10", "2026-11-29"]):
        sent = club.again("julie@example.org", now=f"{day}T09:00")
        club.take(bounce("julie@example.org", "4.2.2", original=sent,
                         message_id=f"<dsn-{n}@mx.club.example>",
                         date=f"{day}T10:00:00+01:00"), now="2026-12-01T10:00")  # fmt: skip
    assert club.contact("julie@example.org")["email_status"] == "ok"


def test_the_temporary_bounce_rule_is_configurable(tmp_path, cli):
    from mail_project import SETTINGS

    settings = SETTINGS.replace("{count: 3, within: 30d}", "{count: 2, within: 7d}")
    club = Club(tmp_path / "club", cli)
    project(club.root, settings)
    assert transient(club, [0, 8]) == "ok"
    assert transient(club, [9]) == "undeliverable"  # 8 and 9: two within 7 days


def test_a_complaint_unsubscribes_the_contact(club):
    sent = club.send("julie@example.org")
    club.take(complaint("julie@example.org", sent))
    assert club.contact("julie@example.org") == {"email_status": "ok", "unsubscribed": True}
    [(_, _, updated)] = club.events("contact.updated")
    assert (updated["changed"], updated["by"]) == (["unsubscribed_at"], "complaint")
    assert [kind for kind, _, _ in club.events()] == ["email.complained"]


@pytest.mark.parametrize("subject", ["unsubscribe", "UNSUBSCRIBE", "désinscription",
                                     "Re: désinscription", "RE: Unsubscribe"])  # fmt: skip
def test_a_message_whose_subject_asks_to_unsubscribe_unsubscribes(club, subject):
    """The footer of every email says: write to us with the subject "unsubscribe"."""
    club.send("julie@example.org")
    club.take(reply("julie@example.org", subject=subject, body=""))
    assert club.contact("julie@example.org")["unsubscribed"] is True
    assert club.events() == []  # a request, not an answer: nobody is told of a "reply"


def test_a_bounce_for_an_address_not_in_the_database_changes_nothing(club):
    club.send("julie@example.org")
    taken = club.take(bounce("personne@nulle-part.example", "5.1.1"))
    row = club.row(taken)
    assert (row["kind"], row["recipient"], row["contact_id"]) == (
        "bounce", "personne@nulle-part.example", None
    )  # fmt: skip
    assert row["reason"] == "the bounce's message is not in the outbox: nothing changed"
    assert club.events() == [] and club.events("contact.updated") == []
    assert club.contact("julie@example.org") == {"email_status": "ok", "unsubscribed": False}


def test_a_bounce_of_a_notification_to_the_team_makes_no_event(club):
    """Marie's notification bounced (her mailbox is full): no contact is concerned, and no
    workflow runs without a subject."""
    sent = club.send("julie@example.org")
    club.take(reply("julie@example.org", sent))  # `reponse` notifies Marie
    club.sf("run", now=READ)
    notified = club.message_id("marie@club.example")
    row = club.row(club.take(bounce("marie@club.example", "5.2.2", original=notified,
                                    message_id="<dsn-marie@mx>")))  # fmt: skip
    assert (row["kind"], row["outbox_id"], row["contact_id"]) == (
        "bounce", club.outbox_id(notified), None
    )  # fmt: skip
    assert row["reason"] == "no contact has the address marie@club.example: nothing changed"
    assert [kind for kind, _, _ in club.events()] == ["email.replied"]


def test_a_team_members_answer_in_a_contacts_thread_is_not_the_contacts_reply(club):
    """Marie answers Julie and copies the club's address: the copy comes back to the
    mailbox, in Julie's thread."""
    sent = club.send("julie@example.org")
    row = club.row(club.take(reply("Marie Dupont <marie@club.example>", sent)))
    assert (row["kind"], row["contact_id"]) == ("reply", None)
    assert row["reason"] == "no contact has the address marie@club.example: nothing changed"
    assert club.events() == []


def test_a_reply_to_a_deleted_email_is_unmatched_with_the_reason(club):
    sent = club.send("julie@example.org")
    query(club.root, "DELETE FROM outbox WHERE message_id = ?", sent)
    row = club.row(club.take(reply("stranger@example.net", sent)))
    assert (row["kind"], row["outbox_id"]) == ("unmatched", None)
    assert row["reason"] == "answers a message that is not in the outbox (deleted?)"
    assert club.events() == []


def test_text_postgresql_cannot_store_is_kept_without_it(club):
    """A NUL byte in a subject or a body: SQLite would take it, PostgreSQL refuses any text
    holding one — the message is recorded on both, the character left out."""
    sent = club.send("julie@example.org")
    raw = reply("julie@example.org", sent, subject="Re: oui\x00!", body="Oui\x00 merci")
    row = club.row(club.take(raw))
    assert (row["kind"], row["subject"], row["text"]) == ("reply", "Re: oui!", "Oui merci")


def test_a_report_of_no_email_that_left_acts_on_no_one(club):
    """The replies address is public: a made-up bounce or complaint naming a contact who was
    never written to stops nothing (kept, with why)."""
    club.sf("contacts", "add", "ines@example.org")
    for raw in (bounce("ines@example.org", "5.1.1"), complaint("ines@example.org", "<x@y>")):
        row = club.row(club.take(raw))
        assert row["reason"].endswith("is not in the outbox: nothing changed")
    assert club.contact("ines@example.org") == {"email_status": "ok", "unsubscribed": False}
    assert club.events() == [] and club.events("contact.updated") == []


def test_a_person_saying_the_address_works_starts_the_temporary_count_again(club):
    """Three temporary bounces make Julie undeliverable; Marie says the address works: one
    more delay notice for an email already counted does not undo what she said."""
    assert transient(club, [0, 5, 10]) == "undeliverable"
    club.sf("contacts", "update", "julie@example.org", "--email-status", "ok",
            now="2026-12-11T12:00")  # fmt: skip
    counted_already = club.message_id("julie@example.org")
    club.take(bounce("julie@example.org", "4.2.2", original=counted_already,
                     message_id="<dsn-again@mx.club.example>",
                     date="2026-12-12T10:00:00+01:00"), now="2026-12-12T10:00")  # fmt: skip
    assert club.contact("julie@example.org")["email_status"] == "ok"


def test_a_date_no_database_can_hold_is_no_date(club):
    """Year 9999 at -14:00 is past what a stored instant holds: the message is recorded,
    without its date, and the ones after it too."""
    raw = reply("julie@example.org").replace(
        _date_line(reply("julie@example.org")), b"Date: Fri, 31 Dec 9999 23:00:00 -1400"
    )
    row = club.row(club.take(raw))
    assert (row["kind"], row["received_at"]) == ("unmatched", None)


def _date_line(raw: bytes) -> bytes:
    return next(line for line in raw.splitlines() if line.startswith(b"Date: "))


def test_each_message_shows_the_changes_it_made_and_no_other(club):
    """A bounce and a complaint about Julie read in the same poll (the same second): `inbound
    show` of each lists its own change only."""
    sent = club.send("julie@example.org")
    bounced = club.take(bounce("julie@example.org", "5.1.1", original=sent))
    complained = club.take(complaint("julie@example.org", sent))
    store = store_at(club.root, READ)
    try:
        changed = {n: inbound.account(store, n)["changes"] for n in (bounced, complained)}
    finally:
        store.conn.close()
    assert [(c["by"], c["changed"]) for c in changed[bounced]] == [("bounce", ["email_status"])]
    assert [(c["by"], c["changed"]) for c in changed[complained]] == [
        ("complaint", ["unsubscribed_at"])
    ]
