"""Reading new messages from a mailbox — an IMAP folder or a local Maildir — once each.

The guarantee is at least once, made exactly once by the caller:

    with open_mailbox(settings) as mailbox:
        for fetched in mailbox.new_messages(stored_state):
            record(fetched)            # keyed by fetched.identity: a second time is ignored
            mailbox.done(fetched)      # only now is the message marked on the server
        store(mailbox.state)

Nothing is marked before `done`, so a crash between recording and marking leaves the message
new: the next read yields it again, with the same identity, and the caller ignores it.

- IMAP (through `imapclient`): new means a UID above the stored `last_uid` of the stored
  UIDVALIDITY — never the \\Seen flag, which a person reading the same mailbox sets too.
  Bodies are fetched with BODY.PEEK[] (which leaves \\Seen alone); `done` sets \\Seen, so the
  person sees what salesflow has read, and the UIDs stay (a move to a folder would renumber
  them, needs the MOVE extension or an expunge, and a folder that exists). When UIDVALIDITY
  changed (the folder was recreated), every message is read again, flagged `reread`: the
  caller de-duplicates those by Message-ID.
- Maildir (RFC-less but common: Postfix, Dovecot, getmail deliver to it): new means a file in
  new/; `done` renames it into cur/ with the S flag (one atomic rename; the standard
  library's `mailbox.Maildir` would parse and rewrite the file to move it). The identity is
  the file's unique name (its key), which the move keeps.

A message over the size limit is not read whole: it comes with its size and its header only
(`raw` is None), for the caller to record as too big. Every network wait is bounded by the
settings' timeout; whatever the mailbox refuses is one `MailboxFault` line.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, Protocol

from salesflow.errors import EnvironmentFault, did_you_mean

SIZE_LIMIT = 10 * 1024 * 1024  # bytes: a reply with a few photos; a bigger message is "too big"
HEADER_LIMIT = 64 * 1024  # bytes of header kept of a message that is too big
BATCH_BYTES = 4 * 1024 * 1024  # bodies fetched per IMAP command, at most (and one at least)
BATCH_UIDS = 500  # UIDs per IMAP command: imapclient writes each out, servers cap a line


class MailboxFault(EnvironmentFault):
    """The mailbox cannot be read: unreachable, login refused, no such folder, TLS failed,
    not a Maildir. One line naming the mailbox and what went wrong."""


@dataclass(frozen=True)
class ImapSettings:
    """Where the IMAP mailbox is. `tls`: "ssl" (TLS from the first byte, port 993),
    "starttls" (port 143, then STARTTLS) or "none" (port 143, plain text: a local server
    only). `ca_file` trusts a server's own certificate (a self-signed one) beside the
    system's authorities."""

    host: str
    user: str
    password: str = field(repr=False)
    folder: str = "INBOX"
    tls: Literal["ssl", "starttls", "none"] = "ssl"
    port: int | None = None
    timeout: float = 30.0  # seconds, for each network wait
    ca_file: Path | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port or (993 if self.tls == 'ssl' else 143)}"


@dataclass(frozen=True)
class MaildirSettings:
    """A Maildir folder on this machine (with its new/, cur/ and tmp/)."""

    path: Path


@dataclass(frozen=True)
class MailboxState:
    """How far the caller has read, to store between reads: the folder's UIDVALIDITY and the
    highest UID done (IMAP; a Maildir needs neither and keeps the zeros). The zeros: never
    read, so every message present is new."""

    uidvalidity: int = 0
    last_uid: int = 0


@dataclass(frozen=True)
class Fetched:
    """One new message. `identity` is stable across reads (IMAP: folder, UIDVALIDITY and UID;
    Maildir: the file's key): record by it. `raw` is the whole message, or None when it is
    over the size limit (`too_big`), then `header` is its header alone."""

    identity: str
    size: int
    raw: bytes | None
    header: bytes = b""
    reread: bool = False  # the folder was recreated: maybe recorded before under another identity
    ref: int | str = field(default=0, repr=False)  # the UID or the file name, for `done`

    @property
    def too_big(self) -> bool:
        return self.raw is None


class Mailbox(Protocol):
    """What both kinds of mailbox offer (see the module's docstring)."""

    state: MailboxState

    def new_messages(self, state: MailboxState) -> Iterator[Fetched]: ...

    def done(self, fetched: Fetched) -> None: ...


@contextlib.contextmanager
def open_mailbox(
    settings: ImapSettings | MaildirSettings, size_limit: int = SIZE_LIMIT
) -> Iterator[Mailbox]:
    """The mailbox, connected (IMAP) or checked (Maildir); closed at the end."""
    if isinstance(settings, MaildirSettings):
        yield MaildirBox(settings.path, size_limit)
        return
    box = ImapBox(settings, size_limit)
    try:
        yield box
    finally:
        box.close()


class ImapBox:
    """An IMAP folder, through one connection for the whole read."""

    def __init__(self, settings: ImapSettings, size_limit: int = SIZE_LIMIT):
        self.settings = settings
        self.size_limit = size_limit
        self.state = MailboxState()
        self._pending: list[int] = []  # UIDs yielded or skipped, in order, not yet all done
        self._finished: set[int] = set()
        self.client = self._connect()

    def _connect(self):
        import ssl

        from imapclient import IMAPClient  # only a read of the mailbox pays for these imports

        s = self.settings
        context = ssl.create_default_context(cafile=s.ca_file and str(s.ca_file))
        host, port = s.address.rsplit(":", 1)
        with self._talking("connecting"):
            client = IMAPClient(host, int(port), ssl=s.tls == "ssl", ssl_context=context,
                                timeout=s.timeout)  # fmt: skip
        try:
            with self._talking("logging in"):
                if s.tls == "starttls":
                    client.starttls(context)
                client.login(s.user, s.password)
        except BaseException:
            with contextlib.suppress(Exception):
                client.shutdown()
            raise
        return client

    def close(self) -> None:
        with contextlib.suppress(Exception):  # the read is over: a failed goodbye changes nothing
            self.client.logout()

    def new_messages(self, state: MailboxState) -> Iterator[Fetched]:
        uidvalidity, count = self._select()
        reread = state.uidvalidity not in (0, uidvalidity)
        last = 0 if reread else state.last_uid
        self.state = MailboxState(uidvalidity, last)
        sizes = self._sizes(last) if count else {}
        self._pending, self._finished = sorted(sizes), set()
        for batch in _batches(sizes, self.size_limit):
            yield from self._fetch(batch, sizes, reread)

    def done(self, fetched: Fetched) -> None:
        """Mark the message \\Seen and move the state past it (past every earlier one too
        once they are all done: one not done is read again next time)."""
        with self._talking("marking a message read"):
            self.client.add_flags([fetched.ref], [b"\\Seen"], silent=True)
        self._finish(int(fetched.ref))

    def _select(self) -> tuple[int, int]:
        """The folder's UIDVALIDITY and its number of messages."""
        s = self.settings
        try:
            with self._talking(f"opening the folder '{s.folder}'"):
                answer = self.client.select_folder(s.folder)
                return int(answer[b"UIDVALIDITY"]), int(answer[b"EXISTS"])
        except MailboxFault:
            with self._talking("listing the folders"):
                names = [name for _, _, name in self.client.list_folders()]
            if s.folder in names:
                raise
            raise MailboxFault(
                f"no folder '{s.folder}' in the mailbox of {s.user} at {s.address}"
                f"{did_you_mean(s.folder, names)}"
            ) from None

    def _sizes(self, last: int) -> dict[int, int]:
        """The size of each message above UID `last` (`last+1:*` names the highest message
        even when it is below: it is left out), asked BATCH_UIDS at a time."""
        with self._talking("listing the new messages"):
            uids = [uid for uid in self.client.search(["UID", f"{last + 1}:*"]) if uid > last]
            sizes = {}
            for start in range(0, len(uids), BATCH_UIDS):
                answer = self.client.fetch(uids[start : start + BATCH_UIDS], ["RFC822.SIZE"])
                sizes.update((uid, data[b"RFC822.SIZE"]) for uid, data in answer.items())
        return sizes

    def _fetch(self, uids: list[int], sizes: dict[int, int], reread: bool) -> Iterator[Fetched]:
        small = [uid for uid in uids if sizes[uid] <= self.size_limit]
        with self._talking("reading the messages"):
            bodies = self.client.fetch(small, ["BODY.PEEK[]"]) if small else {}
            big = [uid for uid in uids if sizes[uid] > self.size_limit]
            headers = self.client.fetch(big, ["BODY.PEEK[HEADER]"]) if big else {}
        v = self.state.uidvalidity
        for uid in uids:
            answer = bodies.get(uid) or headers.get(uid)
            if answer is None:  # expunged meanwhile: nothing to record
                self._finish(uid)
                continue
            raw = answer.get(b"BODY[]")
            header = answer.get(b"BODY[HEADER]", b"")[:HEADER_LIMIT]
            identity = f"{self.settings.folder};UIDVALIDITY={v};UID={uid}"
            yield Fetched(identity, sizes[uid], raw, header, reread, uid)

    def _finish(self, uid: int) -> None:
        self._finished.add(uid)
        last = self.state.last_uid
        while self._pending and self._pending[0] in self._finished:
            last = self._pending.pop(0)
        self.state = replace(self.state, last_uid=last)

    @contextlib.contextmanager
    def _talking(self, what: str):
        """imapclient's and the socket's errors as one MailboxFault line."""
        import ssl

        from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError

        s = self.settings
        try:
            yield
        except LoginError as error:
            raise MailboxFault(
                f"the IMAP server {s.address} refused the login of {s.user}: {_text(error)}"
            ) from None
        except ssl.SSLError as error:
            reason = getattr(error, "verify_message", None) or error.reason or error
            raise MailboxFault(
                f"TLS with the IMAP server {s.address} failed ({what}): {reason}"
            ) from None
        except TimeoutError:
            raise MailboxFault(
                f"the IMAP server {s.address} did not answer within {s.timeout:g} s ({what})"
            ) from None
        except OSError as error:
            raise MailboxFault(
                f"cannot reach the IMAP server {s.address} ({what}): {error.strerror or error}"
            ) from None
        except IMAPClientAbortError as error:
            raise MailboxFault(
                f"the IMAP server {s.address} broke the connection ({what}): {_text(error)}"
            ) from None
        except IMAPClientError as error:
            raise MailboxFault(
                f"the IMAP server {s.address} refused {what}: {_text(error)}"
            ) from None


def _text(error: Exception) -> str:
    text = str(error)
    return text[2:-1] if text.startswith(("b'", 'b"')) else text


def _batches(sizes: dict[int, int], size_limit: int) -> Iterator[list[int]]:
    """The UIDs in order, in groups of at most BATCH_BYTES and BATCH_UIDS (a message over the
    limit counts for its header only): few round trips, and a bounded memory."""
    batch, weight = [], 0
    for uid in sorted(sizes):
        size = sizes[uid] if sizes[uid] <= size_limit else HEADER_LIMIT
        if batch and (weight + size > BATCH_BYTES or len(batch) == BATCH_UIDS):
            yield batch
            batch, weight = [], 0
        batch.append(uid)
        weight += size
    if batch:
        yield batch


class MaildirBox:
    """A Maildir folder: the files of new/, oldest name first, each moved to cur/ when done."""

    def __init__(self, path: Path, size_limit: int = SIZE_LIMIT):
        missing = [sub for sub in ("new", "cur", "tmp") if not (path / sub).is_dir()]
        if missing:
            raise MailboxFault(
                f"{path} is not a Maildir folder: it has no {'/, '.join(missing)}/"
                f" (make them: mkdir -p {path}/{{new,cur,tmp}})"
            )
        self.path = path
        self.size_limit = size_limit
        self.state = MailboxState()

    def new_messages(self, state: MailboxState) -> Iterator[Fetched]:
        self.state = state
        for name in self._new_names():
            with contextlib.suppress(FileNotFoundError):  # another reader took it meanwhile
                yield self._read(name)

    def done(self, fetched: Fetched) -> None:
        """Move the file into cur/ with the S flag (seen), keeping its key and its flags."""
        name = str(fetched.ref)
        key, _, info = name.partition(":")
        flags = info[2:] if info.startswith("2,") else ""
        target = f"{key}:2,{''.join(sorted(set(flags) | {'S'}))}"
        try:
            os.rename(self.path / "new" / name, self.path / "cur" / target)
        except FileNotFoundError:
            if not (self.path / "cur" / target).exists():
                raise MailboxFault(
                    f"{self.path}: message {key} vanished from new/ before it was marked"
                ) from None
        except OSError as error:
            raise MailboxFault(
                f"cannot move {name} from {self.path / 'new'} into cur/: {error.strerror}"
            ) from None

    def _new_names(self) -> Iterable[str]:
        try:
            names = os.listdir(self.path / "new")
        except OSError as error:
            raise MailboxFault(f"cannot read {self.path / 'new'}: {error.strerror}") from None
        return sorted((name for name in names if not name.startswith(".")), key=_delivery_order)

    def _read(self, name: str) -> Fetched:
        """The message in new/`name`. A file that cannot be read (its permissions, most
        likely the mail server's user) is the mailbox's fault, not the message's: the read
        stops there, to go on once a person fixed it."""
        key = name.partition(":")[0]
        try:
            with open(self.path / "new" / name, "rb") as file:
                size = os.fstat(file.fileno()).st_size
                if size <= self.size_limit:
                    return Fetched(key, size, file.read(), ref=name)
                head = file.read(HEADER_LIMIT)
        except FileNotFoundError:
            raise
        except OSError as error:
            raise MailboxFault(
                f"cannot read {self.path / 'new' / name}: {error.strerror}"
            ) from None
        end = min((i for i in (head.find(b"\r\n\r\n"), head.find(b"\n\n")) if i >= 0),
                  default=len(head))  # fmt: skip
        return Fetched(key, size, None, head[:end], ref=name)


def _delivery_order(name: str) -> tuple[int, int, str]:
    """A Maildir name's delivery time: `<seconds>.M<microseconds>P<pid>….<host>` (the
    microseconds unpadded, so the names alone do not sort), else the name as it is."""
    seconds, _, rest = name.partition(".")
    micro = re.match(r"M(\d+)", rest)
    return (int(seconds) if seconds.isdigit() else 0, int(micro[1]) if micro else 0, name)
