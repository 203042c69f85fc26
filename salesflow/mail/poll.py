"""`salesflow run` (and `serve`'s worker, and `salesflow inbound poll`) reading the replies
mailbox: each new message classified, recorded and acted on (store/inbound.py), once.

A batch of messages is recorded in one transaction, and only then marked read in the mailbox
(IMAP: \\Seen; Maildir: moved from new/ to cur/): a crash in between leaves them new, and the
next poll ignores them as recorded. Two polls at once (`run` beside `serve`'s worker) record
each message once: the second finds it recorded, or skips it when both found it new. One
message that cannot be recorded (a fault of ours) is kept as `failed` with the error, for
`inbound reprocess`; the poll goes on. A mailbox that cannot be read (unreachable, a login
refused, a file the mail server's user alone may read) is stored as the poll's error —
`check` reports it — and stops nothing else: the tick goes on without it.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

from salesflow.config.model import ImapMailbox, InboundSettings
from salesflow.errors import UserError
from salesflow.mail.inbound import Inbound, Kind, Verp, classify, too_big
from salesflow.mail.mailbox import (
    Fetched,
    ImapSettings,
    MailboxFault,
    MailboxState,
    MaildirSettings,
    open_mailbox,
)
from salesflow.store import inbound
from salesflow.store.db import describe, isolated, transaction
from salesflow.store.session import Store
from salesflow.wording import counted

BATCH = 200  # messages recorded per transaction, then marked read


@dataclass
class PollResult:
    kinds: Counter = field(default_factory=Counter)  # what the new messages were
    error: str | None = None  # why the mailbox could not be read

    @property
    def read(self) -> int:
        return sum(self.kinds.values())

    def summary(self) -> str:
        if self.error:
            return f"the replies mailbox was not read: {self.error}"
        if not self.read:
            return "no new message in the replies mailbox"
        kinds = ", ".join(f"{count} {kind.replace('_', ' ')}" for kind, count in
                          sorted(self.kinds.items()))  # fmt: skip
        return f"{counted(self.read, 'message')} read from the replies mailbox ({kinds})"

    def as_json(self) -> dict:
        return {"read": self.read, "kinds": dict(self.kinds), "error": self.error}


def mailbox_settings(settings: InboundSettings) -> ImapSettings | MaildirSettings:
    """How mail.mailbox opens the configured mailbox, its password read from the environment."""
    box = settings.mailbox
    if not isinstance(box, ImapMailbox):
        return MaildirSettings(box)
    password = os.environ.get(box.password_env)
    if password is None:
        raise MailboxFault(
            f"set the password of {box.user} at {box.host} in the environment variable"
            f" {box.password_env} (email.inbound.imap.password_env)"
        )
    return ImapSettings(box.host, box.user, password, box.folder, box.tls, box.port,  # type: ignore[arg-type]
                        box.timeout, box.ca_file)  # fmt: skip


def poll_if_due(store: Store) -> PollResult | None:
    """`run`'s and the worker's poll: only when `email.inbound.poll` has passed since the
    last one (None when it has not, or no mailbox is set)."""
    return poll(store) if inbound.poll_due(store) else None


def poll(store: Store) -> PollResult:
    """Read every new message of the replies mailbox now; what they were."""
    settings = store.project.email.inbound
    if settings is None:
        raise UserError(
            "salesflow.yaml has no email.inbound: say where replies arrive"
            " (imap: {host, user, password_env} or maildir: FOLDER)"
        )
    key = inbound.mailbox_key(settings)
    before = inbound.last_read(store, key)
    state = MailboxState(before.uidvalidity, before.last_uid)
    result = PollResult()
    try:
        with open_mailbox(mailbox_settings(settings), settings.max_bytes) as mailbox:
            reader = _Reader(store, settings, result)
            batch: list[Fetched] = []
            for fetched in mailbox.new_messages(state):
                batch.append(fetched)
                if len(batch) == BATCH:
                    reader.take(batch, mailbox)
                    batch = []
            reader.take(batch, mailbox)
            state = mailbox.state
    except MailboxFault as error:
        result.error = str(error)
    with transaction(store.conn):
        inbound.save_read(store, key, state.uidvalidity, state.last_uid, result.error)
    return result


class _Reader:
    def __init__(self, store: Store, settings: InboundSettings, result: PollResult):
        self.store = store
        self.settings = settings
        self.result = result
        self.known = inbound.OutboxKnown(store)
        path = store.project.email.return_path
        self.verp = Verp(path) if path else None

    def take(self, batch: list[Fetched], mailbox) -> None:
        """Record the batch in one transaction, then mark each message read."""
        if not batch:
            return
        with transaction(self.store.conn):
            for fetched in batch:
                self._one(fetched)
        for fetched in batch:
            mailbox.done(fetched)

    def _one(self, fetched: Fetched) -> None:
        reading = self._classify(fetched)
        if inbound.seen(self.store, fetched.identity, reading.message_id, fetched.reread):
            return  # recorded by a poll that stopped before marking it read
        raw = fetched.raw if fetched.raw is not None else fetched.header

        def record() -> None:
            if inbound.record(self.store, fetched.identity, fetched.size, raw, reading):
                self.result.kinds[reading.kind] += 1

        def failed(error: Exception) -> None:
            reason = f"could not be recorded: {describe(error)} (`salesflow inbound reprocess`)"
            kept = _kept_as(reading, "failed", reason)
            bare = Inbound("failed", reason=reason)  # if what it says cannot be kept either
            isolated(self.store.conn, lambda: keep(kept), lambda _: keep(bare))

        def keep(kept: Inbound) -> None:
            if inbound.keep(self.store, fetched.identity, fetched.size, raw, kept):
                self.result.kinds["failed"] += 1

        isolated(self.store.conn, record, failed)

    def _classify(self, fetched: Fetched) -> Inbound:
        """What the message is; one too big to read is `unreadable`, with the sender and
        subject its header gives."""
        if fetched.too_big:
            return too_big(fetched.header, fetched.size, self.settings.max_bytes)
        return classify(fetched.raw or b"", self.known, verp=self.verp,
                        max_bytes=self.settings.max_bytes)  # fmt: skip


def _kept_as(reading: Inbound, kind: Kind, reason: str) -> Inbound:
    """Who sent it and about what, and why it is not acted on."""
    return Inbound(kind, reading.message_id, reading.sender, reading.subject, reading.received,
                   reason=reason)  # fmt: skip
