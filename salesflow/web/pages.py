"""The pages a manager looks at — board, funnel, forecast, a deal, the robot's activity —
and the changes they make there. Each reads the same report functions as the CLI and
changes deals through the same library calls (history written, events recorded, so the
workflows fire); no SQL here."""

from __future__ import annotations

from datetime import timedelta

from starlette.convertors import Convertor, register_url_convertor
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from salesflow.engine.runs import change_run
from salesflow.errors import UserError
from salesflow.outbox.by_hand import requeue
from salesflow.outbox.shown import full
from salesflow.reports.activity import PAGE as ACTIVITY_PAGE
from salesflow.reports.activity import activity as activity_report
from salesflow.reports.activity import deal_messages, deal_runs
from salesflow.reports.board import board as board_report
from salesflow.reports.board import stage_cards
from salesflow.reports.funnel import funnel as funnel_report
from salesflow.store import deals, outbox
from salesflow.store.db import LARGEST_ID, transaction
from salesflow.store.runs import get as get_run
from salesflow.web.auth import Visit, login, login_form, logout, page
from salesflow.web.email_html import email_html
from salesflow.web.report import overview

CARDS = 20  # cards per column on the board; the rest behind "N more"
STAGE_PAGE = 100
PERIODS = {"30": 30, "90": 90, "365": 365}  # the funnel's period selector, in days


def _pipeline(visit: Visit) -> str:
    """The pipeline asked for, else the first one declared."""
    asked = visit.request.query_params.get("pipeline")
    pipelines = visit.store.project.pipelines
    if asked in pipelines:
        return asked
    if not pipelines:
        raise UserError("salesflow.yaml declares no pipeline")
    return next(iter(pipelines))


def _owner(visit: Visit) -> str | None:
    owner = visit.request.query_params.get("owner")
    return owner if owner in visit.store.project.team else None


def board(visit: Visit) -> Response:
    pipeline, owner = _pipeline(visit), _owner(visit)
    report = board_report(visit.store, pipeline, CARDS, owner, oldest_first=True)
    return visit.page("board.html", report=report, nav="board", owner=owner,
                      pipeline=visit.store.project.pipelines[pipeline])  # fmt: skip


def stage(visit: Visit) -> Response:
    params = visit.request.path_params
    number = _page_number(visit, STAGE_PAGE)
    owner = _owner(visit)
    column = stage_cards(visit.store, params["pipeline"], params["stage"], owner,
                         number * STAGE_PAGE, STAGE_PAGE)  # fmt: skip
    more = column["count"] > (number + 1) * STAGE_PAGE
    return visit.page("stage.html", column=column, nav="board", number=number, more=more,
                      pipeline=visit.store.project.pipelines[params["pipeline"]],
                      owner=owner)  # fmt: skip


def funnel(visit: Visit) -> Response:
    pipeline = _pipeline(visit)
    period = visit.request.query_params.get("period", "")
    since = (
        (visit.store.now - timedelta(days=PERIODS[period])).date() if period in PERIODS else None
    )
    report = funnel_report(visit.store, pipeline, since)
    of = visit.store.project.pipelines[pipeline]
    return visit.page("funnel.html", report=report, nav="funnel", period=period,
                      periods=PERIODS, pipeline=of)  # fmt: skip


def forecast(visit: Visit) -> Response:
    return visit.page("forecast.html", nav="forecast", **overview(visit.store))


def deal(visit: Visit) -> Response:
    store = visit.store
    row = deals.get(store, visit.request.path_params["deal"])
    data = deals.public(deals.with_contact(store, row), store)
    data.setdefault("title", data.get("subject"))  # a ticket's title is its subject
    history = [dict(entry) for entry in deals.history(store, row["id"])]
    emails, requests = _emails_and_requests(deal_messages(store, row["id"]))
    return visit.page("deal.html", deal=data, history=history, nav="board",
                      pipeline=store.project.pipelines.get(row["pipeline"]),
                      runs=deal_runs(store, row["id"]), emails=emails,
                      requests=requests)  # fmt: skip


def message(visit: Visit) -> Response:
    row = outbox.get(visit.store, int(visit.request.path_params["message"]))
    return visit.page("message.html", message=full(row, visit.store),
                      run=_run_of(visit, row["run_id"]), nav="activity")  # fmt: skip


def _run_of(visit: Visit, run_id: int | None) -> dict | None:
    """The run that queued a message, named by its workflow (the YAML's name, else its id)."""
    if run_id is None:
        return None
    run = get_run(visit.store, run_id)
    workflow = visit.store.project.workflows.get(run["workflow"])
    return {"id": run["id"], "workflow": run["workflow"], "deal_id": run["deal_id"],
            "name": workflow.name if workflow else run["workflow"]}  # fmt: skip


def activity(visit: Visit) -> Response:
    report = activity_report(visit.store, _page_number(visit, ACTIVITY_PAGE))
    emails, requests = _emails_and_requests(report.messages)
    failed_emails, failed_requests = _emails_and_requests(report.failed_messages)
    return visit.page("activity.html", activity=report, nav="activity", emails=emails,
                      requests=requests, failed_emails=failed_emails,
                      failed_requests=failed_requests)  # fmt: skip


def _emails_and_requests(messages: list[dict]) -> tuple[list[dict], list[dict]]:
    """The outbox holds emails and webhook requests alike; the pages list them apart (a
    request has a method and a URL, not a subject and an address)."""
    return (
        [message for message in messages if message["kind"] != "http"],
        [message for message in messages if message["kind"] == "http"],
    )


def _page_number(visit: Visit, size: int) -> int:
    """The `?page=` asked for (0 when there is no number); a page whose first row would lie
    past SQLite's largest integer does not exist."""
    text = visit.request.query_params.get("page", "0")
    if not (text.isascii() and text.isdigit()):
        return 0
    if len(text) > len(str(LARGEST_ID)) or int(text) * size > LARGEST_ID:
        raise UserError(visit.word("not_found"))
    return int(text)


def move(visit: Visit) -> Response:
    return _change_deal(visit, lambda row: deals.move(
        visit.store, row, visit.form.get("stage", ""), visit.form.get("reason"),
        by=visit.member.id), open_only=True)  # fmt: skip


def won(visit: Visit) -> Response:
    return _change_deal(visit, lambda row: deals.close(visit.store, row, "won", None,
                        by=visit.member.id), open_only=True)  # fmt: skip


def lost(visit: Visit) -> Response:
    return _change_deal(visit, lambda row: deals.close(
        visit.store, row, "lost", visit.form.get("reason"), by=visit.member.id),
        open_only=True)  # fmt: skip


def edit(visit: Visit) -> Response:
    values = {name: visit.form.get(name) for name in ("next_step", "amount")}
    return _change_deal(visit, lambda row: deals.update(visit.store, row, values, visit.member.id))


def _change_deal(visit: Visit, change, open_only: bool = False) -> Response:
    """Apply `change` to the deal in one transaction; the board's script gets JSON, a form
    post goes back where it came from. With `open_only`, a won or lost deal (a resolved or
    abandoned ticket) is refused: the pages offer no such change, and a page left open
    from before it closed (or a second click) must not move it."""
    deal_id = visit.request.path_params["deal"]
    with transaction(visit.store.conn):
        row = deals.get(visit.store, deal_id)
        if open_only and row["status"] != "open":
            return visit.refuse(409, _closed(visit, row))
        try:
            change(row)
        except deals.ReasonRequired:  # its text names the CLI's --reason
            return visit.refuse(422, visit.word("reason_required"))
        row = deals.get(visit.store, deal_id)
    if "application/json" in visit.request.headers.get("accept", ""):
        return JSONResponse({"id": row["id"], "stage": row["stage"], "status": row["status"]})
    return visit.back(f"/deals/{row['id']}")


def _closed(visit: Visit, row) -> str:
    """Why a closed deal or ticket does not change here, in the page's words."""
    ticket = deals.object_of(visit.store, row) == "ticket"
    status = visit.word(f"{row['status']}_ticket" if ticket else row["status"])
    return visit.word("closed_ticket" if ticket else "closed_deal").format(status=status)


def retry_run(visit: Visit) -> Response:
    number = int(visit.request.path_params["run"])
    change_run(visit.store, number, lambda engine: engine.retry(number))
    return visit.back("/activity")


def retry_message(visit: Visit) -> Response:
    number = int(visit.request.path_params["message"])
    requeue(visit.store, outbox.get(visit.store, number))
    return visit.back("/activity")


class _Id(Convertor):
    """A record's id in a path. Digits too many for any id (past SQLite's integers, or past
    the 4,300 Python reads) stand for LARGEST_ID + 1: found nowhere, a 404 like any other."""

    regex = "[0-9]+"

    def convert(self, value: str) -> int:
        return int(value) if len(value) <= len(str(LARGEST_ID)) else LARGEST_ID + 1

    def to_string(self, value: int) -> str:
        return str(value)


register_url_convertor("id", _Id())


ROUTES = [
    Route("/login", login_form, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", page(logout), methods=["POST"]),
    Route("/", page(board), methods=["GET"]),
    Route("/pipelines/{pipeline}/stages/{stage}", page(stage), methods=["GET"]),
    Route("/funnel", page(funnel), methods=["GET"]),
    Route("/forecast", page(forecast), methods=["GET"]),
    Route("/activity", page(activity), methods=["GET"]),
    Route("/deals/{deal:id}", page(deal), methods=["GET"]),
    Route("/deals/{deal:id}/move", page(move, change=True), methods=["POST"]),
    Route("/deals/{deal:id}/won", page(won, change=True), methods=["POST"]),
    Route("/deals/{deal:id}/lost", page(lost, change=True), methods=["POST"]),
    Route("/deals/{deal:id}/edit", page(edit, change=True), methods=["POST"]),
    Route("/messages/{message:id}", page(message), methods=["GET"]),
    Route("/messages/{message:id}/html", page(email_html), methods=["GET"]),
    Route("/messages/{message:id}/retry", page(retry_message, change=True), methods=["POST"]),
    Route("/runs/{run:id}/retry", page(retry_run, change=True), methods=["POST"]),
]
