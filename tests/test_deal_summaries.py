"""The deals' summaries (migration 23: deal_totals, deal_masks, stay_buckets; migration 24:
deal_losses, wait_buckets; migration 25: stage_waits), kept by triggers: after every kind of
write — salesflow's commands, an import, a direct UPDATE or DELETE, a transaction rolled
back, a db copy — they hold exactly what a GROUP BY of the deals (their history, their
ticks) gives."""

from __future__ import annotations

import shutil
import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import open_project, query
from ticks import tick

from salesflow.store.db import connect, transaction
from salesflow.store.migrations import STAY_BUCKET
from salesflow.store.reports import median_stay_seconds
from salesflow.store.session import Store

pytestmark = pytest.mark.engines

FIXTURES = Path(__file__).parent / "fixtures" / "csv"
_MONTH = (
    "coalesce(substr(CASE WHEN status = 'open' THEN expected_close ELSE closed_at END, 1, 7), '')"
)
GROUPED = (  # deal_totals as a full GROUP BY of the deals computes it
    f"SELECT pipeline, stage, status, coalesce(owner, '') AS o, {_MONTH} AS m, count(*),"
    " coalesce(sum(amount), 0), coalesce(sum(amount * probability), 0),"
    " coalesce(sum(CASE WHEN probability IS NULL THEN amount END), 0)"
    f" FROM deals GROUP BY pipeline, stage, status, o, m ORDER BY 1, 2, 3, 4, 5"
)
KEPT = (
    "SELECT pipeline, stage, status, owner, month, count, amount, own, rest FROM deal_totals"
    " ORDER BY 1, 2, 3, 4, 5"
)
MASKS_GROUPED = (
    "SELECT pipeline, stages_mask, count(*) FROM deals GROUP BY pipeline, stages_mask ORDER BY 1, 2"
)
MASKS_KEPT = "SELECT pipeline, stages_mask, count FROM deal_masks ORDER BY 1, 2"
STAYS = "SELECT stay_seconds FROM stage_history WHERE pipeline = ? AND from_stage = ?"
LOSSES_GROUPED = (  # deal_losses (migration 24) as the losses report groups the deals
    "SELECT pipeline, coalesce(lost_from, stage) AS f, coalesce(lost_reason, '') AS r,"
    " count(*), coalesce(sum(amount), 0) FROM deals"
    " WHERE status = 'lost' AND stage_entered_at IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
)
LOSSES_KEPT = "SELECT pipeline, lost_from, reason, count, amount FROM deal_losses ORDER BY 1, 2, 3"
STAGE_WAITS_GROUPED = (  # stage_waits (migration 25): each open deal not past its stage's
    # completing tick, its first entry into the stage, its current one, its ticks there
    "SELECT d.id, d.pipeline, d.stage, (SELECT min(h.at) FROM stage_history h"
    " WHERE h.deal_id = d.id AND h.to_stage = d.stage), d.stage_entered_at,"
    " (SELECT count(*) FROM checklist_ticks k WHERE k.deal_id = d.id AND k.stage = d.stage)"
    " FROM deals d WHERE d.status = 'open' AND d.id NOT IN (SELECT c.deal_id"
    " FROM checklist_history c WHERE c.stage = d.stage AND c.waited_seconds IS NOT NULL)"
    " ORDER BY 1"
)
STAGE_WAITS_KEPT = (
    "SELECT deal_id, pipeline, stage, since, entered, ticked FROM stage_waits ORDER BY 1"
)


def _buckets(project: Path, sql: str) -> list[tuple]:
    """(pipeline, stage, bucket, count) of the (pipeline, stage, seconds) rows of `sql`."""
    counted: dict[tuple, int] = {}
    for pipeline, stage, seconds in query(project, sql):
        key = (pipeline, stage, int(seconds // STAY_BUCKET))
        counted[key] = counted.get(key, 0) + 1
    return [(*key, n) for key, n in sorted(counted.items())]


def exact(project: Path) -> list[tuple]:
    """The summaries equal a full GROUP BY of the deals; returns deal_totals' rows."""
    kept = [tuple(row) for row in query(project, KEPT)]
    assert kept == [tuple(row) for row in query(project, GROUPED)]
    assert query(project, MASKS_KEPT) == query(project, MASKS_GROUPED)
    stays = _buckets(
        project, "SELECT pipeline, from_stage, stay_seconds FROM stage_history WHERE"
        " pipeline IS NOT NULL AND from_stage IS NOT NULL AND stay_seconds IS NOT NULL"
    )  # fmt: skip
    buckets = "SELECT pipeline, stage, bucket, count FROM stay_buckets ORDER BY 1, 2, 3"
    assert query(project, buckets) == stays
    assert query(project, LOSSES_KEPT) == query(project, LOSSES_GROUPED)
    waits = _buckets(
        project, "SELECT pipeline, stage, waited_seconds FROM checklist_history"
        " WHERE pipeline IS NOT NULL AND waited_seconds IS NOT NULL"
    )  # fmt: skip
    assert query(project, "SELECT pipeline, stage, bucket, count FROM wait_buckets"
                 " ORDER BY 1, 2, 3") == waits  # fmt: skip
    assert query(project, STAGE_WAITS_KEPT) == query(project, STAGE_WAITS_GROUPED)
    return kept


@pytest.fixture
def deals(sf):
    """Julie and Paul with a deal each, Julie's moved and with its own probability."""
    sf("contacts", "add", "julie@example.org", "--owner", "marie",
       "--field", "date_essai=2026-12-05T18:30")  # fmt: skip
    sf("contacts", "add", "paul@example.org", "--field", "date_essai=2026-12-06T18:30")
    sf("deals", "add", "--title", "Julie", "--contact", "julie@example.org",
       "--amount", "1 200,50", "--expected-close", "2026-12-05")  # fmt: skip
    sf("deals", "add", "--title", "Paul", "--contact", "paul@example.org", "--amount", "80")
    return sf


def test_commands_keep_the_summaries_exact(deals):
    assert exact(deals.project)
    deals("deals", "move", "1", "essai-planifie", now="2026-11-21T10:00")
    exact(deals.project)
    deals("deals", "update", "1", "--amount", "999", "--probability", "55",
          "--expected-close", "2027-01-10", "--owner", "paul")  # fmt: skip
    exact(deals.project)
    deals("deals", "update", "2", "--next-step", "Call")  # a column no summary reads
    exact(deals.project)
    deals("deals", "won", "1", now="2026-11-25T18:00")
    deals("deals", "lost", "2", "--reason", "prix", now="2026-11-26T18:00")
    kept = exact(deals.project)
    assert ("cours-essai", "inscrit", "won", "paul", "2026-11", 1, 99900, 99900 * 55, 0) in kept
    deals("deals", "add", "--title", "Other", "--contact", "paul@example.org")  # no amount
    exact(deals.project)


def test_an_import_keeps_the_summaries_exact(sf):
    target = sf.project / "imports" / "excel-fr.csv"
    target.parent.mkdir(exist_ok=True)
    shutil.copy(FIXTURES / "excel-fr.csv", target)
    sf("import", target, "--pipeline", "cours-essai", "--stage", "nouveau")
    assert len(query(sf.project, "SELECT id FROM deals")) == 3
    assert [row[5] for row in exact(sf.project)] == [3]
    sf("import", target, "--pipeline", "cours-essai", "--stage", "nouveau")  # again
    exact(sf.project)


def test_direct_writes_keep_the_summaries_exact(deals):
    """Whoever writes the deals (a script, a migration, another tool) keeps them."""
    project = deals.project
    query(project, "UPDATE deals SET currency = 'USD' WHERE id = 1")
    query(project, "UPDATE deals SET amount = amount * 2, owner = NULL")
    exact(project)
    query(project, "UPDATE deals SET stage = 'gone', stages_mask = 7 WHERE id = 2")
    exact(project)
    query(project, "UPDATE deals SET pipeline = 'old' WHERE id = 1")
    exact(project)
    query(project, "DELETE FROM stage_history")
    query(project, "DELETE FROM deals WHERE id = 1")
    assert len(exact(project)) == 1
    query(project, "DELETE FROM deals")
    assert exact(project) == []
    assert query(project, MASKS_KEPT) == []


def test_a_transaction_rolled_back_leaves_the_summaries_as_they_were(deals):
    """As a crash does: the summaries change in the deals' own transaction, or not at all."""
    before = exact(deals.project)
    connection = connect(open_project(deals.project).database)
    with pytest.raises(RuntimeError), transaction(connection):
        connection.execute("UPDATE deals SET amount = 5, stage = 'inscrit', status = 'won'")
        connection.execute(
            "INSERT INTO deals (pipeline, stage, title, created_at, stage_entered_at, amount)"
            " VALUES ('cours-essai', 'nouveau', 'X', 'now', 'now', 7)"
        )
        raise RuntimeError("the machine stops here")
    connection.close()
    assert exact(deals.project) == before


def test_a_db_copy_has_the_same_summaries(deals, tmp_path):
    deals("deals", "move", "1", "essai-planifie", now="2026-11-21T10:00")
    before = exact(deals.project)
    copy = tmp_path / "copy.db"
    deals("db", "copy", "--to", copy)
    with connect(copy) as connection:
        assert [tuple(row) for row in connection.execute(KEPT)] == before
        waits = [tuple(row) for row in connection.execute(STAGE_WAITS_KEPT)]
    assert waits == query(deals.project, STAGE_WAITS_KEPT) and len(waits) == 2


@pytest.mark.parametrize("extra", [0, 1])  # an odd and an even number of stays
def test_the_median_stay_read_by_bucket_is_the_median_of_every_stay(sf, extra):
    """Stays on and beside bucket bounds, negative ones (history recorded out of order),
    several in one bucket: the median read off one bucket is that of all the stays."""
    seconds = [-5000.5, -4096.0, 0.0, 1.0, 4095.999, 4096.0, 4096.0, 8191.5, 8192.0, 9e5, 7.25]
    seconds += [123456.0] * extra
    sf("contacts", "add", "julie@example.org")
    sf("deals", "add", "--title", "Julie", "--contact", "julie@example.org")
    for stay in seconds:
        query(sf.project, "INSERT INTO stage_history (deal_id, pipeline, from_stage, to_stage,"
              " at, stay_seconds) VALUES (1, 'cours-essai', 'nouveau', 'nouveau',"
              " '2026-11-20T09:00:00Z', ?)", stay)  # fmt: skip
    query(sf.project, "UPDATE stage_history SET stay_seconds = 3.0 WHERE stay_seconds = 9e5")
    seconds[seconds.index(9e5)] = 3.0
    exact(sf.project)
    store = Store.open(open_project(sf.project), datetime.fromisoformat("2026-12-01T12:00Z"))
    wanted = statistics.median(row[0] for row in query(sf.project, STAYS, "cours-essai", "nouveau"))
    assert wanted == statistics.median(seconds)
    assert median_stay_seconds(store, "cours-essai", "nouveau", "", False) == wanted
    assert median_stay_seconds(store, "cours-essai", "nouveau", "", True) == wanted  # by scan
    assert median_stay_seconds(store, "cours-essai", "inscrit", "", False) is None


def test_ticks_keep_the_waits_summary_exact(deals):
    """wait_buckets (migration 24) after ticks, an untick, direct writes of the history."""
    project = deals.project
    deals("deals", "move", "1", "essai-realise", now="2026-11-21T10:00")
    deals("deals", "move", "2", "essai-realise", now="2026-11-21T11:00")
    tick(deals, 1, "Paiement reçu", now="2026-11-22T09:00")
    tick(deals, 2, "Avis recueilli", now="2026-11-22T10:00")  # not required: no wait kept
    tick(deals, 2, "Paiement reçu", now="2026-11-23T10:00")
    tick(deals, 2, "Paiement reçu", now="2026-11-23T11:00", undo=True)
    exact(project)
    assert len(query(project, "SELECT * FROM wait_buckets")) == 2
    query(project, "UPDATE checklist_history SET waited_seconds = waited_seconds * 3")
    query(project, "UPDATE checklist_history SET stage = 'gone' WHERE deal_id = 2")
    exact(project)
    query(project, "DELETE FROM checklist_history WHERE deal_id = 1")
    exact(project)


def test_every_write_keeps_the_deals_still_waiting_exact(deals):
    """stage_waits (migration 25) after ticks and unticks, and direct writes of each table it
    is made of, rows moved from one deal to another included."""
    project = deals.project
    waiting = "SELECT deal_id, stage, ticked FROM stage_waits ORDER BY 1"
    assert query(project, waiting) == [(1, "nouveau", 0), (2, "nouveau", 0)]
    deals("deals", "move", "1", "essai-realise", now="2026-11-21T10:00")
    deals("deals", "move", "2", "essai-realise", now="2026-11-21T11:00")
    tick(deals, 2, "Avis recueilli", now="2026-11-22T10:00")
    assert query(project, waiting) == [(1, "essai-realise", 0), (2, "essai-realise", 1)]
    tick(deals, 1, "Paiement reçu", now="2026-11-22T09:00")  # its stage's items all ticked
    assert query(project, waiting) == [(2, "essai-realise", 1)]
    tick(deals, 1, "Paiement reçu", now="2026-11-22T09:30", undo=True)  # waited all the same
    exact(project)
    query(project, "UPDATE checklist_history SET stage = 'gone' WHERE deal_id = 1")
    assert query(project, waiting) == [(1, "essai-realise", 0), (2, "essai-realise", 1)]
    query(project, "UPDATE checklist_ticks SET deal_id = 1 WHERE deal_id = 2")
    exact(project)
    query(project, "UPDATE stage_history SET deal_id = 2 WHERE deal_id = 1 AND from_stage IS NULL")
    exact(project)
    query(project, "UPDATE stage_history SET at = '2026-11-01T00:00:00Z' WHERE deal_id = 2")
    query(project, "DELETE FROM stage_history WHERE to_stage = 'essai-realise' AND deal_id = 1")
    exact(project)
    query(project, "UPDATE checklist_history SET deal_id = 2, stage = 'essai-realise'")
    query(project, "DELETE FROM checklist_ticks")
    exact(project)
    query(project, "UPDATE deals SET status = 'won', stage = 'inscrit' WHERE id = 1")
    query(project, "UPDATE deals SET stage_entered_at = '2026-11-30T00:00:00Z'")
    exact(project)
    query(project, "DELETE FROM checklist_history")
    assert [row[0] for row in query(project, waiting)] == [2]
    query(project, "UPDATE deals SET status = 'lost' WHERE id = 2")
    assert query(project, waiting) == []


WAITED = [0.0, 1.0, 4095.999, 4096.0, 4096.0, 8191.5, 8192.0, 20000.0, 3.6e5, 7.2e5]


@pytest.mark.parametrize(
    "waiting",  # hours of the deals still waiting: none, before a bucket, in one, between
    [[], [2.0], [30.0], [0.5, 0.6], [1.5, 1.6, 1.7], [30.0 + n for n in range(7)],  # two,
     [1.5, 2.5, 250.0], [300.0, 400.0, 500.0, 600.0]],  # past all
)  # fmt: skip
def test_the_median_wait_read_by_bucket_is_the_median_of_every_wait(sf, waiting):
    """Ticked waits on and beside bucket bounds, with the deals still waiting in between:
    the funnel's median read off one bucket is that of every wait."""
    now = datetime.fromisoformat("2026-12-20T12:00:00+00:00")
    sf("contacts", "add", "julie@example.org")
    sf("deals", "add", "--title", "Ticked", "--contact", "julie@example.org", "--stage",
       "inscrit", now="2026-11-01T09:00")  # fmt: skip
    for seconds in WAITED:
        query(sf.project, "INSERT INTO checklist_history (deal_id, pipeline, stage, item, ticked,"
              " at, by, waited_seconds) VALUES (1, 'cours-essai', 'essai-realise',"
              " 'Paiement reçu', 1, '2026-11-20T09:00:00Z', 'marie', ?)", seconds)  # fmt: skip
    for hours in waiting:
        entered = (now - timedelta(hours=hours)).astimezone(UTC).isoformat()
        sf("deals", "add", "--title", "Waiting", "--contact", "julie@example.org", "--stage",
           "essai-realise", now=entered)  # fmt: skip
    exact(sf.project)
    everything = [seconds / 3600 for seconds in WAITED] + waiting
    rows = sf("pipeline", "funnel", "--json", now=now.isoformat())["rows"]
    [row] = [row for row in rows if row["stage"] == "essai-realise"]
    assert row["items_median_hours"] == round(statistics.median(everything), 1)
    assert (row["items_measured"], row["items_waiting"]) == (len(everything), len(waiting))
