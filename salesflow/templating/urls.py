"""What a template may do in an `http` step's URL: fill its path, query or fragment, data
percent-encoded so that it stays one value (a space, `?`, `#`, `/` or `&` in a name changes
nothing of the URL's structure), `{{ env.NAME }}` sent as the operator wrote it. The scheme and
the host are written out in the workflow: from data, a form could send the request (and its
secrets) anywhere; from the environment, a value without `https://` fails only when the
request leaves, long after `validate` said yes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote, urlsplit

from jinja2 import Environment, nodes, pass_context
from jinja2.runtime import Context

from salesflow.templating.references import Pieces, References


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


def template_before_host(source: str) -> str | None:
    """Why a URL template lets a template (data or `{{ env.NAME }}`) reach the scheme or the
    host, or None. Before the end of the host (the first `/`, `?` or `#` after `scheme://`)
    only written text may appear."""
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
            elif not _past_host(written):
                return f"{{{{ {_named(part)} }}}} is in the URL's {_place(written)}{_WHY}"
            if _past_host(written):
                return None
    return None


_WHY = (
    ": write the scheme and the host out (https://hooks.example/…); a template may fill only"
    " the path and the query — a secret too: https://hooks.example/{{ env.HOOK_PATH }}"
)


def _place(written: str) -> str:
    return "host" if written else "scheme"


def _past_host(written: str) -> bool:
    return any(char in written.split("//", 1)[-1] for char in "/?#")


def start_problem(url: Pieces, environ: Mapping[str, str]) -> str | None:
    """Why the URL as it is sent does not begin with `http(s)://` and a host, or None: checked
    when the request is queued and again when it leaves. A request queued by an older
    salesflow may take its start from an environment variable (`validate` now refuses it):
    then the variable is named, never its value (it may be a secret). A variable not set yet
    leaves the question open: sending says it is missing."""
    start, givers = "", []
    for index, part in enumerate(url):
        if _past_host(start):
            break
        if index % 2:
            if part not in environ:
                return None
            givers.append(part)
        start += environ[part] if index % 2 else part
    if _begins_well(start):
        return None
    if not givers:
        return (
            "the URL does not begin with http:// or https:// and a host written in the"
            " workflow: write them out, https://hooks.example/…"
        )
    which = (f"the environment variable {givers[0]} gives" if len(givers) == 1
             else f"the environment variables {', '.join(givers)} give")  # fmt: skip
    return (
        f"the URL does not begin with http:// or https:// and a host: {which} its start;"
        " the URL must begin like https://hooks.example/…"
    )


def _begins_well(start: str) -> bool:
    try:
        parts = urlsplit(start)
        return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:  # an unreadable port or IPv6 address
        return False


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
