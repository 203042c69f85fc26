"""`{{ env.NAME }}` in a request's URL and headers: secrets that stay out of the database.

A step renders its URL and headers with `env` standing for markers that no data can forge (a
random nonce per render), then keeps them as *pieces*: literal text at even positions,
variable names at odd ones. The pieces are stored, shown with the references written back
(`{{ env.NAME }}`), and resolved from the environment only when the request leaves.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from urllib.parse import quote, quote_plus

NAME = r"[A-Za-z_][A-Za-z0-9_]*"
Pieces = list[str]


class MissingVariable(Exception):
    """An environment variable a request needs is not set where salesflow runs."""


class References(dict):
    """`env` as URL and header templates see it: every name is a marker for that name."""

    def __init__(self) -> None:
        super().__init__()
        self.nonce = uuid.uuid4().hex

    def __missing__(self, name: str) -> str:
        if not re.fullmatch(NAME, name):
            raise KeyError(name)
        return f"\x00{self.nonce}:{name}\x00"

    def pieces(self, rendered: str | None) -> Pieces:
        return re.split(f"\x00{self.nonce}:({NAME})\x00", rendered or "")

    def split(self, text: str) -> list[str]:
        """`text` cut around its markers: text at even positions, whole markers at odd ones."""
        return re.split(f"(\x00{self.nonce}:{NAME}\x00)", text)


def shown(pieces: Pieces) -> str:
    """The text with its references written back: what `outbox show` and files display."""
    return "".join(f"{{{{ env.{part} }}}}" if odd else part for odd, part in _parts(pieces))


def resolve(pieces: Pieces, environ: Mapping[str, str]) -> str:
    """The text as it is sent; MissingVariable names the first variable that is not set."""
    for odd, part in _parts(pieces):
        if odd and part not in environ:
            raise MissingVariable(part)
    return "".join(environ[part] if odd else part for odd, part in _parts(pieces))


def named(pieces: Pieces) -> list[str]:
    """The environment variables the pieces refer to."""
    return pieces[1::2]


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret written `***` — as it is, percent-encoded (as a path or a
    form would) or JSON-escaped: what the other end says may quote the request it got. The
    beginning of a secret at the very end goes too: an answer is kept from its first bytes
    only, and the cut may fall inside a secret."""
    forms = sorted({form for secret in secrets for form in _written(secret) if form},
                   key=len, reverse=True)  # fmt: skip  # a secret within another goes with it
    for form in forms:
        text = text.replace(form, "***")
    for form in forms:
        begun = next((n for n in range(len(form) - 1, 2, -1) if text.endswith(form[:n])), 0)
        text = text[: len(text) - begun] + ("***" if begun else "")
    return text


def _written(secret: str) -> set[str]:
    escaped = json.dumps(secret)[1:-1]
    return {secret, " ".join(secret.split()), quote(secret), quote(secret, safe=""),
            quote_plus(secret), escaped, escaped.replace("/", "\\/"),
            json.dumps(secret, ensure_ascii=False)[1:-1]}  # fmt: skip


def _parts(pieces: Pieces) -> Iterator[tuple[bool, str]]:
    return ((index % 2 == 1, part) for index, part in enumerate(pieces))


def referenced(source: object) -> list[str]:
    """The environment variables a template names (`env.NAME` or `env['NAME']`), in order."""
    if not isinstance(source, str) or "env" not in source:
        return []
    from jinja2 import Environment, nodes  # validate and check only: not the CLI's start-up

    try:
        tree = Environment().parse(source)  # parsing only: filters and tests need not exist
    except Exception:  # a syntax error is reported by the template check itself
        return []
    names = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if not (isinstance(node.node, nodes.Name) and node.node.name == "env"):
            continue
        if isinstance(node, nodes.Getattr):
            names.append(node.attr)
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            names.append(node.arg.value)
    return list(dict.fromkeys(names))
