"""Rendering a template into an outbox row, in the step's transaction.

Only the rendered parts are stored here; MIME is assembled at delivery (building MIME costs
hundreds of µs a message, see ../shared/FACTS.md). The Message-ID is fixed now, so a retry
is the same message.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from email.utils import parseaddr
from functools import lru_cache

from salesflow.config.model import Template
from salesflow.errors import UserError
from salesflow.mail import ics, unsubscribe
from salesflow.store import outbox
from salesflow.store.session import Store
from salesflow.translations import N_, translations

# The footer of a message to a prospect, in the project's language (the catalogs).
_FOOTER = N_("To stop receiving our messages, write to {address} (subject: unsubscribe).")
_LINK_FOOTER = N_("To stop receiving our messages: {link}")


class HeaderInjection(UserError):
    """A header value with a line break: refused, whatever it came from."""


def check_header(name: str, value: str | None) -> None:
    if value and ("\r" in value or "\n" in value):
        raise HeaderInjection(f"the {name} holds a line break; refused (header injection)")


@lru_cache(maxsize=256)
def _compiled(env, source: str):
    """A subject line compiled once per environment (compiling costs ~0.7 ms)."""
    return env.from_string(source)


def render(env, template: Template, context: dict) -> tuple[str, str, str | None]:
    """(subject, text, html) of `template` with `context`."""
    subject = " ".join(_compiled(env, template.subject).render(context).split())
    text = env.get_template(template.text_path.name).render(context)
    html = None
    if template.html_path is not None:
        html = env.get_template(template.html_path.name).render(context)
    return subject, text.strip() + "\n", html


@lru_cache(maxsize=16)
def _address(sender: str) -> str:
    return parseaddr(sender)[1]


def _domain(sender: str) -> str:
    return _address(sender).partition("@")[2] or "salesflow.local"


def unsubscribe_footer(store: Store, contact_id: int) -> tuple[str, str | None, dict]:
    """(footer text, footer HTML or None, headers) for a message to a prospect: a signed
    one-click link (RFC 8058) when the project has a `public_url`, else a mail to the
    sender."""
    say = translations(store.project.locale).gettext
    address = _address(store.project.email.sender or "")
    mailto = f"<mailto:{address}?subject=unsubscribe>"
    link = unsubscribe.link(store, contact_id)
    if link is None:
        footer = say(_FOOTER).format(address=address)
        return footer, None, {"List-Unsubscribe": mailto}
    wording = say(_LINK_FOOTER)
    html = wording.format(link=f'<a href="{link}">{link}</a>')
    headers = {
        "List-Unsubscribe": f"<{link}>, {mailto}",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    return wording.format(link=link), html, headers


def queue(
    store: Store,
    run_id: int | None,
    step: str | None,
    to: tuple[str | None, str],
    subject: str,
    text: str,
    html: str | None,
    reply_to: str | None = None,
    attachments: list[dict] | None = None,
    prospect: int | None = None,
) -> tuple[int, str]:
    """Queue a message; (outbox id, Message-ID). A prospect (their contact id) gets the
    unsubscribe footer and headers."""
    sender = store.project.email.sender
    if not sender:
        raise UserError("salesflow.yaml has no email.from: who do emails come from?")
    name, address = to
    for header, value in (("recipient", address), ("recipient name", name), ("subject", subject),
                          ("reply-to", reply_to)):  # fmt: skip
        check_header(header, value)
    headers = {}
    if prospect is not None:
        footer, footer_html, headers = unsubscribe_footer(store, prospect)
        text = f"{text}\n-- \n{footer}\n"
        if html:
            line = f'<p style="font-size:small">{footer_html or footer}</p>'
            html = html.replace("</body>", f"{line}</body>")
    message_id = f"<{uuid.uuid4().hex}@{_domain(sender)}>"
    reply_to = reply_to or store.project.email.reply_to
    item = outbox.add_email(store, run_id, step, message_id, sender, reply_to, to,
                            (subject, text, html), headers, attachments or [])  # fmt: skip
    return item, message_id


def calendar_invite(
    store: Store,
    summary: str,
    start: datetime,
    duration: timedelta,
    location: str | None,
    description: str | None,
    attendee: str,
) -> dict:
    """An .ics attachment (METHOD:PUBLISH) for the event."""
    sender = _address(store.project.email.sender or "")
    uid = f"{uuid.uuid4().hex}@{_domain(store.project.email.sender or '')}"
    content = ics.invitation(uid, store.now, start, start + duration, summary, location,
                             description, sender, attendee)  # fmt: skip
    return {
        "filename": "invitation.ics",
        "content_type": "text/calendar; method=PUBLISH; charset=utf-8",
        "content": content,
    }
