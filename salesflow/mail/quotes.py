"""A reply's own words: the quoted history and the signature removed.

Mail programs quote the message answered below an attribution line — Gmail's "On … wrote:"
and "Le … a écrit :" (sometimes wrapped onto two lines), Outlook's "-----Original
Message-----" or its "From: / Sent:" ("De : / Envoyé :") block after a line of underscores —
and mark quoted lines with `>`. Everything from the first such mark down is history; `>`
lines above it are quotes answered inline, dropped too; a "-- " line starts the signature.
An HTML-only reply is cut at Gmail's and Outlook's quote containers, then read as text.
"""

from __future__ import annotations

import html
import re
from email.message import EmailMessage

_ATTRIBUTION = re.compile(  # with a date in it: "Le professeur a écrit :" is no attribution
    r"^(?=.*\d)(On\b.{0,300}\bwrote|Le\b.{0,300}\ba\s+écrit|Am\b.{0,300}\bschrieb\b.{0,200})"
    r"\s*:\s*$",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(
    r"^(-{2,}\s*(Original Message|Message d'origine|Forwarded message|Message transféré|"
    r"Message original)\s*-{2,}|_{10,})\s*$",
    re.IGNORECASE,
)
_HEADER_FROM = re.compile(r"^\**(From|De)\s*:\**\s*\S", re.IGNORECASE)
_HEADER_SENT = re.compile(r"^\**(Sent|Envoyé|Date)\s*:", re.IGNORECASE)
_SIGNATURE = {"-- ", "--"}

_HTML_QUOTE = re.compile(
    r'<(div|blockquote)[^>]*(class="gmail_quote|id="divRplyFwdMsg|id="appendonsend|type="cite)'
    r"|<blockquote",
    re.IGNORECASE,
)
_HTML_BREAK = re.compile(r"<(br|/p|/div|/tr|/h\d|/li)\b[^>]*>", re.IGNORECASE)
_HTML_TAG = re.compile(r"<[^>]*>")
_HTML_HIDDEN = re.compile(r"<(style|script|head)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)


def reply_text(message: EmailMessage) -> str:
    """The reply's own text, from its text part (else its HTML part); empty when it has
    neither."""
    body = message.get_body(preferencelist=("plain", "html"))
    if body is None:
        return ""
    text = part_text(body)
    if body.get_content_subtype() == "html":
        text = _html_text(text)
    return own_words(text)


def own_words(text: str) -> str:
    """The text above the quoted history, without `>` lines and signature."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept = []
    for index, line in enumerate(lines):
        if _history_starts(lines, index):
            break
        if not line.lstrip().startswith(">"):
            kept.append(line.rstrip())
    return "\n".join(kept).strip()


def _history_starts(lines: list[str], index: int) -> bool:
    line = lines[index]
    if line.rstrip("\n") in _SIGNATURE:
        return True
    stripped = line.strip()
    if not stripped:
        return False
    if _SEPARATOR.match(stripped) or _ATTRIBUTION.match(stripped):
        return True
    following = lines[index + 1 : index + 5]
    if following and _ATTRIBUTION.match(f"{stripped} {following[0].strip()}"):
        return True  # an attribution wrapped onto two lines
    return bool(_HEADER_FROM.match(stripped)) and any(
        _HEADER_SENT.match(other.strip()) for other in following
    )


def _html_text(markup: str) -> str:
    """An HTML reply's text above its quote container, tags dropped, lines kept."""
    found = _HTML_QUOTE.search(markup)
    if found:
        markup = markup[: found.start()]
    markup = _HTML_HIDDEN.sub("", markup)
    markup = _HTML_BREAK.sub("\n", markup.replace("\n", " "))
    text = html.unescape(_HTML_TAG.sub("", markup)).replace("\xa0", " ")
    return "\n".join(line.strip() for line in text.split("\n"))


def part_text(part) -> str:
    """A part's text in its charset, or as UTF-8 with replacements where Python does not know
    the charset or the bytes do not fit it."""
    try:
        return part.get_content()
    except (LookupError, ValueError):  # a charset Python does not know, a null in its name
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
