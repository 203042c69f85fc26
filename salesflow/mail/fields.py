"""A message's header fields as written, read once.

The email package (policy=default) parses a header each time it is asked for — 50 to 100 µs
for an address or a Content-Type — while matching a message needs only the fields' text:
Message-IDs, addresses, a report's Status. Structured reading (an encoded subject) stays
with the email package.
"""

from __future__ import annotations

from email.message import Message


class Fields:
    """The header fields of one message (or one block of a delivery report), unfolded, by
    lower-case name."""

    def __init__(self, message: Message):
        self.values: dict[str, list[str]] = {}
        for name, value in message.raw_items():  # the generator's API: the text as parsed
            text = str(value)
            if not text.isascii():  # undecoded 8-bit bytes: UTF-8 where they are, else �
                text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            self.values.setdefault(name.lower(), []).append(" ".join(text.split()))

    def __contains__(self, name: str) -> bool:
        return name in self.values

    def first(self, name: str) -> str | None:
        return next(iter(self.values.get(name, ())), None)

    def all(self, name: str) -> list[str]:
        return self.values.get(name, [])
