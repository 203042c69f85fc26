"""Who is signed in: a session cookie signed with the project's secret, and the CSRF token
every form of the pages carries.

The cookie is `member:issued:signature`, where the signature covers the member, the time of
login and their current password hash: a new password (or `salesflow secret rotate`) ends
every session made before it. A CSRF token is an HMAC of the cookie it goes with, so a
page of another site can neither read nor forge one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from secrets import token_urlsafe

from salesflow.config.model import TeamMember
from salesflow.store import passwords, secrets
from salesflow.store.session import Store

COOKIE = "salesflow_session"
LOGIN_COOKIE = "salesflow_login"  # before login: what the login form's token is bound to
LIFETIME = 7 * 86400  # seconds a login lasts


def _sign(store: Store, purpose: str, text: str) -> str:
    digest = hmac.new(secrets.key(store, purpose), text.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode()


def open_session(store: Store, member: str) -> str:
    """The cookie value for `member`, who has just given their password."""
    issued = int(store.now.timestamp())
    stamp = passwords.current(store, member)
    return f"{member}:{issued}:{_sign(store, 'session', f'{member}:{issued}:{stamp}')}"


def member_of(store: Store, cookie: str | None) -> TeamMember | None:
    """The team member whose valid session `cookie` is, or None."""
    member, _, rest = (cookie or "").partition(":")
    issued, _, signature = rest.partition(":")
    person = store.project.team.get(member)
    if person is None or not issued.isdigit():
        return None
    if not 0 <= store.now.timestamp() - int(issued) < LIFETIME:
        return None
    stamp = passwords.current(store, member)
    if stamp is None:
        return None
    expected = _sign(store, "session", f"{member}:{issued}:{stamp}")
    return person if hmac.compare_digest(signature.encode(), expected.encode()) else None


def new_login_nonce() -> str:
    return token_urlsafe(18)


def csrf_token(store: Store, cookie: str) -> str:
    """The token forms carry beside `cookie` (the session, or the login page's nonce)."""
    return _sign(store, "csrf", cookie)


def csrf_valid(store: Store, cookie: str | None, token: str | None) -> bool:
    if not cookie or not token:
        return False
    return hmac.compare_digest(token.encode(), csrf_token(store, cookie).encode())
