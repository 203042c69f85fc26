"""The poison corpus: one bad item in each queue fails alone.

Every case puts a bad item among good ones in the same pass, then checks that the good ones
went all the way (contact, welcome email delivered, owner notified, reminder waiting) and that
the bad one is visible with its reason, and retryable where that makes sense.
"""

from __future__ import annotations

import email
import json
import os
from email import policy
from pathlib import Path

import pytest
from conftest import open_project, query

pytestmark = pytest.mark.engines  # each test on SQLite and on PostgreSQL

NOW = "2026-11-22T10:00"
ANA = {"submissionId": "good-ana", "email": "ana@example.org", "prenom": "Ana",
       "date_essai": "2026-12-05T18:30"}  # fmt: skip
BOB = {"submissionId": "good-bob", "email": "bob@example.org", "prenom": "Bob",
       "date_essai": "2026-12-05T18:30"}  # fmt: skip


def drop(project: Path, name: str, content: str | bytes, folder: str = "cours-essai") -> Path:
    """A file in the project's inbox, as a web hook or a person would leave it."""
    path = project / "inbox" / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def assert_good_ones_went_through(project: Path, *emails: str) -> None:
    """Each good prospect: welcomed (sent), the owner told (sent), the reminder waiting."""
    emails = emails or ("ana@example.org", "bob@example.org")
    for address in emails:
        sent = query(project, "SELECT status FROM outbox WHERE to_addr = ?", address)
        assert sent == [("sent",)], (address, sent)
        run = query(project, "SELECT r.status, r.cursor FROM runs r JOIN contacts c"
                    " ON c.id = r.contact_id WHERE c.email = ?", address)  # fmt: skip
        assert run == [("waiting", '["rappel"]')], (address, run)
    notified = query(project, "SELECT count(*) FROM outbox WHERE to_addr LIKE '%@club.example'"
                     " AND status = 'sent'")  # fmt: skip
    assert notified[0][0] >= len(emails)


def rejects(project: Path, name: str) -> list[dict]:
    path = project / "inbox" / "done" / "cours-essai" / name
    return [json.loads(line) for line in path.read_text().splitlines()]


# -- submissions: a bad one among good ones in the same file is rejected alone

BAD_SUBMISSIONS = {
    "year-9999": (
        {"email": "x@example.org", "date_essai": "9999-12-31T23:00"},
        "/date_essai: '9999-12-31T23:00' is out of range (years 1900 to 2200)",
    ),
    "year-0001": (
        {"email": "x@example.org", "date_essai": "0001-01-01T00:00"},
        "/date_essai: '0001-01-01T00:00' is out of range (years 1900 to 2200)",
    ),
    "february-30": (
        {"email": "x@example.org", "date_essai": "2026-02-30T10:00"},
        "/date_essai: '2026-02-30T10:00' is not a date-time (e.g. 2026-12-05T18:30)",
    ),
    "date-as-huge-number": (
        {"email": "x@example.org", "date_essai": 1e308},
        "/date_essai: '1e+308' is not a date-time (e.g. 2026-12-05T18:30)",
    ),
    "address-of-10-kB": (
        {"email": "a" * 10_000 + "@example.org", "date_essai": "2026-12-05T18:30"},
        "is too long for an email address (10012 characters; at most 64 before the @ and 254",
    ),
    "local-part-of-65": (
        {"email": "a" * 65 + "@example.org", "date_essai": "2026-12-05T18:30"},
        "is too long for an email address (77 characters",
    ),
    "address-as-a-list": (
        {"email": ["x@example.org"], "date_essai": "2026-12-05T18:30"},
        "/email: expected a single value, got list",
    ),
    "not-an-object": ("hello", "/: a submission is a JSON object"),
    "lone-surrogate": (
        {"email": "x@example.org", "date_essai": "2026-12-05T18:30", "prenom": "Jul\ud800ie"},
        "/: broken text at /prenom: a lone surrogate",
    ),
    "nested-10000-deep": (
        "DEEP",
        "/: nested deeper than 32 levels",
    ),
    "larger-than-1-MB": (
        {"email": "x@example.org", "date_essai": "2026-12-05T18:30", "nom": "x" * 1_100_000},
        "/: larger than 1024 kB",
    ),
}


@pytest.mark.parametrize("case", BAD_SUBMISSIONS, ids=list(BAD_SUBMISSIONS))
def test_a_bad_submission_is_rejected_alone(sf, case):
    bad, reason = BAD_SUBMISSIONS[case]
    middle = "[" * 10_000 + "]" * 10_000 if bad == "DEEP" else json.dumps(bad)
    drop(sf.project, "batch.json", f"[{json.dumps(ANA)}, {middle}, {json.dumps(BOB)}]")
    sf("run", now=NOW)
    assert_good_ones_went_through(sf.project)
    [rejected] = rejects(sf.project, "batch.rejected.jsonl")
    assert rejected["index"] == 2
    assert reason in rejected["error"]


# -- names with characters that must never reach a header as they are

ODD_NAMES = {
    "vertical-tab": ("Eve\u000bX", "Eve X"),
    "nul-byte": ("Nul\u0000Byte", "NulByte"),
    "form-feed": ("Form\u000cFeed", "Form Feed"),
    "escape-and-bell": ("E\u001b[31mve\u0007", "E[31mve"),
    "c1-control": ("Next\u0085Line\u009b", "Next Line"),
    "line-separator": ("Line\u2028Sep", "Line Sep"),
    "an-extra-recipient": ("Zoé <victim@evil.example>,", "Zoé <victim@evil.example>,"),
    "a-bcc-line": ("Zoé\r\nBcc: victim@evil.example", "Zoé Bcc: victim@evil.example"),
    "encoded-word": ("=?utf-8?q?victim@evil.example?=", "=?utf-8?q?victim@evil.example?="),
}  # fmt: skip
SHOWN = {"encoded-word": "= ?utf-8?q?victim@evil.example?="}  # the email package would decode it


@pytest.mark.parametrize("case", ODD_NAMES, ids=list(ODD_NAMES))
def test_an_odd_name_is_cleaned_at_the_door_and_adds_no_recipient(sf, case):
    typed, stored = ODD_NAMES[case]
    zoe = {"submissionId": "odd", "email": "zoe@example.org", "prenom": typed, "nom": "Noël",
           "date_essai": "2026-12-05T18:30"}  # fmt: skip
    drop(sf.project, "batch.json", json.dumps([ANA, zoe, BOB]))
    result = sf("run", now=NOW)
    assert result.output == ""
    assert_good_ones_went_through(sf.project, "ana@example.org", "zoe@example.org",
                                  "bob@example.org")  # fmt: skip
    assert query(sf.project, "SELECT first_name FROM contacts WHERE email = 'zoe@example.org'") == [
        (stored,)
    ]
    [message] = [m for m in messages(sf.project) if "zoe@example.org" in str(m["To"])]
    assert [(a.display_name, a.addr_spec) for a in message["To"].addresses] == [
        (f"{SHOWN.get(case, stored)} Noël", "zoe@example.org")
    ]
    assert message["Bcc"] is None and message["Cc"] is None


def messages(project: Path) -> list[email.message.EmailMessage]:
    return [
        email.message_from_bytes(path.read_bytes(), policy=policy.default)
        for path in sorted((project / "outbox").glob("*.eml"))
    ]


def test_control_characters_removed_are_counted_in_the_summary(sf, tmp_path):
    path = tmp_path / "odd.json"
    path.write_text(json.dumps({**ANA, "prenom": "A\u0000n\u000ba", "nom": "X\u0007"}))
    result = sf("ingest", path, "--form", "cours-essai", "--json")
    assert result["control_characters_removed"] == 3
    csv = tmp_path / "odd.csv"
    csv.write_text("email,first_name\nana@example.org,A\x00na\nbob@example.org,Bob\n")
    assert "; 1 control character removed" in sf("import", csv).output


# -- inbox files: a file that cannot be read at all fails alone; the others go in

BAD_FILES = {
    "not-json": (b"email=a@example.org&prenom=Ana", "not JSON"),
    "not-utf-8": (b"\xff\xfe{\x00}", "not UTF-8 text"),
    "empty": (b"", "no submission (the input is empty)"),
    "only-spaces": (b"  \n\n ", "no submission (the input is empty)"),
    "cut-short-at-once": (b'{"email": "a@exa', "not JSON (Unterminated string"),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
def test_an_unreadable_inbox_file_fails_alone(sf, case):
    content, reason = BAD_FILES[case]
    drop(sf.project, "a.json", json.dumps(ANA))
    drop(sf.project, "b.json", content)
    drop(sf.project, "c.json", json.dumps(BOB))
    result = sf("run", now=NOW)
    assert f"inbox/cours-essai/b.json: b.json: {reason}" in result.output
    assert_good_ones_went_through(sf.project)
    failed = sf.project / "inbox" / "failed" / "cours-essai"
    assert sorted(p.name for p in failed.iterdir()) == ["b.json", "b.json.error.txt"]
    assert reason in (failed / "b.json.error.txt").read_text()
    assert not (sf.project / "inbox" / ".processing").exists() or not any(
        (sf.project / "inbox" / ".processing").iterdir()
    )  # no empty claim folder left behind


def test_a_file_over_the_size_limit_fails_without_being_read(sf):
    from salesflow.ingest.jsonread import MAX_FILE

    drop(sf.project, "a.json", json.dumps(ANA))
    with drop(sf.project, "huge.json", b"").open("r+b") as huge:
        huge.truncate(MAX_FILE + 1)  # sparse: instant, and never read
    drop(sf.project, "c.json", json.dumps(BOB))
    result = sf("run", now=NOW)
    assert "huge.json: larger than 50 MB; split it into smaller files" in result.output
    assert_good_ones_went_through(sf.project)


def test_a_file_cut_short_keeps_what_came_before_the_cut(sf):
    drop(sf.project, "batch.json", f'[{json.dumps(ANA)}, {json.dumps(BOB)}, {{"email": "c@')
    sf("run", now=NOW)
    assert_good_ones_went_through(sf.project)
    [rejected] = rejects(sf.project, "batch.rejected.jsonl")
    assert rejected["error"].startswith("/: not JSON (Unterminated string")
    assert rejected["error"].endswith("; the rest is not read")


def test_a_single_submission_too_deep_is_rejected_and_the_next_file_goes_in(sf):
    drop(sf.project, "a.json", '{"payload": ' + "[" * 10_000 + "]" * 10_000 + "}")
    drop(sf.project, "b.json", json.dumps(BOB))
    sf("run", now=NOW)
    assert_good_ones_went_through(sf.project, "bob@example.org")
    [rejected] = rejects(sf.project, "a.rejected.jsonl")
    assert rejected["error"] == "/: nested deeper than 32 levels"
    assert rejected["submission"].startswith('{"payload": [[[')


def test_json_lines_with_a_too_deep_line_keep_the_others(sf):
    deep = '{"x": ' + "[" * 5_000 + "]" * 5_000 + "}"
    drop(sf.project, "batch.jsonl", "\n".join([json.dumps(ANA), deep, json.dumps(BOB)]) + "\n")
    sf("run", now=NOW)
    assert_good_ones_went_through(sf.project)
    assert [r["index"] for r in rejects(sf.project, "batch.rejected.jsonl")] == [2]


def test_a_file_in_a_folder_that_names_no_form_fails_with_the_fix(sf):
    drop(sf.project, "x.json", json.dumps({**ANA, "submissionId": "elsewhere"}), folder="nope")
    drop(sf.project, "b.json", json.dumps(BOB))
    sf("run", now=NOW)
    assert_good_ones_went_through(sf.project, "bob@example.org")
    error = sf.project / "inbox" / "failed" / "nope" / "x.json.error.txt"
    assert "no submission says which form it is for: pass --form NAME" in error.read_text()


def test_a_csv_in_the_inbox_with_a_bad_row_keeps_the_good_rows(sf):
    drop(sf.project, "contacts.csv", "Email,First Name,date_essai\nana@example.org,Ana,"
         "2026-12-05T18:30\nbad,Bad,\nbob@example.org,B\x00ob,9999-01-01\n", folder="")  # fmt: skip
    sf("run", now=NOW)
    assert query(sf.project, "SELECT email, first_name FROM contacts ORDER BY email") == [
        ("ana@example.org", "Ana")
    ]
    rejected = (sf.project / "inbox" / "done" / "contacts.rejected.csv").read_text()
    assert "'bad' is not an email address" in rejected
    assert "out of range (years 1900 to 2200)" in rejected


# -- events: one that cannot be handled is failed with its error; the others are handled


def add_event(project: Path, kind: str, data: str, subject: tuple = (None, None)) -> int:
    [(event_id,)] = query(
        project,
        "INSERT INTO events (type, subject_type, subject_id, data, created_at)"
        " VALUES (?, ?, ?, ?, '2026-11-22T08:59:00Z') RETURNING id",
        kind, *subject, data,
    )  # fmt: skip
    return event_id


FIXED = {"form.submitted": json.dumps({**ANA, "form": "cours-essai"}),
         "contact.updated": '{"changed": ["phone"]}'}  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "data", "reason"),
    [
        ("form.submitted", "{not json", "JSONDecodeError: Expecting property"),
        ("contact.updated", '{"changed": 5}', "TypeError"),
    ],
    ids=["data-not-json", "changed-not-a-list"],
)
def test_an_event_that_cannot_be_handled_fails_alone_and_can_be_retried(sf, kind, data, reason):
    """An event row another tool wrote, broken: failed with its error, the others handled."""
    sf("contacts", "add", "julie@example.org", now=NOW)
    drop(sf.project, "a.json", json.dumps(ANA))
    sf("ingest", "--inbox", now=NOW)
    bad = add_event(sf.project, kind, data, ("contact", 1))
    drop(sf.project, "b.json", json.dumps(BOB))
    result = sf("run", now=NOW)
    assert_good_ones_went_through(sf.project)
    [event] = sf("events", "list", "--failed", "--json", now=NOW)
    assert (event["id"], event["status"]) == (bad, "failed")
    assert event["error"].startswith(reason)
    assert f"event #{bad} ({kind}) failed: {reason}" in result.output
    assert sf("check", code=1, now=NOW).output.startswith("PROBLEM failed events: 1;")
    query(sf.project, "UPDATE events SET data = ? WHERE id = ?", FIXED[kind], bad)
    retried = sf("events", "retry", str(bad), now=NOW)
    assert retried.output.startswith("1 event back in the queue")
    assert sf("events", "show", str(bad), "--json", now=NOW)["status"] == "processed"


def test_a_submission_whose_email_is_a_number_fails_its_run_at_the_contact_step(sf):
    seven = {"form": "cours-essai", "email": 7, "prenom": "Sept", "nom": None,
             "telephone": None, "date_essai": "2026-12-05T18:30"}  # fmt: skip
    add_event(_created(sf), "form.submitted", json.dumps(seven))
    drop(sf.project, "batch.json", json.dumps([ANA, BOB]))
    sf("run", now=NOW)
    assert_good_ones_went_through(sf.project)
    [run] = sf("runs", "list", "--status", "failed", "--json", now=NOW)
    assert run["reason"] == "step contact: '7' is not an email address"


def _created(sf) -> Path:
    sf("events", "list", now=NOW)  # opens (creates) the database
    return sf.project


def test_a_failed_event_can_be_set_aside(sf):
    bad = add_event_after_setup(sf)
    sf("events", "cancel", str(bad), now=NOW)
    shown = sf("events", "show", str(bad), "--json", now=NOW)
    assert shown["status"] == "processed"
    assert shown["note"].startswith("cancelled by hand: JSONDecodeError")
    assert sf("events", "retry", str(bad), code=1, now=NOW).output == (
        f"error: event #{bad} is processed; only failed events are retried or cancelled\n"
    )


def add_event_after_setup(sf) -> int:
    sf("contacts", "add", "julie@example.org", now=NOW)
    bad = add_event(sf.project, "form.submitted", "{not json")
    sf("process", now=NOW)
    return bad


# -- runs: a step that raises fails its run alone; a run that cannot be read fails alone


def test_a_template_that_raises_for_one_contact_fails_that_run_only(sf):
    template = sf.project / "workflows" / "templates" / "bienvenue.txt.j2"
    original = template.read_text()
    divide = "{{ 100 // ((contact.first_name or '') | length) }}"
    template.write_text(original.replace("Bonjour", divide))
    nameless = {"submissionId": "nameless", "email": "x@example.org", "prenom": "",
                "date_essai": "2026-12-05T18:30"}  # fmt: skip
    drop(sf.project, "batch.json", json.dumps([ANA, nameless, BOB]))
    sf("run", now=NOW)
    assert_good_ones_went_through(sf.project)
    [run] = sf("runs", "list", "--status", "failed", "--json", now=NOW)
    assert run["contact"] == "x@example.org"
    assert run["reason"] == (
        "step bienvenue: template bienvenue: integer division or modulo by zero"
    )
    template.write_text(original)
    sf("runs", "retry", str(run["id"]), now=NOW)
    assert sf("runs", "show", str(run["id"]), "--json", now=NOW)["status"] == "waiting"


def test_a_waiting_run_with_an_unreadable_cursor_fails_alone_when_due(sf):
    drop(sf.project, "batch.json", json.dumps([ANA, BOB]))
    sf("run", now=NOW)
    query(sf.project, "UPDATE runs SET cursor = '{broken' WHERE id = 1")
    sf("run", now="2026-12-04T18:31")
    statuses = query(sf.project, "SELECT id, status, reason FROM runs WHERE workflow ="
                     " 'essai-formulaire' ORDER BY id")  # fmt: skip
    assert statuses[0][:2] == (1, "failed") and statuses[0][2].startswith("JSONDecodeError")
    assert statuses[1][:2] == (2, "done")
    reminders = query(sf.project, "SELECT to_addr FROM outbox WHERE subject LIKE 'Rappel%'")
    assert reminders == [("bob@example.org",)]


# -- the outbox: a message that cannot be built fails alone; claims of dead passes go back


def queued_three(sf) -> None:
    drop(sf.project, "batch.json", json.dumps([ANA, BOB]))
    sf("ingest", "--inbox", now=NOW)
    sf("process", now=NOW)  # queued, not delivered


def test_a_message_that_cannot_be_built_fails_alone(sf):
    queued_three(sf)
    query(sf.project, "UPDATE outbox SET headers = '{broken' WHERE to_addr = 'ana@example.org'")
    result = sf("outbox", "send", "--json", now=NOW)
    assert (result["sent"], result["failed"]) == (3, 1)
    [failed] = sf("outbox", "list", "--status", "failed", "--json", now=NOW)
    assert failed["to"] == "ana@example.org"
    assert failed["last_error"].startswith("cannot be built: JSONDecodeError")
    assert query(sf.project, "SELECT count(*) FROM outbox WHERE status = 'sending'") == [(0,)]


def test_messages_left_sending_by_a_dead_pass_are_taken_back_at_once(sf):
    queued_three(sf)
    import salesflow.outbox.claims as claims

    dead = f"{claims.HOST}:{2**22 + 17}:deadbeef"  # no such process
    query(sf.project, "UPDATE outbox SET status = 'sending', claimed_by = ?,"
          " claimed_until = '2999-01-01T00:00:00Z'", dead)  # fmt: skip
    assert sf("outbox", "send", "--json", now=NOW)["sent"] == 4


def test_a_message_being_sent_by_a_live_pass_is_neither_taken_nor_cancelled(sf):
    queued_three(sf)
    import salesflow.outbox.claims as claims

    alive = f"{claims.HOST}:{os.getpid()}:cafe"
    query(sf.project, "UPDATE outbox SET status = 'sending', claimed_by = ?,"
          " claimed_until = '2999-01-01T00:00:00Z' WHERE id = 1", alive)  # fmt: skip
    assert sf("outbox", "send", "--json", now=NOW)["sent"] == 3
    assert sf("outbox", "cancel", "1", code=1, now=NOW).output == (
        "error: message #1 is being sent by a pass right now: too late\n"
    )
    query(sf.project, "UPDATE outbox SET claimed_until = '2000-01-01T00:00:00Z'")  # it died
    assert sf("outbox", "cancel", "1", now=NOW).output == "message #1 cancelled\n"
    assert sf("outbox", "retry", "1", now=NOW).output == "message #1 queued again\n"


# -- SIGKILL at random points while poison sits in every queue


def test_killed_at_random_points_with_poison_in_the_queues(demo):
    """Fixed seed, a few seconds: whatever the kill points, 0 lost, 0 doubled, and every
    poison item failed visibly."""
    import random
    import signal
    import subprocess
    import sys
    import time

    script = Path(sys.executable).parent / "salesflow"
    good = [{"submissionId": f"s{n}", "email": f"p{n}@example.org", "prenom": f"P{n}",
             "date_essai": "2026-12-05T18:30"} for n in range(150)]  # fmt: skip
    poison = [{"submissionId": "late", "email": "late@example.org", "date_essai": "9999-12-31"},
              {"submissionId": "long", "email": "a" * 300 + "@example.org",
               "date_essai": "2026-12-05T18:30"}]  # fmt: skip
    batch = good[:70] + poison[:1] + good[70:] + poison[1:]
    drop(demo, "batch.json", json.dumps(batch))
    drop(demo, "broken.json", "{not json")
    drop(demo, "deep.json", "[" * 10_000 + "]" * 10_000)
    env = {**os.environ, "SALESFLOW_NOW": NOW}
    command = [script, "--project", demo, "run"]
    rng = random.Random(20261123)
    for _ in range(5):
        process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.2, 1.2))
        process.send_signal(signal.SIGKILL)
        process.wait()
    subprocess.run(command, env=env, check=True, capture_output=True)
    assert query(demo, "SELECT count(*), count(DISTINCT email) FROM contacts") == [(150, 150)]
    assert query(demo, "SELECT count(*), count(DISTINCT contact_id) FROM runs"
                 " WHERE workflow = 'essai-formulaire'") == [(150, 150)]  # fmt: skip
    assert query(demo, "SELECT status, count(*) FROM outbox GROUP BY status") == [("sent", 300)]
    assert query(demo, "SELECT count(DISTINCT to_addr) FROM outbox WHERE to_addr LIKE"
                 " 'p%@example.org'") == [(150,)]  # fmt: skip
    assert len(list((demo / "outbox").glob("*.eml"))) == 300
    doubled = query(demo, "SELECT run_id, step FROM run_steps GROUP BY run_id, step"
                    " HAVING count(*) > 1")  # fmt: skip
    assert doubled == []
    errors = [r["error"] for r in rejects(demo, "batch.rejected.jsonl")]
    assert len(errors) == 2 and "out of range" in errors[0] and "too long" in errors[1]
    failed = demo / "inbox" / "failed" / "cours-essai"
    assert sorted(p.name for p in failed.iterdir()) == ["broken.json", "broken.json.error.txt"]
    assert [r["error"] for r in rejects(demo, "deep.rejected.jsonl")] == [
        "/: nested deeper than 32 levels"
    ]
    leftovers = [p for p in (demo / "inbox" / ".processing").rglob("*")]
    assert leftovers == []


def test_a_pass_never_marks_a_message_it_no_longer_holds(sf):
    """The connection drops: the pass gives its messages back to retry — but not one that
    was cancelled (or taken over) meanwhile."""
    from contextlib import contextmanager

    from salesflow.outbox.delivery import deliver
    from salesflow.store.session import Store
    from salesflow.transports import ConnectionLost
    from salesflow.values import parse_datetime

    queued_three(sf)

    class DropsAtOnce:  # a real transport's behaviour: the connection breaks mid-pass
        @contextmanager
        def session(self):
            def send(message, name):
                query(sf.project, "UPDATE outbox SET status = 'cancelled' WHERE id = 2")
                raise ConnectionLost("connection lost: reset by peer")

            yield send

    project = open_project(sf.project)
    store = Store.open(project, parse_datetime(NOW, "fr_FR", project.timezone))
    result = deliver(store, transport=DropsAtOnce())
    assert result.retrying == 3
    assert query(sf.project, "SELECT id, status FROM outbox ORDER BY id") == [
        (1, "retrying"), (2, "cancelled"), (3, "retrying"), (4, "retrying"),
    ]  # fmt: skip


# -- the replies mailbox: a message that cannot be read or recorded is kept alone, with why

CORPUS = Path(__file__).parent / "fixtures" / "inbound"


def _reply_to(project: Path, address: str, message_id: str, **headers: str) -> bytes:
    """A person's answer to the email salesflow sent `address`."""
    [(sent,)] = query(project, "SELECT message_id FROM outbox WHERE to_addr = ?", address)
    extra = "".join(f"{name}: {value}\n" for name, value in headers.items())
    return (
        f"From: {address}\nTo: bonjour@club.example\nSubject: Re: Bienvenue\n"
        f"Message-ID: {message_id}\nIn-Reply-To: {sent}\n{extra}\nMerci, à samedi !\n"
    ).encode()


BAD_MESSAGES = {
    "binary-garbage": (lambda p: (CORPUS / "binary-garbage.eml").read_bytes(),
                       "unreadable", "no sender address (From:): not a mail message"),
    "malformed-headers": (lambda p: (CORPUS / "malformed-headers.eml").read_bytes(),
                          "unreadable", "no sender address (From:): not a mail message"),
    "over-the-size-limit": (
        lambda p: _reply_to(p, "ana@example.org", "<big@example.org>") + b"la " * 400_000,
        "unreadable", " bytes, over the limit of 1 MB: not read",
    ),
    "nul-characters": (
        lambda p: _reply_to(p, "ana@example.org", "<nul@example.org>").replace(
            b"Merci", b"Mer\x00ci").replace(b"Re: Bienvenue", b"Re:\x00 Bienvenue"),
        "reply", None,
    ),
    "unknown-charset": (
        lambda p: _reply_to(p, "ana@example.org", "<x@example.org>",
                            **{"Content-Type": "text/plain; charset=x-klingon-1"}) + b"\xe9\xff",
        "reply", None,
    ),
    "reply-to-a-deleted-email": (lambda p: (CORPUS / "reply-to-deleted.eml").read_bytes(),
                                 "unmatched", "answers a message that is not in the outbox"),
    "bounce-for-no-contact": (lambda p: (CORPUS / "bounce-unknown-address.eml").read_bytes(),
                              "bounce", "the bounce's message is not in the outbox"),
}  # fmt: skip


def _with_mailbox(project: Path) -> None:
    import yaml

    settings = project / "salesflow.yaml"
    config = yaml.safe_load(settings.read_text(encoding="utf-8"))
    config["email"]["inbound"] = {"maildir": "replies", "max_size_mb": 1}
    settings.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    for folder in ("new", "cur", "tmp"):
        (project / "replies" / folder).mkdir(parents=True, exist_ok=True)


def _deliver(project: Path, name: str, raw: bytes) -> None:
    (project / "replies" / "new" / name).write_bytes(raw)


def _welcomed(sf) -> None:
    """Ana and Bob welcomed; the mailbox set up (read at once by the next run)."""
    drop(sf.project, "batch.json", json.dumps([ANA, BOB]))
    sf("run", now=NOW)
    _with_mailbox(sf.project)


def _good_ones_were_recorded(project: Path) -> None:
    """Ana's reply recorded, and its event handled; Bob's bounce made his address
    undeliverable."""
    assert query(project, "SELECT i.kind, c.email FROM inbound i JOIN contacts c"
                 " ON c.id = i.contact_id WHERE i.message_id = '<good@example.org>'") == [
        ("reply", "ana@example.org")
    ]  # fmt: skip
    handled = query(project, "SELECT count(*) FROM events WHERE type = 'email.replied'"
                    " AND processed_at IS NOT NULL AND data LIKE '%ana@example.org%'")  # fmt: skip
    assert handled[0][0] >= 1
    assert query(project, "SELECT email_status FROM contacts WHERE email = 'bob@example.org'") == [
        ("undeliverable",)
    ]


def _bob_bounced(project: Path) -> bytes:
    [(sent,)] = query(project, "SELECT message_id FROM outbox WHERE to_addr = 'bob@example.org'")
    return (
        "From: MAILER-DAEMON@mx.club.example\nTo: bonjour@club.example\n"
        "Subject: Undelivered Mail Returned to Sender\nMessage-ID: <dsn@mx.club.example>\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
        "--B\nContent-Type: text/plain\n\nNot delivered.\n\n"
        "--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.club.example\n\n"
        "Final-Recipient: rfc822; bob@example.org\nAction: failed\nStatus: 5.1.1\n\n"
        f"--B\nContent-Type: text/rfc822-headers\n\nMessage-ID: {sent}\n\n--B--\n"
    ).encode()


@pytest.mark.parametrize("case", BAD_MESSAGES, ids=list(BAD_MESSAGES))
def test_a_bad_message_in_the_replies_mailbox_is_kept_alone_with_its_reason(sf, case):
    make, kind, reason = BAD_MESSAGES[case]
    _welcomed(sf)
    _deliver(sf.project, "1764842400.M1P1.host", _reply_to(sf.project, "ana@example.org",
                                                            "<good@example.org>"))  # fmt: skip
    _deliver(sf.project, "1764842400.M2P1.host", make(sf.project))
    _deliver(sf.project, "1764842400.M3P1.host", _bob_bounced(sf.project))
    result = sf("run", now="2026-11-23T10:00")
    assert result.stderr == ""
    _good_ones_were_recorded(sf.project)
    [(kept_kind, kept_reason)] = query(sf.project, "SELECT kind, reason FROM inbound"
                                       " WHERE identity = '1764842400.M2P1.host'")  # fmt: skip
    assert kept_kind == kind
    assert (kept_reason is None) if reason is None else (reason in kept_reason)
    assert sorted(p.name.partition(":")[0] for p in (sf.project / "replies" / "cur").iterdir()) == [
        f"1764842400.M{n}P1.host" for n in (1, 2, 3)
    ]  # each marked read: none read again


def test_a_message_whose_recording_fails_is_kept_as_failed_and_can_be_recorded_later(sf):
    """A real failure, not a mock: the database refuses any event about Ana for a while
    (a trigger), so recording her reply raises half-way; Bob's bounce goes in beside it."""
    from salesflow.mail.inbound import classify
    from salesflow.store import inbound
    from salesflow.store.db import transaction
    from salesflow.store.session import Store
    from salesflow.values import parse_datetime

    _welcomed(sf)
    postgres = os.environ.get("SALESFLOW_DB", "").startswith("postgresql://")
    if postgres:
        query(sf.project, "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$"
              " BEGIN IF NEW.data LIKE '%ana@example.org%' THEN"
              " RAISE EXCEPTION 'refused for the test'; END IF; RETURN NEW; END $$")  # fmt: skip
        query(sf.project, "CREATE TRIGGER refuse BEFORE INSERT ON events"
              " FOR EACH ROW EXECUTE FUNCTION refuse()")  # fmt: skip
    else:
        query(sf.project, "CREATE TRIGGER refuse BEFORE INSERT ON events"
              " WHEN NEW.data LIKE '%ana@example.org%'"
              " BEGIN SELECT RAISE(ABORT, 'refused for the test'); END")  # fmt: skip
    _deliver(sf.project, "1764842400.M1P1.host", _reply_to(sf.project, "ana@example.org",
                                                            "<good@example.org>"))  # fmt: skip
    _deliver(sf.project, "1764842400.M3P1.host", _bob_bounced(sf.project))
    sf("run", now="2026-11-23T10:00")
    [(failed, reason)] = query(sf.project, "SELECT id, reason FROM inbound WHERE kind = 'failed'")
    assert reason.startswith("could not be recorded: ")
    assert "refused for the test" in reason
    assert query(
        sf.project, "SELECT email_status FROM contacts WHERE email = 'bob@example.org'"
    ) == [("undeliverable",)]
    query(sf.project, "DROP TRIGGER refuse" + (" ON events" if postgres else ""))
    project = open_project(sf.project)
    store = Store.open(project, parse_datetime("2026-11-23T10:05", "fr_FR", project.timezone))
    try:  # what `salesflow inbound reprocess --failed` does
        with transaction(store.conn):
            raw = inbound.raw(store, failed)
            assert inbound.reclassify(store, failed, classify(raw, inbound.OutboxKnown(store)))
    finally:
        store.conn.close()
    sf("run", now="2026-11-23T10:05")
    _good_ones_were_recorded(sf.project)
