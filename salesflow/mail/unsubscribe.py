"""Unsubscribe links: `public_url/unsubscribe/<contact id>-<signature>`.

The signature is an HMAC of the contact's id with the project's secret, so a link works for
its own contact only, and a guessed id gets nowhere. Without `public_url:` there is no page
to link to: emails keep the `mailto:` unsubscribe.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from salesflow.store import secrets
from salesflow.store.session import Store

PURPOSE = "unsubscribe"


def _signature(key: bytes, contact_id: int) -> str:
    digest = hmac.new(key, str(contact_id).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")


def token(store: Store, contact_id: int) -> str:
    return f"{contact_id}-{_signature(secrets.key(store, PURPOSE), contact_id)}"


def link(store: Store, contact_id: int) -> str | None:
    """The contact's unsubscribe page, or None when the project has no `public_url`."""
    base = store.project.public_url
    return f"{base}/unsubscribe/{token(store, contact_id)}" if base else None


def contact_of(store: Store, text: str) -> int | None:
    """The contact id a token was made for, or None when it is not one of ours."""
    number, _, signature = text.partition("-")
    if not (number.isascii() and number.isdigit()) or len(number) > 18:
        return None
    expected = _signature(secrets.key(store, PURPOSE), int(number))
    return int(number) if hmac.compare_digest(signature.encode(), expected.encode()) else None
