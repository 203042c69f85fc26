"""`page()`: the one way every page and action is reached, signed in (the login page
itself is pages/login.py).

`page(handler)` sends a visitor without an active session to the login form — before a
POST's body is read, so a stranger's post costs nothing — then reads the form within
`PAGE_FORM_LIMIT`, refuses a POST without the form's CSRF token, and answers 404 for an id
past SQLite's integers; a change (`change=True`) also needs a member's role (a viewer
changes nothing) and holds the server's write turn. The forms, unsubscribe and /healthz
routes do not go through it: they stay outside the login.

`page(data(handler))` is a page's JSON (`/deals/4.json`, Datasette's convention): what
`handler` returns, written by the CLI's serialiser. A program gets JSON whatever happens —
401 (not the login form) without a session, `{"error": …}` with the status otherwise — and
may sign in with HTTP Basic auth, through the login form's password check and limit.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from salesflow.config.model import TeamMember
from salesflow.errors import NotFound, UserError
from salesflow.phrases import say
from salesflow.reports.as_json import to_json
from salesflow.store.db import LARGEST_ID, is_locked
from salesflow.store.session import Store
from salesflow.translations import N_
from salesflow.web import logins, sessions
from salesflow.web.bodies import BodyRefused, page_form
from salesflow.web.guards import client_address
from salesflow.web.site import Site

CSRF = N_("This form expired: reload the page.")
NOT_FOUND = N_("There is no such page.")
JSON = "application/json; charset=utf-8"
SIGN_IN = {"WWW-Authenticate": 'Basic realm="salesflow", charset="UTF-8"'}
SIGN_IN_FIRST = N_("Sign in: HTTP Basic auth (curl -u MEMBER:PASSWORD) or a login's cookie.")


class BadQuery(UserError):
    """A value of the query string that the page cannot read (a 400), said in the page's
    language."""


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
        """Why the page or the change is refused: JSON for a program or the board's script,
        else a page."""
        if wants_json(self.request):
            return json_answer({"error": message}, status)
        return self.page("error.html", status, message=message)

    def gettext(self, text: str) -> str:
        return self.site.gettext(text)

    def back(self, default: str) -> RedirectResponse:
        """303 to the form's `next` (a path of ours only), else `default`."""
        return RedirectResponse(local_path(self.form.get("next")) or default, 303)


def page(handler: Callable[[Visit], Response], change: bool = False):
    async def endpoint(request: Request) -> Response:
        site: Site = request.app.state.site
        answer = _page_answer(site, request, handler, change)
        return await guarded(site, answer, for_program=program(request))

    return endpoint


def data(handler: Callable[[Visit], Any]) -> Callable[[Visit], Response]:
    """A page's JSON: what `handler` returns (the data of the CLI's --json for the same
    question), written as the CLI writes it."""
    return lambda visit: json_answer(handler(visit))


def program(request: Request) -> bool:
    """A page's JSON is asked for (`/deals/4.json`, `/.json`): a program reads the answer."""
    return request.url.path.endswith(".json")


def wants_json(request: Request) -> bool:
    """A program, or the board's script (which asks for JSON when it moves a card)."""
    return program(request) or "application/json" in request.headers.get("accept", "")


def json_answer(value: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(to_json(value) + "\n", status, headers, media_type=JSON)


async def _page_answer(site: Site, request: Request, handler, change: bool) -> Response:
    """The session first: a stranger's POST is never read."""
    member = await run_in_threadpool(_signed_in, site, request)
    if member is None and program(request):
        return await run_in_threadpool(_by_password, site, request, handler)
    if member is None:
        return _to_login(request)
    form = await page_form(request) if request.method == "POST" else {}
    return await run_in_threadpool(_visit, site, request, member, form, handler, change)


async def guarded(site: Site, answer: Awaitable[Response], for_program: bool = False) -> Response:
    """The `answer`, or the site's page (a program: JSON) for a body refused or a database
    busy meanwhile."""
    try:
        return await answer
    except BodyRefused as refused:
        return _refused(site, refused)
    except Exception as error:
        if not is_locked(error):
            raise
        return _busy(site, for_program)


def _signed_in(site: Site, request: Request) -> TeamMember | None:
    return sessions.member_of(site.store(), request.cookies.get(sessions.COOKIE))


def _to_login(request: Request) -> Response:
    """After login, back to the page asked for (after a change: to the board)."""
    wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    wanted = wanted if request.method == "GET" else "/"
    return RedirectResponse(f"/login?next={quote(wanted)}", 303)


def _refused(site: Site, refused: BodyRefused) -> Response:
    return site.page("error.html", refused.status, message=site.gettext(refused.why))


def _busy(site: Site, for_program: bool = False) -> Response:
    busy = site.gettext(N_("The database is busy; try again in a few seconds."))
    if for_program:
        return json_answer({"error": busy}, 503, {"Retry-After": "5"})
    return site.page("error.html", 503, {"Retry-After": "5"}, message=busy)


def _by_password(site: Site, request: Request, handler) -> Response:
    """A program without a session: its HTTP Basic auth (`curl -u marie:…`), checked on each
    request as HTTP Basic is meant (no session, no cookie). A wrong password is counted with
    the login form's tries, so a guesser meets one limit at both doors; a right one is not,
    so a program polling its dashboard never locks its address (its people) out."""
    name_and_password = basic_credentials(request.headers.get("authorization", ""))
    if name_and_password is None:
        error = site.gettext(SIGN_IN_FIRST)
        return json_answer({"error": error}, 401, SIGN_IN)
    client = client_address(request)
    wait = logins.wait(site, client, counted=False)
    if wait:
        error = site.gettext(logins.TOO_MANY)
        return json_answer({"error": error}, 429, {"Retry-After": str(wait)})
    member = logins.member_checked(site.store(), *name_and_password)
    if member is None:
        logins.failed(site, client)
        return json_answer({"error": site.gettext(logins.FAILED)}, 401, SIGN_IN)
    return _visit(site, request, site.project.team[member], {}, handler, False)


def basic_credentials(header: str) -> tuple[str, str] | None:
    """(name, password) from an `Authorization: Basic …` header (UTF-8, RFC 7617)."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        text = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    name, colon, password = text.partition(":")
    return (name, password) if colon else None


def _visit(site: Site, request: Request, member: TeamMember, form: dict, handler, change: bool):
    """The page or change (a program signed in by password has no session: no CSRF token)."""
    store = site.store()
    cookie = request.cookies.get(sessions.COOKIE)
    csrf = sessions.csrf_token(store, cookie) if cookie else ""
    visit = Visit(request, site, store, member, csrf, form)
    if request.method == "POST" and not sessions.csrf_valid(store, cookie, form.get("csrf")):
        return visit.refuse(403, visit.gettext(CSRF))
    if not _ids_in_range(request.path_params):
        return visit.refuse(404, visit.gettext(NOT_FOUND))
    if not change:
        try:
            return handler(visit)
        except BadQuery as error:
            return visit.refuse(400, str(error))
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
    except UserError as error:  # a value refused: in the page's words when it has them
        return visit.refuse(422, say(error.phrase, visit.gettext) if error.phrase else str(error))


def _ids_in_range(params: dict) -> bool:
    """False when an id of the path is past what SQLite stores (2^63 - 1): no such thing."""
    return all(0 <= value <= LARGEST_ID for value in params.values() if isinstance(value, int))


def local_path(text: str | None) -> str | None:
    """`text` when it is a path on this site (never `//elsewhere` or a full URL)."""
    if text and text.startswith("/") and not text.startswith("//") and "\\" not in text:
        return text
    return None
