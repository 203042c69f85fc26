"""The forecast: open deals' amount × probability by expected close month (or owner), and
what was won so far."""

from __future__ import annotations

from salesflow.reports import Column, Report
from salesflow.store.reports import open_deals_by, won_amounts_by
from salesflow.store.session import Store
from salesflow.store.stages import stray_warnings
from salesflow.translations import N_
from salesflow.values import from_minor, weighted_amount

GROUPS = ("month", "owner")  # by expected close month, or by owner


def forecast(store: Store, by: str = "month", pipeline_id: str | None = None) -> Report:
    label = by  # the rows' key for the group: "month" or "owner"
    open_rows = open_deals_by(store, by, pipeline_id)
    won_rows = won_amounts_by(store, by, pipeline_id)
    currency = store.project.currency
    groups: dict = {}
    for row in open_rows:
        groups[row["grp"]] = {
            label: row["grp"],
            "deals": row["deals"],
            "amount": from_minor(row["amount"], currency),
            "weighted": weighted_amount(row["weighted"], currency),
            "won": from_minor(0, currency),
        }
    for row in won_rows:
        entry = groups.setdefault(
            row["grp"],
            {
                label: row["grp"], "deals": 0, "amount": from_minor(0, currency),
                "weighted": from_minor(0, currency),
            },
        )  # fmt: skip
        entry["won"] = from_minor(row["won"], currency)
    rows = sorted(groups.values(), key=lambda r: (r[label] is None, r[label] or ""))
    if by == "owner":  # as workload says it: the member's name, or nobody
        members = {member.id: member.name for member in store.project.team.values()}
        for row in rows:
            owner = row["owner"]
            row["name"] = members.get(owner, owner) if owner else "(nobody)"
    totals = {label: "total", "deals": sum(r["deals"] for r in rows)}
    if by == "owner":
        totals["name"] = "total"
    for key in ("amount", "weighted", "won"):
        totals[key] = sum((r[key] for r in rows), from_minor(0, currency))
    columns = [
        Column("month", "expected close") if by == "month" else Column("name", "owner"),
        Column("deals", "open deals", "int"),
        Column("amount", "amount", "money"),
        Column("weighted", "weighted", "money"),
        Column("won", "won", "money"),
    ]
    notes = [] if by == "owner" else [N_("won amounts are by month of closing")]
    notes += stray_warnings(store.conn, store.project, pipeline_id)
    return Report(f"Forecast by {by}", columns, rows, totals, notes)
