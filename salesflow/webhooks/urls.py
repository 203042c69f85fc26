"""What data may do in an `http` step's URL: fill its path, query or fragment, percent-encoded
so that it stays one value (a space, `?`, `#`, `/` or `&` in a name changes nothing of the
URL's structure); never choose its scheme or host, which come from the workflow's text or
the environment (`{{ env.NAME }}`, the operator's, sent as it is)."""

from __future__ import annotations

import re
from urllib.parse import quote

from jinja2 import Environment, nodes, pass_context
from jinja2.runtime import Context

from salesflow.webhooks.references import References


@pass_context
def url_value(context: Context, value: object) -> str:
    """Jinja's `finalize` for URL templates: each `{{ … }}` percent-encoded, its
    `{{ env.NAME }}` markers kept for the environment's value."""
    text = "" if value is None else str(value)
    references = context.get("env")
    parts = references.split(text) if isinstance(references, References) else [text]
    return "".join(part if index % 2 else _encoded(part) for index, part in enumerate(parts))


def _encoded(text: str) -> str:
    """Every character but letters, digits and `-._~` percent-encoded; an escape already
    there (`%40`, from `| urlencode`) is kept rather than encoded twice: it too stays data."""
    return quote(_STRAY_PERCENT.sub("%25", text), safe="%")


_STRAY_PERCENT = re.compile("%(?![0-9A-Fa-f]{2})")


def data_before_host(source: str) -> str | None:
    """Why a URL template lets event or record data reach the scheme or the host, or None.
    Read before the end of the host (the first `/`, `?` or `#` after `scheme://`), only the
    written text and `{{ env.NAME }}` may appear."""
    try:
        body = Environment().parse(source).body
    except Exception:  # a syntax error is reported by the template check itself
        return None
    written = ""
    for node in body:
        if not isinstance(node, nodes.Output):
            return f"a {{% … %}} block is in the URL's {_place(written)}{_WHY}"
        for part in node.nodes:
            if isinstance(part, nodes.TemplateData):
                written += part.data
            elif _is_env(part):
                written += "\x00"  # the operator's value: scheme and host may come from it
            elif not _past_host(written):
                return f"{{{{ {_named(part)} }}}} is in the URL's {_place(written)}{_WHY}"
            if _past_host(written):
                return None
    return None


_WHY = (
    ": data may fill only the path and the query, or a form could send this request (and"
    " its secrets) anywhere; write it out, or take it from {{ env.NAME }}"
)


def _place(written: str) -> str:
    return "host" if written else "scheme"


def _past_host(written: str) -> bool:
    return any(char in written.split("//", 1)[-1] for char in "/?#")


def _is_env(node) -> bool:
    return isinstance(node, nodes.Getattr | nodes.Getitem) and (
        isinstance(node.node, nodes.Name) and node.node.name == "env"
    )


def _named(node) -> str:
    """An expression as the message names it: `contact.company`, or its kind."""
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Getattr):
        return f"{_named(node.node)}.{node.attr}"
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        return f"{_named(node.node)}[{node.arg.value!r}]"
    if isinstance(node, nodes.Filter) and node.node is not None:
        return f"{_named(node.node)} | {node.name}"
    return "an expression"
