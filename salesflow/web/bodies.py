"""Request bodies read within a bound, before anything parses them.

A body over its limit is refused on its `Content-Length` at once, and cut off as soon as the
bytes streamed pass the limit (a chunked body declares no length): a flood costs the server
at most the limit in memory. The pages' forms are a few short fields (16 KiB is generous);
their multipart variant (the board's script sends FormData) carries no file and few fields.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request

from salesflow.translations import N_

PAGE_FORM_LIMIT = 16 * 1024  # bytes of a page's form: login, moves, edits, logout
PAGE_FORM_FIELDS = 20


class BodyRefused(Exception):
    """A body not read: its status (413, 400) and why, for the reader (marked, in English)."""

    def __init__(self, status: int, why: str):
        super().__init__(why)
        self.status = status
        self.why = why


async def bounded_body(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is over `limit` bytes (read no further)."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def page_form(request: Request) -> dict[str, str]:
    """The text fields of a page's form; BodyRefused when it is too large or unreadable."""
    body = await bounded_body(request, PAGE_FORM_LIMIT)
    if body is None:
        raise BodyRefused(413, N_("This form is too long."))
    request._body = body  # read once above, within the limit; form() parses it from here
    try:
        async with request.form(
            max_files=0, max_fields=PAGE_FORM_FIELDS, max_part_size=PAGE_FORM_LIMIT
        ) as form:
            return {key: value for key, value in form.items() if isinstance(value, str)}
    except HTTPException:  # Starlette's answer to a broken multipart body, or a file in it
        raise BodyRefused(400, N_("This form cannot be read: reload the page.")) from None
