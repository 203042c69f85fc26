"""The README's demo: the singing club, in a scratch copy (build/demo/), over two weeks.

It never touches the repository's own files: every command runs in build/demo/ (or the
folder given as its argument), recreated each time, with the clock set by --now. With
SALESFLOW_DB=postgresql://… it runs on that PostgreSQL database, which must be empty.

The copy's salesflow.yaml has the replies mailbox turned on (`email.inbound`, commented out in
the repository's): the mail that comes back — a bounce, an out-of-office, Julie's answer — is
written into its replies/ Maildir, as a mail server delivers it (below), and read by
`salesflow inbound poll` (what `run` does every `poll` interval) before the day's tick.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from datetime import date, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEMO = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else REPO / "build" / "demo"
SALESFLOW = Path(sys.executable).parent / "salesflow"


def prepare() -> None:
    shutil.rmtree(DEMO, ignore_errors=True)
    DEMO.mkdir(parents=True)
    settings = (REPO / "salesflow.yaml").read_text(encoding="utf-8")
    mailbox = "# inbound: {maildir: replies}"  # commented out where the repository is the project
    assert mailbox in settings, f"salesflow.yaml has no line {mailbox!r} to turn on"
    (DEMO / "salesflow.yaml").write_text(settings.replace(mailbox, mailbox[2:]), encoding="utf-8")
    for folder in ("pipelines", "workflows", "examples"):
        shutil.copytree(REPO / folder, DEMO / folder)
    for form, name in (("cours-essai", "julie.json"), ("cours-essai-tally", "tally-ines.json")):
        (DEMO / "inbox" / form).mkdir(parents=True)
        shutil.copy(REPO / "examples" / "forms" / name, DEMO / "inbox" / form / name)
    for folder in ("new", "cur", "tmp"):  # the replies mailbox, a Maildir (email.inbound)
        (DEMO / "replies" / folder).mkdir(parents=True)


def shown(path: Path) -> str:
    """A folder as the demo names it: from the repository when it is inside."""
    return str(path.relative_to(REPO) if path.is_relative_to(REPO) else path)


def salesflow(*args: str, now: str | None = None, say: str = "", code: int = 0) -> None:
    """Run a real `salesflow` command in the demo project, shown as a user would type it;
    `code`: the exit code it must end with (1: a move the stage's playbook refuses, its
    error printed in turn)."""
    clock = ["--now", now] if now else []
    if say:
        print(f"\n# {say}")
    print(f"$ salesflow {shlex.join([*clock, *args])}", flush=True)
    errors = subprocess.STDOUT if code else None
    result = subprocess.run([SALESFLOW, *clock, *args], cwd=DEMO, stderr=errors, check=False)
    if result.returncode != code:
        sys.exit(result.returncode or 1)


# What people do, day by day, besides the robot's daily run: (day, time, command, why[, the
# exit code when the command is refused]).
EVENTS = {
    date(2026, 11, 30): [("10:00", ("workflows", "start", "inviter", "--where", "stage=nouveau"),
                          "Marie invites, by hand, the prospects who have not booked a lesson")],
    date(2026, 11, 24): [("19:00", ("deals", "move", "2", "inscrit"),
                          "Inès enrols before her lesson: her pending reminder is cancelled")],
    date(2026, 12, 1): [("19:00", ("tickets", "add", "--subject", "Passer au cours du jeudi",
                                   "--contact", "ines.breval@example.org", "--priority", "high"),
                          "Inès, now a member, asks to change her slot: a ticket"),
                         ("19:05", ("tickets", "add", "--subject", "Absente le 10 décembre",
                                    "--contact", "ines.breval@example.org", "--priority", "low"),
                          "And tells of an absence; nobody answers that one for a day")],
    date(2026, 12, 2): [("19:00", ("tickets", "move", "4", "en-cours"),
                         "Her teacher answers the first one (its first response)")],
    date(2026, 12, 3): [("18:55", ("tickets", "check", "4", "Réponse envoyée au membre", "--by",
                                   "paul"), "The slot is changed; Paul ticks the answer sent"),
                         ("19:00", ("tickets", "close", "4", "--by", "paul"),
                          "So the request can be resolved")],
    date(2026, 12, 5): [("21:00", ("deals", "move", "1", "essai-realise"),
                         "Julie came to her lesson"),
                        ("21:05", ("deals", "update", "1", "--expected-close", "08/12/2026"),
                         "She will enrol on the 8th: a task for the eve follows that date")],
    date(2026, 12, 8): [("19:00", ("deals", "won", "1"),
                         "Marie enrols Julie: refused, the stage's playbook wants the payment", 1),
                        ("19:02", ("today", "--member", "marie"),
                         "What Marie has to do today, in order: the payment is on her list"),
                        ("19:05", ("deals", "check", "1", "Paiement reçu", "--by", "marie"),
                         "Julie pays her fee: Marie ticks it"),
                        ("19:06", ("deals", "won", "1", "--by", "marie"),
                         "Now the enrolment goes through")],
}  # fmt: skip


# The mail that comes back: what people's mail programs and servers write into the club's
# replies mailbox, each built from the email it answers (found in outbox/) as a real one is —
# a reply quotes its text and names its Message-ID in In-Reply-To, a bounce encloses its
# headers — and delivered as a mail server delivers to a Maildir: written in tmp/, then
# renamed into new/ under a unique name that starts with its delivery time.

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


def oedipes_bounce(outbox: Path, at: datetime) -> bytes:
    invitation = sent(outbox, "oedipe.lefevre@example.org", "Œdipe, venez essayer un cours !")
    return bounce(invitation, at, "5.1.1", "host mx.example.org[203.0.113.5] said: 550 5.1.1"
                  " User unknown (in reply to RCPT TO command)")  # fmt: skip


def julies_out_of_office(outbox: Path, at: datetime) -> bytes:
    invitation = sent(outbox, "julie.martin@example.org", "Envie de continuer, Julie ?")
    return out_of_office(invitation, at, "Absente jusqu'au 8 décembre", "Bonjour,\nje suis en"
                         " déplacement jusqu'au 8 décembre et lirai votre message à mon retour.\n"
                         "Julie\n")  # fmt: skip


def julies_reply(outbox: Path, at: datetime) -> bytes:
    invitation = sent(outbox, "julie.martin@example.org", "Envie de continuer, Julie ?")
    return reply(invitation, at, "Bonjour,\n\nOui, je m'inscris ! Je passe ce soir au club"
                 " régler l'inscription.\n\nJulie")  # fmt: skip


# What comes back to the replies mailbox — (when it arrived, the message, why) — read by
# `inbound poll` before the tick of the day it is listed under.
MAIL = {
    date(2026, 12, 2): ("2026-12-01T18:31:04+01:00", oedipes_bounce,
                        "The replies mailbox, which `run` reads: Œdipe's server bounced the"
                        " invitation (no such address); his address becomes undeliverable"),
    date(2026, 12, 7): ("2026-12-06T18:31:40+01:00", julies_out_of_office,
                        "Julie's out-of-office answers the invitation to enrol: recorded, it"
                        " changes nothing"),
    date(2026, 12, 8): ("2026-12-08T09:12:30+01:00", julies_reply,
                        "Julie answers it: her after-lesson workflow stops (no call task"
                        " tomorrow) and Marie is told"),
}  # fmt: skip


def main() -> None:
    prepare()
    print(f"The singing club's project, copied to {shown(DEMO)}/")
    salesflow("validate", say="Check the project (what a pre-commit hook runs)")
    salesflow(
        "import", "examples/prospects.csv", "--pipeline", "cours-essai", "--stage", "nouveau",
        now="2026-11-21T18:00",
        say="A French Excel export (cp1252, semicolons, amounts in euros); its bad row is kept"
        " aside",
    )  # fmt: skip
    salesflow(
        "ingest", "--inbox", now="2026-11-22T10:00",
        say="Two trial-lesson forms arrive in the inbox (the site's and Tally's)",
    )  # fmt: skip
    salesflow(
        "tick", now="2026-11-22T10:00",
        say="Cron runs `salesflow run` every minute; here, a tick a day: the workflows act",
    )  # fmt: skip
    day = date(2026, 11, 23)
    while day <= date(2026, 12, 8):
        if day in MAIL:
            arrived, message, why = MAIL[day]
            at = datetime.fromisoformat(arrived)
            deliver(DEMO / "replies", message(DEMO / "outbox", at), at)
            salesflow("inbound", "poll", now=f"{day.isoformat()}T18:30", say=why)
        salesflow("tick", now=f"{day.isoformat()}T18:31")
        for clock, command, why, *code in EVENTS.get(day, []):
            salesflow(*command, now=f"{day.isoformat()}T{clock}", say=why, code=sum(code))
        day += timedelta(days=1)
    at = "2026-12-08T19:30"
    salesflow("pipeline", "board", now=at, say="Where everyone stands")
    salesflow("pipeline", "funnel", now=at, say="How many reach each stage, and go on")
    salesflow("pipeline", "forecast", now=at, say="What the open deals are worth, weighted")
    salesflow("pipeline", "stalled", now=at, say="Deals that wait too long in their stage")
    salesflow("tickets", "list", now=at, say="The members' requests (the absence became urgent)")
    salesflow("pipeline", "response", "support", now=at,
              say="How fast requests get a first response, and are resolved")  # fmt: skip
    salesflow("runs", "show", "1", say="Everything the trial-lesson workflow did for Julie")
    salesflow("inbound", "list", say="What came back to the replies mailbox, and what it was")
    salesflow("runs", "show", "9", say="Julie's after-lesson workflow, stopped by her answer")
    salesflow("runs", "show", "5", say="Œdipe's invitations: the second one was not sent")
    salesflow("outbox", "show", "18", say="What Marie was told of Julie's answer")
    salesflow("outbox", "list", "--format", "markdown", say="The emails, written as .eml files")
    salesflow("outbox", "show", "1", say="One of them, whole: Julie's welcome")
    emails = sorted((DEMO / "outbox").glob("*.eml"))
    requests = sorted((DEMO / "outbox" / "requests").glob("*.http"))
    print(
        f"\n{len(emails)} emails in {shown(DEMO / 'outbox')}/ — open them in any"
        f" mail client — and {len(requests)} requests to the teachers' channel in"
        f" {shown(DEMO / 'outbox' / 'requests')}/."
    )


if __name__ == "__main__":
    main()
