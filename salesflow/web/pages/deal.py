"""A deal (or a ticket): its fields, history, its contact's conversation, runs and
messages; and the changes made there — move, won, lost, edit — through the same library
calls as the CLI (history written, events recorded, so the workflows fire)."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.responses import RedirectResponse, Response

from salesflow.errors import NotFound, UserError
from salesflow.phrases import phrase, say
from salesflow.reports.activity import deal_messages, deal_runs
from salesflow.reports.record import check_answer, has_playbook, shown, timeline
from salesflow.store import contacts, conversation, deals, playbook
from salesflow.store.db import transaction
from salesflow.translations import N_
from salesflow.web.auth import Visit, json_answer, wants_json
from salesflow.web.pages import prompt
from salesflow.web.pages.contact import name_of
from salesflow.web.pages.message import emails_and_requests
from salesflow.web.words import OUTCOMES


def deal(visit: Visit) -> Response:
    store = visit.store
    row = deals.get(store, visit.request.path_params["deal"])
    whole = shown(store, row["id"])
    emails, requests = emails_and_requests(deal_messages(store, row["id"]))
    book = whole["playbook"] if has_playbook(whole["playbook"]) else None
    person = contacts.find(store, row["contact_id"]) if row["contact_id"] else None
    return visit.page("deal.html", deal=prompt.shown_record(store, row), history=timeline(whole),
                      playbook=book, next_needs=_next_needs(visit, row, whole), nav="board",
                      pipeline=store.project.pipelines.get(row["pipeline"]),
                      runs=deal_runs(store, row["id"]), emails=emails,
                      requests=requests, person=person and name_of(person),
                      talk=conversation.of_deal(store, person))  # fmt: skip


def _next_needs(visit: Visit, row, whole: dict) -> list[tuple[str, bool]]:
    """What the next stage requires, as the page says it — its fields, then the required
    items of this stage — each with whether it is still missing."""
    after = (whole["playbook"] or {}).get("next")
    if after is None:
        return []
    record = deals.object_of(visit.store, row)
    fields = [(prompt.asked(visit.store, record, name, visit.gettext).label,
               name in after["missing_fields"]) for name in after["requires"]]  # fmt: skip
    items = [(say(phrase("quoted", text=entry["item"]), visit.gettext), not entry["ticked"])
             for entry in whole["playbook"]["checklist"] if entry["required"]]  # fmt: skip
    return fields + items


def deal_json(visit: Visit) -> dict:
    """`/deals/N.json`: `salesflow deals show N --json` (a ticket: `tickets show N --json`)."""
    return shown(visit.store, visit.request.path_params["deal"])


def move(visit: Visit) -> Response:
    """The move; from the prompt's form, after setting its fields and ticking its items."""

    def filled_and_moved(row) -> None:
        store, by = visit.store, visit.member.id
        target = deals.stage(deals.pipeline(store, row["pipeline"]), visit.form.get("stage", ""))
        prompt.fill(store, row, target, visit.form, by)
        deals.move(store, deals.get(store, row["id"]), target.id, visit.form.get("reason"), by=by)

    return _change_deal(visit, filled_and_moved, open_only=True)


def check(visit: Visit) -> Response:
    """Tick (`undo`: untick) an item of the checklist, by the signed-in member; as JSON, the
    answer of `deals check --json`."""
    store, undo, by = visit.store, bool(visit.form.get("undo")), visit.member.id

    def ticked(row) -> dict:
        of = deals.pipeline(store, row["pipeline"])
        stage, item, changed = playbook.tick(store, row, of, visit.form.get("item", ""), by, undo)
        return check_answer(row, stage, item, undo, changed, by)

    return _change_deal(visit, ticked, open_only=True, closed=_CLOSED_CHECKLIST)


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


def _change_deal(visit: Visit, change, open_only: bool = False, closed=None) -> Response:
    """Apply `change` to the deal in one transaction; the board's script gets JSON (what
    `change` returned when a dict, else the deal's stage and status), a form post goes back
    where it came from. With `open_only`, a won or lost deal (a resolved or abandoned ticket)
    is refused (`closed`: the page's words for it, by kind): the pages offer no such change,
    and a page left open from before it closed (or a second click) must not change it."""
    deal_id = visit.request.path_params["deal"]
    try:
        with transaction(visit.store.conn):  # a refusal undoes what the prompt had set
            row = deals.get(visit.store, deal_id)
            if open_only and row["status"] != "open":
                return visit.refuse(409, _closed(visit, row, closed or _CLOSED))
            answer = change(row)
            row = deals.get(visit.store, deal_id)
    except deals.ReasonRequired:  # its text names the CLI's --reason
        why = N_("Write why it was lost: this pipeline asks for a reason.")
        return visit.refuse(422, visit.gettext(why))
    except playbook.RequirementsMissing as refused:
        return _prompted(visit, deals.get(visit.store, deal_id), refused)
    except UserError as error:  # a value the prompt's form was given (a date) is refused
        if not visit.form.get("prompt") or wants_json(visit.request) or isinstance(error, NotFound):
            raise
        said = say(error.phrase, visit.gettext) if error.phrase else str(error)
        return _prompt_again(visit, deals.get(visit.store, deal_id), visit.form["stage"], said)
    if wants_json(visit.request):
        if not isinstance(answer, dict):
            answer = {"id": row["id"], "stage": row["stage"], "status": row["status"]}
        return json_answer(answer)
    return visit.back(f"/deals/{row['id']}")


def _prompted(visit: Visit, row, refused: playbook.RequirementsMissing) -> Response:
    """A move the stage's rule refused: the board's script and programs get 409 with what
    is missing; the prompt's own post, its form again with what it had filled; a plain
    move, a 303 to the prompt."""
    target = refused.missing.stage
    said = say(refused.phrase, visit.gettext)
    if wants_json(visit.request):
        return json_answer({"error": said, "missing": prompt.missing_json(refused.missing)}, 409)
    if visit.form.get("prompt"):
        return _prompt_again(visit, row, target.id, said)
    back = {"next": visit.form["next"]} if visit.form.get("next") else {}
    query = urlencode({"to": target.id, **back})
    return RedirectResponse(f"/deals/{row['id']}/move?{query}", 303)


def _prompt_again(visit: Visit, row, stage_id: str, said: str) -> Response:
    """The prompt's form again, with what its post had filled and why it was refused (what
    the post set is undone: it asks for all of it again)."""
    target = deals.stage(deals.pipeline(visit.store, row["pipeline"]), stage_id)
    missing = prompt.missing_now(visit.store, row, target)
    return prompt.page(visit, row, target, missing, 422, visit.form, said)


# Why a closed record does not change here, by kind.
_CLOSED = {
    "deal": N_("This deal is already closed ({status}): nothing was changed."),
    "ticket": N_("This ticket is already closed ({status}): nothing was changed."),
}
_CLOSED_CHECKLIST = {
    "deal": N_("{status}: this deal is closed, its checklist can no longer be ticked."),
    "ticket": N_("{status}: this ticket is closed, its checklist can no longer be ticked."),
}


def _closed(visit: Visit, row, words: dict[str, str]) -> str:
    """Why a closed deal or ticket does not change here, in the page's words."""
    kind = deals.object_of(visit.store, row)
    status = visit.gettext(OUTCOMES[kind, row["status"]])
    return visit.gettext(words[kind]).format(status=status)
