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
        return _delivery_status(message)
    if report_type == "feedback-report":
        return _feedback(message)
    return None


def looks_like_bounce(message: EmailMessage, sender: str) -> bool:
    """Headers only: from a mail daemon, Exim's X-Failed-Recipients, or a bounce's subject."""
    if "X-Failed-Recipients" in message:
        return True
    if sender.partition("@")[0] in _BOUNCE_SENDERS:
        return True
    return bool(_BOUNCE_SUBJECT.search(str(message.get("Subject") or "")))


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
    text = _text(message)
    status = _status(text)
    said_permanent = status.startswith("5") if status else bool(permanent)
    severity = "permanent" if said_permanent else "transient"
    return Report(
        "bounce", recipient=failed[0].decode("ascii").lower(), status=status,
        severity=severity, original_id=_enclosed_id(message) or _id_in_text(text),
    )  # fmt: skip


def _delivery_status(message: EmailMessage) -> Report:
    """The first recipient whose Action is failed or delayed (salesflow sends to one)."""
    original_id = _enclosed_id(message)
    for block in _status_blocks(message):
        action = str(block.get("Action") or "").strip().lower()
        status = _status(str(block.get("Status") or "")) or _status(
            str(block.get("Diagnostic-Code") or "")
        )
        failed = action.startswith(("fail", "error")) or (not action and status)
        delayed = action.startswith("delayed")
        if not (failed or delayed) or (status and status.startswith("2")):
            continue
        recipient = _recipient(block.get("Final-Recipient")) or _recipient(
            block.get("Original-Recipient")
        )
        transient = delayed or (status or "").startswith("4")
        severity = "transient" if transient else "permanent"
        return Report("bounce", recipient=recipient, status=status, severity=severity,
                      original_id=original_id)  # fmt: skip
    return Report("unmatched", reason="a delivery report with no failed recipient",
                  original_id=original_id)  # fmt: skip


def _status_blocks(message: EmailMessage) -> list[Message]:
    """The field blocks of the message/delivery-status part: the per-message one first (no
    Action, so skipped), then one per recipient."""
    for part in message.walk():
        if part.get_content_type() == "message/delivery-status":
            payload = part.get_payload()
            return payload if isinstance(payload, list) else []
    return []


def _feedback(message: EmailMessage) -> Report:
    fields: Message | None = None
    for part in message.walk():
        if part.get_content_type() == "message/feedback-report":
            payload = part.get_payload()
            fields = payload[0] if isinstance(payload, list) and payload else None
            break
    if fields is None:
        return Report("unmatched", reason="a feedback report without its report part")
    original = _enclosed(message)
    recipient = (
        _recipient(fields.get("Original-Rcpt-To"))
        or _recipient(fields.get("Removal-Recipient"))
        or (_recipient(original.get("To")) if original is not None else None)
    )
    feedback_type = str(fields.get("Feedback-Type") or "").strip().lower() or None
    return Report("complaint", recipient=recipient, feedback_type=feedback_type,
                  original_id=_enclosed_id(message))  # fmt: skip


def _enclosed(message: EmailMessage) -> Message | None:
    """The original's headers a report encloses: a message/rfc822 part (the email package
    parsed it) or text/rfc822-headers (parsed here, headers only)."""
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            payload = part.get_payload()
            return payload[0] if isinstance(payload, list) and payload else None
        if kind == "text/rfc822-headers":
            text = part_text(part)
            return Parser(policy=default).parsestr(text, headersonly=True)
    return None


def _enclosed_id(message: EmailMessage) -> str | None:
    original = _enclosed(message)
    if original is None:
        return None
    return _id_in_text(f"Message-ID: {original.get('Message-ID') or ''}")


def _id_in_text(text: str) -> str | None:
    """The Message-ID of the copy a text bounce quotes: its first `Message-ID:` line."""
    found = _ENCLOSED_ID.search(text)
    return found.group(1) if found else None


def _status(text: str) -> str | None:
    found = _STATUS.search(text)
    return ".".join(found.groups()) if found else None


def _recipient(value) -> str | None:
    """`rfc822; jean@example.org` (or a bare address) → the address, lower case."""
    if value is None:
        return None
    address = parseaddr(str(value).rpartition(";")[2].strip())[1].strip().lower()
    return address if "@" in address else None


def _text(message: EmailMessage) -> str:
    """The text parts of a bounce, up to _TEXT_READ characters, for its status and id."""
    texts = []
    for part in message.walk():
        if part.get_content_maintype() == "text" and not part.is_multipart():
            texts.append(part_text(part))
            if sum(map(len, texts)) > _TEXT_READ:
                break
    return "\n".join(texts)[:_TEXT_READ]
