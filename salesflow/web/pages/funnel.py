"""The funnel: how many deals reached each stage, over a chosen period."""

from __future__ import annotations

from datetime import timedelta

from starlette.responses import Response

from salesflow.reports.funnel import funnel as funnel_report
from salesflow.web.auth import Visit
from salesflow.web.pages import asked

PERIODS = {"30": 30, "90": 90, "365": 365}  # the funnel's period selector, in days


def funnel(visit: Visit) -> Response:
    pipeline = asked.pipeline(visit)
    period = visit.request.query_params.get("period", "")
    since = (
        (visit.store.now - timedelta(days=PERIODS[period])).date() if period in PERIODS else None
    )
    report = funnel_report(visit.store, pipeline, since)
    of = visit.store.project.pipelines[pipeline]
    return visit.page("funnel.html", report=report, nav="funnel", period=period,
                      periods=PERIODS, pipeline=of)  # fmt: skip
