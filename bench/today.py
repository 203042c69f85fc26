"""Benchmark: `salesflow today` on 100,000 deals and 100,000 tasks.

A club's history: most deals closed long ago and most tasks done; the open deals (5 %) are
planned (a next step, an open task next week), half of them in "Cours d'essai réalisé" with
the payment received ticked, but for a fixed few per member: 20 stalled, 20 with nothing
planned, 10 waiting on the payment, 10 tasks overdue and 5 due today each. So a member's
lists are as long at 100,000 deals as at 1,000, and the command's time should not grow with
the data.

- `salesflow today --json` (the whole team, start-up included) against its floor: a bare
  Python process giving the same lists by raw SQL (checked equal once); target ≤ 10×, as the
  other reports.
- `salesflow today --member marie --json` at 100,000 deals against the same at 1,000;
  target ≤ 1.5×.

    .venv/bin/python bench/today.py [--deals 100000] [--runs 5]
"""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import SALESFLOW, Row, demo_project, main_of, paired, ratio_row, timed

NOW = "2026-12-01T09:00"  # Paris: 08:00 UTC
NOW_UTC = datetime(2026, 12, 1, 8, tzinfo=UTC)
END_OF_DAY = "2026-12-01T23:00:00Z"  # midnight in Paris
OPEN_STAGES = {"nouveau": 3, "essai-planifie": 14, "essai-realise": 7}  # rot_after in days
MEMBERS = ("marie", "paul")
FEW = {"stalled": 20, "unplanned": 20, "waiting": 10, "overdue": 10, "due_today": 5}  # each
REQUIRED = [  # the demo's required checklist items (pipeline, stage, item)
    ("cours-essai", "essai-realise", "Paiement reçu"),
    ("support", "en-cours", "Réponse envoyée au membre"),
]
PAID = "Paiement reçu"
FLOOR = """
import json, sqlite3, sys
c = sqlite3.connect(sys.argv[1])
end, limits, now = sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
required = json.loads(sys.argv[5])
tasks = c.execute("SELECT id FROM tasks WHERE done_at IS NULL AND due_at < ?"
                  " ORDER BY assignee, due_at, id", (end,)).fetchall()
stalled = [row for stage, threshold in limits for row in c.execute(
    "SELECT d.id FROM deals d WHERE d.status = 'open' AND d.pipeline = 'cours-essai'"
    " AND d.stage = ? AND d.stage_entered_at < ? AND coalesce((SELECT max(t.done_at) FROM"
    " tasks t WHERE t.deal_id = d.id AND t.done_at IS NOT NULL), '') < ? AND NOT EXISTS"
    " (SELECT 1 FROM tasks t WHERE t.deal_id = d.id AND t.done_at IS NULL AND t.due_at > ?)",
    (stage, threshold, threshold, now))]  # stalled: nothing planned, nothing done since
waiting = [row for pipeline, stage, item in required for row in c.execute(
    "SELECT d.id FROM deals d WHERE d.status = 'open' AND d.pipeline = ? AND d.stage = ?"
    " AND NOT EXISTS (SELECT 1 FROM checklist_ticks k WHERE k.deal_id = d.id"
    " AND k.stage = ? AND k.item = ?)", (pipeline, stage, stage, item))]
unplanned = c.execute(
    "SELECT d.id FROM deals d WHERE d.status = 'open' AND (coalesce(d.next_step, '') = ''"
    " OR NOT EXISTS (SELECT 1 FROM tasks t WHERE t.deal_id = d.id AND t.done_at IS NULL))"
).fetchall()
stalled, waiting = {r[0] for r in stalled}, {r[0] for r in waiting}
print(json.dumps(sorted(r[0] for r in tasks) + sorted(stalled) + sorted(waiting - stalled)
                 + sorted({r[0] for r in unplanned} - stalled - waiting)))
"""


def build(project: Path, deals: int, tasks: int) -> None:
    """The demo project with `deals` deals and `tasks` tasks, as the docstring says."""
    demo_project(project)
    subprocess.run([SALESFLOW, "--project", project, "contacts", "list"], check=True,
                   capture_output=True)  # fmt: skip
    rng = random.Random(29)
    deal_rows, task_rows, paid = [], [], []
    few = [(member, kind) for member in MEMBERS for kind, count in FEW.items()
           for _ in range(count)]  # fmt: skip
    planned = max(deals // 20 - sum(1 for _, kind in few if kind in ("stalled", "unplanned",
                                                                        "waiting")), 0)  # fmt: skip
    next_week = NOW_UTC + timedelta(days=7)
    for member, kind in few:
        if kind in ("stalled", "unplanned"):
            days = OPEN_STAGES["nouveau"] + 2 if kind == "stalled" else 1
            deal_rows.append(_deal("open", member, days, None if kind == "unplanned" else "x"))
        elif kind == "waiting":  # planned, but the payment is not ticked
            deal_rows.append(_deal("open", member, 1, "Encaisser", "essai-realise"))
            task_rows.append(("Encaisser", member, len(deal_rows), _stamp(next_week), None))
        else:
            due = NOW_UTC - timedelta(days=2) if kind == "overdue" else NOW_UTC + timedelta(hours=5)
            task_rows.append((f"{kind} {member}", member, None, _stamp(due), None))
    for number in range(planned):
        stage = "essai-realise" if number % 2 else "nouveau"
        deal_rows.append(_deal("open", rng.choice(MEMBERS), 1, "Rappeler", stage))
        if stage == "essai-realise":
            paid.append((len(deal_rows), _stamp(NOW_UTC - timedelta(hours=2))))
        week = NOW_UTC + timedelta(days=rng.randrange(2, 9))
        task_rows.append(("Rappel", rng.choice(MEMBERS), len(deal_rows), _stamp(week), None))
    while len(deal_rows) < deals:
        deal_rows.append(_deal(rng.choice(("won", "lost")), rng.choice(MEMBERS), 400, None))
    while len(task_rows) < tasks:
        done = _stamp(NOW_UTC - timedelta(days=rng.randrange(30, 600)))
        deal = rng.randrange(1, deals + 1)
        task_rows.append(("Fait", rng.choice(MEMBERS), deal, done, done))
    connection = sqlite3.connect(project / "salesflow.db")
    connection.executemany(
        "INSERT INTO deals (pipeline, stage, status, title, owner, amount, currency, created_at,"
        " stage_entered_at, closed_at, next_step) VALUES ('cours-essai', ?, ?, 'Deal', ?,"
        " 100, 'EUR', ?, ?, ?, ?)",
        deal_rows,
    )
    connection.executemany(
        "INSERT INTO tasks (title, assignee, deal_id, due_at, done_at, created_at, created_by)"
        " VALUES (?, ?, ?, ?, ?, '2025-01-01T00:00:00Z', 'bench')",
        task_rows,
    )
    connection.executemany(
        "INSERT INTO checklist_ticks (deal_id, stage, item, pipeline, ticked_at, ticked_by)"
        f" VALUES (?, 'essai-realise', '{PAID}', 'cours-essai', ?, 'marie')",
        paid,
    )
    connection.commit()
    connection.execute("ANALYZE")
    connection.close()


def _deal(status: str, owner: str, days: int, next_step: str | None, stage: str = "") -> tuple:
    entered = _stamp(NOW_UTC - timedelta(days=days))
    stage = stage or {"open": "nouveau", "won": "inscrit", "lost": "perdu"}[status]
    return (stage, status, owner, entered, entered, None if status == "open" else entered,
            next_step)  # fmt: skip


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _limits() -> str:
    return json.dumps([(stage, _stamp(NOW_UTC - timedelta(days=days)))
                       for stage, days in OPEN_STAGES.items()])  # fmt: skip


def _ids(command: list) -> list[int]:
    """The ids of `salesflow today --json`'s lists, in the floor's order."""
    answer = json.loads(subprocess.run(command, check=True, capture_output=True).stdout)
    items = [item for member in answer["members"] for item in member["items"]]
    tasks = sorted(
        item["id"] for item in items if item["kind"] in ("overdue_task", "task_due_today")
    )
    deals = [sorted(item["id"] for item in items if item["kind"] == kind)
             for kind in ("stalled_deal", "waiting_deal", "unplanned_deal")]  # fmt: skip
    return tasks + [number for listed in deals for number in listed]


def measure(scratch: Path, deals: int, runs: int) -> list[Row]:
    large, small = scratch / "large", scratch / "small"
    build(large, deals, deals)
    build(small, deals // 100, deals // 100)
    today = [SALESFLOW, "--project", large, "--now", NOW, "today", "--json"]
    floor = [sys.executable, "-c", FLOOR, large / "salesflow.db", END_OF_DAY, _limits(),
             _stamp(NOW_UTC), json.dumps(REQUIRED)]  # fmt: skip
    floor_ids = json.loads(subprocess.run(floor, check=True, capture_output=True).stdout)
    if _ids(today) != floor_ids:
        raise AssertionError("salesflow today and the raw-SQL floor list different items")
    pair = paired(lambda: timed(floor), lambda: timed(today), runs)
    rows = [ratio_row(f"today (team), {deals:,} deals / {deals:,} tasks",
                      "raw SQL, same lists", pair, 10)]  # fmt: skip
    marie = ["today", "--member", "marie", "--json"]
    at_small = [SALESFLOW, "--project", small, "--now", NOW, *marie]
    at_large = [SALESFLOW, "--project", large, "--now", NOW, *marie]
    pair = paired(lambda: timed(at_small), lambda: timed(at_large), runs)
    rows.append(ratio_row(f"today --member at {deals:,} deals", f"at {deals // 100:,}",
                          pair, 1.5))  # fmt: skip
    return rows


if __name__ == "__main__":
    sys.exit(main_of(__doc__, measure, deals=100_000, runs=5))
