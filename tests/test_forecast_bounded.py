"""Lists cut to their first rows (issue #32): the forecast page's most overdue stalled deals
read only each stage's oldest entries, their total subtracts the deals a recent task keeps
from stalling, and the HTML report's "today" keeps each member's first items. On random
deals and tasks, both engines, each is what the whole list gives: the same first rows in
the same order, the same counts and totals. And the stalled report's columns, read off the
open deals' index alone (migration 27), are those of the whole rows, and its JSON written
straight from them is what the encoder writes of its rows."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from conftest import open_project, query

from salesflow.reports.as_json import report_json, to_json
from salesflow.reports.stalled import stalled
from salesflow.reports.today import today
from salesflow.store.reports import (
    LISTED,
    most_overdue,
    overdue_deals,
    overdue_listed,
    overdue_total,
    rot_limits,
)
from salesflow.store.session import Store

pytestmark = pytest.mark.engines

STAGES = ["nouveau", "essai-planifie", "essai-realise"]  # rot_after 3 days, 14 days, 7 days
OWNERS = ["marie", "paul", None, "ghost", ""]  # "ghost": outside the team; "": blank
START = datetime(2026, 10, 1, tzinfo=UTC)
NOWS = ["2026-11-20T10:00", "2026-12-05T18:30"]


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def random_deals(sf, seed: int, deals: int = 120) -> None:
    """Open deals entered over two months (many on the same instant: ties), some won, some
    with a next step, and tasks: open ones due before or after the clocks, done ones."""
    sf("pipeline", "stalled")  # the database, migrated
    project, rng = sf.project, random.Random(seed)
    moments = [START + timedelta(hours=rng.randrange(0, 1500, 7)) for _ in range(40)]
    query(
        project,
        "INSERT INTO contacts (email, created_at, updated_at) VALUES "
        + ", ".join(["(?, ?, ?)"] * 30),
        *(value for n in range(30) for value in (f"c{n}@example.org", *[_stamp(START)] * 2)),
    )
    contacts = [row[0] for row in query(project, "SELECT id FROM contacts")] + [None]
    rows = [
        (
            "cours-essai",
            rng.choice(STAGES),
            rng.choice(["open"] * 6 + ["won"]),
            f"Deal {n}",
            rng.choice([None, 100, 250, 99999]),
            _stamp(START),
            _stamp(rng.choice(moments)),
            rng.choice(OWNERS),
            rng.choice([None, "", "Appeler"]),
            rng.choice(contacts),
        )
        for n in range(deals)
    ]
    query(project, "INSERT INTO deals (pipeline, stage, status, title, amount, currency,"
          " created_at, stage_entered_at, owner, next_step, contact_id) VALUES "
          + ", ".join(["(?, ?, ?, ?, ?, 'EUR', ?, ?, ?, ?, ?)"] * deals),
          *(value for row in rows for value in row))  # fmt: skip
    ids = [row[0] for row in query(project, "SELECT id FROM deals ORDER BY id")]
    tasks = []
    for deal_id in rng.sample(ids, len(ids) // 3):
        due = rng.choice(moments) + timedelta(days=rng.randrange(0, 40))
        done = rng.choice([None, None, rng.choice(moments) + timedelta(days=rng.randrange(20))])
        tasks.append((f"Task {deal_id}", deal_id, rng.choice(OWNERS), _stamp(due),
                      done and _stamp(done), _stamp(START)))  # fmt: skip
    query(project, "INSERT INTO tasks (title, deal_id, assignee, due_at, done_at, created_at)"
          " VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(tasks)),
          *(value for row in tasks for value in row))  # fmt: skip


def stores(project):
    for now in NOWS:
        store = Store.open(open_project(project), datetime.fromisoformat(now + "+01:00"))
        try:
            yield store
        finally:
            store.conn.close()


@pytest.mark.parametrize("seed", [1, 2])
def test_the_most_overdue_and_their_total_are_those_of_the_whole_list(sf, seed):
    random_deals(sf, seed)
    for store in stores(sf.project):
        limits = rot_limits(store, kind="deal")
        everything = overdue_deals(store, limits)
        assert len(everything) > 20  # stalled deals of every owner, in every stage
        for first in (1, 7, 20, len(everything) + 5):
            firsts = overdue_deals(store, limits, first=first)
            assert [dict(row) for row in firsts] == [dict(row) for row in everything[:first]]
            for owner in OWNERS:
                theirs = [row["id"] for row in everything if row["owner"] == owner]
                mine = most_overdue(store, limits, first, of_owner=True, owner=owner)
                assert sorted(mine) == sorted(theirs[:first])
        amount = sum(row["amount"] or 0 for row in everything)
        assert overdue_total(store, limits) == (len(everything), amount)


@pytest.mark.parametrize("seed", [5, 6])
def test_the_stalled_reports_columns_are_those_of_the_whole_rows(sf, seed):
    random_deals(sf, seed)
    emails = dict(query(sf.project, "SELECT id, email FROM contacts"))
    for store in stores(sf.project):
        limits = rot_limits(store, kind="deal")
        everything = overdue_deals(store, limits)
        assert {row["contact_email"] for row in everything} > {None}  # with and without one
        assert all(row["contact_email"] == emails.get(row["contact_id"]) for row in everything)
        assert all(row["overdue_days"] == row["quiet_days"] - row["rot_days"] for row in everything)
        assert all(limits[row["limit_index"]][:3] == (row["pipeline"], row["stage"],
                   row["stage_name"]) for row in everything)  # fmt: skip
        whole = [tuple(row[column] for column in LISTED) for row in everything]
        assert [tuple(row) for row in overdue_listed(store, limits)] == whole
        for first in (1, 7, len(whole) + 5):
            assert [tuple(row) for row in overdue_listed(store, limits, first)] == whole[:first]


ODD = [
    'a "quote", a \\ and a /',
    "line\nbreak\ttab\x01\x1f\x7f",
    "é ü 中文 😀 \u2028",
    "",
    "%s {} %d",
]


@pytest.mark.parametrize("seed", [7, 8])
def test_the_stalled_reports_json_written_from_its_values_is_the_encoders(sf, seed):
    random_deals(sf, seed)
    cases = " ".join(f"WHEN {n} THEN ?" for n in range(len(ODD)))
    query(sf.project, f"UPDATE deals SET title = CASE id % 5 {cases} END || id,"
          f" next_step = CASE (id / 5) % 7 {cases} END, amount = CASE id % 4 WHEN 0 THEN -5"
          " WHEN 1 THEN 0 WHEN 2 THEN -123456789012 ELSE amount END",
          *ODD, *ODD)  # fmt: skip
    query(sf.project, f"UPDATE contacts SET email = CASE id % 5 {cases} END || id", *ODD)
    query(sf.project, "UPDATE deals SET pipeline = 'support', stage = 'en-cours' WHERE id % 3 = 0")
    for store in stores(sf.project):
        for kind in ("deal", "ticket"):
            whole = stalled(store, kind=kind)
            assert len(whole.rows) > 10
            written = stalled(store, kind=kind, written=True)
            assert to_json(report_json(written)) == to_json(report_json(whole))


@pytest.mark.parametrize("seed", [3, 4])
def test_a_today_cut_to_its_first_items_counts_them_all(sf, seed):
    random_deals(sf, seed)
    query(sf.project, "INSERT INTO checklist_ticks (deal_id, stage, item, pipeline, ticked_at,"
          " ticked_by) SELECT id, 'essai-realise', 'Paiement reçu', 'cours-essai',"
          " '2026-10-02T10:00:00Z', 'marie' FROM deals WHERE id % 2 = 0")  # fmt: skip
    for store in stores(sf.project):
        whole = today(store)
        for listed in (1, 5, 1000):
            cut = today(store, listed=listed)
            assert [m["member"] for m in cut["members"]] == [m["member"] for m in whole["members"]]
            for every, first in zip(whole["members"], cut["members"], strict=True):
                assert first["items"] == every["items"][:listed]
                assert first["counts"] == every["counts"]
                kinds = [item["kind"] for item in every["items"]]
                assert every["counts"] == {kind: kinds.count(kind) for kind in dict.fromkeys(kinds)}
                assert first["more"] == len(every["items"]) - len(first["items"])
            for member in ("marie", "paul"):
                [alone] = today(store, member, listed)["members"]
                assert alone == next(m for m in cut["members"] if m["member"] == member)
