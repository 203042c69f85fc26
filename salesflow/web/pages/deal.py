"""A deal (or a ticket): its fields, history, runs and messages; and the changes made
there — move, won, lost, edit — through the same library calls as the CLI (history
written, events recorded, so the workflows fire)."""

from __future__ import annotations

from starlette.responses import Response

from salesflow.reports.activity import deal_messages, deal_runs
from salesflow.reports.record import shown
from salesflow.store import deals
from salesflow.store.db import transaction
from salesflow.translations import N_
from salesflow.web.auth import Visit, json_answer, wants_json
from salesflow.web.pages.message import emails_and_requests
from salesflow.web.words import OUTCOMES


def deal(visit: Visit) -> Response:
    store = visit.store
    row = deals.get(store, visit.request.path_params["deal"])
    data = deals.public(deals.with_contact(store, row), store)
    data.setdefault("title", data.get("subject"))  # a ticket's title is its subject
    history = [dict(entry) for entry in deals.history(store, row["id"])]
    emails, requests = emails_and_requests(deal_messages(store, row["id"]))
    return visit.page("deal.html", deal=data, history=history, nav="board",
                      pipeline=store.project.pipelines.get(row["pipeline"]),
                      runs=deal_runs(store, row["id"]), emails=emails,
                      requests=requests)  # fmt: skip


def deal_json(visit: Visit) -> dict:
    """`/deals/N.json`: `salesflow deals show N --json` (a ticket: `tickets show N --json`)."""
    return shown(visit.store, visit.request.path_params["deal"])


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
            why = N_("Write why it was lost: this pipeline asks for a reason.")
            return visit.refuse(422, visit.gettext(why))
        row = deals.get(visit.store, deal_id)
    if wants_json(visit.request):
        return json_answer({"id": row["id"], "stage": row["stage"], "status": row["status"]})
    return visit.back(f"/deals/{row['id']}")


def _closed(visit: Visit, row) -> str:
    """Why a closed deal or ticket does not change here, in the page's words."""
    kind = deals.object_of(visit.store, row)
    status = visit.gettext(OUTCOMES[kind, row["status"]])
    if kind == "ticket":
        closed = N_("This ticket is already closed ({status}): nothing was changed.")
    else:
        closed = N_("This deal is already closed ({status}): nothing was changed.")
    return visit.gettext(closed).format(status=status)
