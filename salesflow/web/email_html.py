"""`/messages/<id>/html`: an email's HTML part, on a URL of its own so that it carries its own
policy (`EMAIL_HEADERS`: its inline styles, no script, no remote image) rather than the
page's, which a `srcdoc` frame would inherit. The message page frames it in a sandbox; the
login and roles are the message page's."""

from __future__ import annotations

from starlette.responses import HTMLResponse

from salesflow.errors import UserError
from salesflow.store import outbox
from salesflow.web.auth import Visit
from salesflow.web.headers import EMAIL_HEADERS


def email_html(visit: Visit) -> HTMLResponse:
    number = int(visit.request.path_params["message"])
    html = outbox.get(visit.store, number)["html"]
    if not html:
        raise UserError(f"message #{number} has no HTML part")
    return HTMLResponse(html, headers=EMAIL_HEADERS)
