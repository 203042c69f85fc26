"""`POST /forms/<form>`: a web form's submission, taken in durably before the answer.

The order of the checks is the order of their cost: the form exists, the body is not too
large, its type is one we read, the signature holds, the origin and the rate are allowed;
only then is the body parsed and recorded. A submission that is read but unusable is kept
as a reject (`salesflow rejects`); a failed signature stores nothing.

The answer's kind follows the request: a post of an HTML form's fields (urlencoded or
multipart) whose `Accept` names `text/html`, or has no `Accept` (a browser), gets a `303` to
the form's `redirect:` or a short thank-you page, and errors as a page; anything else (JSON
bodies; curl, whose `Accept` is `*/*`) gets JSON: `202 {"id": …}` or `{"error", "pointer"}`.
An error is a phrase (salesflow.phrases): the page says it in the project's language, the
JSON in English.
"""

from __future__ import annotations

import io
import logging
from typing import Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from salesflow.errors import UserError, closest
from salesflow.ingest.forms import Received, receive
from salesflow.ingest.jsonread import submissions
from salesflow.phrases import phrase, say
from salesflow.store.db import is_locked
from salesflow.web import signatures
from salesflow.web.bodies import bounded_body
from salesflow.web.guards import client_address, origin_allowed
from salesflow.web.site import Site

log = logging.getLogger("salesflow.serve")
FORM_FIELDS = 200  # fields of one HTML form post (its body is bounded by max_body_kib)
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def post_form(request: Request) -> Response:
    site: Site = request.app.state.site
    name = request.path_params["form"]
    form = site.project.forms.get(name)
    if form is None:
        return _unknown_form(request, name, sorted(site.project.forms))
    body = await bounded_body(request, site.project.serve.max_body_kib * 1024)
    if body is None:
        too_large = phrase("body_too_large", kib=site.project.serve.max_body_kib)
        return _error(request, 413, too_large, "")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    is_json = kind == "application/json" or kind.endswith("+json")
    if not is_json and kind not in _FORM_TYPES:
        return _error(request, 415, phrase("unsupported_type"), "")
    if not signatures.authentic(form, request.headers, request.query_params, body):
        log.warning("form %s: refused a post whose signature or token is wrong", name)
        return _error(request, 401, phrase("signature_wrong"), "")
    if not origin_allowed(form, request.headers):
        return _error(request, 403, phrase("origin_refused"), "")
    wait = site.limiter.wait_for(name, form.rate_limit, client_address(request))
    if wait:
        return _error(request, 429, phrase("too_many_posts"), "", {"Retry-After": str(wait)})
    if is_json:
        payload, broken = _json_payload(body)
    else:
        request._body = body  # read once above, within the limit; form() parses it from here
        payload, broken = await _form_payload(request, body)
        if not broken and form.honeypot and payload.pop(form.honeypot, None):
            log.info("form %s: a post that filled the honeypot was dropped", name)
            return _accepted(request, form, Received())
    try:
        received = await run_in_threadpool(_record, site, name, payload, broken)
    except Exception as error:
        if not is_locked(error):
            raise
        return _error(request, 503, phrase("database_busy"), "", {"Retry-After": "5"})
    if received.refused is not None:
        status = 400 if broken else 422
        refused = received.refused
        return _error(request, status, refused.phrase, refused.pointer,
                      visitor=refused.to_visitor, reject=received.reject_id)  # fmt: skip
    return _accepted(request, form, received)


def _record(site: Site, name: str, payload: Any, broken: str | None) -> Received:
    with site.writing() as store:
        return receive(store, site.reader(name), payload, f"web:{name}", broken)


def _json_payload(body: bytes) -> tuple[Any, str | None]:
    """(the submission, None), or (what was received, why it cannot be read: a phrase, or
    the JSON reader's English)."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        return body.decode("latin-1"), phrase("not_utf8", byte=error.start)
    try:
        items = list(submissions(io.StringIO(text), "the body"))
    except UserError as error:
        return text, str(error)
    if len(items) != 1:
        return text, phrase("one_submission", count=len(items))
    _, payload, error = items[0]
    return (text, error) if error else (payload, None)


async def _form_payload(request: Request, body: bytes) -> tuple[Any, str | None]:
    """(an HTML form's fields, None); or (the body as text, why it cannot be read) — say a
    multipart body without a boundary, or with more than FORM_FIELDS fields, which Starlette
    answers with a plain-text 400 of its own and no reject."""
    if request.headers.get("content-type", "").lower().startswith(_FORM_TYPES[0]):
        return _urlencoded_fields(body)
    try:
        async with request.form(max_fields=FORM_FIELDS) as form:
            return _text_fields(form.multi_items()), None
    except HTTPException as error:
        return body.decode("utf-8", "replace"), _unreadable_because(error.detail)


def _urlencoded_fields(body: bytes) -> tuple[Any, str | None]:
    """A urlencoded form's fields, read as UTF-8 whether they are percent-encoded (a browser)
    or not (`curl -d prenom=Zoé`), where Starlette would read raw bytes as Latin-1 (ZoÃ©)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        return body.decode("latin-1"), phrase("not_utf8", byte=error.start)
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=FORM_FIELDS)
    except ValueError:  # more fields than FORM_FIELDS
        return text, phrase("too_many_fields", most=FORM_FIELDS)
    return _text_fields(pairs), None


def _unreadable_because(detail: str):
    """Starlette's reason for refusing a form's body, as our phrase (a visitor reads it in
    the project's language); one we do not know stays its own words."""
    if detail.startswith("Too many fields"):
        return phrase("too_many_fields", most=FORM_FIELDS)
    if "boundary" in detail.lower():
        return phrase("multipart_without_boundary")
    return phrase("form_data_unreadable", why=detail.rstrip("."))


def _text_fields(items) -> dict[str, Any]:
    """Text values (a repeated name gives a list); files are not kept."""
    fields: dict[str, Any] = {}
    for key, value in items:
        if not isinstance(value, str):
            continue
        if key in fields:
            previous = fields[key]
            fields[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            fields[key] = value
    return fields


def _wants_html(request: Request) -> bool:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return kind in _FORM_TYPES and "text/html" in request.headers.get("accept", "text/html")


def _accepted(request: Request, form, received: Received) -> Response:
    if _wants_html(request):
        if form.redirect:
            return RedirectResponse(form.redirect, status_code=303)
        site: Site = request.app.state.site
        return site.page("thanks.html", status=200)
    return JSONResponse({"id": received.event_id, "duplicate": received.duplicate}, 202)


def _unknown_form(request: Request, name: str, forms: list[str]) -> Response:
    """A 404 that says which forms exist: the usual mistake is a typo in the form's action."""
    close, known = closest(name, forms), ", ".join(forms)
    if not forms:
        unknown = phrase("no_form_in_project", form=name)
    elif close:
        unknown = phrase("no_form_close", form=name, close=close, forms=known)
    else:
        unknown = phrase("no_form_here", form=name, forms=known)
    return _error(request, 404, unknown, "", forms=forms)


def _error(
    request: Request,
    status: int,
    message: str,
    pointer: str,
    headers=None,
    visitor: str | None = None,
    **more: Any,
) -> Response:
    """`{"error", "pointer"}` (and `more`: the reject's id, the forms there are) for API
    clients, in English; a short page saying what went wrong, in the project's language, for a
    person whose browser posted the form. `message`: a phrase (`visitor`: the page's, if
    another)."""
    if _wants_html(request):
        site: Site = request.app.state.site
        shown = visitor or message
        return site.page("problem.html", status=status, headers=headers, message=shown)
    content: dict[str, Any] = {"error": say(message), "pointer": pointer}
    content.update((key, value) for key, value in more.items() if value is not None)
    return JSONResponse(content, status, headers=headers)
