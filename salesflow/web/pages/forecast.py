"""The forecast: the same overview as the one-file HTML report, as a page."""

from __future__ import annotations

from starlette.responses import Response

from salesflow.reports.as_json import report_json
from salesflow.web.auth import Visit
from salesflow.web.report import STALLED_LISTED, overview


def forecast(visit: Visit) -> Response:
    """The stalled lists show the most overdue only; the JSON has them all, as the CLI."""
    return visit.page("forecast.html", nav="forecast", **overview(visit.store, STALLED_LISTED))


def forecast_json(visit: Visit) -> dict:
    """`/forecast.json`: each report the page shows, as `salesflow pipeline …` gives it —
    by_month: `forecast`, by_owner: `forecast --by owner`, workload: `workload`, losses:
    `losses`, stalled: `stalled`, stalled_tickets: `stalled --kind ticket` (all --json)."""
    return {name: report_json(report) for name, report in overview(visit.store).items()}
