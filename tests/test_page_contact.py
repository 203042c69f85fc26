"""The contact page as a team member meets it (the app in this process, the team's demo): the
contact's fields, deals and conversation; an address a bounce made undeliverable, shown with
the bounce, and set back to deliverable by a member — never by a viewer; its JSON twin."""

from __future__ import annotations

import json
import re

import pytest
from conftest import csrf_of, query, signed_in
from received import corpus, receive

pytestmark = pytest.mark.engines

JULIE = "julie.martin@example.org"


def welcome_id(project) -> str:
    """The Message-ID of Julie's welcome email (outbox #1, queued when her form came in)."""
    return query(project, "SELECT message_id FROM outbox WHERE id = 1")[0][0]


def julie_replies(project, words: str | None = None, subject: str | None = None) -> None:
    """Julie answers the welcome email from her address, the day after (Gmail's shape, in
    French, with the quoted history below her words)."""
    swaps = {"julie.martin@gmail.com": JULIE, "<a1f0c3e2b4d5@club.example>": welcome_id(project)}
    if words:
        swaps["Oui, je m'inscris demain !"] = words
    if subject:
        swaps["Subject: Re: Envie de continuer, Julie ?"] = f"Subject: {subject}"
    receive(project, corpus("gmail-reply-fr.eml", swaps), now="2026-11-21T09:00")


def julie_bounces(project) -> None:
    """Julie's mail server refuses the welcome email: user unknown (Postfix, 5.1.1)."""
    swaps = {"jean.petit@example.org": JULIE, "<c3d2e5f4a6b7@club.example>": welcome_id(project)}
    receive(project, corpus("postfix-bounce.eml", swaps), now="2026-11-20T10:05")


def main(html: str) -> str:
    return html.split("<main>")[1].split("</main>")[0]


def test_the_contact_page_has_their_fields_deals_tasks_and_conversation_in_order(pages, sf):
    julie_replies(pages.project)
    sf("tasks", "add", "Rappeler Julie", "--deal", "1", "--assignee", "paul", "--due", "2d")
    client = signed_in(pages)
    deal = client.get("/deals/1").text
    assert '<a href="/contacts/1">Julie Martin</a>' in deal  # the deal names its contact
    page = main(client.get("/contacts/1").text)
    assert "<h1>Julie Martin" in page and JULIE in page and "Marie Dupont" in page
    assert "0612345678" in page and "Date du cours d&#39;essai</dt><dd>05/12/2026 18:30" in page
    assert '<a href="/deals/1">Julie Martin</a>' in page and "Cours d&#39;essai planifié" in page
    tasks = page.split('<ul class="tasks">')[1].split("</ul>")[0]
    assert "Rappeler Julie" in tasks and "Paul Martin · échéance 22/11/2026 10:00" in tasks
    talk = page.split("<h2>Conversation</h2>")[1]
    sent, answered = talk.index("Bienvenue Julie !"), talk.index("Oui, je m&#39;inscris demain !")
    assert sent < answered  # in the order it happened: the welcome, then her answer
    assert "20/11/2026 10:00" in talk[:sent] and "21/11/2026 09:00" in talk[sent:answered]
    assert "réponse" in talk and "en réponse à" in talk
    assert "Votre cours d&#39;essai vous a plu" not in talk  # the history she quoted is not hers
    assert "Merci pour votre intérêt" in talk  # the email's text, under its subject


def test_a_reply_is_text_whatever_it_holds(pages):
    hostile = "<script>alert('x')</script><img src=x onerror=alert(1)> <b>oui</b>"
    julie_replies(pages.project, hostile, subject="Re: <i>Envie</i> <script>x()</script>")
    client = signed_in(pages)
    for path in ("/contacts/1", "/deals/1"):
        page = client.get(path).text
        assert "<script>alert" not in page and "<img src=x" not in page and "<b>oui" not in page
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&lt;img src=x" in page, path
        assert "<i>Envie" not in page and "<script>x()" not in page
        assert "« Re: &lt;i&gt;Envie&lt;/i&gt; &lt;script&gt;x()&lt;/script&gt; »" in page, path


def test_an_undeliverable_address_shows_its_bounce_and_a_member_sets_it_back(pages):
    julie_bounces(pages.project)
    assert query(pages.project, "SELECT email_status FROM contacts WHERE id = 1") == [
        ("undeliverable",)
    ]
    client = signed_in(pages)
    page = main(client.get("/contacts/1").text)
    status = page.split('<dd class="email-status">')[1].split("</dd>")[0]
    assert "non distribuable" in status and "aucun workflow ne lui écrit" in status
    why = "Pourquoi : rejet définitif le 20/11/2026 10:05 (5.1.1), pour « Bienvenue Julie ! »."
    assert why in status
    assert 'action="/contacts/1/email-status"' in status
    talk = page.split("<h2>Conversation</h2>")[1]
    assert talk.index("Bienvenue Julie !") < talk.index("rejet définitif")
    cleared = client.post("/contacts/1/email-status", data={"csrf": csrf_of(page),
                                                           "status": "ok"})  # fmt: skip
    assert (cleared.status_code, cleared.headers["location"]) == (303, "/contacts/1")
    assert query(pages.project, "SELECT email_status FROM contacts WHERE id = 1") == [("ok",)]
    [(data,)] = query(pages.project, "SELECT data FROM events WHERE type = 'contact.updated'"
                      " ORDER BY id DESC LIMIT 1")  # fmt: skip
    change = json.loads(data)
    assert (change["changed"], change["new"], change["by"]) == (
        ["email_status"], {"email_status": "ok"}, "marie")  # fmt: skip
    again = main(client.get("/contacts/1").text)
    assert "distribuable" in again and "non distribuable" not in again
    assert 'action="/contacts/1/email-status"' not in again
    assert "rejet définitif" in again  # the bounce stays in the conversation


def test_a_viewer_reads_the_status_but_cannot_set_it(pages):
    julie_bounces(pages.project)
    client = signed_in(pages, "lea")
    page = client.get("/contacts/1").text
    assert "non distribuable" in page and 'action="/contacts/1/email-status"' not in page
    refused = client.post("/contacts/1/email-status", data={"csrf": csrf_of(page)})
    assert refused.status_code == 403 and "lecture" in refused.text
    forged = signed_in(pages).post("/contacts/1/email-status", data={"csrf": "forged"})
    assert forged.status_code == 403 and "rechargez la page" in forged.text
    assert query(pages.project, "SELECT email_status FROM contacts WHERE id = 1") == [
        ("undeliverable",)
    ]


def test_the_json_twin_is_the_clis_contact_with_the_conversation(pages, sf):
    julie_replies(pages.project)
    julie_bounces(pages.project)
    client = signed_in(pages)
    answer = client.get("/contacts/1.json")
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    contact = answer.json()
    cli = sf("contacts", "show", "1", "--json")
    assert {key: contact[key] for key in cli} == cli
    messages = contact["conversation"]["messages"]
    assert [(m["direction"], m.get("kind")) for m in messages] == [
        ("sent", "email"), ("received", "bounce"), ("received", "reply")]  # fmt: skip
    assert messages[2]["text"] == "Bonjour,\n\nOui, je m'inscris demain !\n\nJulie"
    assert contact["undeliverable_because"]["status"] == "5.1.1"
    assert "raw" not in messages[1]  # never the message's bytes
    token = csrf_of(client.get("/contacts/1").text)
    cleared = client.post("/contacts/1/email-status", data={"csrf": token},
                          headers={"Accept": "application/json"})  # fmt: skip
    assert cleared.status_code == 200 and cleared.json()["email_status"] == "ok"
    typo = client.post("/contacts/1/email-status", data={"csrf": token, "status": "bounced"},
                       headers={"Accept": "application/json"})  # fmt: skip
    assert typo.status_code == 422 and "write ok or undeliverable" in typo.json()["error"]


def test_a_contact_that_is_not_there_is_a_404_and_a_stranger_gets_the_login(pages):
    client = signed_in(pages)
    for path in ("/contacts/999", "/contacts/999.json", f"/contacts/{2**64}"):
        assert client.get(path).status_code == 404, path
    assert "error" in client.get("/contacts/999.json").json()
    token = csrf_of(client.get("/contacts/1").text)
    assert client.post("/contacts/999/email-status", data={"csrf": token}).status_code == 404
    anonymous = pages.client()
    answer = anonymous.get("/contacts/1")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next=")
    assert anonymous.post("/contacts/1/email-status", data={"status": "ok"}).status_code == 303


def test_the_activity_page_links_each_runs_contact(pages):
    page = signed_in(pages).get("/activity").text
    assert re.search(r'<a href="/contacts/1">julie\.martin@example\.org</a>', page)
