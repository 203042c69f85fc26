"""Stalled means nothing planned: `rot_after` counts from the later of the stage change and
the last completed task, and an open task due after now keeps a deal from stalling — the
same deals on the stalled report, the board, `deals list`/`show`, the template function
`stalled()` and tick's deal.stalled events."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from conftest import open_project, query, signed_in

from salesflow.engine.context import report_functions
from salesflow.reports.as_json import report_json, to_json
from salesflow.reports.stalled import stalled
from salesflow.store.session import Store
from salesflow.web.report import STALLED_LISTED

pytestmark = pytest.mark.engines  # each test on SQLite and on PostgreSQL

START = "2026-11-20T10:00"  # every deal enters `nouveau` (rot_after: 3d) then
CHECK = "2026-11-25T12:00"  # 5 days later: all four are past rot_after since their entry


def four_deals(sf) -> None:
    """#1 no task; #2 a task completed yesterday; #3 an open task due tomorrow; #4 an open
    task overdue since the 22nd."""
    for name in ("quiet", "done", "planned", "late"):
        sf("contacts", "add", f"{name}@example.org", now=START)
        sf("deals", "add", "--title", name, "--contact", f"{name}@example.org",
           "--stage", "nouveau", "--owner", "marie", now=START)  # fmt: skip
    sf("tasks", "add", "Rappeler", "--assignee", "marie", "--deal", "2", "--due", "1d", now=START)
    sf("tasks", "done", "1", now="2026-11-24T12:00")
    sf("tasks", "add", "Essai", "--assignee", "marie", "--deal", "3", "--due", "2026-11-26T18:00",
       now=START)  # fmt: skip
    sf("tasks", "add", "Relancer", "--assignee", "marie", "--deal", "4", "--due",
       "2026-11-22T10:00", now=START)  # fmt: skip


def stalled_everywhere(sf, now: str) -> dict[str, list[int]]:
    """The stalled deals' ids as each reader sees them."""
    report = sf("pipeline", "stalled", "--json", now=now)["rows"]
    board = sf("pipeline", "board", "cours-essai", "--json", now=now)["rows"]
    listed = sf("deals", "list", "--json", now=now)
    shown = [sf("deals", "show", str(row["id"]), "--json", now=now) for row in listed]
    project = open_project(sf.project)
    store = Store.open(project, datetime.fromisoformat(now).replace(tzinfo=project.timezone))
    try:
        template = report_functions(store)["stalled"]()
    finally:
        store.conn.close()
    return {
        "report": [row["id"] for row in report],
        "board": sorted(c["id"] for s in board for c in s["cards"] if c["stalled"]),
        "list": sorted(row["id"] for row in listed if row["stalled"]),
        "show": sorted(deal["id"] for deal in shown if deal["stalled"]),
        "template": [row["id"] for row in template],
    }


def test_a_deal_with_a_task_done_yesterday_or_one_due_tomorrow_is_not_stalled(sf):
    four_deals(sf)
    seen = stalled_everywhere(sf, CHECK)
    assert seen == {reader: [1, 4] for reader in seen}  # the quiet one and the overdue task
    rows = sf("pipeline", "stalled", "--json", now=CHECK)["rows"]
    assert [(r["days_in_stage"], r["days_overdue"]) for r in rows] == [(5, 2), (5, 2)]


def test_rot_after_counts_from_the_last_completed_task(sf):
    four_deals(sf)
    # #2's task was completed on the 24th at noon: stalled 3 days later, not before
    assert 2 not in stalled_everywhere(sf, "2026-11-27T11:00")["report"]
    rows = sf("pipeline", "stalled", "--json", now="2026-11-28T13:00")["rows"]
    done = next(row for row in rows if row["id"] == 2)
    assert (done["days_in_stage"], done["days_overdue"]) == (8, 1)
    # #3's task, due on the 26th and still open: nothing planned any more, stalled
    assert [row["id"] for row in rows] == [1, 3, 4, 2]  # most overdue first


def deal_stalled_events(sf) -> list[tuple]:
    return query(
        sf.project,
        "SELECT subject_id FROM events WHERE type = 'deal.stalled' ORDER BY id",
    )


def test_tick_says_deal_stalled_once_per_quiet_spell(sf):
    four_deals(sf)
    sf("tick", now=CHECK)
    sf("tick", now="2026-11-25T13:00")
    assert deal_stalled_events(sf) == [(1,), (4,)]
    sf("tasks", "done", "3", now="2026-11-25T14:00")  # #4's overdue task, done at last
    sf("tick", now="2026-11-27T09:00")  # #3's task now overdue: stalled since its entry
    assert deal_stalled_events(sf) == [(1,), (4,), (3,)]
    sf("tick", now="2026-11-28T15:00")  # 3 days after their last completed tasks
    sf("tick", now="2026-11-28T16:00")
    assert deal_stalled_events(sf) == [(1,), (4,), (3,), (2,), (4,)]  # #4 quiet again


def test_a_page_lists_the_most_overdue_and_counts_the_others_in_the_total(pages, sf):
    """The forecast page (and the HTML report) list the STALLED_LISTED most overdue deals,
    say how many more there are and total them all; the JSON and the CLI list them all."""
    count = STALLED_LISTED + 3
    rows = ", ".join(  # entered a day apart: the first the most overdue
        f"('cours-essai', 'nouveau', 'open', 'Old {n}', {100 * n}, 'EUR',"
        f" '2026-10-01T10:00:00Z', '2026-10-{n % 28 + 1:02}T10:00:00Z')"
        for n in range(1, count + 1)
    )
    query(sf.project, "INSERT INTO deals (pipeline, stage, status, title, amount, currency,"
          f" created_at, stage_entered_at) VALUES {rows}")  # fmt: skip
    everything = sf("pipeline", "stalled", "--json")
    assert len(everything["rows"]) >= count
    project = open_project(sf.project)
    store = Store.open(project, datetime.fromisoformat("2026-11-20T10:00+01:00"))
    try:
        first = stalled(store, kind="deal", listed=5)
    finally:
        store.conn.close()
    shown = json.loads(to_json(report_json(first)))
    assert shown["rows"] == everything["rows"][:5]  # the same order, the most overdue first
    assert shown["totals"] == everything["totals"]  # of them all
    assert first.more == len(everything["rows"]) - 5
    client = signed_in(pages)
    page = client.get("/forecast").text.split("<h2>Affaires en retard</h2>")[1]
    more = len(everything["rows"]) - STALLED_LISTED
    assert page.count('<a href="/deals/') == STALLED_LISTED
    hint = "la liste complète : `salesflow pipeline stalled`"
    assert f"et {more} de plus, dans le total ; {hint}" in page
    assert f"total : {len(everything['rows'])} affaires" in page
    assert client.get("/forecast.json").json()["stalled"] == everything
