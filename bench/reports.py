"""Benchmark: the pipeline's reports on 100,000 deals and 1,000,000 stage-history rows (and,
for the funnel's wait on the required items, "Paiement reçu" ticked by 60 % of the deals
that entered "Cours d'essai réalisé", the evening of their first day there), each against
itself on 1,000 deals and 10,000 history rows, built alike, in the same run, alternating
(A B A B…). A report should cost what its stages cost, not what its deals cost. Target:
at 100,000 deals at most 1.5× the same at 1,000 (median).

- the funnel and forecast pages (`GET /funnel`; `GET /forecast`: the forecast by month and
  by owner, the workload, the losses and the 50 most overdue stalled deals with the count
  and total of them all), each through its own real server (`serve --no-worker`, signed
  in): no start-up in them;
- `report --html` (every pipeline's board and funnel, the forecast, workload, losses,
  stalled deals and the team's today in one file), and `pipeline forecast`, `stalled`,
  `workload`, `losses --json`: whole commands, start-up (~0.3 s) included on both sides.

No floor: the same code at 1,000 deals is the reference (the old floor, two covering
indexes read in 13 ms, mostly compared process start-ups).

    .venv/bin/python bench/reports.py [--deals 100000] [--history 1000000]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from board import PASSWORD, page_time, serving
from common import SALESFLOW, Row, demo_project, paired, print_table, ratio_row, timed

NOW = "2026-12-01T09:00"
STAGES = ["nouveau", "essai-planifie", "essai-realise", "inscrit", "perdu"]
PAGES = {  # a page of `serve`: its path
    "funnel page": "/funnel",
    "forecast page": "/forecast",  # the forecast by month and by owner, workload, losses, stalled
}
COMMANDS = {  # a whole command: its words
    "report --html": ["report", "--html", "-"],
    "forecast": ["pipeline", "forecast", "--json"],
    "stalled": ["pipeline", "stalled", "--json"],
    "workload": ["pipeline", "workload", "--json"],
    "losses": ["pipeline", "losses", "--json"],
}


def build(project: Path, deals: int, history: int) -> None:
    """The demo project with a database of `deals` deals and `history` stage changes."""
    demo_project(project)
    subprocess.run([SALESFLOW, "--project", project, "team", "password", "marie", "--stdin"],
                   input=f"{PASSWORD}\n", text=True, check=True, capture_output=True)  # fmt: skip
    rng = random.Random(7)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    now = datetime(2026, 12, 1, 8, tzinfo=UTC)
    connection = sqlite3.connect(project / "salesflow.db")
    connection.executemany(
        "INSERT INTO contacts (email, created_at, updated_at) VALUES (?, ?, ?)",
        [(f"p{n}@example.org", _stamp(start), _stamp(start)) for n in range(deals)],
    )
    connection.executemany(
        "INSERT INTO stage_bits (pipeline, stage, bit) VALUES ('cours-essai', ?, ?)",
        [(stage, bit) for bit, stage in enumerate(STAGES)],
    )
    per_deal = history // deals
    span = (now - start).total_seconds()
    deal_rows, history_rows = [], []
    for deal_id in range(1, deals + 1):
        created = start + timedelta(seconds=rng.random() * span * 0.97)
        history_rows += _walk(deal_id, created, now, per_deal, rng)
        deal_rows.append(_deal(deal_id, created, history_rows[-per_deal:], rng))
    connection.executemany(
        "INSERT INTO deals (pipeline, stage, status, title, contact_id, owner, amount, currency,"
        " created_at, expected_close, closed_at, lost_reason, lost_from, stage_entered_at,"
        " stages_mask) VALUES ('cours-essai', ?, ?, ?, ?, ?, ?, 'EUR', ?, ?, ?, ?, ?, ?, ?)",
        deal_rows,
    )
    connection.executemany(
        "INSERT INTO stage_history (deal_id, pipeline, from_stage, to_stage, at, by,"
        " stay_seconds) VALUES (?, 'cours-essai', ?, ?, ?, 'bench', ?)",
        history_rows,
    )
    _tick_payments(connection, rng)
    connection.commit()
    connection.execute("ANALYZE")
    connection.close()


def _tick_payments(connection: sqlite3.Connection, rng: random.Random) -> None:
    """The payment ticked as store/playbook.tick records it: the tick, in the history with
    the wait since the first entry into the stage."""
    entries = connection.execute(
        "SELECT deal_id, min(at) FROM stage_history WHERE to_stage = 'essai-realise'"
        " GROUP BY deal_id"
    ).fetchall()
    ticks = []
    for deal_id, entered in entries:
        if rng.random() < 0.6:
            at = datetime.fromisoformat(entered) + timedelta(hours=rng.randrange(1, 200))
            waited = (at - datetime.fromisoformat(entered)).total_seconds()
            ticks.append((deal_id, _stamp(at), waited))
    connection.executemany(
        "INSERT INTO checklist_ticks (deal_id, stage, item, pipeline, ticked_at, ticked_by)"
        " VALUES (?, 'essai-realise', 'Paiement reçu', 'cours-essai', ?, 'marie')",
        [(deal_id, at) for deal_id, at, _ in ticks],
    )
    connection.executemany(
        "INSERT INTO checklist_history (deal_id, pipeline, stage, item, ticked, at, by,"
        " waited_seconds) VALUES (?, 'cours-essai', 'essai-realise', 'Paiement reçu', 1, ?,"
        " 'marie', ?)",
        ticks,
    )


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _walk(deal_id: int, created: datetime, now: datetime, moves: int, rng: random.Random):
    """`moves` stage changes, mostly forward, ending won or lost unless the deal is recent."""
    rows, position, moment, previous = [], 0, created, None
    recent = now - created < timedelta(days=90)
    for step in range(moves):
        if step == moves - 1 and not recent:
            stage = "inscrit" if rng.random() < 0.4 else "perdu"
        else:
            position = max(0, min(2, position + rng.choice((1, 1, 0, -1))))
            stage = STAGES[position]
        stay = None if previous is None else (moment - previous).total_seconds()
        rows.append((deal_id, rows[-1][2] if rows else None, stage, _stamp(moment), stay))
        previous = moment
        moment += timedelta(hours=rng.randrange(1, 72 if recent else 400))
        moment = min(moment, now - timedelta(minutes=1))
    return rows


def _deal(deal_id: int, created: datetime, walk: list, rng: random.Random) -> tuple:
    last = walk[-1]
    stage, entered = last[2], last[3]
    status = {"inscrit": "won", "perdu": "lost"}.get(stage, "open")
    mask = sum(1 << STAGES.index(row[2]) for row in {row[2]: row for row in walk}.values())
    return (
        stage, status, f"Deal {deal_id}", deal_id, rng.choice(["marie", "paul", None]),
        rng.randrange(100, 500_000), _stamp(created),
        (created + timedelta(days=rng.randrange(120))).date().isoformat(),
        entered if status != "open" else None, "prix" if status == "lost" else None,
        last[1] if status == "lost" else None, entered, mask,
    )  # fmt: skip


def measure(scratch: Path, deals: int, history: int, runs: int) -> list[Row]:
    """Each page and command at `deals` paired with itself at 1,000 deals, alternating."""
    small, big = scratch / "small", scratch / "big"
    build(small, 1_000, 10_000)
    build(big, deals, history)
    size = f"{deals:,} deals vs 1,000"  # and ten times as many history rows
    rows = []
    with serving(small) as few, serving(big) as many:
        for name, path in PAGES.items():
            page_time(few, path), page_time(many, path)  # the first compiles the templates
            pair = paired(lambda p=path: page_time(few, p), lambda p=path: page_time(many, p),
                          runs * 4)  # fmt: skip
            rows.append(ratio_row(f"{name}, {size}", "the page at 1,000", pair, 1.5))
    for name, words in COMMANDS.items():
        commands = [[SALESFLOW, "--project", project, "--now", NOW, *words]
                    for project in (small, big)]  # fmt: skip
        pair = paired(lambda c=commands[0]: timed(c), lambda c=commands[1]: timed(c), runs)
        rows.append(ratio_row(f"{name}, {size}", "the command at 1,000", pair, 1.5))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--history", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        rows = measure(Path(scratch), args.deals, args.history, args.runs)
    print_table(rows)
    return 0 if all(row.met for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
