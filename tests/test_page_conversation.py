"""A contact's conversation (store/conversation.py), on both engines: what was sent to their
address and what came back from or about them, in the order it happened, bounded; and as the
deal page shows it — compact, each message named by what it is, in French."""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml
from conftest import open_project, signed_in
from received import corpus, record
from test_page_contact import JULIE, julie_replies, main, welcome_id

from salesflow import clock
from salesflow.store import contacts, conversation, outbox
from salesflow.store.db import transaction
from salesflow.store.session import Store
from salesflow.values import stored_instant

pytestmark = pytest.mark.engines

ANN, BOB = "ann@example.org", "bob@example.org"


@pytest.fixture
def store(demo) -> Store:
    """The demo's database with Ann and Bob, and the clock at 2026-12-01 09:00."""
    project = open_project(demo)
    opened = Store.open(project, at("2026-12-01T09:00", project))
    with transaction(opened.conn):
        for email in (ANN, BOB):
            contacts.add(opened, email, {"first_name": email.split("@")[0].title()})
    yield opened
    opened.conn.close()


def at(text: str, project):
    return clock.now(text, project.timezone)


def email(store: Store, to: str, subject: str, when: str, sent: str | None = None) -> str:
    """An email queued to `to` at `when` (and sent at `sent`); its Message-ID."""
    store.now = at(when, store.project)
    message_id = f"<{subject.lower().replace(' ', '-')}@club.example>"
    with transaction(store.conn):
        parts = (subject, f"Bonjour, {subject}", None)
        number = outbox.add_email(store, None, None, message_id, "bonjour@club.example", None,
                                  (None, to), parts, {}, [])  # fmt: skip
        if sent:
            store.conn.execute("UPDATE outbox SET status = 'sent', sent_at = ? WHERE id = ?",
                               (stored_instant(at(sent, store.project)), number))  # fmt: skip
    return message_id


def comes_back(store: Store, name: str, when: str, swaps: dict[str, str]) -> None:
    """Corpus message `name`, read at `when`."""
    store.now = at(when, store.project)
    record(store, corpus(name, swaps))


def talk(store: Store, email_address: str, limit: int = conversation.CONTACT_LIMIT) -> list:
    """The conversation as (direction, what, local time) rows."""
    found = conversation.of_contact(store, contacts.get(store, email_address), limit)
    return [(m["direction"], m["subject"] if m["direction"] == "sent" else m["kind"],
             m["at"][:16]) for m in found["messages"]]  # fmt: skip


def test_sent_and_received_in_the_order_they_happened(store):
    welcome = email(store, ANN, "Bienvenue", "2026-12-01T09:00", sent="2026-12-01T09:02")
    email(store, BOB, "Bienvenue Bob", "2026-12-01T09:00", sent="2026-12-01T09:02")
    # her answer is dated 7 December by her server, read on the 2nd: placed when it was read
    comes_back(store, "gmail-reply-fr.eml", "2026-12-02T08:00",
               {"julie.martin@gmail.com": ANN, "<a1f0c3e2b4d5@club.example>": welcome})  # fmt: skip
    email(store, ANN, "Rappel", "2026-12-07T09:00")  # queued, not sent yet
    # her out-of-office, received on the 8th at 09:00, read on the 10th: placed on the 8th
    comes_back(store, "outlook-ooo-fr.eml", "2026-12-10T08:00",
               {"paul.durand@outlook.fr": ANN, "<b2e1d4f3c5a6@club.example>": welcome})  # fmt: skip
    # a bounce comes from a mail server, not from her: it is about her (received on the 7th)
    comes_back(store, "postfix-bounce.eml", "2026-12-10T09:00",
               {"jean.petit@example.org": ANN, "<c3d2e5f4a6b7@club.example>": welcome})  # fmt: skip
    comes_back(store, "gmail-reply-fr.eml", "2026-12-10T10:00",
               {"julie.martin@gmail.com": BOB, "<a1f0c3e2b4d5@club.example>": "<none@x>",
                "CAGx7Qk": "bob"})  # fmt: skip
    assert talk(store, ANN) == [
        ("sent", "Bienvenue", "2026-12-01T09:02"),  # when it left, not when it was queued
        ("received", "reply", "2026-12-02T08:00"),
        ("sent", "Rappel", "2026-12-07T09:00"),  # still queued: when it was queued
        ("received", "bounce", "2026-12-07T09:00"),
        ("received", "auto_reply", "2026-12-08T09:00"),
    ]
    assert talk(store, BOB) == [("sent", "Bienvenue Bob", "2026-12-01T09:02"),
                                ("received", "reply", "2026-12-07T10:31")]  # fmt: skip
    reply = conversation.of_contact(store, contacts.get(store, ANN))["messages"][1]
    assert reply["text"] == "Bonjour,\n\nOui, je m'inscris demain !\n\nJulie"
    assert (reply["answered_subject"], reply["matched_by"]) == ("Bienvenue", "in-reply-to")


def test_on_the_same_instant_what_was_sent_comes_first_and_requests_are_no_part(store):
    comes_back(store, "unmatched-new-message.eml", "2026-12-01T09:00",
               {"contact@fournisseur.example": ANN})  # fmt: skip
    email(store, ANN, "Bonjour", "2026-12-01T09:00")
    with transaction(store.conn):  # a webhook request, whatever its URL, is not an email
        outbox.add_request(store, None, None, "key-1", "POST", ANN, {"url": ANN}, "{}")
    assert [row[:2] for row in talk(store, ANN)] == [("sent", "Bonjour"),
                                                     ("received", "unmatched")]  # fmt: skip


def test_the_latest_are_kept_and_the_page_is_told_of_the_earlier(store):
    for day in range(1, 8):
        email(store, ANN, f"Jour {day}", f"2026-12-0{day}T09:00", sent=f"2026-12-0{day}T09:01")
    kept = conversation.of_contact(store, contacts.get(store, ANN), limit=3)
    assert [m["subject"] for m in kept["messages"]] == ["Jour 5", "Jour 6", "Jour 7"]
    assert kept["earlier"] is True
    everything = conversation.of_contact(store, contacts.get(store, ANN), limit=7)
    assert len(everything["messages"]) == 7 and everything["earlier"] is False
    assert conversation.of_deal(store, None) == {"messages": [], "earlier": False}


def test_the_latest_bounce_counts_the_temporary_ones_before_it(store):
    """Three emails delayed on three days: the third makes the address undeliverable, and
    the contact page says how many came within the window."""
    assert conversation.latest_bounce(store, 1, timedelta(days=30)) is None
    for day in ("02", "10", "20"):
        sent = email(store, ANN, f"Nouvelles {day}", f"2026-12-{day}T08:00",
                     sent=f"2026-12-{day}T08:00")  # fmt: skip
        comes_back(store, "postfix-delayed.eml", f"2026-12-{day}T09:00",
                   {"lea.fontaine@lent.example": ANN, "4RkG9t0U1v": f"{day}RkG9t0U1v",
                    "8 Dec 2026 13:00:00": f"{int(day)} Dec 2026 09:00:00",
                    "<d4e3f6a5b7c8@club.example>": sent})  # fmt: skip
    assert contacts.get(store, ANN)["email_status"] == "undeliverable"  # 3 within 30 days
    latest = conversation.latest_bounce(store, 1, timedelta(days=30))
    assert (latest["severity"], latest["status"], latest["transient_bounces"]) == (
        "transient", "4.4.1", 3)  # fmt: skip
    assert latest["recorded_at"].startswith("2026-12-20T09:00")  # the latest read
    assert latest["answered_subject"] == "Nouvelles 20"
    assert conversation.latest_bounce(store, 1, timedelta(days=15))["transient_bounces"] == 2


def test_the_deal_page_shows_its_contacts_conversation_compact_with_each_kind_named(pages):
    julie_replies(pages.project)
    opened = open_project(pages.project)
    store = Store.open(opened, at("2026-11-22T09:00", opened))
    swaps = {
        "paul.durand@outlook.fr": JULIE,
        "<b2e1d4f3c5a6@club.example>": welcome_id(pages.project),
    }
    try:
        record(store, corpus("outlook-ooo-fr.eml", swaps))
        store.now = at("2026-11-23T09:00", opened)
        record(store, corpus("arf-complaint.eml", {"claire.roux@yahoo.fr": JULIE}))
    finally:
        store.conn.close()
    page = main(signed_in(pages).get("/deals/1").text)
    talk = page.split("<h2>Conversation</h2>")[1].split("<h2>")[0]
    order = [talk.index(words) for words in ("Bienvenue Julie !", "réponse</span>",
             "réponse automatique</span>", "plainte (spam)</span>")]  # fmt: skip
    assert order == sorted(order)
    assert "Oui, je m&#39;inscris demain !" in talk and "Merci pour votre intérêt" not in talk
    assert "Je suis en congé" not in talk  # an automatic answer is named, not quoted
    assert 'href="/contacts/1"' not in talk  # all of it fits: no link to the rest


def test_a_long_conversation_on_the_deal_page_links_to_the_whole(pages):
    opened = open_project(pages.project)
    store = Store.open(opened, at("2026-11-21T09:00", opened))
    try:
        for number in range(conversation.DEAL_LIMIT):
            email(store, JULIE, f"Nouvelle {number}", f"2026-11-21T09:{number:02d}")
    finally:
        store.conn.close()
    client = signed_in(pages)
    talk = main(client.get("/deals/1").text).split("<h2>Conversation</h2>")[1].split("<h2>")[0]
    assert "Bienvenue Julie !" not in talk and "Nouvelle 19" in talk
    assert 'Les messages plus anciens ne sont pas affichés. <a href="/contacts/1">' in talk
    assert "Bienvenue Julie !" in main(client.get("/contacts/1").text)


def test_what_salesflow_run_reads_from_the_replies_mailbox_is_on_the_pages(pages, sf):
    config = yaml.safe_load((pages.project / "salesflow.yaml").read_text())
    config["email"]["inbound"] = {"maildir": "replies"}
    (pages.project / "salesflow.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    for folder in ("new", "cur", "tmp"):
        (pages.project / "replies" / folder).mkdir(parents=True)
    swaps = {
        "julie.martin@gmail.com": JULIE,
        "<a1f0c3e2b4d5@club.example>": welcome_id(pages.project),
    }
    answer = corpus("gmail-reply-fr.eml", swaps)
    (pages.project / "replies" / "new" / "1.julie.eml").write_bytes(answer)
    sf("run", now="2026-11-21T09:00")
    client = signed_in(pages)
    talk = main(client.get("/deals/1").text).split("<h2>Conversation</h2>")[1].split("<h2>")[0]
    assert "envoyé</span>" in talk  # the run delivered the welcome email, then read her answer
    assert talk.index("Bienvenue Julie !") < talk.index("Oui, je m&#39;inscris demain !")
    assert "Oui, je m&#39;inscris demain !" in client.get("/contacts/1").text
