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

Each list is one query for the member, or for the whole team at once (store/today.py),
grouped here by member; each leaves out the deals of the lists before it in SQL, so that a
list cut to each member's first items (the HTML report's) still counts them all. A cut
stalled list is counted per owner in one query, then each owner's most overdue found stage
by stage off the index (store/reports.py most_overdue) and read."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, time, timedelta
from typing import Any

from salesflow.store.reports import most_overdue, overdue_deals, rot_limits
from salesflow.store.session import Store
from salesflow.store.today import (
    deals_unplanned,
    deals_waiting_on_items,
    stalled_by_owner,
    tasks_due_before,
)
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


def today(store: Store, member: str | None = None, listed: int | None = None) -> dict[str, Any]:
    """`{"date", "members": [{"member", "name", "items", "counts", "more", "listed_by"}]}`:
    the `member`'s list, or the whole team's, member by member in the team's order (viewers
    only when something is theirs), then owners outside the team, then what belongs to
    nobody. `counts`: how many items of each kind the member has. With `listed`, each
    member's first `listed` items only (the HTML report, every member in one file): `more`
    counts the others, and `listed_by` is the command that lists them all."""
    day = store.now.astimezone(store.project.timezone).date()
    items: dict[str | None, list[dict]] = {}
    counts: dict[str | None, dict[str, int]] = {}
    for owner, of_owner, item in _items(store, member, day, listed):
        items.setdefault(owner, []).append(item)
        counts.setdefault(owner, {})[item["kind"]] = of_owner
    team = store.project.team
    if member is not None:
        owners: list[str | None] = [member]
    else:
        owners = [m.id for m in team.values() if m.role != "viewer" or m.id in items]
        owners += sorted(owner for owner in items if owner and owner not in team)
        owners += [None] if None in items else []
    return {
        "date": day.isoformat(),
        "members": [_member(store, owner, items.get(owner, []), counts.get(owner, {}), listed)
                    for owner in owners],
    }  # fmt: skip


def _member(store: Store, owner: str | None, items: list[dict], counts: dict[str, int],
            listed: int | None) -> dict:  # fmt: skip
    team = store.project.team
    shown = items[:listed] if listed is not None else items
    return {
        "member": owner,
        "name": team[owner].name if owner in team else owner or NOBODY,
        "items": shown,
        "counts": {kind: counts[kind] for kind in KINDS if kind in counts},
        "more": sum(counts.values()) - len(shown),
        # `today --member` names a member of the team; the others are in the whole list
        "listed_by": "salesflow today" + (f" --member {owner}" if owner in team else ""),
    }


def _items(
    store: Store, member: str | None, day, listed: int | None
) -> Iterable[tuple[str | None, int, dict]]:
    """(owner, how many of the item's kind the owner has, item) in the order of the list,
    each deal once; with `listed`, the first `listed` of each kind of each owner only."""
    zone = store.project.timezone
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    tasks = []
    for row in tasks_due_before(store, stored_instant(end), member):
        due = read_instant(row["due_at"], zone)
        tasks.append((row, due, "overdue_task" if due < store.now else "task_due_today"))
    of_owner = Counter((row["assignee"], kind) for row, _, kind in tasks)
    for row, due, kind in tasks:
        yield row["assignee"], of_owner[row["assignee"], kind], _item(
            store, kind, row["id"], row["title"], row["deal_id"], row["contact_email"],
            due_at=due.isoformat(), deal=row["deal_title"],
        )  # fmt: skip
    limits = rot_limits(store, kind="deal")
    yield from _stalled(store, limits, member, listed)
    required = _required(store)
    for row in _waiting(store, required, member, limits, listed):
        yield row["owner"], row["of_owner"], _item(
            store, "waiting_deal", row["id"], row["title"], row["id"], row["contact_email"],
            stage_name=row["stage_name"], items=row["items"],
        )  # fmt: skip
    for row in deals_unplanned(store, member, limits, required, listed):
        missing = ["next_step"] if not row["next_step"] else []
        missing += [] if row["has_task"] else ["task"]
        yield row["owner"], row["of_owner"], _item(
            store, "unplanned_deal", row["id"], row["title"], row["id"], row["contact_email"],
            missing=missing,
        )  # fmt: skip


def _stalled(
    store: Store, limits: list[tuple], member: str | None, listed: int | None
) -> Iterable[tuple[str | None, int, dict]]:
    """The stalled deals, most overdue first (reports/stalled.py orders them alike): with
    `listed`, each owner's first `listed` only, the others counted."""
    if listed is None:
        rows = [row for row in overdue_deals(store, limits)
                if member is None or row["owner"] == member]  # fmt: skip
        of_owner = Counter(row["owner"] for row in rows)
    else:
        of_owner = {row["owner"]: row["deals"] for row in stalled_by_owner(store, limits, member)}
        rows = overdue_deals(store, limits, [
            number for owner in of_owner
            for number in most_overdue(store, limits, listed, of_owner=True, owner=owner)
        ])  # fmt: skip
    for row in rows:
        days_overdue = max(1, int(row["quiet_days"] - row["rot_days"]))
        yield row["owner"], of_owner[row["owner"]], _item(
            store, "stalled_deal", row["id"], row["title"], row["id"], row["contact_email"],
            stage_name=row["stage_name"], days_overdue=days_overdue,
        )  # fmt: skip


def _required(store: Store) -> list[tuple[str, str, str]]:
    """(pipeline, stage, item): the required checklist items of every open stage."""
    return [(of.id, stage.id, item) for of in store.project.pipelines.values()
            for stage in of.stages if not stage.outcome
            for item in stage.required_items]  # fmt: skip


def _waiting(
    store: Store, required: list[tuple[str, str, str]], member: str | None,
    limits: list[tuple], listed: int | None,
) -> list[dict]:  # fmt: skip
    """Waiting on a required item: one entry per record (longest in the stage first, per
    owner), with its items in the checklist's order."""
    pipelines = store.project.pipelines
    records: dict[int, dict] = {}
    for row in deals_waiting_on_items(store, required, member, limits, listed):
        record = records.setdefault(row["id"], {**dict(row), "items": []})
        record["items"].append(row["item"])
    for record in records.values():
        stage = pipelines[record["pipeline"]].stage(record["stage"])
        record["stage_name"] = stage.name
        record["items"].sort(key=stage.required_items.index)
    return list(records.values())


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
