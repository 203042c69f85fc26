"""Each member's "today": one list of what to work on, in the order a person works it.

1. overdue tasks, oldest first — promises already late, most often to a person waiting;
2. tasks due today (the project's time zone), soonest first — the day's appointments;
3. stalled deals, most overdue first (reports/stalled.py decides what stalled means);
4. deals and tickets waiting on a required checklist item of their stage, longest in the
   stage first, with the items to tick — what keeps them from moving on;
5. deals with nothing planned — no next step, or no open task: plan them (those missing
   both first, then the largest amount) once the urgent things are done.
A deal is in one of the deal lists only, the first: a stalled deal without a task is
stalled (its overdue task, if it has one, is in the tasks' list too), a stalled deal
waiting on an item is stalled (reviving it comes first; its page shows the checklist), a
deal waiting on an item with nothing planned is waiting (ticking the item is its next
step). A stalled deal is at least a day too long: one rot_after past by hours reads
"1 day", not "0 days".

Each list is one query for the member, or for the whole team at once (store/today.py and
the stalled report's), grouped here by member."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, time, timedelta
from typing import Any

from salesflow.reports.stalled import stalled
from salesflow.store.session import Store
from salesflow.store.today import deals_unplanned, deals_waiting_on_items, tasks_due_before
from salesflow.translations import N_
from salesflow.values import read_instant, stored_instant

KINDS = {  # each item's kind, as the CLI and the pages say it (in the order of the list)
    "overdue_task": N_("overdue task"),
    "task_due_today": N_("task due today"),
    "stalled_deal": N_("stalled deal"),
    "waiting_deal": N_("item to tick"),
    "unplanned_deal": N_("nothing planned"),
}
NOBODY = "(nobody)"


def today(store: Store, member: str | None = None) -> dict[str, Any]:
    """`{"date", "members": [{"member", "name", "items"}]}`: the `member`'s list, or the
    whole team's, member by member in the team's order (viewers only when something is
    theirs), then owners outside the team, then what belongs to nobody."""
    day = store.now.astimezone(store.project.timezone).date()
    items: dict[str | None, list[dict]] = {}
    for owner, item in _items(store, member, day):
        items.setdefault(owner, []).append(item)
    team = store.project.team
    if member is not None:
        owners: list[str | None] = [member]
    else:
        owners = [m.id for m in team.values() if m.role != "viewer" or m.id in items]
        owners += sorted(owner for owner in items if owner and owner not in team)
        owners += [None] if None in items else []
    return {
        "date": day.isoformat(),
        "members": [
            {
                "member": owner,
                "name": team[owner].name if owner in team else owner or NOBODY,
                "items": items.get(owner, []),
            }
            for owner in owners
        ],
    }


def _items(store: Store, member: str | None, day) -> Iterable[tuple[str | None, dict]]:
    """(owner, item) in the order of the list, each deal once."""
    zone = store.project.timezone
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    for row in tasks_due_before(store, stored_instant(end), member):
        due = read_instant(row["due_at"], zone)
        kind = "overdue_task" if due < store.now else "task_due_today"
        yield row["assignee"], _item(store, kind, row["id"], row["title"], row["deal_id"],
                                     row["contact_email"], due_at=due.isoformat(),
                                     deal=row["deal_title"])  # fmt: skip
    listed = set()
    for row in stalled(store).rows:
        if member is None or row["owner"] == member:
            listed.add(row["id"])
            yield row["owner"], _item(store, "stalled_deal", row["id"], row["title"], row["id"],
                                      row["contact"], stage_name=row["stage_name"],
                                      days_overdue=max(1, row["days_overdue"]))  # fmt: skip
    for row in _waiting(store, member):
        if row["id"] not in listed:
            listed.add(row["id"])
            yield row["owner"], _item(store, "waiting_deal", row["id"], row["title"], row["id"],
                                      row["contact_email"], stage_name=row["stage_name"],
                                      items=row["items"])  # fmt: skip
    for row in _unplanned(store, member):
        if row["id"] not in listed:
            missing = ["next_step"] if not row["next_step"] else []
            missing += [] if row["has_task"] else ["task"]
            yield row["owner"], _item(store, "unplanned_deal", row["id"], row["title"],
                                      row["id"], row["contact_email"], missing=missing)  # fmt: skip


def _waiting(store: Store, member: str | None) -> list[dict]:
    """Waiting on a required item: one entry per record (longest in the stage first, per
    owner), with its items in the checklist's order."""
    pipelines = store.project.pipelines
    required = [(of.id, stage.id, item) for of in pipelines.values() for stage in of.stages
                if not stage.outcome for item in stage.required_items]  # fmt: skip
    records: dict[int, dict] = {}
    for row in deals_waiting_on_items(store, required, member):
        record = records.setdefault(row["id"], {**dict(row), "items": []})
        record["items"].append(row["item"])
    for record in records.values():
        stage = pipelines[record["pipeline"]].stage(record["stage"])
        record["stage_name"] = stage.name
        record["items"].sort(key=stage.required_items.index)
    return list(records.values())


def _unplanned(store: Store, member: str | None) -> list:
    """Nothing planned: those missing both first, then the largest amount, per owner."""
    rows = deals_unplanned(store, member)
    return sorted(rows, key=lambda row: (bool(row["next_step"]) + bool(row["has_task"]),
                                         -(row["amount"] or 0), row["id"]))  # fmt: skip


def _item(store: Store, kind: str, number: int, title: str, deal_id: int | None,
          contact: str | None, **details: Any) -> dict:  # fmt: skip
    """Every item the same keys, so that a table or a template reads any of them."""
    base = store.project.public_url or ""
    return {
        "kind": kind,
        "id": number,
        "title": title,
        "deal_id": deal_id,
        "deal": details.get("deal", title if kind.endswith("_deal") else None),
        "contact": contact,
        "due_at": details.get("due_at"),
        "stage_name": details.get("stage_name"),
        "days_overdue": details.get("days_overdue"),
        "missing": details.get("missing"),
        "items": details.get("items"),
        "link": f"{base}/deals/{deal_id}" if deal_id else None,
    }
