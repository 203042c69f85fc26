"""What a page's query string asks for — a pipeline, an owner, a page number — checked
against the project, so every page reads them the same way."""

from __future__ import annotations

from salesflow.errors import NotFound, UserError
from salesflow.store.db import LARGEST_ID
from salesflow.web.auth import NOT_FOUND, Visit


def pipeline(visit: Visit) -> str:
    """The pipeline asked for, else the first one declared."""
    asked = visit.request.query_params.get("pipeline")
    pipelines = visit.store.project.pipelines
    if asked in pipelines:
        return asked
    if not pipelines:
        raise UserError("salesflow.yaml declares no pipeline")
    return next(iter(pipelines))


def owner(visit: Visit) -> str | None:
    owner = visit.request.query_params.get("owner")
    return owner if owner in visit.store.project.team else None


def page_number(visit: Visit, size: int) -> int:
    """The `?page=` asked for (0 when there is no number); a page whose first row would lie
    past SQLite's largest integer does not exist."""
    text = visit.request.query_params.get("page", "0")
    if not (text.isascii() and text.isdigit()):
        return 0
    if len(text) > len(str(LARGEST_ID)) or int(text) * size > LARGEST_ID:
        raise NotFound(NOT_FOUND)  # the page's 404, in its language
    return int(text)
