"""`page()`: the one way every page and action is reached, signed in (the login page
itself is pages/login.py).

`page(handler)` sends a visitor without an active session to the login form — before a
POST's body is read, so a stranger's post costs nothing — then reads the form within
`PAGE_FORM_LIMIT`, refuses a POST without the form's CSRF token, and answers 404 for an id
past SQLite's integers; a change (`change=True`) also needs a member's role (a viewer
changes nothing) and holds the server's write turn. The forms, unsubscribe and /healthz
routes do not go through it: they stay outside the login.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from salesflow.config.model import TeamMember
from salesflow.errors import NotFound, UserError
from salesflow.store.db import LARGEST_ID, is_locked
from salesflow.store.session import Store
from salesflow.translations import N_
from salesflow.web import sessions
from salesflow.web.bodies import BodyRefused, page_form
from salesflow.web.site import Site

CSRF = N_("This form expired: reload the page.")
NOT_FOUND = N_("There is no such page.")


@dataclass
class Visit:
    """A signed-in member's request, as page handlers see it."""

    request: Request
    site: Site
    store: Store
    member: TeamMember
    csrf: str
    form: dict[str, str]

    def page(self, name: str, status: int = 200, **values: Any) -> HTMLResponse:
        return self.site.page(name, status, me=self.member, csrf=self.csrf,
                              here=self.request.url.path, query=self.request.url.query,
                              **values)  # fmt: skip

    def refuse(self, status: int, message: str) -> Response:
        """Why the change was not made: JSON for the board's script, else a page."""
        if "application/json" in self.request.headers.get("accept", ""):
            return JSONResponse({"error": message}, status)
        return self.page("error.html", status, message=message)

    def gettext(self, text: str) -> str:
        return self.site.gettext(text)

    def back(self, default: str) -> RedirectResponse:
        """303 to the form's `next` (a path of ours only), else `default`."""
        return RedirectResponse(local_path(self.form.get("next")) or default, 303)


def page(handler: Callable[[Visit], Response], change: bool = False):
    async def endpoint(request: Request) -> Response:
        site: Site = request.app.state.site
        return await guarded(site, _page_answer(site, request, handler, change))

    return endpoint


async def _page_answer(site: Site, request: Request, handler, change: bool) -> Response:
    """The session first: a stranger's POST is never read."""
    member = await run_in_threadpool(_signed_in, site, request)
    if member is None:
        return _to_login(request)
    form = await page_form(request) if request.method == "POST" else {}
    return await run_in_threadpool(_visit, site, request, member, form, handler, change)


async def guarded(site: Site, answer: Awaitable[Response]) -> Response:
    """The `answer`, or the site's page for a body refused or a database busy meanwhile."""
    try:
        return await answer
    except BodyRefused as refused:
        return _refused(site, refused)
    except Exception as error:
        if not is_locked(error):
            raise
        return _busy(site)


def _signed_in(site: Site, request: Request) -> TeamMember | None:
    return sessions.member_of(site.store(), request.cookies.get(sessions.COOKIE))


def _to_login(request: Request) -> Response:
    """After login, back to the page asked for (after a change: to the board)."""
    wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    wanted = wanted if request.method == "GET" else "/"
    return RedirectResponse(f"/login?next={quote(wanted)}", 303)


def _refused(site: Site, refused: BodyRefused) -> Response:
    return site.page("error.html", refused.status, message=site.gettext(refused.why))


def _busy(site: Site) -> Response:
    busy = site.gettext(N_("The database is busy; try again in a few seconds."))
    return site.page("error.html", 503, {"Retry-After": "5"}, message=busy)


def _visit(site: Site, request: Request, member: TeamMember, form: dict, handler, change: bool):
    store = site.store()
    cookie = request.cookies.get(sessions.COOKIE)
    visit = Visit(request, site, store, member, sessions.csrf_token(store, cookie), form)
    if request.method == "POST" and not sessions.csrf_valid(store, cookie, form.get("csrf")):
        return visit.refuse(403, visit.gettext(CSRF))
    if not _ids_in_range(request.path_params):
        return visit.refuse(404, visit.gettext(NOT_FOUND))
    if not change:
        try:
            return handler(visit)
        except UserError:  # a deal, message or stage that is not there
            return visit.refuse(404, visit.gettext(NOT_FOUND))
    if member.role == "viewer":
        return visit.refuse(403, visit.gettext(N_("You cannot change anything (viewer role).")))
    try:
        with site.writing() as writer:
            visit.store = writer
            return handler(visit)
    except NotFound:
        return visit.refuse(404, visit.gettext(NOT_FOUND))
    except UserError as error:
        return visit.refuse(422, str(error))


def _ids_in_range(params: dict) -> bool:
    """False when an id of the path is past what SQLite stores (2^63 - 1): no such thing."""
    return all(0 <= value <= LARGEST_ID for value in params.values() if isinstance(value, int))


def local_path(text: str | None) -> str | None:
    """`text` when it is a path on this site (never `//elsewhere` or a full URL)."""
    if text and text.startswith("/") and not text.startswith("//") and "\\" not in text:
        return text
    return None
