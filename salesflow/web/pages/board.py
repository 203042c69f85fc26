"""The board: a pipeline's open deals in one column per stage."""

from __future__ import annotations

from starlette.responses import Response

from salesflow.reports import Report
from salesflow.reports.as_json import report_json
from salesflow.reports.board import board as board_report
from salesflow.web.auth import Visit
from salesflow.web.pages import asked

CARDS = 20  # cards per column on the board; the rest behind "N more"


def board(visit: Visit) -> Response:
    pipeline, owner = asked.pipeline(visit), asked.owner(visit)
    return visit.page("board.html", report=_board(visit, pipeline, owner), nav="board",
                      owner=owner, pipeline=visit.store.project.pipelines[pipeline])  # fmt: skip


def board_json(visit: Visit) -> dict:
    """`/.json`: `salesflow pipeline board PIPELINE --cards 20 --oldest-first [--owner OWNER]
    --json`."""
    return report_json(_board(visit, asked.pipeline(visit), asked.owner(visit)))


def _board(visit: Visit, pipeline: str, owner: str | None) -> Report:
    """The columns' first cards are those in the stage longest: the next to act on."""
    return board_report(visit.store, pipeline, CARDS, owner, oldest_first=True)
