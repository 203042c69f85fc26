"""The one-file HTML report (`salesflow report --html`): the board and funnel of every
pipeline, the forecast, workload, losses and stalled deals, and the team's "today",
rendered with the pages' templates into a self-contained file — inline CSS and SVG, no
script, no external request — to mail on Monday morning or open from a shared folder."""

from __future__ import annotations

from salesflow.reports.board import board
from salesflow.reports.forecast import forecast
from salesflow.reports.funnel import funnel
from salesflow.reports.losses import losses
from salesflow.reports.stalled import stalled
from salesflow.reports.today import KINDS, today
from salesflow.reports.workload import workload
from salesflow.store.session import Store
from salesflow.web.environment import environment

CARDS = 10  # cards per column in the report
STALLED_LISTED = 50  # stalled deals (tickets) a page or the report lists, the most overdue
TODAY_LISTED = 50  # items of each member's today the report lists, the most urgent


def overview(store: Store, listed: int | None = None) -> dict:
    """The forecast by month and by owner, the workload, the losses and the stalled deals
    and tickets (apart): the `listed` most overdue of them, if given (a page lists a few
    dozen to act on, and counts the others; `salesflow pipeline stalled` lists them all)."""
    return {
        "by_month": forecast(store, "month"),
        "by_owner": forecast(store, "owner"),
        "workload": workload(store),
        "losses": losses(store),
        "stalled": stalled(store, kind="deal", listed=listed),
        "stalled_tickets": stalled(store, kind="ticket", listed=listed),
    }


def html_report(store: Store) -> str:
    pipelines = [
        (pipeline, board(store, pipeline.id, CARDS, oldest_first=True), funnel(store, pipeline.id))
        for pipeline in store.project.pipelines.values()
    ]
    template = environment(store.project).get_template("report.html")
    return template.render(boards=pipelines, generated=store.now,
                           today=today(store, listed=TODAY_LISTED), kinds=KINDS,
                           **overview(store, STALLED_LISTED))  # fmt: skip
