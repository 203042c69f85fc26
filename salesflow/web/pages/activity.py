"""The robot's activity: failed runs and messages first, then the latest, a page at a time;
and a failed run's retry."""

from __future__ import annotations

from dataclasses import asdict

from starlette.responses import Response

from salesflow.engine.runs import change_run
from salesflow.reports.activity import PAGE as ACTIVITY_PAGE
from salesflow.reports.activity import activity as activity_report
from salesflow.reports.activity import in_english
from salesflow.web.auth import Visit
from salesflow.web.pages import asked
from salesflow.web.pages.message import emails_and_requests


def activity(visit: Visit) -> Response:
    report = activity_report(visit.store, asked.page_number(visit, ACTIVITY_PAGE))
    emails, requests = emails_and_requests(report.messages)
    failed_emails, failed_requests = emails_and_requests(report.failed_messages)
    return visit.page("activity.html", activity=report, nav="activity", emails=emails,
                      requests=requests, failed_emails=failed_emails,
                      failed_requests=failed_requests)  # fmt: skip


def activity_json(visit: Visit) -> dict:
    """`/activity.json?page=N`: the page's lists (`failed_runs`, `runs`, `failed_messages`,
    `messages`), each item as a row of `salesflow runs list --json` or `outbox list
    --json`; `page`, and `more`: is there a next page."""
    data = asdict(activity_report(visit.store, asked.page_number(visit, ACTIVITY_PAGE)))
    for runs in ("failed_runs", "runs"):
        data[runs] = [in_english(run) for run in data[runs]]
    return data


def retry_run(visit: Visit) -> Response:
    number = int(visit.request.path_params["run"])
    change_run(visit.store, number, lambda engine: engine.retry(number))
    return visit.back("/activity")
