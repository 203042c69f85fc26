"""Reading a mailbox once each message (salesflow/mail/mailbox.py): against a real Dovecot
(tests/dovecot.py) over IMAP, and a Maildir folder in tmp_path — the same cases for both."""

from __future__ import annotations

import imaplib
import itertools
import mailbox
import socket
import threading
from pathlib import Path

import pytest

from salesflow.mail.mailbox import (
    ImapSettings,
    MailboxFault,
    MailboxState,
    MaildirSettings,
    open_mailbox,
)


def message(n: int, body: str = "Oui, je m'inscris demain.") -> bytes:
    return (
        f"From: Julie Martin <julie@example.org>\r\nTo: club@club.example\r\n"
        f"Subject: Re: Envie de continuer, Julie ? ({n})\r\n"
        f"Message-ID: <reply-{n}@example.org>\r\n\r\n{body}\r\n"
    ).encode()


_folders = itertools.count(1)


class ImapSource:
    """A folder of its own on the test run's Dovecot; messages APPENDed with imaplib."""

    def __init__(self, server):
        self.server = server
        self.folder = f"Replies{next(_folders)}"
        with self._client() as client:
            client.create(self.folder)
        self.settings = self.imap()

    def imap(self, **changes) -> ImapSettings:
        options = {"host": "127.0.0.1", "port": self.server.port, "user": self.server.user,
                   "password": self.server.password, "folder": self.folder, "tls": "none",
                   "timeout": 5.0, **changes}  # fmt: skip
        return ImapSettings(**options)

    def _client(self) -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", self.server.port, timeout=5)
        client.login(self.server.user, self.server.password)
        return client

    def deliver(self, raw: bytes) -> None:
        with self._client() as client:
            assert client.append(self.folder, None, None, raw)[0] == "OK"

    def seen(self) -> int:
        """How many messages of the folder carry \\Seen."""
        with self._client() as client:
            client.select(self.folder, readonly=True)
            return len(client.uid("SEARCH", "SEEN")[1][0].split())

    def recreate(self) -> None:
        """Delete the folder and make it again with the same messages: a new UIDVALIDITY."""
        with self._client() as client:
            client.select(self.folder, readonly=True)
            count = len(client.search(None, "ALL")[1][0].split())
            raws = [client.fetch(str(n), "(BODY.PEEK[])")[1][0][1] for n in range(1, count + 1)]
            client.close()
            client.delete(self.folder)
            client.create(self.folder)
        for raw in raws:
            self.deliver(raw)


class MaildirSource:
    """A Maildir folder in tmp_path, delivered to by the standard library's mailbox."""

    def __init__(self, folder: Path):
        self.box = mailbox.Maildir(folder, create=True)
        self.settings = MaildirSettings(folder)

    def deliver(self, raw: bytes) -> None:
        self.box.add(raw)

    def seen(self) -> int:
        return sum("S" in self.box.get_message(key).get_flags() for key in self.box.iterkeys())


@pytest.fixture(params=["imap", "maildir"])
def source(request, tmp_path):
    if request.param == "imap":
        return ImapSource(request.getfixturevalue("dovecot"))
    return MaildirSource(tmp_path / "Maildir")


def read_all(settings, state=MailboxState(), mark=True, size_limit=10_000):
    """Every new message, each marked done unless `mark` is false; and the state after."""
    with open_mailbox(settings, size_limit=size_limit) as box:
        fetched = []
        for each in box.new_messages(state):
            fetched.append(each)
            if mark:
                box.done(each)
        return fetched, box.state


def test_each_message_is_read_once(source):
    for n in (1, 2, 3):
        source.deliver(message(n))
    first, state = read_all(source.settings)
    assert [f.raw.replace(b"\r\n", b"\n") for f in first] == [
        message(n).replace(b"\r\n", b"\n") for n in (1, 2, 3)
    ]
    assert len({f.identity for f in first}) == 3 and source.seen() == 3
    assert read_all(source.settings, state)[0] == []
    source.deliver(message(4))
    again, _ = read_all(source.settings, state)
    assert [b"<reply-4@example.org>" in f.raw for f in again] == [True]


def test_a_crash_between_recording_and_marking_reads_the_message_again(source):
    """Recorded, then the process dies before `done`: the next read yields the message
    again with the same identity (the caller ignores it as a duplicate); nothing was marked."""
    source.deliver(message(1))
    recorded, state = read_all(source.settings, mark=False)
    assert source.seen() == 0
    again, state = read_all(source.settings, state)
    assert [f.identity for f in again] == [f.identity for f in recorded]
    assert source.seen() == 1
    assert read_all(source.settings, state)[0] == []


def test_a_message_over_the_size_limit_comes_with_its_size_and_header_only(source):
    big = message(1, body="la " * 5_000)
    source.deliver(big)
    source.deliver(message(2))
    fetched, _ = read_all(source.settings, size_limit=5_000)
    assert [f.too_big for f in fetched] == [True, False]
    assert fetched[0].raw is None and fetched[0].size >= len(big) - 10  # CRLF or LF stored
    assert b"Message-ID: <reply-1@example.org>" in fetched[0].header
    assert b"la la" not in fetched[0].header
    assert source.seen() == 2  # recorded as too big, then marked: never read again


def test_imap_state_moves_only_past_messages_done(dovecot):
    """One message not done (its recording failed) is read again, and those after it too:
    the state stops before it."""
    source = ImapSource(dovecot)
    for n in (1, 2, 3):
        source.deliver(message(n))
    with open_mailbox(source.settings) as box:
        fetched = list(box.new_messages(MailboxState()))
        box.done(fetched[0])
        box.done(fetched[2])
        state = box.state
    assert state.last_uid == 1
    again, state = read_all(source.settings, state)
    assert [f.identity for f in again] == [f.identity for f in fetched[1:]]
    assert state.last_uid == 3


def test_imap_a_recreated_folder_is_read_again_flagged_reread(dovecot):
    source = ImapSource(dovecot)
    source.deliver(message(1))
    before, state = read_all(source.settings)
    source.recreate()
    after, new_state = read_all(source.settings, state)
    assert new_state.uidvalidity != state.uidvalidity
    assert [f.reread for f in after] == [True]
    assert after[0].identity != before[0].identity
    assert b"<reply-1@example.org>" in after[0].raw  # the caller de-duplicates by Message-ID


def test_imap_errors_are_one_line_each(dovecot):
    source = ImapSource(dovecot)
    address = f"127.0.0.1:{dovecot.port}"
    with pytest.raises(MailboxFault) as refused:
        read_all(source.imap(password="wrong"))
    assert str(refused.value) == (
        f"the IMAP server {address} refused the login of {dovecot.user}:"
        " [AUTHENTICATIONFAILED] Authentication failed."
    )
    with pytest.raises(MailboxFault) as folder:
        read_all(source.imap(folder=source.folder + "x"))
    assert str(folder.value) == (
        f"no folder '{source.folder}x' in the mailbox of {dovecot.user} at {address}"
        f" (did you mean '{source.folder}'?)"
    )


def test_imap_tls_with_the_servers_certificate(dovecot):
    source = ImapSource(dovecot)
    source.deliver(message(1))
    ssl_settings = source.imap(tls="ssl", port=dovecot.tls_port, ca_file=dovecot.cert)
    assert len(read_all(ssl_settings, mark=False)[0]) == 1
    starttls = source.imap(tls="starttls", ca_file=dovecot.cert)
    assert len(read_all(starttls, mark=False)[0]) == 1
    with pytest.raises(MailboxFault) as untrusted:
        read_all(source.imap(tls="ssl", port=dovecot.tls_port))
    assert str(untrusted.value) == (
        f"TLS with the IMAP server 127.0.0.1:{dovecot.tls_port} failed (connecting):"
        " self-signed certificate"
    )


def test_imap_an_unreachable_or_silent_server_is_one_line_within_the_timeout():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings = ImapSettings("127.0.0.1", "u", "p", tls="none", port=port, timeout=1)
    with pytest.raises(MailboxFault, match=r"^cannot reach the IMAP server 127\.0\.0\.1:\d+ "):
        read_all(settings)
    with socket.socket() as silent:  # accepts (the kernel's backlog), never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        settings = ImapSettings("127.0.0.1", "u", "p", tls="ssl", port=port, timeout=0.5)
        with pytest.raises(MailboxFault) as waited:
            read_all(settings)
    assert str(waited.value) == (
        f"the IMAP server 127.0.0.1:{port} did not answer within 0.5 s (connecting)"
    )


def test_maildir_done_keeps_the_files_flags_and_key(tmp_path):
    source = MaildirSource(tmp_path / "Maildir")
    source.deliver(message(1))
    (name,) = (tmp_path / "Maildir" / "new").iterdir()
    name.rename(name.with_name(name.name + ":2,F"))  # flagged by a person's mail client
    (fetched,) = read_all(source.settings)[0]
    (moved,) = (tmp_path / "Maildir" / "cur").iterdir()
    assert moved.name == f"{fetched.identity}:2,FS"


def test_maildir_a_folder_that_is_not_one_is_one_line(tmp_path):
    (tmp_path / "mail" / "new").mkdir(parents=True)
    with pytest.raises(MailboxFault) as fault:
        read_all(MaildirSettings(tmp_path / "mail"))
    folder = tmp_path / "mail"
    assert str(fault.value) == (
        f"{folder} is not a Maildir folder: it has no cur/, tmp/"
        f" (make them: mkdir -p {folder}/{{new,cur,tmp}})"
    )


def test_imap_a_folder_named_in_french_and_many_messages_in_batches(dovecot, monkeypatch):
    """A folder name outside ASCII goes in IMAP's modified UTF-7; messages come in several
    commands (here 2 by 2), in order, each once."""
    monkeypatch.setattr("salesflow.mail.mailbox.BATCH_UIDS", 2)
    source = ImapSource(dovecot)
    with source._client() as client:
        client.create("R&AOk-ponses")  # "Réponses", as a mail client names it
    source.folder = "R&AOk-ponses"
    for n in range(1, 6):
        source.deliver(message(n))
    fetched, state = read_all(source.imap(folder="Réponses"))
    assert [f.raw.count(f"<reply-{n}@".encode()) for n, f in enumerate(fetched, 1)] == [1] * 5
    assert state.last_uid == 5 and source.seen() == 5


def test_imap_a_server_that_hangs_up_is_one_line():
    """It greets, then closes the connection at the first command (imaplib asks for the
    capabilities while connecting)."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]

        def greet_and_hang_up() -> None:
            connection, _ = listening.accept()
            with connection:
                connection.sendall(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n")
                connection.recv(1000)

        server = threading.Thread(target=greet_and_hang_up, daemon=True)
        server.start()
        settings = ImapSettings("127.0.0.1", "u", "p", tls="none", port=port, timeout=5)
        with pytest.raises(MailboxFault) as fault:
            read_all(settings)
        server.join(timeout=5)
    assert str(fault.value) == (
        f"the IMAP server 127.0.0.1:{port} broke the connection (connecting):"
        " command: CAPABILITY => socket error: EOF"
    )


def test_maildir_messages_come_in_delivery_order(tmp_path):
    """The names' microseconds are not zero-padded: M99999 came before M100000."""
    source = MaildirSource(tmp_path / "Maildir")
    for n, name in ((2, "1764842400.M100000P7Q2.host"), (1, "1764842400.M99999P7Q1.host")):
        (tmp_path / "Maildir" / "new" / name).write_bytes(message(n))
    fetched, _ = read_all(source.settings)
    assert [f.identity for f in fetched] == [
        "1764842400.M99999P7Q1.host",
        "1764842400.M100000P7Q2.host",
    ]
