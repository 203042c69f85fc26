"""The login page, the login itself (slowed per client address, counted in the database
so every `serve` process meets one limit) and the logout."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from salesflow.store import login_sessions as stored_sessions
from salesflow.web import logins, sessions
from salesflow.web.auth import CSRF, Visit, guarded, local_path
from salesflow.web.bodies import page_form
from salesflow.web.guards import client_address
from salesflow.web.site import Site

FIRST_PAGE = "/today"  # a member's list of the day, unless the login was asked for another


async def login_form(request: Request) -> Response:
    site: Site = request.app.state.site
    return await run_in_threadpool(_login_page, site, request, {}, 200, None)


def _login_page(
    site: Site, request: Request, form: dict, status: int, error: str | None, headers=None
):
    store = site.store()
    target = local_path(form.get("next") or request.query_params.get("next")) or FIRST_PAGE
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
    wait = await run_in_threadpool(logins.wait, site, client_address(request))
    if wait:
        too_many = site.gettext(logins.TOO_MANY)
        later = {"Retry-After": str(wait)}
        return await run_in_threadpool(_login_page, site, request, form, 429, too_many, later)
    return await run_in_threadpool(_login, site, request, form)


def _login(site: Site, request: Request, form: dict) -> Response:
    store = site.store()
    if not sessions.csrf_valid(store, request.cookies.get(sessions.LOGIN_COOKIE), form.get("csrf")):
        return _login_page(site, request, form, 403, site.gettext(CSRF))
    member = logins.member_checked(store, form.get("member", ""), form.get("password", ""))
    if member is None:
        return _login_page(site, request, form, 401, site.gettext(logins.FAILED))
    response = RedirectResponse(local_path(form.get("next")) or FIRST_PAGE, 303)
    logins.set_cookie(request, response, logins.open_session(site, member))
    response.delete_cookie(sessions.LOGIN_COOKIE)
    return response


def logout(visit: Visit) -> Response:
    """End the session here, not only in this browser: a copy of the cookie opens nothing."""
    with visit.site.writing() as writer:
        stored_sessions.end(writer, visit.request.cookies.get(sessions.COOKIE))
    response = RedirectResponse("/login", 303)
    response.delete_cookie(sessions.COOKIE)
    return response
