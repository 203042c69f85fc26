"""Assembling an outbox row into an RFC 5322 message, at delivery time."""

from __future__ import annotations

import json
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from salesflow.config.model import Project
from salesflow.values import clean_line, read_instant


def build(row, project: Project) -> EmailMessage:
    """The message: text, with the HTML part as an alternative and attachments if any.
    Non-ASCII names and subjects are encoded (RFC 2047) by the email package. The recipient
    goes in as an Address object, never as text to parse: whatever the display name holds
    (`Zoé <victim@evil.example>,`) is quoted as a name and can add no recipient."""
    international = not row["to_addr"].isascii()  # needs SMTPUTF8 all along the way
    message = EmailMessage(policy=policy.SMTPUTF8 if international else policy.SMTP)
    message["From"] = row["sender"]
    name = _display_name(row["to_name"] or "")
    username, _, domain = row["to_addr"].rpartition("@")
    message["To"] = Address(display_name=name, username=username, domain=domain)
    if row["reply_to"]:
        message["Reply-To"] = row["reply_to"]
    message["Subject"] = clean_line(row["subject"])[0]
    message["Date"] = format_datetime(read_instant(row["created_at"], project.timezone))
    message["Message-ID"] = row["message_id"]
    for name, value in json.loads(row["headers"]).items():
        message[name] = value
    message.set_content(row["text"], charset="utf-8")
    if row["html"]:
        message.add_alternative(row["html"], subtype="html", charset="utf-8")
    for attachment in json.loads(row["attachments"]):
        main, _, rest = attachment["content_type"].partition("/")
        subtype = rest.split(";")[0].strip()
        message.add_attachment(
            attachment["content"].encode("utf-8"), maintype=main, subtype=subtype,
            filename=attachment["filename"],
            params={"method": "PUBLISH", "charset": "utf-8"} if subtype == "calendar" else {},
        )  # fmt: skip
    return message


def _display_name(name: str) -> str:
    """A recipient's name as it may go in a header: no control characters, and no `=?`
    (the email package decodes an encoded word typed into a name when it folds the header,
    so `=?utf-8?q?victim@evil.example?=` would become a second recipient)."""
    return clean_line(name)[0].replace("=?", "= ?")
