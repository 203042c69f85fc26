"""The login page, the login itself (slowed per client address, counted in the database
so every `serve` process meets one limit) and the logout."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from salesflow.store import login_sessions as stored_sessions
from salesflow.store import passwords
from salesflow.store.db import transaction
from salesflow.store.session import Store
from salesflow.translations import N_
from salesflow.web import sessions
from salesflow.web.auth import CSRF, Visit, guarded, local_path
from salesflow.web.bodies import page_form
from salesflow.web.guards import client_address
from salesflow.web.site import Site

LOGIN_TRIES, LOGIN_SECONDS = 5, 60  # per client address, counted by every serve process


async def login_form(request: Request) -> Response:
    site: Site = request.app.state.site
    return await run_in_threadpool(_login_page, site, request, {}, 200, None)


def _login_page(
    site: Site, request: Request, form: dict, status: int, error: str | None, headers=None
):
    store = site.store()
    target = local_path(form.get("next") or request.query_params.get("next")) or "/"
    if sessions.member_of(store, request.cookies.get(sessions.COOKIE)) and not form:
        return RedirectResponse(target, 303)
    nonce = request.cookies.get(sessions.LOGIN_COOKIE) or sessions.new_login_nonce()
    response = site.page("login.html", status, headers, csrf=sessions.csrf_token(store, nonce),
                         next=target, error=error, member=form.get("member", ""))  # fmt: skip
    response.set_cookie(sessions.LOGIN_COOKIE, nonce, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https", max_age=3600)  # fmt: skip
    return response


async def login(request: Request) -> Response:
    site: Site = request.app.state.site
    return await guarded(site, _login_answer(site, request))


async def _login_answer(site: Site, request: Request) -> Response:
    form = await page_form(request)
    wait = await run_in_threadpool(_login_wait, site, client_address(request))
    if wait:
        too_many = site.gettext(N_("Too many tries; try again in a minute."))
        later = {"Retry-After": str(wait)}
        return await run_in_threadpool(_login_page, site, request, form, 429, too_many, later)
    return await run_in_threadpool(_login, site, request, form)


def _login_wait(site: Site, client: str) -> int:
    """The seconds `client` must wait before trying again (0: it may try now, and it is
    counted), from the attempts in the database: a guesser spread over several `serve`
    processes or hosts meets one limit."""
    with site.writing() as writer, transaction(writer.conn):
        return stored_sessions.login_wait(writer, client, LOGIN_TRIES, LOGIN_SECONDS)


def _login(site: Site, request: Request, form: dict) -> Response:
    store = site.store()
    if not sessions.csrf_valid(store, request.cookies.get(sessions.LOGIN_COOKIE), form.get("csrf")):
        return _login_page(site, request, form, 403, site.gettext(CSRF))
    member = _member_named(store, form.get("member", ""))
    if not passwords.check(store, member, form.get("password", "")):  # a hash even for no one
        failed = site.gettext(N_("Wrong name or password."))
        return _login_page(site, request, form, 401, failed)
    with site.writing() as writer, transaction(writer.conn):
        cookie = stored_sessions.open_session(writer, member)
    response = RedirectResponse(local_path(form.get("next")) or "/", 303)
    response.set_cookie(sessions.COOKIE, cookie, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https",
                        max_age=sessions.LIFETIME)  # fmt: skip
    response.delete_cookie(sessions.LOGIN_COOKIE)
    return response


def _member_named(store: Store, text: str) -> str | None:
    """The team member named by id or email."""
    text = text.strip().lower()
    for member in store.project.team.values():
        if text in (member.id.lower(), member.email.lower()):
            return member.id
    return None


def logout(visit: Visit) -> Response:
    """End the session here, not only in this browser: a copy of the cookie opens nothing."""
    with visit.site.writing() as writer:
        stored_sessions.end(writer, visit.request.cookies.get(sessions.COOKIE))
    response = RedirectResponse("/login", 303)
    response.delete_cookie(sessions.COOKIE)
    return response
