"""Assembling an outbox row into an RFC 5322 message, at delivery time.

No line passes RFC 5322's 998 characters, whatever the data (servers refuse more with `500
Line too long`); lines keep to 78 but for a name of at most 78 characters with no space.

Bodies: a text whose lines are all short goes as it is (7bit, or 8bit under SMTPUTF8),
readable in any mail source; one with a longer line goes in quoted-printable or base64,
whichever the email package finds shorter on its first lines — quoted-printable keeps
mostly-Latin text readable, base64 costs less for other scripts — both broken at 76.

Headers: the email package folds them at spaces, and a subject's long word into encoded
words, but it leaves a display name's long word whole on one line (a 100,000-character first
name made a 100,000-character To: line) and takes seconds to fold a long non-ASCII name or
subject. So a display name longer than a line, or a subject longer than 998 characters, is
written as RFC 2047 encoded words, base64 of UTF-8: they decode to the text exactly (RFC
2047 readers drop the folding space between two encoded words) and carry any character —
quotes, commas, brackets — as text, never as syntax.
"""

from __future__ import annotations

import base64
import json
from email import policy
from email.headerregistry import (
    Address,
    HeaderRegistry,
    UniqueAddressHeader,
    UniqueSingleAddressHeader,
    UniqueUnstructuredHeader,
)
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
    message = EmailMessage(policy=_SMTPUTF8 if international else _SMTP)
    message["From"] = row["sender"]
    name = _display_name(row["to_name"] or "")
    username, _, domain = row["to_addr"].rpartition("@")
    message["To"] = Address(display_name=name, username=username, domain=domain)
    if row["reply_to"]:
        message["Reply-To"] = row["reply_to"]
    message["Subject"] = clean_line(row["subject"])[0]
    message["Date"] = format_datetime(read_instant(row["created_at"], project.timezone))
    message["Message-ID"] = row["message_id"]
    if project.email.return_path:  # VERP: the message's own bounce address (mail.transports)
        message["Return-Path"] = f"<{return_path(project.email.return_path, row['message_id'])}>"
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


def return_path(shape: str, message_id: str) -> str:
    """`bounces+{token}@club.example` for this message: its token is its Message-ID's left
    part (store/inbound.OutboxKnown.by_verp_token reads it back)."""
    return shape.replace("{token}", message_id.strip("<>").partition("@")[0])


def _display_name(name: str) -> str:
    """A recipient's name as it may go in a header: no control characters, and no `=?`
    (the email package decodes an encoded word typed into a name when it folds the header,
    so `=?utf-8?q?victim@evil.example?=` would become a second recipient)."""
    return clean_line(name)[0].replace("=?", "= ?")


_WORD_BYTES = 42  # of UTF-8 in one encoded word: 56 base64 characters, 68 with its markers
_NAME_ON_A_LINE = 78  # characters of a display name the email package is left to fold
_SUBJECT_FOLDED = 998  # characters of a subject the email package is left to fold


class _LongNamesEncoded:
    """An address header folded by the email package while its display names fit on a line.
    A longer one goes as encoded words, one a line, each address on a line of its own: the
    package would leave a long word whole on one line, and it takes seconds to fold a long
    non-ASCII name (5 s for 10,000 characters)."""

    def fold(self, *, policy) -> str:
        if all(len(address.display_name) <= _NAME_ON_A_LINE for address in self.addresses):
            return super().fold(policy=policy)
        tokens = []
        for address in self.addresses:
            tokens += [*_encoded_words(address.display_name), f"<{address.addr_spec}>,"]
        tokens[-1] = tokens[-1].removesuffix(",")
        return _one_a_line(self.name, tokens, policy)


class _Subject(UniqueUnstructuredHeader):
    """A subject folded by the email package up to a line's length; a longer one (a long
    name in it) goes as encoded words, which the package takes seconds to make (5 s for
    300,000 characters)."""

    def fold(self, *, policy) -> str:
        if len(self) <= _SUBJECT_FOLDED:
            return super().fold(policy=policy)
        return _one_a_line(self.name, _encoded_words(str(self)), policy)


def _one_a_line(name: str, tokens: list[str], policy) -> str:
    return f"{name}: " + f"{policy.linesep} ".join(tokens) + policy.linesep


def _encoded_words(text: str) -> list[str]:
    """`text` as RFC 2047 encoded words, each of whole characters (a character is never cut
    between two words)."""
    words, start, size = [], 0, 0
    for end, char in enumerate(text):
        width = len(char.encode())
        if size + width > _WORD_BYTES:
            words.append(_encoded_word(text[start:end]))
            start, size = end, 0
        size += width
    if start < len(text):
        words.append(_encoded_word(text[start:]))
    return words


def _encoded_word(text: str) -> str:
    return f"=?utf-8?b?{base64.b64encode(text.encode()).decode()}?="


class _To(_LongNamesEncoded, UniqueAddressHeader):
    pass


class _From(_LongNamesEncoded, UniqueSingleAddressHeader):
    pass


_HEADERS = HeaderRegistry()
_HEADERS.map_to_type("to", _To)
_HEADERS.map_to_type("reply-to", _To)
_HEADERS.map_to_type("from", _From)
_HEADERS.map_to_type("subject", _Subject)
_SMTP = policy.SMTP.clone(header_factory=_HEADERS)
_SMTPUTF8 = policy.SMTPUTF8.clone(header_factory=_HEADERS)
