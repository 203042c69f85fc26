"""`/unsubscribe/<token>`: the link in every email to a prospect.

`GET` only shows a confirmation button (mail scanners open links; opening must change
nothing). `POST` unsubscribes: the button, or the mail provider's one-click request
(RFC 8058, `List-Unsubscribe=One-Click`). The token is signed per contact
(`salesflow.mail.unsubscribe`): no one can unsubscribe someone else.
"""

from __future__ import annotations

import sqlite3

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from salesflow.mail.unsubscribe import contact_of
from salesflow.store import contacts
from salesflow.store.db import is_locked, transaction
from salesflow.web.site import Site


async def unsubscribe_page(request: Request) -> Response:
    site: Site = request.app.state.site
    token = request.path_params["token"]
    work = _unsubscribe if request.method == "POST" else _find
    try:
        contact = await run_in_threadpool(work, site, token)
    except Exception as error:
        if not is_locked(error):
            raise
        return site.page("unsubscribe.html", 503, {"Retry-After": "5"}, state="busy")
    if contact is None:
        return site.page("unsubscribe.html", 404, state="invalid")
    state = "done" if contact["unsubscribed_at"] else "confirm"
    return site.page("unsubscribe.html", state=state, email=masked(contact["email"]))


def _find(site: Site, token: str) -> sqlite3.Row | None:
    store = site.store()
    contact_id = contact_of(store, token)
    return None if contact_id is None else contacts.find(store, contact_id)


def _unsubscribe(site: Site, token: str) -> sqlite3.Row | None:
    with site.writing() as store, transaction(store.conn):
        contact_id = contact_of(store, token)
        if contact_id is None or contacts.find(store, contact_id) is None:
            return None
        return contacts.unsubscribe(store, contact_id, by="unsubscribe link")


def masked(email: str) -> str:
    """`j…@example.org`: enough for the reader to know it is theirs, not a full address
    for whoever the mail was forwarded to."""
    name, _, domain = email.partition("@")
    return f"{name[:1]}…@{domain}"
