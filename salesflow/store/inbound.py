"""The `inbound` table: each message read from the replies mailbox, once, with what it is —
and what it changes. `mailbox_reads`: how far the mailbox was read, and when.

Recording a message (`record`) and acting on it (`apply`) happen in the caller's
transaction, before the mailbox is told the message is done: a crash between the two leaves
the message new in the mailbox, and its second reading is ignored here by its identity (or,
after the folder was recreated, by its Message-ID).

What a message changes, besides its event (`email.replied`, `email.auto_replied`,
`email.bounced`, `email.complained`, for the workflows' triggers and `cancel_on`):
- a permanent bounce makes the contact's address `undeliverable` (`contacts.email_status`),
  and so do `transient_count` temporary ones within `transient_within`;
- a complaint (a reader pressed "spam") unsubscribes the contact, as does a message whose
  subject is "unsubscribe" (the footer of every email asks for that: a request, not a reply,
  so it makes no `email.replied`);
- a bounce or a complaint acts only on an email that left (matched in the outbox): one that
  names no such email (forged, or its email deleted) is kept with its reason, inert;
- an unmatched or unreadable message changes nothing: it is kept, with its reason; so does
  a message that concerns no contact (a bounce of a team member's notification, a member's
  answer copied to the mailbox): no event, since no workflow runs without its contact.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from salesflow.config.model import ImapMailbox, InboundSettings
from salesflow.durations import format_duration
from salesflow.errors import NotFound
from salesflow.store import contacts, events
from salesflow.store.db import LARGEST_ID
from salesflow.store.session import Store
from salesflow.values import read_instant, stored_instant
from salesflow.wording import counted

LATEST_SENT_WITHIN = timedelta(days=30)  # a reply matched by its sender answers a recent email
EVENTS = {
    "reply": "email.replied",
    "auto_reply": "email.auto_replied",
    "bounce": "email.bounced",
    "complaint": "email.complained",
}
UNDELIVERABLE = "undeliverable"
_REPORTS = ("bounce", "complaint")  # they act only on an email that left (`outbox_id`)
_UNSUBSCRIBE_SUBJECTS = {"unsubscribe", "désinscription", "desinscription"}
_REPLY_PREFIXES = re.compile(r"^((re|aw|sv|tr|réf|ref|fw|fwd)\s*:\s*)+")
_COLUMNS = ("message_id", "kind", "sender", "subject", "received_at", "outbox_id", "matched_by",
            "text", "recipient", "status", "severity", "feedback_type", "reason")  # fmt: skip


class OutboxKnown:
    """The outbox as `mail.inbound.classify` asks it (its `Known`): which sent email a
    Message-ID, an address or a return-path token names. Emails only, never requests."""

    def __init__(self, store: Store):
        self.store = store

    def by_message_id(self, message_id: str) -> int | None:
        return self._one("SELECT id FROM outbox WHERE message_id = ?", message_id)

    def latest_sent_to(self, address: str) -> int | None:
        """The latest email that left for this address (one queued, cancelled or failed
        reached no one: nothing answers it) within LATEST_SENT_WITHIN."""
        since = stored_instant(self.store.now - LATEST_SENT_WITHIN)
        return self._one(
            "SELECT id FROM outbox WHERE to_addr = ? AND kind = 'email' AND sent_at >= ?"
            " ORDER BY id DESC LIMIT 1",
            address.lower(), since,
        )  # fmt: skip

    def by_verp_token(self, token: str) -> int | None:
        """Our Message-IDs are `<token@domain>`: the token is the id's left part."""
        return self._one(
            "SELECT id FROM outbox WHERE message_id >= ? AND message_id < ? LIMIT 1",
            f"<{token}@", f"<{token}A",  # "A" sorts right after "@": the ids of this token
        )  # fmt: skip

    def _one(self, sql: str, *parameters) -> int | None:
        row = self.store.conn.execute(sql, parameters).fetchone()
        return row[0] if row else None


def mailbox_key(settings: InboundSettings) -> str:
    """The mailbox as `mailbox_reads` keys it: another mailbox is read from its start."""
    box = settings.mailbox
    if isinstance(box, ImapMailbox):
        return f"imap://{box.user}@{box.host}:{box.port or ''}/{box.folder}"
    return f"maildir:{box.resolve()}"


@dataclass(frozen=True)
class MailboxRead:
    """How far a mailbox was read (see mail.mailbox.MailboxState) and when it was last polled;
    `error`: why that poll failed, if it did."""

    uidvalidity: int = 0
    last_uid: int = 0
    polled_at: datetime | None = None
    error: str | None = None


def last_read(store: Store, key: str) -> MailboxRead:
    row = store.conn.execute(
        "SELECT uidvalidity, last_uid, polled_at, error FROM mailbox_reads WHERE mailbox = ?",
        (key,),
    ).fetchone()
    if row is None:
        return MailboxRead()
    when = read_instant(row["polled_at"], store.project.timezone)
    return MailboxRead(row["uidvalidity"], row["last_uid"], when, row["error"])


def save_read(
    store: Store, key: str, uidvalidity: int, last_uid: int, error: str | None = None
) -> None:
    """Where the poll got to, polled now; in the caller's transaction."""
    store.conn.execute(
        "INSERT INTO mailbox_reads (mailbox, uidvalidity, last_uid, polled_at, error)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (mailbox) DO UPDATE SET"
        " uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid,"
        " polled_at = excluded.polled_at, error = excluded.error",
        (key, uidvalidity, last_uid, store.stamp, error),
    )


def poll_due(store: Store) -> bool:
    """Whether the replies mailbox is due to be read (never polled, or `poll` ago)."""
    settings = store.project.email.inbound
    if settings is None:
        return False
    polled = last_read(store, mailbox_key(settings)).polled_at
    # a last poll "after" now: the clock was set back (--now): read it rather than wait
    return polled is None or polled + settings.poll <= store.now or polled > store.now


def seen(store: Store, identity: str, message_id: str | None, reread: bool) -> bool:
    """Whether this message was recorded before: by its identity in the mailbox, or, read
    again after the folder was recreated, by its Message-ID."""
    if store.conn.execute("SELECT 1 FROM inbound WHERE identity = ?", (identity,)).fetchone():
        return True
    if not (reread and message_id):
        return False
    found = store.conn.execute("SELECT 1 FROM inbound WHERE message_id = ?", (message_id,))
    return found.fetchone() is not None


def record(store: Store, identity: str, size: int, raw: bytes | None, inbound) -> int | None:
    """Keep one classified message (`mail.inbound.Inbound`) and act on it, in the caller's
    transaction; its id (None: another poll recorded it a moment ago)."""
    inbound_id = keep(store, identity, size, raw, inbound)
    if inbound_id is not None:
        apply(store, inbound_id)
    return inbound_id


def keep(store: Store, identity: str, size: int, raw: bytes | None, inbound) -> int | None:
    """Keep the message as it is (text without NUL characters: PostgreSQL refuses them),
    acting on nothing; its id. None when a message of this identity is there already: two
    polls at once (`run` beside `serve`'s worker, hosts sharing a PostgreSQL database) both
    found it new, and the other one's transaction recorded it first."""
    row = store.conn.execute(
        f"INSERT INTO inbound (identity, size, raw, recorded_at, {', '.join(_COLUMNS)})"
        f" VALUES (?, ?, ?, ?, {', '.join('?' * len(_COLUMNS))})"
        " ON CONFLICT (identity) DO NOTHING RETURNING id",
        (identity, size, raw, store.stamp, *_values(inbound)),
    ).fetchone()
    return row[0] if row else None


def reclassify(store: Store, inbound_id: int, inbound) -> bool:
    """Record what a message is now found to be (its sent message known since, or a better
    reading), and act on it if that changed; whether it did."""
    before = get(store, inbound_id)
    values = _values(inbound)
    now = dict(zip(_COLUMNS, values, strict=True))
    now["reason"] = _reason(now, _contact_of(store, now, _sent(store, now["outbox_id"])))
    if all(before[name] == now[name] for name in _COLUMNS):
        return False
    store.conn.execute(
        f"UPDATE inbound SET {', '.join(f'{name} = ?' for name in _COLUMNS)} WHERE id = ?",
        (*values, inbound_id),
    )
    apply(store, inbound_id)
    return True


def _values(inbound) -> tuple:
    received = _storable_instant(inbound.received)
    return tuple(
        received if name == "received_at" else _storable(getattr(inbound, name))
        for name in _COLUMNS
    )


def _storable(value):
    """Text as both engines store it: PostgreSQL refuses a NUL character, which a message's
    subject or body may hold."""
    return value.replace("\x00", "") if isinstance(value, str) else value


def _storable_instant(moment: datetime | None) -> str | None:
    """A message's date as stored, or None for one no database can hold (year 9999 at -14:00):
    a message's own words never fail its recording."""
    try:
        return stored_instant(moment) if moment else None
    except (OverflowError, ValueError):
        return None


def apply(store: Store, inbound_id: int) -> None:
    """The message's contact, event and effects (see the module's docstring). An event is
    keyed by the message and its kind: acting again on the same reading records nothing."""
    row = get(store, inbound_id)
    sent = _sent(store, row["outbox_id"])
    contact = _contact_of(store, row, sent)
    store.conn.execute(
        "UPDATE inbound SET contact_id = ?, reason = ? WHERE id = ?",
        (contact["id"] if contact else None, _reason(row, contact), inbound_id),
    )
    if contact is None:
        return  # no one to act on, and no workflow runs without its contact
    if _asks_to_unsubscribe(row):
        contacts.unsubscribe(store, contact["id"], by="email", inbound=inbound_id)
        return  # a request, not an answer: nobody is told of it as a reply
    if row["kind"] not in EVENTS or (row["kind"] in _REPORTS and sent is None):
        return  # a report of no email that left (forged, or its email deleted): kept, inert
    if row["kind"] == "complaint":
        contacts.unsubscribe(store, contact["id"], by="complaint", inbound=inbound_id)
    elif row["kind"] == "bounce":
        _bounced(store, contact, row)
    data = _event_data(row, sent, contact)
    key = f"inbound:{inbound_id}:{row['kind']}:{row['outbox_id']}"
    store.record_event(EVENTS[row["kind"]], "contact", contact["id"], data, key=key)


def _sent(store: Store, outbox_id: int | None) -> sqlite3.Row | None:
    if outbox_id is None:
        return None
    return store.conn.execute(
        "SELECT o.id, o.message_id, o.to_addr, o.subject, o.run_id, r.workflow"
        " FROM outbox o LEFT JOIN runs r ON r.id = o.run_id WHERE o.id = ?",
        (outbox_id,),
    ).fetchone()


def _contact_of(store: Store, row, sent: sqlite3.Row | None) -> sqlite3.Row | None:
    """Whom the message is about: the contact of a report's recipient or of a reply's
    sender, else of the address the answered message went to (the contact writing from
    another address) — unless it comes from the team: a member's answer in a contact's
    thread (copied to the mailbox), or a report on a member's notification, is no
    contact's."""
    address = _address(row)
    if address and (contact := contacts.find(store, address)) is not None:
        return contact
    if sent is None or address in _team(store):
        return None
    return contacts.find(store, sent["to_addr"])


def _address(row) -> str | None:
    return row["recipient"] if row["kind"] in ("bounce", "complaint") else row["sender"]


def _team(store: Store) -> set[str]:
    return {member.email.lower() for member in store.project.team.values()}


def _reason(row, contact: sqlite3.Row | None) -> str | None:
    """Why the message changes nothing, if it should have: its reading's reason, or that it
    concerns no contact."""
    if row["kind"] in _REPORTS and row["outbox_id"] is None and row["reason"]:
        return f"{row['reason'].removesuffix(': nothing changed')}: nothing changed"
    if row["reason"] or contact is not None or row["kind"] not in EVENTS:
        return row["reason"]
    address = _address(row)  # a complaint's may be redacted
    return f"no contact has the address {address or '(not given)'}: nothing changed"


def _asks_to_unsubscribe(row: sqlite3.Row) -> bool:
    """Its subject is "unsubscribe" (the footer's mailto: link writes it), even answered."""
    subject = " ".join((row["subject"] or "").lower().split())
    return row["kind"] in ("reply", "unmatched") and (
        _REPLY_PREFIXES.sub("", subject) in _UNSUBSCRIBE_SUBJECTS
    )


def _bounced(store: Store, contact: sqlite3.Row, row: sqlite3.Row) -> None:
    """A permanent bounce, or the transient one that makes too many: undeliverable."""
    settings = store.project.email.inbound
    if row["severity"] == "permanent":
        reason = f"bounced: {row['status'] or 'permanent failure'}"
    else:
        count = settings.transient_count if settings else 3
        within = settings.transient_within if settings else timedelta(days=30)
        since = store.now - within
        cleared = read_instant(contact["email_status_at"], store.project.timezone)
        if cleared is not None and cleared > since:  # a person said the address works
            since = cleared
        recent = transient_bounces(store, contact["id"], since)
        if recent < count:
            return
        span = counted(within.days, "day") if not within % timedelta(days=1) else (
            format_duration(within))  # fmt: skip
        reason = f"{recent} temporary bounces within {span}"
    contacts.set_email_status(store, contact["id"], UNDELIVERABLE, reason, by="bounce",
                            inbound=row["id"])  # fmt: skip


def transient_bounces(
    store: Store, contact_id: int, since: datetime, up_to: int | None = None
) -> int:
    """How many emails to the contact bounced temporarily since `since` (up to message
    `up_to`): each email once (a server still trying says so more than once), dated by
    when the bounce came (a backlog read at once is still spread out)."""
    return store.conn.execute(
        "SELECT count(DISTINCT coalesce(outbox_id, -id)) FROM inbound"
        " WHERE contact_id = ? AND kind = 'bounce' AND severity = 'transient'"
        " AND coalesce(received_at, recorded_at) >= ? AND id <= ?",
        (contact_id, stored_instant(since), up_to if up_to is not None else LARGEST_ID),
    ).fetchone()[0]


def _event_data(row: sqlite3.Row, sent: sqlite3.Row | None, contact: sqlite3.Row | None) -> dict:
    data = {
        "inbound": row["id"],
        "email": contact["email"] if contact else (row["recipient"] or row["sender"]),
        "from": row["sender"],
        "subject": row["subject"],
        "matched_by": row["matched_by"],
        "outbox": sent["id"] if sent else None,
        "message_id": sent["message_id"] if sent else None,
        "sent_subject": sent["subject"] if sent else None,
        "run": sent["run_id"] if sent else None,
        "workflow": sent["workflow"] if sent else None,
    }
    if row["kind"] == "reply":
        data["text"] = row["text"]
    elif row["kind"] == "bounce":
        data |= {"severity": row["severity"], "status": row["status"],
                 "recipient": row["recipient"]}  # fmt: skip
    elif row["kind"] == "complaint":
        data |= {"feedback_type": row["feedback_type"], "recipient": row["recipient"]}
    return data


def get(store: Store, inbound_id: int) -> sqlite3.Row:
    row = store.conn.execute("SELECT * FROM inbound WHERE id = ?", (inbound_id,)).fetchone()
    if row is None:
        raise NotFound(f"no inbound message #{inbound_id} (see `salesflow inbound list`)")
    return row


def public(row: sqlite3.Row, store: Store) -> dict:
    """A message as lists and `--json` show it (without its raw bytes)."""
    zone = store.project.timezone
    data = {name: row[name] for name in ("id", *_COLUMNS, "contact_id", "size")}
    for name in ("received_at", "recorded_at"):
        data[name] = read_instant(row[name], zone).isoformat() if row[name] else None
    return data


def raw(store: Store, inbound_id: int) -> bytes | None:
    """The message as read (None for one too big to keep whole)."""
    value = get(store, inbound_id)["raw"]
    return None if value is None else bytes(value)


# -- Read back: `salesflow inbound list|show|reprocess` and `salesflow check`.

KINDS = ("reply", "auto_reply", "bounce", "complaint", "unmatched", "unreadable", "failed")
_LISTED = (
    "SELECT i.id, i.contact_id, i.size, i.recorded_at, "
    + ", ".join(f"i.{name}" for name in _COLUMNS)
    + ", length(i.raw) AS kept, c.email AS contact, o.run_id, r.workflow FROM inbound i"
    " LEFT JOIN contacts c ON c.id = i.contact_id LEFT JOIN outbox o ON o.id = i.outbox_id"
    " LEFT JOIN runs r ON r.id = o.run_id"
)


def listing(
    store: Store, kind: str | None = None, address: str | None = None, limit: int | None = None
) -> list[dict]:
    """Messages newest first, as `listed`: of this kind, and about this address (its contact,
    or its sender, or the recipient a report names), if given."""
    clauses, params = [], []
    if kind:
        clauses.append("i.kind = ?")
        params.append(kind)
    if address:
        address = address.strip().lower()
        contact = contacts.find(store, address)
        clauses.append("(i.contact_id = ? OR i.sender = ? OR i.recipient = ?)")
        params += [contact["id"] if contact else None, address, address]
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    limit_sql = f" LIMIT {int(limit)}" if limit else ""
    rows = store.conn.execute(f"{_LISTED}{where} ORDER BY i.id DESC{limit_sql}", params)
    return [listed(row, store) for row in rows.fetchall()]


def listed(row: sqlite3.Row, store: Store) -> dict:
    """A message as `public` has it, with its contact's email, and the run and workflow of
    the sent message it answers; `whole`: its raw bytes were kept whole (a message over the
    size limit keeps its header only)."""
    whole = row["kept"] is not None and row["kept"] >= row["size"]
    return {**public(row, store), "contact": row["contact"], "run_id": row["run_id"],
            "workflow": row["workflow"], "whole": whole}  # fmt: skip


def account(store: Store, inbound_id: int) -> dict:
    """Everything about one message, for `inbound show`: its reading (`listed`), the sent
    message it answers and where that message's run stands, its contact as it is now, the
    events it made with the runs they started, and what it changed on the contact."""
    get(store, inbound_id)  # NotFound, said once
    row = store.conn.execute(f"{_LISTED} WHERE i.id = ?", (inbound_id,)).fetchone()
    data = listed(row, store)
    made = _events_of(store, inbound_id)
    data["answers"] = _answered(store, row["outbox_id"])
    data["contact_state"] = _contact_state(store, row["contact_id"])
    data["events"] = [_event(store, event) for event in made]
    anchors = {row["recorded_at"], *(event["created_at"] for event in made)}
    data["changes"] = _changes(store, row["contact_id"], inbound_id, anchors)
    return data


def _events_of(store: Store, inbound_id: int) -> list[sqlite3.Row]:
    """The message's events: their keys are `inbound:<id>:…` (`apply`), one per reading."""
    return store.conn.execute(
        "SELECT id, type, created_at, processed_at, failed_at FROM events WHERE key LIKE ?"
        " ORDER BY id",  # LIKE, not a range: PostgreSQL's text order follows its collation
        (f"inbound:{inbound_id}:%",),
    ).fetchall()


def _event(store: Store, event: sqlite3.Row) -> dict:
    started = store.conn.execute(
        "SELECT id, workflow, status FROM runs WHERE event_id = ? ORDER BY id", (event["id"],)
    ).fetchall()
    return {"id": event["id"], "type": event["type"], "status": events.status(event),
            "runs": [dict(run) for run in started]}  # fmt: skip


def _answered(store: Store, outbox_id: int | None) -> dict | None:
    """The sent message, when it left, and its run as it is now (`reason`: a stored phrase)."""
    if outbox_id is None:
        return None
    row = store.conn.execute(
        "SELECT o.id, o.subject, o.to_addr, o.status, o.created_at, o.sent_at, o.run_id,"
        " r.workflow, r.status AS run_status, r.reason AS run_reason"
        " FROM outbox o LEFT JOIN runs r ON r.id = o.run_id WHERE o.id = ?",
        (outbox_id,),
    ).fetchone()
    if row is None:  # deleted since it was matched
        return None
    zone = store.project.timezone
    moments = {name: read_instant(row[name], zone) for name in ("created_at", "sent_at")}
    return {
        "id": row["id"], "subject": row["subject"], "to": row["to_addr"], "status": row["status"],
        **{name: moment.isoformat() if moment else None for name, moment in moments.items()},
        "run_id": row["run_id"], "workflow": row["workflow"], "run_status": row["run_status"],
        "run_reason": row["run_reason"],
    }  # fmt: skip


def _contact_state(store: Store, contact_id: int | None) -> dict | None:
    if contact_id is None:
        return None
    row = contacts.find(store, contact_id)
    if row is None:
        return None
    unsubscribed = read_instant(row["unsubscribed_at"], store.project.timezone)
    return {"email_status": row["email_status"],
            "unsubscribed_at": unsubscribed.isoformat() if unsubscribed else None}  # fmt: skip


def _changes(
    store: Store, contact_id: int | None, inbound_id: int, anchors: set[str]
) -> list[dict]:
    """The contact's changes `apply` made for this message: its `contact.updated` events that
    name it, recorded in the transaction that recorded or reprocessed it (at the instant of
    the message or of one of its events: the probe stays on few rows)."""
    if contact_id is None:
        return []
    moments = sorted(filter(None, anchors))
    rows = store.conn.execute(
        "SELECT id, data FROM events WHERE type = 'contact.updated' AND subject_type = 'contact'"
        f" AND subject_id = ? AND created_at IN ({', '.join('?' * len(moments))}) ORDER BY id",
        (contact_id, *moments),
    ).fetchall()
    changes = []
    for row in rows:
        data = json.loads(row["data"])
        if data.get("inbound") == inbound_id:
            changes.append({"event": row["id"], "by": data["by"], "changed": data["changed"],
                            "new": data.get("new"), "reason": data.get("reason")})  # fmt: skip
    return changes


def ids_of_kind(store: Store, kind: str) -> list[int]:
    """Every message of this kind, oldest first (for `inbound reprocess --unmatched`)."""
    rows = store.conn.execute("SELECT id FROM inbound WHERE kind = ? ORDER BY id", (kind,))
    return [row[0] for row in rows.fetchall()]


def kinds_since(store: Store, since: datetime) -> Counter:
    """How many messages of each kind were recorded since `since`; bounces also counted by
    severity (`bounce:permanent`, `bounce:transient`)."""
    rows = store.conn.execute(
        "SELECT kind, severity, count(*) FROM inbound WHERE recorded_at >= ?"
        " GROUP BY kind, severity",
        (stored_instant(since),),
    ).fetchall()
    counts: Counter = Counter()
    for kind, severity, count in rows:
        counts[kind] += count
        if kind == "bounce" and severity:
            counts[f"bounce:{severity}"] += count
    return counts


def count_failed(store: Store) -> int:
    """Messages kept as `failed` (their recording raised), waiting for `inbound reprocess`."""
    return store.conn.execute("SELECT count(*) FROM inbound WHERE kind = 'failed'").fetchone()[0]
