"""A message of the outbox — an email or a webhook request — with the run that queued it,
its retry, and an email's HTML part on a URL of its own."""

from __future__ import annotations

from starlette.responses import HTMLResponse, Response

from salesflow.errors import UserError
from salesflow.outbox.by_hand import requeue
from salesflow.outbox.shown import full
from salesflow.store import outbox
from salesflow.store.runs import get as get_run
from salesflow.web.auth import Visit
from salesflow.web.headers import EMAIL_HEADERS


def message(visit: Visit) -> Response:
    row = outbox.get(visit.store, int(visit.request.path_params["message"]))
    return visit.page("message.html", message=full(row, visit.store),
                      run=_run_of(visit, row["run_id"]), nav="activity")  # fmt: skip


def message_json(visit: Visit) -> dict:
    """`/messages/N.json`: `salesflow outbox show N --json`."""
    return full(outbox.get(visit.store, visit.request.path_params["message"]), visit.store)


def _run_of(visit: Visit, run_id: int | None) -> dict | None:
    """The run that queued a message, named by its workflow (the YAML's name, else its id)."""
    if run_id is None:
        return None
    run = get_run(visit.store, run_id)
    workflow = visit.store.project.workflows.get(run["workflow"])
    return {"id": run["id"], "workflow": run["workflow"], "deal_id": run["deal_id"],
            "name": workflow.name if workflow else run["workflow"]}  # fmt: skip


def email_html(visit: Visit) -> HTMLResponse:
    """`/messages/<id>/html`: an email's HTML part, on a URL of its own so that it carries
    its own policy (`EMAIL_HEADERS`: its inline styles, no script, no remote image) rather
    than the page's, which a `srcdoc` frame would inherit. The message page frames it in a
    sandbox; the login and roles are the message page's."""
    number = int(visit.request.path_params["message"])
    html = outbox.get(visit.store, number)["html"]
    if not html:
        raise UserError(f"message #{number} has no HTML part")
    return HTMLResponse(html, headers=EMAIL_HEADERS)


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
