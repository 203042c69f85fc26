"""`salesflow check` on the replies mailbox: its last poll (read from the database, never by
connecting), the messages that could not be recorded, and the bounces and complaints against
the emails sent in the last 7 days."""

from __future__ import annotations

import json
import socket

import pytest
from conftest import query
from replies import (
    ADDRESSES,
    NOW,
    READ,
    TRANSPORT,
    allow_bounces,
    deliver,
    deliver_answers,
    enrol,
    refuse_bounces,
    token,
    use_maildir,
)

pytestmark = pytest.mark.engines  # each test on SQLite and on PostgreSQL


def findings(sf, now: str, code: int = 0) -> dict[str, tuple[str, str]]:
    """`check --json` as {what: (level, detail)}."""
    result = sf("check", "--json", now=now, code=code)
    said = json.loads(result.output) if code else result  # sf parses it on exit 0 only
    return {f["what"]: (f["level"], f["detail"]) for f in said}


def test_without_a_replies_mailbox_check_says_nothing_of_one(sf):
    found = findings(sf, NOW)
    assert not {"replies mailbox", "inbound messages", "bounces and complaints"} & set(found)


def test_the_mailbox_never_read_then_read_then_left_unread(sf):
    folder = use_maildir(sf.project)
    every = "`salesflow run` reads it every 5m, `salesflow inbound poll` reads it now"
    assert findings(sf, NOW)["replies mailbox"] == (
        "note", f"the Maildir {folder}: never read yet; {every}"
    )  # fmt: skip
    sf("run", now=NOW)  # cron's run reads it when due
    assert findings(sf, "2026-11-20T10:15")["replies mailbox"] == (
        "ok", f"the Maildir {folder}: read 2026-11-20 10:00"
    )  # fmt: skip
    assert findings(sf, "2026-11-20T10:16")["replies mailbox"] == (
        "note",
        f"the Maildir {folder}: last read 2026-11-20 10:00, over 3 × its poll interval (5m)"
        " ago: `salesflow run` (cron) and `serve` read it when due; is either running?"
        " `salesflow inbound poll` reads it now",
    )


def test_a_mailbox_that_could_not_be_read_is_a_problem_with_what_to_do(sf):
    folder = use_maildir(sf.project, create=False)
    sf("run", now=NOW)  # the tick goes on; the poll's fault is stored
    result = sf("check", now="2026-11-20T10:01", code=1)
    assert (
        f"PROBLEM replies mailbox: the Maildir {folder} could not be read at 2026-11-20 10:00:"
        f" {folder} is not a Maildir folder: it has no new/, cur/, tmp/ (make them: mkdir -p"
        f" {folder}/{{new,cur,tmp}}); once fixed,"
        " `salesflow inbound poll` reads it now"
    ) in result.output.splitlines()
    for sub in ("new", "cur", "tmp"):
        (folder / sub).mkdir(parents=True)
    sf("inbound", "poll", now="2026-11-20T10:02")
    assert findings(sf, "2026-11-20T10:03")["replies mailbox"][0] == "ok"


def test_check_reads_the_stored_state_and_never_connects_to_the_mailbox(sf, monkeypatch):
    """An IMAP server that would take the connection (a socket listening on loopback), its
    password set: after `check`, no connection is waiting for it."""
    monkeypatch.setenv("IMAP_PASSWORD", "secret")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        settings = sf.project / "salesflow.yaml"
        settings.write_text(settings.read_text().replace(TRANSPORT, TRANSPORT + (
            "  inbound: {imap: {host: 127.0.0.1, user: bonjour, password_env: IMAP_PASSWORD,"
            f" port: {server.getsockname()[1]}, tls: none}}}}\n"
        )))  # fmt: skip
        level, detail = findings(sf, NOW)["replies mailbox"]
        assert (level, detail.split(":")[0]) == (
            "note",
            "the mailbox of bonjour at 127.0.0.1 (INBOX)",
        )
        server.setblocking(False)
        with pytest.raises(BlockingIOError):
            server.accept()


def test_messages_that_could_not_be_recorded_are_a_problem_until_reprocessed(sf, backend):
    use_maildir(sf.project)
    enrol(sf, "jean.petit@example.org")
    assert findings(sf, READ)["inbound messages"] == ("ok", "none failed")
    refuse_bounces(sf.project, backend)
    jean = dict(query(sf.project, "SELECT to_addr, message_id FROM outbox"))[
        "jean.petit@example.org"
    ]
    deliver(sf.project, "postfix-bounce.eml", **{"bounces+103@": f"bounces+{token(jean)}@"})
    sf("inbound", "poll", now=READ)
    assert findings(sf, READ, code=1)["inbound messages"] == (
        "problem",
        "1 could not be recorded (kept as failed, with the error): see `salesflow inbound list"
        " --kind failed`; after a fix, `salesflow inbound reprocess --failed`",
    )
    allow_bounces(sf.project, backend)
    sf("inbound", "reprocess", "--failed", now=READ)
    assert findings(sf, READ)["inbound messages"] == ("ok", "none failed")


def test_few_emails_sent_counts_without_a_rate(sf):
    use_maildir(sf.project)
    enrol(sf, *ADDRESSES)
    sf("outbox", "send", now=NOW)  # 3 welcome emails and 3 notifications to the team
    assert findings(sf, NOW)["bounces and complaints"] == (
        "ok", "none; 6 sent in the last 7 days"
    )  # fmt: skip
    deliver_answers(sf.project)
    sf("run", now=READ)  # reads them, handles their events, and tells the owner of the reply
    assert findings(sf, READ)["bounces and complaints"] == (
        "note",
        "1 permanent bounce (0 temporary) and 1 complaint (marked as spam) of 7 emails sent in"
        " the last 7 days: too few sent for a rate (under 100); see `salesflow inbound list"
        " --kind bounce` (or complaint)",
    )
    assert findings(sf, "2026-11-28T10:01")["bounces and complaints"] == (
        "ok", "none; 0 sent in the last 7 days"
    )  # fmt: skip


def test_bounce_and_complaint_rates_over_the_providers_limits(sf):
    """60 contacts: 120 emails sent (welcome + notification each); 3 permanent bounces are
    2.5 % (over 2 %), 1 complaint 0.83 % (over 0.1 %); a week later both are past."""
    use_maildir(sf.project)
    people = [f"eleve{n}@example.org" for n in range(60)]
    enrol(sf, *people)
    sf("outbox", "send", now=NOW)
    assert findings(sf, NOW)["bounce rate"] == (
        "ok", "0.00%: 0 permanent bounces (0 temporary) of 120 emails sent in the last 7 days"
        " (providers' limit: 2.0%)"
    )  # fmt: skip
    sent = dict(query(sf.project, "SELECT to_addr, message_id FROM outbox"))
    for person in people[:3]:
        verp = f"bounces+{token(sent[person])}@"
        deliver(sf.project, "postfix-bounce.eml", **{"bounces+103@": verp})
    complained = {"<b8c7d6e5f4a3@club.example>": sent[people[3]]}
    deliver(sf.project, "arf-complaint.eml", **complained)
    sf("run", now=READ)
    found = findings(sf, READ, code=1)
    assert found["bounce rate"] == (
        "problem",
        "2.50%, over the 2.0% mailbox providers tolerate: 3 permanent bounces (0 temporary) of"
        " 120 emails sent in the last 7 days; see `salesflow inbound list --kind bounce`;"
        " correct or remove those addresses (bounced ones are skipped already) and check where"
        " new addresses come from",
    )
    assert found["complaint rate"] == (
        "problem",
        "0.83%, over the 0.1% mailbox providers tolerate: 1 complaint (marked as spam) of 120"
        " emails sent in the last 7 days; see `salesflow inbound list --kind complaint`; those"
        " people are unsubscribed; write only to people who asked, and keep unsubscribing one"
        " click away",
    )
    later = findings(sf, "2026-11-28T10:01")
    assert later["bounces and complaints"] == ("ok", "none; 0 sent in the last 7 days")
