"""A member's "today", the first page after login: what is theirs to do, in the order to do
it (reports/today.py); a viewer, who owns nothing, sees the whole team's."""

from __future__ import annotations

from starlette.responses import Response

from salesflow.reports.today import KINDS
from salesflow.reports.today import today as today_report
from salesflow.web.auth import Visit


def today(visit: Visit) -> Response:
    return visit.page("today.html", nav="today", today=today_json(visit), kinds=KINDS)


def today_json(visit: Visit) -> dict:
    """`/today.json`: `salesflow today --member ME --json`; a viewer's, `salesflow today
    --json` (the team's)."""
    member = None if visit.member.role == "viewer" else visit.member.id
    return today_report(visit.store, member)
