"""What the store, poll and effect tests of the replies mailbox share: a small project that
sends emails and reads a Maildir (`project`), and messages written to the shapes servers
send — a person's reply, a Postfix delivery status notification, an ARF complaint, an
out-of-office — to drop into it. (tests/replies.py serves the CLI's tests: the demo project
with the corpus's messages.)
"""

from __future__ import annotations

import mailbox
import textwrap
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path

from conftest import open_project

from salesflow.store.session import Store

CLUB = "club.example"
SETTINGS = """\
name: Relances
timezone: Europe/Paris
locale: fr_FR
currency: EUR
email:
  from: "Club de chant <bonjour@club.example>"
  return_path: "bounces+{token}@club.example"
  inbound:
    maildir: replies
    poll: 5m
    transient_bounces: {count: 3, within: 30d}
team:
  - {id: marie, name: Marie Dupont, email: marie@club.example}
"""
PIPELINE = """\
id: ventes
name: Ventes
stages:
  - {id: nouveau, name: Nouveau}
  - {id: gagne, name: Gagné, outcome: won}
  - {id: perdu, name: Perdu, outcome: lost}
"""
# A sequence per tag: `relance` stops on a reply, `suivi` does not; `rappel` ends on a bounce.
SEQUENCE = """\
id: {id}
trigger: {{event: contact.created}}
if: "'{id}' in contact.tags"
{extra}steps:
  - id: premier
    send_email: {{to: contact, template: premier}}
  - id: attendre
    wait: 3d
  - id: appel
    create_task: {{title: "Appeler {{{{ contact.email }}}}", assignee: marie}}
"""
WORKFLOWS = {
    "relance": SEQUENCE.format(id="relance", extra="stop_on_reply: true\n"),
    "suivi": SEQUENCE.format(id="suivi", extra=""),
    "rappel": SEQUENCE.format(id="rappel", extra="cancel_on:\n  - {event: email.bounced}\n"),
    "envoi": """\
id: envoi
trigger: {manual: true}
reenroll: true
steps:
  - id: envoi
    send_email: {to: contact, template: premier}
""",
    "reponse": """\
id: reponse
trigger: {event: email.replied, match: {workflow: relance}}
steps:
  - id: prevenir
    notify: {to: marie, template: reponse}
""",
}
TEMPLATES = {
    "premier.txt.j2": '---\nsubject: "Envie de continuer, {{ contact.email }} ?"\n---\nBonjour,\n',
    "reponse.txt.j2": (
        '---\nsubject: "{{ event.data.from }} a répondu"\n---\n'
        "{{ event.data.from }} a répondu à « {{ event.data.sent_subject }} » :\n"
        "{{ event.data.text }}\n"
    ),
}


def project(root: Path, settings: str = SETTINGS) -> Path:
    """The project at `root`, with its Maildir `replies/` (new/, cur/, tmp/)."""
    files = {"salesflow.yaml": settings, "pipelines/ventes.yaml": PIPELINE}
    files |= {f"workflows/{name}.yaml": text for name, text in WORKFLOWS.items()}
    files |= {f"workflows/templates/{name}": text for name, text in TEMPLATES.items()}
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    mailbox.Maildir(root / "replies", create=True)
    return root


def store_at(root: Path, now: str) -> Store:
    """The project's store acting at `now` (project time when no offset)."""
    loaded = open_project(root)
    moment = datetime.fromisoformat(now)
    return Store.open(loaded, moment if moment.tzinfo else moment.replace(tzinfo=loaded.timezone))


def deliver(root: Path, raw: bytes) -> str:
    """Drop one message into the project's Maildir, as the mail server would; its key."""
    return mailbox.Maildir(root / "replies", create=False).add(raw)


def _date(when: str) -> str:
    return format_datetime(datetime.fromisoformat(when).astimezone())


def reply(
    sender: str,
    in_reply_to: str | None = None,
    subject: str = "Re: Envie de continuer ?",
    body: str = "Oui, je m'inscris demain.",
    message_id: str = "<reply-1@example.org>",
    date: str = "2026-12-02T10:00:00+01:00",
    extra: str = "",
) -> bytes:
    """A person's answer, with its quoted history (a reply to `in_reply_to` when given)."""
    threading = f"In-Reply-To: {in_reply_to}\nReferences: {in_reply_to}\n" if in_reply_to else ""
    return (
        f"From: {sender}\nTo: Club de chant <bonjour@{CLUB}>\nSubject: {subject}\n"
        f"Date: {_date(date)}\nMessage-ID: {message_id}\n{threading}{extra}"
        "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n"
        f"{body}\n\nLe lun. 30 nov. 2026 à 09:00, Club de chant <bonjour@{CLUB}> a écrit :\n"
        "> Bonjour,\n"
    ).encode()


def auto_reply(sender: str, in_reply_to: str, message_id: str = "<ooo-1@example.org>") -> bytes:
    """An out-of-office (RFC 3834), answering our message."""
    return reply(sender, in_reply_to, subject="Absence : Envie de continuer ?",
                 body="Je suis absente jusqu'au 10 décembre.", message_id=message_id,
                 extra="Auto-Submitted: auto-replied\n")  # fmt: skip


def bounce(
    recipient: str,
    status: str = "5.1.1",
    original: str | None = None,
    delivered_to: str = f"bounces@{CLUB}",
    message_id: str = "<dsn-1@mx.club.example>",
    date: str = "2026-12-02T10:00:00+01:00",
) -> bytes:
    """A Postfix delivery status notification (RFC 3464) for `recipient`, enclosing the
    original's headers when its Message-ID is given."""
    action = "failed" if status.startswith("5") else "delayed"
    enclosed = (
        f"--B\nContent-Type: text/rfc822-headers\n\nFrom: Club de chant <bonjour@{CLUB}>\n"
        f"To: {recipient}\nSubject: Envie de continuer ?\nMessage-ID: {original}\n\n"
        if original
        else ""
    )
    report = textwrap.dedent(f"""\
        Delivered-To: {delivered_to}
        Date: {_date(date)}
        From: MAILER-DAEMON@mx.{CLUB} (Mail Delivery System)
        Subject: Undelivered Mail Returned to Sender
        To: {delivered_to}
        Auto-Submitted: auto-replied
        Message-ID: {message_id}
        MIME-Version: 1.0
        Content-Type: multipart/report; report-type=delivery-status; boundary="B"

        --B
        Content-Type: text/plain; charset=utf-8

        Your message could not be delivered to <{recipient}>.

        --B
        Content-Type: message/delivery-status

        Reporting-MTA: dns; mx.{CLUB}

        Final-Recipient: rfc822; {recipient}
        Action: {action}
        Status: {status}
        Diagnostic-Code: smtp; {status.replace(".", "")[:3]} {status} mailbox unavailable

        """)
    return f"{report}{enclosed}--B--\n".encode()


def complaint(recipient: str, original: str, message_id: str = "<arf-1@fbl.example>") -> bytes:
    """A feedback report (ARF, RFC 5965): the reader pressed "spam"."""
    return textwrap.dedent(f"""\
        From: Feedback Loop <fbl@isp.example>
        To: fbl@{CLUB}
        Subject: FW: Envie de continuer ?
        Date: {_date("2026-12-02T10:00:00+01:00")}
        Message-ID: {message_id}
        MIME-Version: 1.0
        Content-Type: multipart/report; report-type=feedback-report; boundary="F"

        --F
        Content-Type: text/plain

        This is an email abuse report.

        --F
        Content-Type: message/feedback-report

        Feedback-Type: abuse
        User-Agent: FBL/1.0
        Version: 1
        Original-Rcpt-To: <{recipient}>

        --F
        Content-Type: message/rfc822

        From: Club de chant <bonjour@{CLUB}>
        To: {recipient}
        Subject: Envie de continuer ?
        Message-ID: {original}

        Bonjour,

        --F--
        """).encode()
