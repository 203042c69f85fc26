"""Who is signed in: the session cookie, and the CSRF token every form of the pages carries.

The cookie holds a session's random id; the session itself is a row in the database
(`salesflow.store.login_sessions`), checked on every request, so logout, a new password, `salesflow
secret rotate` and an idle period end it at once, whatever the browser kept. A CSRF token is
an HMAC of the cookie it goes with, so a page of another site can neither read nor forge one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from secrets import token_urlsafe

from salesflow.config.model import TeamMember
from salesflow.store import login_sessions as stored
from salesflow.store import secrets
from salesflow.store.session import Store

COOKIE = "salesflow_session"
LOGIN_COOKIE = "salesflow_login"  # before login: what the login form's token is bound to
LIFETIME = int(stored.LIFETIME.total_seconds())  # the cookie's max-age


def _sign(store: Store, purpose: str, text: str) -> str:
    digest = hmac.new(secrets.key(store, purpose), text.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode()


def member_of(store: Store, cookie: str | None) -> TeamMember | None:
    """The team member whose active session `cookie` is, or None."""
    member = stored.member_of(store, cookie)
    return store.project.team.get(member) if member else None


def new_login_nonce() -> str:
    return token_urlsafe(18)


def csrf_token(store: Store, cookie: str) -> str:
    """The token forms carry beside `cookie` (the session, or the login page's nonce)."""
    return _sign(store, "csrf", cookie)


def csrf_valid(store: Store, cookie: str | None, token: str | None) -> bool:
    if not cookie or not token:
        return False
    return hmac.compare_digest(token.encode(), csrf_token(store, cookie).encode())
