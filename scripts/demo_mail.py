"""The mail that comes back in the demo: what people's mail clients and servers write into the
club's replies mailbox (a Maildir, `email.inbound.maildir` in salesflow.yaml), answering the
emails salesflow wrote as .eml files in outbox/.

Each message is built from the email it answers, as a real client or server would: a reply
quotes its text and names its Message-ID in In-Reply-To; a bounce encloses its headers. It
is delivered as a mail server delivers to a Maildir: written in tmp/, then renamed into new/
under a unique name that starts with its delivery time.
"""

from __future__ import annotations

import os
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime
from pathlib import Path

SERVER = "mx.club.example"


def sent(outbox: Path, to: str, subject: str) -> EmailMessage:
    """The email of the outbox folder sent to `to` with this subject."""
    for path in sorted(outbox.glob("*.eml")):
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        if to in message["To"] and message["Subject"] == subject:
            return message
    raise LookupError(f"no email to {to} about {subject!r} in {outbox}")


def deliver(maildir: Path, message: bytes, at: datetime) -> None:
    """Into `maildir`'s new/, as a delivery agent does (tmp/, then one rename)."""
    name = f"{int(at.timestamp())}.M{at.microsecond}P{os.getpid()}.{SERVER}"
    (maildir / "tmp" / name).write_bytes(message)
    os.rename(maildir / "tmp" / name, maildir / "new" / name)


def _answer(original: EmailMessage, at: datetime, subject: str, message_id: str,
            return_path: str) -> EmailMessage:  # fmt: skip
    """An answer to `original` from its recipient, with the lines our server adds on
    delivery (Return-Path, Delivered-To, Received) on top."""
    answer = EmailMessage()
    answer["Return-Path"] = f"<{return_path}>"
    answer["Delivered-To"] = "bonjour@club.example"
    answer["Received"] = (f"from mail.example.org (mail.example.org [198.51.100.7]) by {SERVER}"
                          f" (Postfix) with ESMTPS for <bonjour@club.example>;"
                          f" {format_datetime(at)}")  # fmt: skip
    answer["From"] = original["To"]
    answer["To"] = original["From"]
    answer["Date"] = format_datetime(at)
    answer["Subject"] = subject
    answer["Message-ID"] = message_id
    answer["In-Reply-To"] = original["Message-ID"]
    answer["References"] = original["Message-ID"]
    return answer


def reply(original: EmailMessage, at: datetime, words: str) -> bytes:
    """A person's answer, as a mail program writes it: their words, then the original's
    text quoted under its attribution line."""
    sender = original["To"].addresses[0].addr_spec
    answer = _answer(original, at, f"Re: {original['Subject']}", "<CAJr8q=9Xk2@mail.example.org>",
                     sender)  # fmt: skip
    when = original["Date"].datetime.strftime("%d/%m/%Y à %H:%M")
    quoted = "\n".join(f"> {line}".rstrip() for line in _text(original).splitlines())
    answer.set_content(f"{words}\n\nLe {when}, {original['From']} a écrit :\n{quoted}\n")
    return bytes(answer)


def out_of_office(original: EmailMessage, at: datetime, subject: str, words: str) -> bytes:
    """A vacation responder's answer: RFC 3834's Auto-Submitted, an empty return path."""
    answer = _answer(original, at, subject, "<vacation.7f3a@mail.example.org>", "")
    answer["Auto-Submitted"] = "auto-replied"
    answer.set_content(words)
    return bytes(answer)


def bounce(original: EmailMessage, at: datetime, status: str, diagnostic: str) -> bytes:
    """Postfix's delivery status notification (RFC 3464) for the original's recipient, in
    the words and layout Postfix writes, the original's headers enclosed."""
    recipient = original["To"].addresses[0].addr_spec
    headers = "".join(f"{name}: {value}\n" for name, value in original.raw_items())
    date, queue_id = format_datetime(at), f"4Rk{at:%H%M%S}"
    boundary = f"{queue_id}.{int(at.timestamp())}/{SERVER}"
    return f"""Return-Path: <>
Delivered-To: bonjour@club.example
Received: by {SERVER} (Postfix) id {queue_id}; {date}
Date: {date}
From: MAILER-DAEMON@{SERVER} (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: bonjour@club.example
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="{boundary}"
Content-Transfer-Encoding: 8bit
Message-Id: <{at:%Y%m%d%H%M%S}.{queue_id}@{SERVER}>

This is a MIME-encapsulated message.

--{boundary}
Content-Description: Notification
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

This is the mail system at host {SERVER}.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

                   The mail system

<{recipient}>: {diagnostic}

--{boundary}
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; {SERVER}
X-Postfix-Queue-ID: {queue_id}
Arrival-Date: {date}

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: failed
Status: {status}
Diagnostic-Code: smtp; {diagnostic}

--{boundary}
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers
Content-Transfer-Encoding: 8bit

{headers}
--{boundary}--
""".encode()


def _text(message: EmailMessage) -> str:
    """The text part of an email salesflow wrote."""
    return message.get_body(("plain",)).get_content()
