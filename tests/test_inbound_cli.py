"""`salesflow inbound poll|list|show|reprocess` and `contacts update --email-status`, through
the real CLI on the demo with a Maildir filled from the corpus (tests/replies.py)."""

from __future__ import annotations

import email.message
import json

import pytest
from conftest import query
from replies import (
    ADDRESSES,
    CORPUS,
    READ,
    TRANSPORT,
    allow_bounces,
    deliver,
    deliver_answers,
    enrol,
    refuse_bounces,
    token,
    use_maildir,
    welcome_id,
)

pytestmark = pytest.mark.engines  # each test on SQLite and on PostgreSQL


@pytest.fixture
def club(sf):
    """The demo reading replies from a Maildir, after the welcome emails of three contacts."""
    use_maildir(sf.project)
    enrol(sf, *ADDRESSES)
    return sf


@pytest.fixture
def answered(club):
    """The six answers of `deliver_answers`, read."""
    deliver_answers(club.project)
    club("inbound", "poll", now=READ)
    return club


def test_poll_reads_each_new_message_once_and_says_what_they_were(club):
    deliver_answers(club.project)
    first = club("inbound", "poll", now=READ).output
    assert first == (
        "6 messages read from the replies mailbox (1 auto reply, 1 bounce, 1 complaint,"
        " 1 reply, 1 unmatched, 1 unreadable)\n"
    )
    assert club("inbound", "poll", now=READ).output == "no new message in the replies mailbox\n"
    assert club("inbound", "poll", "--json", now=READ) == {"read": 0, "kinds": {}, "error": None}


def test_poll_without_a_mailbox_says_what_to_set(sf):
    said = sf("inbound", "poll", code=1).output
    assert said == (
        "error: salesflow.yaml has no email.inbound: say where replies arrive"
        " (imap: {host, user, password_env} or maildir: FOLDER)\n"
    )


def test_poll_of_a_mailbox_that_cannot_be_read_is_one_line_and_exit_1(sf):
    use_maildir(sf.project, create=False)
    result = sf("inbound", "poll", code=1)
    folder = sf.project / "replies"
    assert result.output == (
        f"error: the replies mailbox was not read: {folder} is not a Maildir folder:"
        f" it has no new/, cur/, tmp/ (make them: mkdir -p {folder}/{{new,cur,tmp}})\n"
    )


def test_list_newest_first_with_what_each_answers(answered):
    rows = answered("inbound", "list", "--json", now=READ)
    assert [(r["id"], r["kind"], r["sender"]) for r in rows] == [
        (6, "unreadable", None),
        (5, "unmatched", "inconnu@laposte.example"),
        (4, "complaint", "feedback@arf.mail.yahoo.example"),
        (3, "bounce", "mailer-daemon@mx.club.example"),
        (2, "auto_reply", "paul.durand@outlook.fr"),
        (1, "reply", "julie.martin@gmail.com"),
    ]
    reply = rows[-1]
    assert (reply["outbox_id"], reply["workflow"], reply["contact"]) == (
        1, "essai-formulaire", "julie.martin@gmail.com"
    )  # fmt: skip
    assert reply["received_at"] == "2026-12-07T10:31:07+01:00"  # Paris time, as the project
    assert rows[1]["reason"] == "answers a message that is not in the outbox (deleted?)"
    table = answered("inbound", "list", now=READ).output
    assert "│ 1 │ 2026-12-07 10:31 │ reply " in table
    assert "essai-formulaire │ julie.martin@gmail.com" in table


def test_list_by_kind_by_address_and_at_most_n(answered):
    bounces = answered("inbound", "list", "--kind", "bounce", "--json", now=READ)
    assert [(r["id"], r["recipient"], r["contact"]) for r in bounces] == [
        (3, "jean.petit@example.org", "jean.petit@example.org")
    ]
    about_claire = answered("inbound", "list", "--contact", "Claire.Roux@yahoo.fr", "--json",
                            now=READ)  # fmt: skip
    assert [r["id"] for r in about_claire] == [4]  # the complaint names her: it is about her
    by_sender = answered("inbound", "list", "--contact", "paul.durand@outlook.fr", "--json",
                         now=READ)  # fmt: skip
    assert [r["kind"] for r in by_sender] == ["auto_reply"]  # no contact: by its sender
    assert [r["id"] for r in answered("inbound", "list", "--limit", "2", "--json", now=READ)] == [
        6, 5
    ]  # fmt: skip
    wrong = answered("inbound", "list", "--kind", "spam", code=2, now=READ).output
    assert "'spam' is not one of reply, auto_reply, bounce," in wrong


def test_list_as_csv_for_a_spreadsheet(answered):
    csv = answered("inbound", "list", "--format", "csv", now=READ).output
    header, *lines = csv.lstrip("\ufeff").splitlines()
    assert header == "#;received;kind;from;subject;answers email;workflow;contact;reason"
    assert lines[-1].startswith("1;2026-12-07T10:31:07+01:00;reply;julie.martin@gmail.com;")


def test_show_a_reply_what_it_answers_and_the_run_it_stopped(club):
    workflow = club.project / "workflows" / "essai-formulaire.yaml"
    workflow.write_text(
        workflow.read_text().replace("trigger:\n", "stop_on_reply: true\ntrigger:\n", 1)
    )
    deliver_answers(club.project)
    club("inbound", "poll", now=READ)
    club("process", now=READ)
    shown = club("inbound", "show", "1", now=READ).output
    assert shown == (
        "inbound message #1: reply, received 2026-12-07 10:31\n"
        "from: julie.martin@gmail.com\n"
        "subject: Re: Envie de continuer, Julie ?\n"
        "message-id: <CAGx7QkP3r9z1=uJt4mWq8F2vN0xYbZcD5eL6hT@mail.gmail.com>\n"
        "read: 2026-11-21 10:00, 1874 bytes\n"
        "answers: email #1 “Bienvenue julie !” to julie.martin@gmail.com, queued (queued"
        " 2026-11-20 10:00), matched by in-reply-to\n"
        "its run: #1 of essai-formulaire, cancelled: stopped: julie.martin@gmail.com replied"
        " to “Bienvenue julie !”\n"
        "contact: #1 julie.martin@gmail.com\n"
        f"event: #{_event_id(club, 'email.replied')} email.replied (processed); started run"
        " #4 of reponse-recue (done)\n"  # the demo's workflow that tells the owner
        "\n"
        "Bonjour,\n\nOui, je m'inscris demain !\n\nJulie\n"
    )
    data = club("inbound", "show", "1", "--json", now=READ)
    assert data["answers"]["run_status"] == "cancelled"
    assert data["text"] == "Bonjour,\n\nOui, je m'inscris demain !\n\nJulie"
    [event] = data["events"]
    assert (event["id"], event["type"], event["status"]) == (
        _event_id(club, "email.replied"), "email.replied", "processed")  # fmt: skip


def _event_id(sf, kind: str) -> int:
    [(event_id,)] = query(sf.project, "SELECT id FROM events WHERE type = ?", kind)
    return event_id


def test_show_a_bounce_and_a_complaint_with_what_they_changed(answered):
    bounce = answered("inbound", "show", "3", now=READ).output.splitlines()
    changed = _event_id(answered, "email.bounced") - 1  # recorded just before, in its transaction
    assert bounce[0] == "inbound message #3: bounce (permanent, 5.1.1), received 2026-12-07 09:00"
    assert "answers: email #5 “Bienvenue jean !” to jean.petit@example.org, queued (queued" \
        " 2026-11-20 10:00), matched by verp" in bounce  # fmt: skip
    assert "contact: #3 jean.petit@example.org (email undeliverable)" in bounce
    assert f"changed: email status → undeliverable (bounced: 5.1.1), event #{changed}" in bounce
    complaint = answered("inbound", "show", "4", now=READ).output.splitlines()
    assert complaint[0] == "inbound message #4: complaint (abuse), received 2026-12-14 15:00"
    assert "contact: #2 claire.roux@yahoo.fr (unsubscribed 2026-11-21 10:00)" in complaint
    assert any(line.startswith("changed: unsubscribed (by complaint), event #")
               for line in complaint)  # fmt: skip


def test_show_raw_prints_the_bytes_as_read(answered, cli):
    result = cli("--project", answered.project, "inbound", "show", "6", "--raw")
    assert result.exit_code == 0
    assert result.stdout_bytes == (CORPUS / "binary-garbage.eml").read_bytes()


def test_show_an_unknown_message(answered):
    said = answered("inbound", "show", "99", code=1).output
    assert said == "error: no inbound message #99 (see `salesflow inbound list`)\n"


def test_reprocess_an_unmatched_reply_once_its_email_is_known(club):
    """Anne writes before the welcome email to her is recorded (her form came in late):
    nothing was sent to her, so her message is unmatched; once the email has left, it is
    her reply to it, and it acts — once."""
    anne = "anne.dubois@example.org"
    deliver(club.project, "reply-by-sender.eml", **{"claire.roux@yahoo.fr": anne})
    deliver(club.project, "reply-to-deleted.eml")
    club("inbound", "poll", now=READ)
    enrol(club, anne, now=READ)
    club("outbox", "send", now=READ)
    said = club("inbound", "reprocess", "--unmatched", now=READ).output
    assert said == (
        "#1 unmatched → reply to email #7 (matched by sender)\n"
        "#2 unmatched: unchanged — answers a message that is not in the outbox (deleted?)\n"
        "2 messages reprocessed: 1 changed; `salesflow run` handles their events\n"
    )
    [reply] = club("inbound", "list", "--kind", "reply", "--json", now=READ)
    assert (reply["id"], reply["outbox_id"], reply["contact"]) == (1, 7, anne)
    again = club("inbound", "reprocess", "1", "--json", now=READ)
    assert [(o["before"], o["after"], o["changed"]) for o in again] == [("reply", "reply", False)]
    replied = query(club.project, "SELECT count(*) FROM events WHERE type = 'email.replied'")
    assert replied == [(1,)]


def test_reprocess_failed_records_them_properly_each_message_alone(club, backend):
    """A database that refuses to record the bounce's event (a trigger, as a broken extension
    or a full quota would): the bounce is kept as failed, the reply beside it recorded;
    reprocessed while the fault lasts it fails alone (exit 1), after the fix it acts."""
    refuse_bounces(club.project, backend)
    jean = welcome_id(club.project, "jean.petit@example.org")
    julie = welcome_id(club.project, "julie.martin@gmail.com")
    deliver(club.project, "postfix-bounce.eml", **{"bounces+103@": f"bounces+{token(jean)}@"})
    deliver(club.project, "gmail-reply-fr.eml", **{"<a1f0c3e2b4d5@club.example>": julie})
    polled = club("inbound", "poll", now=READ).output
    assert polled == "2 messages read from the replies mailbox (1 failed, 1 reply)\n"
    [failed] = club("inbound", "list", "--kind", "failed", "--json", now=READ)
    assert failed["reason"].startswith("could not be recorded: ")
    assert "no bounce today" in failed["reason"]

    [reply] = club("inbound", "list", "--kind", "reply", "--json", now=READ)
    bounce, answer = failed["id"], reply["id"]  # on PostgreSQL the failed try used an id up
    result = club("inbound", "reprocess", "--failed", answer, code=1, now=READ)
    assert result.stderr.startswith(f"#{bounce} failed: not reprocessed, left as it was: ")
    assert "no bounce today" in result.stderr
    assert result.stdout.splitlines() == [
        f"#{answer} reply: unchanged",
        "2 messages reprocessed: 0 changed, 1 failed",
    ]
    assert [r["kind"] for r in club("inbound", "list", "--json", now=READ)] == ["reply", "failed"]

    allow_bounces(club.project, backend)
    said = club("inbound", "reprocess", "--failed", now=READ).output
    assert said == (
        f"#{bounce} failed → bounce to email #5 (matched by verp)\n"
        "1 message reprocessed: 1 changed; `salesflow run` handles their events\n"
    )
    status = query(club.project, "SELECT email_status FROM contacts WHERE email = ?",
                   "jean.petit@example.org")  # fmt: skip
    assert status == [("undeliverable",)]


def big_reply(size: int) -> bytes:
    message = email.message.EmailMessage()
    message["From"] = "Julie Martin <julie.martin@gmail.com>"
    message["To"] = "bonjour@club.example"
    message["Subject"] = "Mes photos du concert"
    message["Message-ID"] = "<photos.1@mail.gmail.com>"
    message.set_content("Voici les photos !")
    message.add_attachment(b"\xff" * size, maintype="image", subtype="jpeg",
                           filename="concert.jpg")  # fmt: skip
    return message.as_bytes()


def test_a_message_over_the_size_limit_keeps_its_header_and_cannot_be_read_again(sf, cli):
    use_maildir(sf.project, max_size_mb="1")
    deliver(sf.project, "", raw=big_reply(1_500_000))
    sf("inbound", "poll", now=READ)
    [row] = sf("inbound", "list", "--json", now=READ)
    assert (row["kind"], row["sender"], row["subject"]) == (
        "unreadable", "julie.martin@gmail.com", "Mes photos du concert"
    )  # fmt: skip
    assert row["reason"] == f"{row['size']} bytes, over the limit of 1 MB: not read"
    assert row["whole"] is False
    said = sf("inbound", "reprocess", "1", now=READ).output
    assert said.splitlines()[0] == (
        "#1 unreadable: unchanged: only its header was kept (over the size limit)"
    )
    shown = sf("inbound", "show", "1", now=READ).output
    assert f"read: 2026-11-21 10:00, {row['size']} bytes, over the size limit: only its" \
        " header was kept" in shown  # fmt: skip
    raw = cli("--project", sf.project, "inbound", "show", "1", "--raw")
    assert raw.stdout_bytes.startswith(b"From: Julie Martin <julie.martin@gmail.com>")
    assert b"Voici les photos" not in raw.stdout_bytes
    assert raw.stderr == (
        f"only the header of message #1 was kept: it is {row['size']} bytes, over the size limit\n"
    )


def test_reprocess_needs_something_to_reprocess(club):
    said = club("inbound", "reprocess", code=2).output
    assert "give message ids, --unmatched or --failed" in said
    assert club("inbound", "reprocess", "7", code=1).output == (
        "error: no inbound message #7 (see `salesflow inbound list`)\n"
    )


def test_a_person_clears_a_wrong_undeliverable_status(answered):
    jean = "jean.petit@example.org"
    shown = answered("contacts", "show", jean, now=READ).output
    assert "email_status     undeliverable" in shown
    listed = answered("contacts", "list", now=READ).output
    assert "email status" in listed and "undeliverable" in listed
    cleared = answered("contacts", "update", jean, "--email-status", "ok", "--json", now=READ)
    assert cleared["email_status"] == "ok"
    assert "email_status" not in answered("contacts", "show", jean, now=READ).output
    assert "email status" not in answered("contacts", "list", now=READ).output
    assert answered("contacts", "list", "--json", now=READ)[0]["email_status"] == "ok"
    [(data,)] = query(
        answered.project,
        "SELECT data FROM events WHERE type = 'contact.updated' ORDER BY id DESC LIMIT 1",
    )
    assert json.loads(data) | {"email": jean} == {
        "email": jean, "changed": ["email_status"], "old": {"email_status": "undeliverable"},
        "new": {"email_status": "ok"}, "reason": "by hand", "by": "cli",
    }  # fmt: skip
    wrong = answered("contacts", "update", jean, "--email-status", "bounced", code=2).output
    assert "'bounced' is not ok or undeliverable" in wrong


def test_poll_an_imap_mailbox_then_a_refused_login(sf, dovecot, monkeypatch, backend):
    """The real IMAP server of the tests (Dovecot): Julie's reply read and marked seen; with
    a wrong password, one line and exit 1."""
    import imaplib

    folder = f"Replies-{backend}"
    with imaplib.IMAP4("127.0.0.1", dovecot.port, timeout=5) as client:
        client.login(dovecot.user, dovecot.password)
        client.create(folder)
    settings = sf.project / "salesflow.yaml"
    settings.write_text(settings.read_text().replace(TRANSPORT, TRANSPORT + (
        f"  inbound: {{imap: {{host: 127.0.0.1, port: {dovecot.port}, user: {dovecot.user},"
        f" password_env: REPLIES_PASSWORD, folder: {folder}, tls: none, timeout: 5}}}}\n"
    )))  # fmt: skip
    monkeypatch.setenv("REPLIES_PASSWORD", dovecot.password)
    enrol(sf, "julie.martin@gmail.com")
    raw = (
        (CORPUS / "gmail-reply-fr.eml")
        .read_bytes()
        .replace(
            b"<a1f0c3e2b4d5@club.example>",
            welcome_id(sf.project, "julie.martin@gmail.com").encode(),
        )
    )
    with imaplib.IMAP4("127.0.0.1", dovecot.port, timeout=5) as client:
        client.login(dovecot.user, dovecot.password)
        client.append(folder, None, None, raw)
    said = sf("inbound", "poll", now=READ).output
    assert said == "1 message read from the replies mailbox (1 reply)\n"
    assert sf("inbound", "poll", now=READ).output == "no new message in the replies mailbox\n"
    monkeypatch.setenv("REPLIES_PASSWORD", "not-the-password")
    refused = sf("inbound", "poll", now=READ, code=1).output
    assert refused.startswith(
        f"error: the replies mailbox was not read: the IMAP server 127.0.0.1:{dovecot.port}"
        f" refused the login of {dovecot.user}: "
    )
    assert len(refused.splitlines()) == 1


def test_a_message_cannot_drive_the_terminal(sf):
    """Escape sequences in a subject and a body (a title change, red text) are data: `show`
    and `list` print them without their control characters."""
    use_maildir(sf.project)
    deliver(sf.project, "", raw=(
        b"From: x@attaque.example\r\nSubject: =?utf-8?q?Bonjour=1B]0;pwned=07?=\r\n"
        b"Message-ID: <esc.1@attaque.example>\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"\r\nSalut \x1b[31mrouge\x1b[0m !\r\n"
    ))  # fmt: skip
    sf("inbound", "poll", now=READ)
    shown = sf("inbound", "show", "1", now=READ).output
    assert "subject: Bonjour]0;pwned\n" in shown
    assert "\x1b" not in shown and "\x07" not in shown
    listed = sf("inbound", "list", now=READ).output
    assert "Bonjour]0;pwned" in listed and "\x1b" not in listed
