"""Who may post a form: the signature or token its provider sends, checked against the
secret named in salesflow.yaml (`secret_env`) and read from the environment.

    tally        Tally-Signature: base64(HMAC-SHA256(secret, raw body))
    typeform     Typeform-Signature: sha256=base64(HMAC-SHA256(secret, raw body))
    hmac-sha256  <signature_header>: hex(HMAC-SHA256(secret, raw body)), `sha256=` allowed
    token        Authorization: Bearer <secret>, or ?token=<secret>

Every comparison is constant-time (hmac.compare_digest).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Mapping

from salesflow.config.model import Form, Project
from salesflow.errors import UserError


def missing_secrets(project: Project) -> list[str]:
    """`form: VARIABLE` for each signed form whose secret is not in the environment."""
    return [
        f"{form.name}: {form.secret_env}"
        for form in project.forms.values()
        if form.signature and not os.environ.get(form.secret_env or "")
    ]


def require_secrets(project: Project) -> None:
    missing = missing_secrets(project)
    if missing:
        raise UserError(
            f"the secrets of signed forms are not set ({', '.join(missing)}): export each"
            " variable before `salesflow serve` (in systemd: Environment= or EnvironmentFile=)"
        )


def authentic(form: Form, headers: Mapping[str, str], query: Mapping[str, str], body: bytes):
    """True when the post carries what the form's `signature` asks for (or asks nothing)."""
    if not form.signature:
        return True
    secret = os.environ.get(form.secret_env or "", "").encode()
    if not secret:
        return False
    if form.signature == "token":
        bearer = headers.get("authorization", "")
        given = bearer[7:] if bearer.lower().startswith("bearer ") else query.get("token", "")
        return hmac.compare_digest(given.encode(), secret)
    digest = hmac.new(secret, body, hashlib.sha256).digest()
    if form.signature == "tally":
        return _same(headers.get("tally-signature", ""), base64.b64encode(digest).decode())
    if form.signature == "typeform":
        expected = "sha256=" + base64.b64encode(digest).decode()
        return _same(headers.get("typeform-signature", ""), expected)
    given = headers.get(form.signature_header.lower(), "").removeprefix("sha256=")
    return _same(given.lower(), digest.hex())


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())
