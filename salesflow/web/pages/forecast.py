"""The forecast: the same overview as the one-file HTML report, as a page."""

from __future__ import annotations

from starlette.responses import Response

from salesflow.web.auth import Visit
from salesflow.web.report import overview


def forecast(visit: Visit) -> Response:
    return visit.page("forecast.html", nav="forecast", **overview(visit.store))
