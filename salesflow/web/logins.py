"""A login: a member's name (or email) and password, checked at most LOGIN_TRIES times a
minute per client address (counted in the database, so every `serve` process meets one
limit), and the session it opens. The login form (pages/login.py) and HTTP Basic auth on
the pages' JSON (web/auth.py) both go through it: one password check, one limit."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from salesflow.store import login_sessions as stored_sessions
from salesflow.store import passwords
from salesflow.store.db import transaction
from salesflow.store.session import Store
from salesflow.translations import N_
from salesflow.web import sessions
from salesflow.web.site import Site

LOGIN_TRIES, LOGIN_SECONDS = 5, 60  # per client address, counted by every serve process
TOO_MANY = N_("Too many tries; try again in a minute.")
FAILED = N_("Wrong name or password.")


def wait(site: Site, client: str, counted: bool = True) -> int:
    """The seconds `client` must wait before trying again (0: it may try now, and it is
    counted unless not `counted`), from the attempts in the database: a guesser spread over
    several `serve` processes or hosts meets one limit."""
    with site.writing() as writer, transaction(writer.conn):
        return stored_sessions.login_wait(writer, client, LOGIN_TRIES, LOGIN_SECONDS, counted)


def failed(site: Site, client: str) -> None:
    """A wrong password from `client`, counted against its address."""
    with site.writing() as writer, transaction(writer.conn):
        stored_sessions.count_attempt(writer, client)


def member_checked(store: Store, name: str, password: str) -> str | None:
    """The member named (by id or email) when `password` is theirs; a hash is computed even
    for no one, so the time of the answer does not tell who has an account."""
    member = _member_named(store, name)
    return member if passwords.check(store, member, password) else None


def _member_named(store: Store, text: str) -> str | None:
    """The team member named by id or email."""
    text = text.strip().lower()
    for member in store.project.team.values():
        if text in (member.id.lower(), member.email.lower()):
            return member.id
    return None


def open_session(site: Site, member: str) -> str:
    """A new session for `member`, who has just given their password: the cookie's value."""
    with site.writing() as writer, transaction(writer.conn):
        return stored_sessions.open_session(writer, member)


def set_cookie(request: Request, response: Response, cookie: str) -> None:
    response.set_cookie(sessions.COOKIE, cookie, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https",
                        max_age=sessions.LIFETIME)  # fmt: skip
