"""Reading delivery reports: bounces and complaints, standard or not.

- A delivery status notification (RFC 3464: multipart/report; report-type=delivery-status)
  names the failed recipient in its message/delivery-status part: Final-Recipient, Action,
  Status (5.x.x permanent, 4.x.x transient).
- A feedback report (ARF, RFC 5965: multipart/report; report-type=feedback-report) is a
  complaint: Feedback-Type, and the recipient in Original-Rcpt-To (or the enclosed original's
  To:, where the provider did not redact it).
- Other bounces (Exim's and qmail's text, the old Postfix and Exchange shapes) go through
  flufl.bounce, GNU Mailman's detectors, once the headers say a bounce is likely: its
  detectors read every line of the body, too costly for every reply.

Each report also gives the Message-ID of the original it encloses (a message/rfc822 or
text/rfc822-headers part, or the copy a text bounce quotes), to find the message that
bounced.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from email.message import EmailMessage, Message
from email.parser import Parser
from email.policy import default
from email.utils import parseaddr
from typing import Literal

from flufl.bounce import all_failures

from salesflow.mail.fields import Fields
from salesflow.mail.quotes import part_text

logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)  # its failures are ours to tell

_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_ENCLOSED_ID = re.compile(r"^message-id:\s*(<[^>\s]+>)", re.IGNORECASE | re.MULTILINE)
_BOUNCE_SENDERS = {"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"}
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery (status|failure|has failed)|failure notice|"
    r"returned mail|mail delivery (failed|failure|system)|non remis|non distribuable|"
    r"échec de (la )?(remise|distribution)",
    re.IGNORECASE,
)
_TEXT_READ = 64 * 1024  # characters of a text bounce read for its status and enclosed id


@dataclass(frozen=True)
class Report:
    """What a report says. `kind` is `unmatched` for a report that names no one (a success
    notice, a bounce whose recipient cannot be found), with the reason."""

    kind: Literal["bounce", "complaint", "unmatched"]
    recipient: str | None = None
    status: str | None = None
    severity: Literal["permanent", "transient"] | None = None
    feedback_type: str | None = None
    original_id: str | None = None
    reason: str | None = None


def read_report(message: EmailMessage) -> Report | None:
    """The multipart/report a message is, or None when it is none."""
    if message.get_content_type() != "multipart/report":
        return None
    report_type = str(message.get_param("report-type", "") or "").lower()
    if report_type == "delivery-status":
        return _delivery_status(_parts(message))
    if report_type == "feedback-report":
        return _feedback(_parts(message))
    return None


def looks_like_bounce(fields: Fields, sender: str, subject: str | None) -> bool:
    """Headers only: from a mail daemon, Exim's X-Failed-Recipients, or a bounce's subject."""
    if "x-failed-recipients" in fields or sender.partition("@")[0] in _BOUNCE_SENDERS:
        return True
    return bool(subject and _BOUNCE_SUBJECT.search(subject))


def read_text_bounce(message: EmailMessage) -> Report:
    """A non-standard bounce, read by flufl.bounce's detectors; the status is the first
    enhanced code (`5.1.1`) its text gives."""
    try:
        transient, permanent = all_failures(message)
    except Exception:  # a detector tripped on this message: no recipient found
        transient, permanent = frozenset(), frozenset()
    failed = sorted(permanent) or sorted(transient)
    if not failed:
        return Report("unmatched", reason="looks like a bounce but names no failed recipient")
    parts = _parts(message)
    text = _text(parts)
    status = _status(text)
    said_permanent = status.startswith("5") if status else bool(permanent)
    return Report(
        "bounce", recipient=failed[0].decode("ascii").lower(), status=status,
        severity="permanent" if said_permanent else "transient",
        original_id=_enclosed_id(parts) or _id_in_text(text),
    )  # fmt: skip


Parts = dict[str, list[Message]]


def _parts(message: EmailMessage) -> Parts:
    """The message's parts by content type, in order: one walk, each Content-Type parsed
    once (the email package parses it again at every ask)."""
    parts: Parts = {}
    for part in message.walk():
        parts.setdefault(part.get_content_type(), []).append(part)
    return parts


def _delivery_status(parts: Parts) -> Report:
    """The first recipient whose Action is failed or delayed (salesflow sends to one)."""
    original_id = _enclosed_id(parts)
    for block in map(Fields, _payload(parts, "message/delivery-status")):
        action = (block.first("action") or "").lower()
        status = _status(block.first("status") or "") or _status(
            block.first("diagnostic-code") or ""
        )
        failed = action.startswith(("fail", "error")) or (not action and status)
        delayed = action.startswith("delayed")
        if not (failed or delayed) or (status and status.startswith("2")):
            continue  # the per-message block (no Action), a success
        recipient = _recipient(block.first("final-recipient")) or _recipient(
            block.first("original-recipient")
        )
        transient = delayed or (status or "").startswith("4")
        return Report("bounce", recipient=recipient, status=status,
                      severity="transient" if transient else "permanent",
                      original_id=original_id)  # fmt: skip
    return Report("unmatched", reason="a delivery report with no failed recipient",
                  original_id=original_id)  # fmt: skip


def _feedback(parts: Parts) -> Report:
    blocks = _payload(parts, "message/feedback-report")
    if not blocks:
        return Report("unmatched", reason="a feedback report without its report part")
    fields = Fields(blocks[0])
    original = _enclosed(parts)
    recipient = (
        _recipient(fields.first("original-rcpt-to"))
        or _recipient(fields.first("removal-recipient"))
        or (_recipient(original.first("to")) if original is not None else None)
    )
    return Report("complaint", recipient=recipient,
                  feedback_type=(fields.first("feedback-type") or "").lower() or None,
                  original_id=_enclosed_id(parts))  # fmt: skip


def _payload(parts: Parts, content_type: str) -> list[Message]:
    """The sub-messages of the first part of this type: a report's field blocks, or the
    enclosed message of a message/rfc822 part."""
    for part in parts.get(content_type, ())[:1]:
        payload = part.get_payload()
        return payload if isinstance(payload, list) else []
    return []


def _enclosed(parts: Parts) -> Fields | None:
    """The original's header fields a report encloses: a message/rfc822 part (the email
    package parsed it) or text/rfc822-headers (parsed here, headers only)."""
    for original in _payload(parts, "message/rfc822")[:1]:
        return Fields(original)
    for part in parts.get("text/rfc822-headers", ())[:1]:
        return Fields(Parser(policy=default).parsestr(part_text(part), headersonly=True))
    return None


def _enclosed_id(parts: Parts) -> str | None:
    original = _enclosed(parts)
    return _id_in_text(f"Message-ID: {original.first('message-id') or ''}") if original else None


def _id_in_text(text: str) -> str | None:
    """The Message-ID of the copy a text bounce quotes: its first `Message-ID:` line."""
    found = _ENCLOSED_ID.search(text)
    return found.group(1) if found else None


def _status(text: str) -> str | None:
    found = _STATUS.search(text)
    return ".".join(found.groups()) if found else None


def _recipient(value: str | None) -> str | None:
    """`rfc822; jean@example.org` (or a bare address) → the address, lower case."""
    if value is None:
        return None
    address = parseaddr(value.rpartition(";")[2].strip())[1].strip().lower()
    return address if "@" in address else None


def _text(parts: Parts) -> str:
    """The text parts of a bounce, up to _TEXT_READ characters, for its status and id."""
    texts, length = [], 0
    for content_type, some in parts.items():
        for part in some if content_type.startswith("text/") else ():
            texts.append(part_text(part))
            length += len(texts[-1])
            if length > _TEXT_READ:
                return "\n".join(texts)[:_TEXT_READ]
    return "\n".join(texts)
