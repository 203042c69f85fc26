"""One stage of the board in full, a page of cards at a time (the board shows the first
few and links here for the rest)."""

from __future__ import annotations

from starlette.responses import Response

from salesflow.reports.board import stage_cards
from salesflow.web.auth import Visit
from salesflow.web.pages import asked

STAGE_PAGE = 100


def stage(visit: Visit) -> Response:
    params = visit.request.path_params
    number = asked.page_number(visit, STAGE_PAGE)
    column = _column(visit, number)
    more = column["count"] > (number + 1) * STAGE_PAGE
    return visit.page("stage.html", column=column, nav="board", number=number, more=more,
                      pipeline=visit.store.project.pipelines[params["pipeline"]],
                      owner=asked.owner(visit))  # fmt: skip


def stage_json(visit: Visit) -> dict:
    """`/pipelines/P/stages/S.json`: the stage's row of `salesflow pipeline board P --cards
    100 --oldest-first [--owner OWNER] --json`; `?page=N`, the N-th next 100 cards (`more`:
    how many after them)."""
    return _column(visit, asked.page_number(visit, STAGE_PAGE))


def _column(visit: Visit, number: int) -> dict:
    params = visit.request.path_params
    return stage_cards(visit.store, params["pipeline"], params["stage"], asked.owner(visit),
                       number * STAGE_PAGE, STAGE_PAGE)  # fmt: skip
