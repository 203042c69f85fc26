"""The funnel: how many deals reached each stage, over a chosen period."""

from __future__ import annotations

from datetime import date, timedelta

from starlette.responses import Response

from salesflow.reports.as_json import report_json
from salesflow.reports.funnel import funnel as funnel_report
from salesflow.web.auth import Visit
from salesflow.web.pages import asked

PERIODS = {"30": 30, "90": 90, "365": 365}  # the funnel's period selector, in days


def funnel(visit: Visit) -> Response:
    pipeline = asked.pipeline(visit)
    report = funnel_report(visit.store, pipeline, _since(visit))
    of = visit.store.project.pipelines[pipeline]
    return visit.page("funnel.html", report=report, nav="funnel", periods=PERIODS,
                      period=visit.request.query_params.get("period", ""),
                      pipeline=of)  # fmt: skip


def funnel_json(visit: Visit) -> dict:
    """`/funnel.json`: `salesflow pipeline funnel PIPELINE [--since DATE] --json`."""
    return report_json(funnel_report(visit.store, asked.pipeline(visit), _since(visit)))


def _since(visit: Visit) -> date | None:
    """`?since=DATE`, as the CLI's --since; else the first day of the `?period=` chosen."""
    period = visit.request.query_params.get("period", "")
    if (day := asked.since(visit)) or period not in PERIODS:
        return day
    return (visit.store.now - timedelta(days=PERIODS[period])).date()
