"""Reading the replies mailbox (salesflow/mail/poll.py) — a Maildir folder and a real Dovecot
over IMAP (tests/dovecot.py), the same cases on both: each message recorded once, also after a
crash between recording and marking; bad messages each kept with their reason; a mailbox that
cannot be read stops nothing; and `run` reads it only when it is due."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from conftest import query
from mail_project import CLUB, SETTINGS, deliver, project, reply, store_at
from test_mailbox import ImapSource

from salesflow.cli.quick import nothing_due
from salesflow.mail.poll import PollResult, poll
from salesflow.store import inbound
from salesflow.store.db import transaction

CORPUS = Path(__file__).parent / "fixtures" / "inbound"
SENT = "2026-12-01T09:00"
READ = "2026-12-02T10:00"


class Maildir:
    """The project's Maildir `replies/`, delivered to as a mail server does."""

    inbound = "maildir: replies"

    def __init__(self, root: Path):
        self.root = root

    def deliver(self, raw: bytes) -> None:
        deliver(self.root, raw)

    def forget_done(self) -> None:
        """As if the poll had died after recording, before marking: back to new/."""
        cur = self.root / "replies" / "cur"
        for path in cur.iterdir():
            path.rename(self.root / "replies" / "new" / path.name.partition(":")[0])

    def marked(self) -> int:
        return len(list((self.root / "replies" / "cur").iterdir()))


class Imap:
    """A folder of the test run's Dovecot, read with the password from the environment."""

    def __init__(self, root: Path, server, monkeypatch):
        self.root, self.source = root, ImapSource(server)
        monkeypatch.setenv("IMAP_PASSWORD", server.password)
        self.inbound = (
            f"imap: {{host: 127.0.0.1, port: {server.port}, user: {server.user},"
            f" password_env: IMAP_PASSWORD, folder: {self.source.folder}, tls: none, timeout: 5}}"
        )

    def deliver(self, raw: bytes) -> None:
        self.source.deliver(raw)

    def forget_done(self) -> None:
        """As if the poll had died after recording, before marking: no \\Seen, and the
        stored state not moved."""
        with self.source._client() as client:
            client.select(self.source.folder)
            client.store("1:*", "-FLAGS", "\\Seen")
        query(self.root, "UPDATE mailbox_reads SET last_uid = 0")

    def marked(self) -> int:
        return self.source.seen()


def settings(box, more: str = "") -> str:
    return SETTINGS.replace("maildir: replies", box.inbound + more)


@pytest.fixture(params=["maildir", "imap"])
def box(request, tmp_path, monkeypatch):
    root = tmp_path / "club"
    if request.param == "imap":
        made = Imap(root, request.getfixturevalue("dovecot"), monkeypatch)
    else:
        made = Maildir(root)
    project(root, settings(made))
    return made


@pytest.fixture
def sf(cli):
    def run(root: Path, *args: str, now: str = SENT, code: int = 0):
        result = cli("--project", root, "--now", now, *args)
        assert result.exit_code == code, result.output
        return result

    return run


def sent_to(sf, root: Path, email: str, tag: str = "relance") -> str:
    """A contact in the `tag` sequence, its first email sent; that email's Message-ID."""
    sf(root, "contacts", "add", email, "--tag", tag)
    sf(root, "run")
    return query(root, "SELECT message_id FROM outbox WHERE to_addr = ?", email)[0][0]


def poll_at(root: Path, now: str = READ) -> PollResult:
    store = store_at(root, now)
    try:
        return poll(store)
    finally:
        store.conn.close()


def recorded(root: Path) -> list[tuple]:
    return query(root, "SELECT kind, sender, subject, reason FROM inbound ORDER BY id")


def test_each_message_is_recorded_once_and_marked_read(box, sf):
    sent = sent_to(sf, box.root, "julie@example.org")
    box.deliver(reply("julie@example.org", sent))
    box.deliver(reply("paul@example.org", message_id="<new@example.org>", subject="Bonjour"))
    first = poll_at(box.root)
    assert (first.read, dict(first.kinds), first.error) == (2, {"reply": 1, "unmatched": 1}, None)
    assert first.summary() == "2 messages read from the replies mailbox (1 reply, 1 unmatched)"
    assert box.marked() == 2
    assert poll_at(box.root, "2026-12-02T10:05").read == 0
    box.deliver(reply("julie@example.org", sent, message_id="<reply-2@example.org>"))
    assert dict(poll_at(box.root, "2026-12-02T10:10").kinds) == {"reply": 1}
    assert len(recorded(box.root)) == 3
    assert query(box.root, "SELECT count(*) FROM events WHERE type = 'email.replied'") == [(2,)]


def test_a_crash_between_recording_and_marking_records_nothing_twice(box, sf):
    sent = sent_to(sf, box.root, "julie@example.org")
    box.deliver(reply("julie@example.org", sent))
    box.deliver(reply("julie@example.org", sent, message_id="<reply-2@example.org>"))
    assert poll_at(box.root).read == 2
    box.forget_done()
    assert box.marked() == 0
    again = poll_at(box.root, "2026-12-02T10:05")
    assert (again.read, again.error) == (0, None)
    assert box.marked() == 2  # marked this time
    assert [kind for kind, *_ in recorded(box.root)] == ["reply", "reply"]
    assert query(box.root, "SELECT count(*) FROM events WHERE type = 'email.replied'") == [(2,)]


def test_imap_a_recreated_folder_is_read_again_and_recorded_once(dovecot, tmp_path, monkeypatch):
    box = Imap(tmp_path / "club", dovecot, monkeypatch)
    project(box.root, settings(box))
    box.deliver(reply("julie@example.org"))
    assert poll_at(box.root).read == 1
    [(before,)] = query(box.root, "SELECT uidvalidity FROM mailbox_reads")
    box.source.recreate()  # a new UIDVALIDITY: the UIDs say nothing any more
    box.deliver(reply("julie@example.org", message_id="<reply-2@example.org>"))
    again = poll_at(box.root, "2026-12-02T10:05")
    assert again.read == 1  # the new one; the first is known by its Message-ID
    [(after,)] = query(box.root, "SELECT uidvalidity FROM mailbox_reads")
    assert after != before
    assert [s for _, s, *_ in recorded(box.root)] == ["julie@example.org"] * 2
    assert box.marked() == 2


def test_a_message_over_the_size_limit_is_kept_as_unreadable_with_its_header(box):
    project(box.root, settings(box, "\n    max_size_mb: 1"))
    huge = reply("julie@example.org", subject="Re: mes photos", body="photo " * 350_000)
    box.deliver(huge)
    box.deliver(reply("paul@example.org", message_id="<small@example.org>"))
    result = poll_at(box.root)
    assert dict(result.kinds) == {"unreadable": 1, "unmatched": 1}
    [(kind, sender, subject, reason), _] = recorded(box.root)
    assert (kind, sender, subject) == ("unreadable", "julie@example.org", "Re: mes photos")
    assert reason.endswith(" bytes, over the limit of 1 MB: not read")
    assert int(reason.split()[0]) >= 2_000_000
    [(kept,)] = query(box.root, "SELECT raw FROM inbound WHERE kind = 'unreadable'")
    assert b"Subject: Re: mes photos" in kept and b"photo photo" not in kept
    assert box.marked() == 2


def test_bad_messages_are_each_kept_with_their_reason_and_the_batch_goes_on(box, sf):
    sent = sent_to(sf, box.root, "julie@example.org")
    box.deliver((CORPUS / "binary-garbage.eml").read_bytes())
    box.deliver((CORPUS / "malformed-headers.eml").read_bytes())
    box.deliver(
        reply("julie@example.org", sent, message_id="<klingon@example.org>")
        .replace(b"charset=utf-8", b"charset=x-klingon-1")
        .replace(b"Oui, je m'inscris demain.", b"Oui, je m'inscris demain \xe0 19h.")
    )  # a charset Python does not know: the text is read, its odd bytes replaced
    box.deliver(reply("julie@example.org", sent, message_id="<good@example.org>"))
    result = poll_at(box.root)
    assert dict(result.kinds) == {"unreadable": 2, "reply": 2}
    rows = recorded(box.root)
    assert [(kind, reason) for kind, _, _, reason in rows[:2]] == [
        ("unreadable", "no sender address (From:): not a mail message"),
    ] * 2
    [(text,)] = query(
        box.root, "SELECT text FROM inbound WHERE message_id = '<klingon@example.org>'"
    )
    assert text == "Oui, je m'inscris demain \ufffd 19h."
    assert box.marked() == 4


def test_a_message_whose_recording_fails_is_kept_as_failed_and_the_others_recorded(tmp_path, sf):
    """A real failure of ours, not a mock: the test database refuses any event about
    paul@example.org (a trigger), so recording Paul's reply raises half-way."""
    box = Maildir(tmp_path / "club")
    project(box.root)
    julie = sent_to(sf, box.root, "julie@example.org")
    paul = sent_to(sf, box.root, "paul@example.org")
    query(box.root, "CREATE TRIGGER refuse BEFORE INSERT ON events"
          " WHEN NEW.data LIKE '%paul@example.org%'"
          " BEGIN SELECT RAISE(ABORT, 'refused for the test'); END")  # fmt: skip
    box.deliver(reply("julie@example.org", julie))
    box.deliver(reply("paul@example.org", paul, message_id="<paul@example.org>"))
    box.deliver(reply("julie@example.org", julie, message_id="<reply-2@example.org>"))
    result = poll_at(box.root)
    assert dict(result.kinds) == {"reply": 2, "failed": 1}
    assert recorded(box.root)[1] == (
        "failed", "paul@example.org", "Re: Envie de continuer ?",
        "could not be recorded: IntegrityError: refused for the test"
        " (`salesflow inbound reprocess`)",
    )  # fmt: skip
    assert query(box.root, "SELECT count(*) FROM events WHERE type = 'email.replied'") == [(2,)]
    assert box.marked() == 3  # kept: the mailbox need not hold it back
    query(box.root, "DROP TRIGGER refuse")  # the cause fixed, `inbound reprocess` retries it
    store = store_at(box.root, READ)
    try:
        [(failed, raw)] = store.conn.execute("SELECT id, raw FROM inbound WHERE kind = 'failed'")
        from salesflow.mail.inbound import classify

        with transaction(store.conn):
            assert inbound.reclassify(
                store, failed, classify(bytes(raw), inbound.OutboxKnown(store))
            )
    finally:
        store.conn.close()
    assert query(box.root, "SELECT count(*) FROM events WHERE type = 'email.replied'") == [(3,)]


# -- a mailbox that cannot be read stops nothing


def closed_port() -> int:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        return closed.getsockname()[1]


def unreadable_project(tmp_path: Path, port: int) -> Path:
    root = tmp_path / "club"
    imap = (f"imap: {{host: 127.0.0.1, port: {port}, tls: none, user: replies@{CLUB},"
            " password_env: IMAP_PASSWORD, timeout: 5}")  # fmt: skip
    project(root, SETTINGS.replace("maildir: replies", imap))
    return root


def mailbox_error(root: Path) -> str | None:
    [(error,)] = query(root, "SELECT error FROM mailbox_reads")
    return error


@pytest.mark.parametrize("case", ["closed port", "wrong password", "no password"])
def test_a_mailbox_that_cannot_be_read_is_one_error_line_and_run_still_ticks(
    case, tmp_path, sf, monkeypatch, request
):
    if case == "closed port":
        port = closed_port()
        expected = f"cannot reach the IMAP server 127.0.0.1:{port} (connecting): Connection refused"
    else:
        port = request.getfixturevalue("dovecot").port
        expected = {
            "wrong password": f"the IMAP server 127.0.0.1:{port} refused the login of"
            f" replies@{CLUB}: [AUTHENTICATIONFAILED] Authentication failed.",
            "no password": f"set the password of replies@{CLUB} at 127.0.0.1 in the environment"
            " variable IMAP_PASSWORD (email.inbound.imap.password_env)",
        }[case]
    if case == "no password":
        monkeypatch.delenv("IMAP_PASSWORD", raising=False)
    else:
        monkeypatch.setenv("IMAP_PASSWORD", "not-the-password")
    root = unreadable_project(tmp_path, port)
    sf(root, "contacts", "add", "julie@example.org", "--tag", "relance")
    result = sf(root, "run")
    assert result.stderr == f"error: the replies mailbox was not read: {expected}\n"
    assert mailbox_error(root) == expected
    assert query(root, "SELECT status FROM outbox") == [("sent",)]  # the tick went on


def test_run_reads_the_mailbox_only_when_it_is_due_and_the_idle_run_does_not_connect(
    tmp_path, sf, monkeypatch
):
    """The mailbox is a closed port: whoever connects records an error. The quick path
    of an idle `run` says nothing was due and records none; once `poll` (5 min) has passed,
    the run connects (and records why it could not read)."""
    monkeypatch.setenv("IMAP_PASSWORD", "sol-la-si-do")
    root = unreadable_project(tmp_path, closed_port())
    sf(root, "run", now="2026-12-01T09:00")  # never read: due at once
    assert mailbox_error(root).startswith("cannot reach the IMAP server")
    store = store_at(root, "2026-12-01T09:00")
    try:
        with transaction(store.conn):  # as a good read at 09:00 would have left it
            inbound.save_read(store, inbound.mailbox_key(store.project.email.inbound), 0, 0)
    finally:
        store.conn.close()
    for now, due in (("2026-12-01T09:04", False), ("2026-12-01T09:05", True)):
        store = store_at(root, now)
        try:
            assert inbound.poll_due(store) is due, now
        finally:
            store.conn.close()
    assert nothing_due(["--project", str(root), "--now", "2026-12-01T09:04", "run"])
    assert mailbox_error(root) is None
    assert not nothing_due(["--project", str(root), "--now", "2026-12-01T09:05", "run"])
    result = sf(root, "run", now="2026-12-01T09:05")
    assert result.stderr.startswith("error: the replies mailbox was not read: cannot reach")
    assert mailbox_error(root).startswith("cannot reach the IMAP server")
    assert query(root, "SELECT polled_at FROM mailbox_reads") == [("2026-12-01T08:05:00Z",)]


def test_a_maildir_file_that_cannot_be_read_is_the_mailboxs_fault_and_run_goes_on(tmp_path, sf):
    """What a message file the mail server's user alone may read does (here a folder where a
    file should be: the same error, for root too): one error line, kept for `check`; the
    tick goes on; the messages are read once it is fixed."""
    box = Maildir(tmp_path / "club")
    project(box.root)
    box.deliver(reply("julie@example.org"))
    odd = box.root / "replies" / "new" / "1764842400.M1P1.host"
    odd.mkdir()
    sf(box.root, "contacts", "add", "julie@example.org", "--tag", "relance")
    result = sf(box.root, "run", now=READ)
    assert result.stderr == (
        f"error: the replies mailbox was not read: cannot read {odd}: Is a directory\n"
    )
    assert mailbox_error(box.root) == f"cannot read {odd}: Is a directory"
    assert query(box.root, "SELECT status FROM outbox") == [("sent",)]
    odd.rmdir()
    assert poll_at(box.root, "2026-12-02T10:05").read == 1
    assert mailbox_error(box.root) is None


def test_a_poll_recorded_after_now_does_not_hold_the_next_one_back(tmp_path):
    """A poll at the real time, then `run --now` in the past (a test, a demo): the clock was
    set back, so the mailbox is read rather than skipped until the real time passes."""
    root = project(tmp_path / "club")
    later = store_at(root, "2026-12-05T02:28")
    try:
        poll(later)
    finally:
        later.conn.close()
    earlier = store_at(root, "2026-11-23T10:00")
    try:
        assert inbound.poll_due(earlier)
    finally:
        earlier.conn.close()
