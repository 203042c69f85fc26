"""What an inbound message is: a reply, an automatic answer, a bounce, a complaint — or not
ours, or not readable. `classify(raw, known)` answers for one message, with no database: the
caller gives `known`, its view of the outbox, so the store can answer later.

Guarantees: `classify` never raises on the message's bytes (malformed headers, an unknown
charset, no body, binary garbage: each gets a kind and a reason); a message over the size
limit is not parsed at all; the message is parsed once, and its body is read only where the
kind needs it (a report's parts, a possible bounce's text, a reply's text).

Order of the rules, first that holds: too big or not a message → `unreadable`; a delivery
status notification (RFC 3464) or a text bounce → `bounce`; a feedback report (ARF, RFC 5965)
→ `complaint`; an automatic answer (RFC 3834 and the usual hints) → `auto_reply`, never a
reply; a message matched to the outbox → `reply`; anything else → `unmatched`. A bounce is
checked before the automatic answer because servers mark their bounces `Auto-Submitted` too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from email.utils import parseaddr, parsedate_to_datetime
from typing import Literal, Protocol

from salesflow.mail import bounces
from salesflow.mail.fields import Fields
from salesflow.mail.quotes import reply_text

# "failed": not a reading, the store's mark for a message it could not record (a fault of ours)
Kind = Literal["reply", "auto_reply", "bounce", "complaint", "unmatched", "unreadable", "failed"]
Match = Literal["in-reply-to", "references", "sender", "verp", "enclosed-headers", "recipient"]

MAX_BYTES = 10 * 1024 * 1024  # a caller's usual size limit: bigger is no reply to a sales email


class Known(Protocol):
    """The caller's outbox, as `classify` asks it. Each answers an outbox id or None."""

    def by_message_id(self, message_id: str) -> int | None:
        """The message salesflow sent with this Message-ID (`<…@…>`, as sent)."""

    def latest_sent_to(self, address: str) -> int | None:
        """The latest message sent to this address (lower case), within a recent window the
        caller decides."""

    def by_verp_token(self, token: str) -> int | None:
        """The message whose return path carried this token (`bounces+<token>@…`)."""


@dataclass(frozen=True)
class Verp:
    """A per-message return path, `prefix<token>suffix`, e.g. `bounces+{token}@club.example`:
    a bounce comes back to it, so its token names the message that bounced."""

    shape: str

    def token(self, address: str) -> str | None:
        """The token in `address`, as written (a signed token keeps its case), or None."""
        prefix, _, suffix = self.shape.lower().partition("{token}")
        address = address.strip().strip("<>")
        folded = address.lower()
        if len(address) <= len(prefix) + len(suffix):
            return None
        if not (folded.startswith(prefix) and folded.endswith(suffix)):
            return None
        return address[len(prefix) : len(address) - len(suffix)]


@dataclass(frozen=True)
class Inbound:
    """One classified message. `outbox_id` and `matched_by` say which sent message it answers
    (None when none is known); the other fields are filled where the kind has them."""

    kind: Kind
    message_id: str | None = None
    sender: str | None = None
    subject: str | None = None
    received: datetime | None = None
    outbox_id: int | None = None
    matched_by: Match | None = None
    text: str | None = None  # a reply's own words, quoted history and signature removed
    recipient: str | None = None  # a bounce's failed or a complaint's complaining address
    status: str | None = None  # a bounce's status code, e.g. "5.1.1"
    severity: Literal["permanent", "transient"] | None = None  # a bounce's
    feedback_type: str | None = None  # a complaint's, e.g. "abuse"
    reason: str | None = None  # why unmatched, unreadable, or a report matched no message


_PARSER = BytesParser(policy=default)


def classify(
    raw: bytes, known: Known, *, verp: Verp | None = None, max_bytes: int = MAX_BYTES
) -> Inbound:
    """What `raw` (one whole message, as read from the mailbox) is. Never raises for its
    content: whatever cannot be read is `unreadable` with the reason."""
    if len(raw) > max_bytes:
        return Inbound("unreadable", reason=f"{len(raw)} bytes, over the limit of {max_bytes}")
    try:
        reading = _read(_PARSER.parsebytes(raw), verp)
    except Exception as error:  # the email package's corner cases: this message's fate only
        return Inbound("unreadable", reason=f"cannot be read: {type(error).__name__}: {error}")
    return reading if isinstance(reading, Inbound) else _match(reading, known)


def too_big(header: bytes, size: int, max_bytes: int) -> Inbound:
    """A message over the size limit, known by its header alone: `unreadable`, with who sent
    it and about what (the header is read as a message of its own, matched to nothing)."""
    head = classify(header + b"\r\n\r\n", _NOTHING_SENT)
    limit = max_bytes // (1024 * 1024)
    return Inbound("unreadable", head.message_id, head.sender, head.subject, head.received,
                   reason=f"{size} bytes, over the limit of {limit} MB: not read")  # fmt: skip


class _NothingSent:
    """An outbox that knows no message."""

    def by_message_id(self, message_id: str) -> None:
        return None

    def latest_sent_to(self, address: str) -> None:
        return None

    def by_verp_token(self, token: str) -> None:
        return None


_NOTHING_SENT = _NothingSent()


@dataclass(frozen=True)
class _Reading:
    """What a message says, before the outbox is asked (outside the guard above: an error of
    the caller's store is the caller's, never the message's fate)."""

    seen: Inbound  # what it is if it matches a sent message
    tries: tuple[tuple[Match, str], ...]  # the ways to its sent message, in order
    unmatched: Inbound  # what it is if none does


def _read(message: EmailMessage, verp: Verp | None) -> _Reading | Inbound:
    fields = Fields(message)
    sender = _address(fields.first("from"))
    if sender is None:
        return Inbound("unreadable", reason="no sender address (From:): not a mail message")
    seen = Inbound(
        "unmatched",
        message_id=next(iter(_message_ids(fields.first("message-id"))), None),
        sender=sender,
        subject=_subject(message),
        received=_received(fields),
    )
    report = bounces.read_report(message)
    if report is None and bounces.looks_like_bounce(fields, sender, seen.subject):
        report = bounces.read_text_bounce(message)
    if report is not None:
        return _read_report(seen, fields, report, verp)
    tries = _answer_tries(fields, sender)
    if _automatic(fields):
        return _Reading(replace(seen, kind="auto_reply"), tries, replace(seen, kind="auto_reply"))
    reason = _why_unmatched(fields)
    reply = replace(seen, kind="reply", text=reply_text(message))
    return _Reading(reply, tries, replace(seen, reason=reason))


def _read_report(
    seen: Inbound, fields: Fields, report: bounces.Report, verp: Verp | None
) -> _Reading | Inbound:
    """A bounce or a complaint, found by its return path, else by the original's headers
    it encloses, else as the latest message to its recipient."""
    if report.kind == "unmatched":
        return replace(seen, reason=report.reason)
    seen = replace(
        seen, kind=report.kind, recipient=report.recipient, status=report.status,
        severity=report.severity, feedback_type=report.feedback_type,
    )  # fmt: skip
    tries = (
        ("verp", _verp_token(fields, verp)),
        ("enclosed-headers", report.original_id),
        ("recipient", report.recipient),
    )
    unmatched = replace(seen, reason=f"the {report.kind}'s message is not in the outbox")
    return _Reading(seen, tuple((how, key) for how, key in tries if key), unmatched)


def _answer_tries(fields: Fields, sender: str) -> tuple[tuple[Match, str], ...]:
    """In-Reply-To, then References from the newest, then the latest message sent to the
    sender."""
    return (
        *(("in-reply-to", key) for key in _message_ids(fields.first("in-reply-to"))),
        *(("references", key) for key in reversed(_message_ids(fields.first("references")))),
        ("sender", sender),
    )


def _match(reading: _Reading, known: Known) -> Inbound:
    """The reading with its sent message, by the first of its tries the outbox knows."""
    questions = {"verp": known.by_verp_token, "sender": known.latest_sent_to,
                 "recipient": known.latest_sent_to}  # fmt: skip
    for how, key in reading.tries:
        if (outbox_id := questions.get(how, known.by_message_id)(key)) is not None:
            return replace(reading.seen, outbox_id=outbox_id, matched_by=how)
    return reading.unmatched


def _verp_token(fields: Fields, verp: Verp | None) -> str | None:
    """The token of the address the bounce was delivered to: the envelope recipient the
    server recorded (Delivered-To, X-Original-To, Envelope-To), else To."""
    if verp is None:
        return None
    for name in ("delivered-to", "x-original-to", "envelope-to", "to"):
        for value in fields.all(name):
            if token := verp.token(parseaddr(value)[1]):
                return token
    return None


def _why_unmatched(fields: Fields) -> str:
    if fields.first("in-reply-to") or fields.first("references"):
        return "answers a message that is not in the outbox (deleted?)"
    return "answers no message salesflow sent, and nothing was sent to its sender lately"


_AUTOMATIC_PRECEDENCE = {"auto_reply", "bulk", "junk"}
_AUTOMATIC_HEADERS = (
    "x-autoreply",
    "x-autorespond",
    "x-autogenerated",
    "x-auto-reply-from",
    "x-ms-exchange-generated-message-source",  # Exchange's inbox rules, out of office
)


def _automatic(fields: Fields) -> bool:
    """An automatic answer: RFC 3834's Auto-Submitted other than `no`, Precedence, or one of
    the headers vacation responders add. (X-Auto-Response-Suppress is not one: Outlook puts
    it on the messages people write.)"""
    submitted = (fields.first("auto-submitted") or "no").lower()
    if not submitted.startswith("no"):
        return True
    if (fields.first("precedence") or "").lower() in _AUTOMATIC_PRECEDENCE:
        return True
    return any(name in fields for name in _AUTOMATIC_HEADERS)


def _subject(message: EmailMessage) -> str | None:
    """The subject, its encoded words decoded; as written when the email package cannot."""
    try:
        subject = message.get("Subject")
    except Exception:  # a malformed encoded word the email package trips on
        subject = Fields(message).first("subject")
    return None if subject is None else " ".join(str(subject).split())


def _address(value: str | None) -> str | None:
    """The one address in a From-like value, lower case, or None."""
    if not value:
        return None
    address = parseaddr(value)[1].strip().lower()
    return address if "@" in address else None


def _message_ids(value: str | None) -> list[str]:
    """The `<…>` ids in a header, as written (ours are `<hex@domain>`)."""
    if not value:
        return []
    return [f"<{part.split('>', 1)[0].strip()}>" for part in value.split("<")[1:] if ">" in part]


def _received(fields: Fields) -> datetime | None:
    """When our server received it (the newest Received: header's date), else its Date:."""
    candidates = [(fields.first("received") or "").rpartition(";")[2], fields.first("date")]
    for text in filter(None, candidates):
        try:
            when = parsedate_to_datetime(text.strip())
            when = when if when.tzinfo else when.replace(tzinfo=UTC)  # "-0000": zone unknown
            return when.astimezone(UTC)  # a date past year 9999 in UTC is no date
        except (TypeError, ValueError, IndexError, OverflowError):
            continue
    return None
