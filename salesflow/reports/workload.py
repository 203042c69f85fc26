"""Workload: per team member, open deals and their weighted amount, open and overdue tasks."""

from __future__ import annotations

from salesflow.reports import Column, Report
from salesflow.store.reports import open_deals_by, open_tasks_by_assignee
from salesflow.store.session import Store
from salesflow.store.stages import stray_warnings
from salesflow.values import from_minor, weighted_amount

COLUMNS = [
    Column("owner", "owner"),
    Column("name", "name"),
    Column("open_deals", "deals", "int"),
    Column("amount", "amount", "money"),
    Column("weighted", "weighted", "money"),
    Column("open_tasks", "tasks", "int"),
    Column("overdue_tasks", "overdue", "int"),
]


def workload(store: Store) -> Report:
    deal_rows = open_deals_by(store, "owner")
    task_rows = open_tasks_by_assignee(store)
    currency = store.project.currency
    members = {member.id: member.name for member in store.project.team.values()}
    people = list(members) + sorted(
        {row[0] for row in [*deal_rows, *task_rows] if row[0] not in members},
        key=lambda owner: (owner is None, owner or ""),
    )
    deals_by = {row["grp"]: row for row in deal_rows}
    tasks_by = {row["assignee"]: row for row in task_rows}
    rows = []
    for owner in people:
        deal, task = deals_by.get(owner), tasks_by.get(owner)
        rows.append(
            {
                "owner": owner,
                "name": members.get(owner, "(nobody)" if owner is None else owner),
                "open_deals": deal["deals"] if deal else 0,
                "amount": from_minor(deal["amount"] if deal else 0, currency),
                "weighted": weighted_amount(deal["weighted"] if deal else 0, currency),
                "open_tasks": task["open"] if task else 0,
                "overdue_tasks": task["overdue"] if task else 0,
            }
        )
    totals = {"owner": "total", "name": ""}
    for column in COLUMNS[2:]:
        zero = 0 if column.kind == "int" else from_minor(0, currency)
        totals[column.key] = sum((row[column.key] for row in rows), zero)
    return Report("Workload", COLUMNS, rows, totals, stray_warnings(store.conn, store.project))
