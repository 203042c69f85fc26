"""Actions for the team: owners (round robin or least loaded) and tasks."""

from __future__ import annotations

from salesflow.config import actions as a
from salesflow.durations import parse_duration
from salesflow.engine.outcome import Act, Outcome, StepFailed
from salesflow.phrases import phrase, reason_of
from salesflow.store import contacts, deals, rotations, tasks
from salesflow.values import parse_datetime


def assign_owner(act: Act, config: a.AssignOwner) -> Outcome:
    store = act.store
    if config.strategy == "least_loaded":
        record = "ticket" if act.context().get("ticket") else "deal"
        owner = _least_loaded(store, config.among, record)
        how = "owner_least_loaded"
    else:
        owner = _next_in_turn(store, f"{act.workflow.id}/{act.step.id}", config.among)
        how = "owner_in_turn"
    contact_id, deal_id = act.run.contact_id, act.run.deal_id
    if not contact_id and not deal_id:
        raise StepFailed(phrase("nothing_to_assign"))
    if contact_id:
        _, act.run.contact_row = contacts.updated(store, act.contact_row(), {"owner": owner},
                                                  by=act.by)  # fmt: skip
    if deal_id:
        deals.update(store, deals.get(store, deal_id), {"owner": owner}, by=act.by)
    return Outcome(phrase(how, owner=owner, among=", ".join(config.among)))


def _next_in_turn(store, key: str, among: tuple[str, ...]) -> str:
    """Round robin whose position persists in the database (shared by every run)."""
    return among[rotations.take_turn(store, key) % len(among)]


def _least_loaded(store, among: tuple[str, ...], record: str) -> str:
    """The member with the fewest open deals, or tickets for a ticket's run (the first
    listed on a tie)."""
    counts = rotations.open_counts(store, among, record)
    return min(among, key=lambda member: (counts.get(member, 0), among.index(member)))


def run_owner(act: Act, context: dict) -> str | None:
    """The owner of the run's deal (or ticket), else of its contact."""
    for record in (context.get("deal"), context.get("ticket"), context.get("contact")):
        if record and record.get("owner"):
            return record["owner"]["id"]
    return None


def create_task(act: Act, config: a.CreateTask) -> Outcome:
    context = act.context()
    title = act.render(config.title, context)
    assignee = run_owner(act, context) if config.assignee == "owner" else config.assignee
    due = None
    if config.due_in:
        due = act.store.now + parse_duration(config.due_in)
    elif config.due_at:
        text = act.render(config.due_at, context)
        try:
            due = parse_datetime(text or "", act.store.project.locale, act.store.project.timezone)
        except ValueError as error:
            raise StepFailed(phrase("due_at_unreadable", error=reason_of(error))) from None
    task = tasks.add(act.store, title, assignee, due, act.run.contact_id, act.run.deal_id, act.by)
    values = {"id": task["id"], "title": title, "assignee": assignee or phrase("nobody")}
    if due is None:
        return Outcome(phrase("task_created", **values))
    when = f"{due.astimezone(act.store.project.timezone):%Y-%m-%d %H:%M}"
    return Outcome(phrase("task_created_due", **values, due=when))
