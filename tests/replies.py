"""A replies mailbox for the CLI tests: the demo project with `email.inbound` set to a Maildir
folder, contacts who were sent the welcome email, and messages of the corpus
(tests/fixtures/inbound/) delivered into the Maildir as answers to those real emails — their
Message-IDs and return-path tokens written in place of the corpus's own."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import query

CORPUS = Path(__file__).parent / "fixtures" / "inbound"
TRANSPORT = "  transport: outbox             # .eml files in outbox/, no server needed\n"
NOW = "2026-11-20T10:00"  # the welcome emails are queued
READ = "2026-11-21T10:00"  # the replies are read


def use_maildir(project: Path, create: bool = True, **inbound: str) -> Path:
    """`email.inbound: {maildir: replies, …}` (and VERP) in the project; the folder made
    a Maildir unless `create` is false."""
    settings = project / "salesflow.yaml"
    options = "".join(f", {key}: {value}" for key, value in inbound.items())
    text = settings.read_text().replace(
        TRANSPORT,
        TRANSPORT + '  return_path: "bounces+{token}@club.example"\n'
        f"  inbound: {{maildir: replies{options}}}\n",
    )
    assert text != settings.read_text()
    settings.write_text(text)
    folder = project / "replies"
    for sub in ("new", "cur", "tmp") if create else ():
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return folder


def enrol(sf, *addresses: str, now: str = NOW) -> None:
    """Each address fills the trial-lesson form; the workflow queues its welcome email."""
    lines = [
        json.dumps({"submissionId": address, "email": address, "prenom": address.split(".")[0],
                    "date_essai": "2026-12-05T18:30"})
        for address in addresses
    ]  # fmt: skip
    submissions = sf.project / f"forms-{len(list(sf.project.glob('forms-*')))}.jsonl"
    submissions.write_text("\n".join(lines) + "\n")
    sf("ingest", submissions, "--form", "cours-essai", now=now)
    sf("process", now=now)


def welcome_id(project: Path, address: str) -> str:
    """The Message-ID of the email the workflow sent to `address`."""
    [(message_id,)] = query(
        project,
        "SELECT message_id FROM outbox WHERE to_addr = ? AND step = 'bienvenue'",
        address,
    )
    return message_id


def token(message_id: str) -> str:
    """The return-path token of a message (the left part of its Message-ID)."""
    return message_id.strip("<>").split("@")[0]


def deliver(project: Path, name: str, raw: bytes | None = None, **replace: str) -> None:
    """A corpus message (or `raw`) into the Maildir's new/, each text of `replace` written
    as its value (`**{"<a1f0c3e2b4d5@club.example>": real_id}`)."""
    raw = raw if raw is not None else (CORPUS / name).read_bytes()
    for old, new in replace.items():
        assert old.encode() in raw, old
        raw = raw.replace(old.encode(), new.encode())
    folder = project / "replies"
    count = sum(len(list((folder / sub).iterdir())) for sub in ("new", "cur"))
    (folder / "new" / f"{1765000000 + count}.M{count}P1.test").write_bytes(raw)


def deliver_answers(project: Path) -> None:
    """Six messages, oldest first: Julie's reply to her welcome email, an out-of-office from
    a stranger, Jean's address bouncing (by its return path), Claire's complaint, a reply
    to a deleted message, and bytes that are no message."""
    julie = welcome_id(project, "julie.martin@gmail.com")
    claire = welcome_id(project, "claire.roux@yahoo.fr")
    jean = welcome_id(project, "jean.petit@example.org")
    deliver(project, "gmail-reply-fr.eml", **{"<a1f0c3e2b4d5@club.example>": julie})
    deliver(project, "outlook-ooo-fr.eml")
    deliver(project, "postfix-bounce.eml", **{"bounces+103@": f"bounces+{token(jean)}@"})
    deliver(project, "arf-complaint.eml", **{"<b8c7d6e5f4a3@club.example>": claire})
    deliver(project, "reply-to-deleted.eml")
    deliver(project, "binary-garbage.eml")


ADDRESSES = ("julie.martin@gmail.com", "claire.roux@yahoo.fr", "jean.petit@example.org")

_REFUSE_BOUNCES = {
    "sqlite": [
        "CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.type = 'email.bounced'"
        " BEGIN SELECT RAISE(ABORT, 'no bounce today'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " IF NEW.type = 'email.bounced' THEN RAISE EXCEPTION 'no bounce today'; END IF;"
        " RETURN NEW; END $$",
        "CREATE TRIGGER refuse BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse()",
    ],
}


def refuse_bounces(project: Path, engine: str) -> None:
    """A database that refuses to record a bounce's event (a trigger, as a broken extension
    or a full quota would): recording a bounce raises, inside the poll's transaction."""
    for sql in _REFUSE_BOUNCES[engine]:
        query(project, sql)


def allow_bounces(project: Path, engine: str) -> None:
    query(project, "DROP TRIGGER refuse" + (" ON events" if engine == "postgresql" else ""))
