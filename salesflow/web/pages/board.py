"""The board: a pipeline's open deals in one column per stage."""

from __future__ import annotations

from starlette.responses import Response

from salesflow.reports.board import board as board_report
from salesflow.web.auth import Visit
from salesflow.web.pages import asked

CARDS = 20  # cards per column on the board; the rest behind "N more"


def board(visit: Visit) -> Response:
    pipeline, owner = asked.pipeline(visit), asked.owner(visit)
    report = board_report(visit.store, pipeline, CARDS, owner, oldest_first=True)
    return visit.page("board.html", report=report, nav="board", owner=owner,
                      pipeline=visit.store.project.pipelines[pipeline])  # fmt: skip
