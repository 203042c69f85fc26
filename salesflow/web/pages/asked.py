"""What a page's query string asks for — a pipeline, an owner, a page number — checked
against the project, so every page reads them the same way."""

from __future__ import annotations

from datetime import date

from salesflow.errors import NotFound, UserError
from salesflow.store.db import LARGEST_ID
from salesflow.translations import N_
from salesflow.values import parse_date
from salesflow.web.auth import NOT_FOUND, BadQuery, Visit, program


def pipeline(visit: Visit) -> str:
    """The pipeline asked for, else the first one declared."""
    asked = visit.request.query_params.get("pipeline")
    pipelines = visit.store.project.pipelines
    if asked in pipelines:
        return asked
    _refuse_unknown(visit, "pipeline", asked, pipelines)
    if not pipelines:
        raise UserError("salesflow.yaml declares no pipeline")
    return next(iter(pipelines))


def owner(visit: Visit) -> str | None:
    owner = visit.request.query_params.get("owner")
    team = visit.store.project.team
    if owner in team:
        return owner
    _refuse_unknown(visit, "owner", owner, team)
    return None


def _refuse_unknown(visit: Visit, name: str, asked: str | None, known) -> None:
    """A program that names a pipeline or an owner the project does not have gets a 400, not
    the first pipeline's or everyone's data as if it were what it asked for (as the CLI
    refuses it); a person's page falls back to them."""
    if asked and program(visit.request):
        said = visit.gettext(N_("“{name}”: there is no “{value}” here; there are: {known}."))
        raise BadQuery(said.format(name=name, value=asked, known=", ".join(known)))


def since(visit: Visit) -> date | None:
    """`?since=`: a date, ISO or the locale's form, as the CLI's --since reads it."""
    text = visit.request.query_params.get("since", "")
    try:
        return parse_date(text, visit.store.project.locale) if text else None
    except ValueError:
        said = visit.gettext(N_("“since” is a date, such as {example}: {value} is not one."))
        raise BadQuery(said.format(example="2026-09-01", value=text)) from None


def page_number(visit: Visit, size: int) -> int:
    """The `?page=` asked for (0 when there is no number); a page whose first row would lie
    past SQLite's largest integer does not exist."""
    text = visit.request.query_params.get("page", "0")
    if not (text.isascii() and text.isdigit()):
        return 0
    if len(text) > len(str(LARGEST_ID)) or int(text) * size > LARGEST_ID:
        raise NotFound(NOT_FOUND)  # the page's 404, in its language
    return int(text)
