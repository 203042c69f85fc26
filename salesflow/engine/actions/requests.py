"""http: render a request and queue it in the outbox, in the step's transaction; the delivery
pass sends it (see salesflow.outbox.delivery)."""

from __future__ import annotations

import json
import os
from typing import Any

from salesflow.config import actions as a
from salesflow.engine.outcome import Act, Outcome, StepFailed
from salesflow.phrases import phrase
from salesflow.templating.references import Pieces, References, shown
from salesflow.templating.urls import start_problem
from salesflow.webhooks.request import queue

CONTENT_TYPES = {"json": "application/json", "text": "text/plain; charset=utf-8"}


def http(act: Act, config: a.Http) -> Outcome:
    context = act.context()
    url = _with_references(act, config.url, context, url=True)
    if problem := start_problem(url, os.environ):
        raise StepFailed(phrase("url_refused", url=shown(url), problem=problem))
    headers = {name: _with_references(act, value, context)
               for name, value in config.headers.items()}  # fmt: skip
    for name, value in headers.items():
        if any("\r" in part or "\n" in part for part in value):
            raise StepFailed(phrase("header_line_break", name=name))
    if config.json is not None:
        body, kind = json.dumps(_rendered(act, config.json, context), ensure_ascii=False), "json"
    else:
        body, kind = act.render(config.body, context) or "", "text"
    if body and not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = [CONTENT_TYPES[kind]]
    request = queue(act.store, act.run.id, act.step.id, config.method, url, headers, body)
    return Outcome(phrase("request_queued", id=request, method=config.method, url=shown(url)))


def _with_references(act: Act, template: str, context: dict, url: bool = False) -> Pieces:
    """The rendered text as pieces, its `{{ env.NAME }}` references kept apart (in a URL,
    the data around them percent-encoded)."""
    references = References()
    return references.pieces(act.render(template, {**context, "env": references}, url=url))


def _rendered(act: Act, value: Any, context: dict) -> Any:
    """A JSON body with every string rendered (an empty result is null)."""
    if isinstance(value, dict):
        return {key: _rendered(act, item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [_rendered(act, item, context) for item in value]
    return act.render(value, context)
