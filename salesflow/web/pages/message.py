"""A message of the outbox — an email or a webhook request — with the run that queued it,
and its retry."""

from __future__ import annotations

from starlette.responses import Response

from salesflow.outbox.by_hand import requeue
from salesflow.outbox.shown import full
from salesflow.store import outbox
from salesflow.store.runs import get as get_run
from salesflow.web.auth import Visit


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


def retry_message(visit: Visit) -> Response:
    number = int(visit.request.path_params["message"])
    requeue(visit.store, outbox.get(visit.store, number))
    return visit.back("/activity")


def emails_and_requests(messages: list[dict]) -> tuple[list[dict], list[dict]]:
    """The outbox holds emails and webhook requests alike; the pages list them apart (a
    request has a method and a URL, not a subject and an address)."""
    return (
        [message for message in messages if message["kind"] != "http"],
        [message for message in messages if message["kind"] == "http"],
    )
