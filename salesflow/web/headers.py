"""What a browser may do with each answer of `serve`: the security headers.

Every answer — pages, login, errors, 404s, `/forms` JSON, `/healthz`, unsubscribe, static
files, redirects, and Starlette's own 500 — carries `PAGE_HEADERS`: the pages load their
style sheet and script from `/static/` only, run no inline script or style, post forms only
to this site, cannot be framed, and no URL of ours (an unsubscribe link holds a token in its
path) is sent as a `Referer` to another site. An answer that sets a header itself keeps its
own: an email's HTML (`EMAIL_HEADERS`) is framed by its message page, shows its inline
styles and runs nothing, in a sandbox of its own even when opened directly. (A malformed
request's 400, which uvicorn makes itself, never reaches the app and carries none.)
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_POLICY = "; ".join((
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "connect-src 'self'",  # the board's drag and drop posts with fetch()
    "frame-src 'self'",  # the message page frames the email's HTML
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "object-src 'none'",
))  # fmt: skip

# An email's own HTML: its inline styles (emails carry style attributes), images written into
# it (`data:`) but no remote one (it would tell a tracker the message was looked at), no
# script, no form, no plugin; `sandbox` gives it an origin of its own, cookies and pages out
# of reach, even when it is opened outside its frame.
EMAIL_POLICY = "; ".join((
    "default-src 'none'",
    "style-src 'unsafe-inline'",
    "img-src data:",
    "script-src 'none'",
    "form-action 'none'",
    "frame-ancestors 'self'",
    "base-uri 'none'",
    "sandbox",
))  # fmt: skip

PAGE_HEADERS = {
    "content-security-policy": PAGE_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",  # for browsers older than frame-ancestors
    "referrer-policy": "same-origin",  # our POSTs keep their Origin; no path leaves the site
}
EMAIL_HEADERS = {"content-security-policy": EMAIL_POLICY, "x-frame-options": "SAMEORIGIN"}


class SecurityHeaders:
    """Adds `PAGE_HEADERS` to every HTTP answer that does not set them itself. It wraps the
    whole Starlette app, outside the error middleware, so that a 500 carries them too."""

    def __init__(self, app: ASGIApp):
        self.app = app
        self.headers = [(name.encode(), value.encode()) for name, value in PAGE_HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                added = [(name, value) for name, value in self.headers if name not in present]
                message["headers"] = [*message.get("headers", []), *added]
            await send(message)

        await self.app(scope, receive, sending)
