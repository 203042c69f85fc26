"""The funnel's wait on the required items read off stage_waits (migration 25) gives the
figures of the straightforward computation — every deal's state at now, its ticks and its
history read one by one, as reports/funnel.py's docstring defines the wait — on random
databases: deals moved back and forth, moved or ticked after now (a clock set back), ticks
and completing ticks out of step with the YAML (items made required later), with and
without `since`, on both engines."""

from __future__ import annotations

import random
import statistics
from datetime import UTC, date, datetime, timedelta

import pytest
from conftest import open_project
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_deal_summaries import STAGE_WAITS_GROUPED, STAGE_WAITS_KEPT

from salesflow.reports.funnel import funnel
from salesflow.store.db import transaction
from salesflow.store.session import Store
from salesflow.values import stored_instant

pytestmark = pytest.mark.engines

PIPELINE, STAGE = "cours-essai", "essai-realise"
STAGES = ["nouveau", "essai-planifie", "essai-realise", "inscrit", "perdu"]
ITEMS = ["Avis recueilli", "Bulletin d'inscription envoyé", "Paiement reçu"]
START = datetime(2026, 10, 1, tzinfo=UTC)


@pytest.fixture
def two_required(sf):
    """The demo, "Avis recueilli" required besides "Paiement reçu" in "Cours d'essai réalisé"
    (a deal may tick one of them, both, or only the item that is not required)."""
    path = sf.project / "pipelines" / "cours-essai.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("      - Avis recueilli\n",
                                 "      - {item: Avis recueilli, required: true}\n"),
                    encoding="utf-8")  # fmt: skip
    sf("validate")
    return sf


def _at(hours: int) -> str:
    """An instant on whole hours after START, as stored (whole hours: the waits' medians
    are far from a rounding tie, whatever the float arithmetic)."""
    return stored_instant(START + timedelta(hours=hours))


def _fill(store: Store, rng: random.Random) -> None:
    """Random deals with their history (in order, mostly forward), ticks of the stage's
    items and ticks that completed its required ones, some of them after the clocks asked."""
    deals, history, ticks, completions = [], [], [], []
    for deal_id in range(1, rng.randrange(2, 40)):
        hour, position, walk = rng.randrange(0, 600), 0, []
        for _ in range(rng.randrange(1, 6)):
            walk.append((STAGES[position], hour))
            hour += rng.randrange(1, 200)
            position = max(0, min(4, position + rng.choice((1, 1, 0, -1, 2))))
            if position > 2:
                walk.append((STAGES[position], hour))
                break
        stage, entered = walk[-1]
        status = {"inscrit": "won", "perdu": "lost"}.get(stage, "open")
        deals.append((deal_id, stage, status, _at(walk[0][1]), _at(entered)))
        previous = None
        for to_stage, moment in walk:
            history.append((deal_id, previous, to_stage, _at(moment)))
            previous = to_stage
        entries = [moment for to_stage, moment in walk if to_stage == STAGE]
        if not entries:
            continue
        for item in rng.sample(ITEMS, rng.randrange(0, 4)):
            ticks.append((deal_id, item, _at(entries[0] + rng.randrange(0, 300))))
        if rng.random() < 0.4:  # the tick that completed them, as the YAML then said
            waited = rng.randrange(1, 300)
            completions.append((deal_id, _at(entries[0] + waited), waited * 3600.0))
    rng.shuffle(history)  # whatever the order they are written in
    with transaction(store.conn):
        store.conn.executemany(
            "INSERT INTO deals (id, pipeline, stage, status, title, created_at,"
            " stage_entered_at) VALUES (?, 'cours-essai', ?, ?, 'D', ?, ?)",
            deals,
        )
        store.conn.executemany(
            "INSERT INTO stage_history (deal_id, pipeline, from_stage, to_stage, at)"
            " VALUES (?, 'cours-essai', ?, ?, ?)",
            history,
        )
        store.conn.executemany(
            "INSERT INTO checklist_ticks (deal_id, stage, item, pipeline, ticked_at, ticked_by)"
            " VALUES (?, 'essai-realise', ?, 'cours-essai', ?, 'marie')",
            ticks,
        )
        store.conn.executemany(
            "INSERT INTO checklist_history (deal_id, pipeline, stage, item, ticked, at, by,"
            " waited_seconds) VALUES (?, 'cours-essai', 'essai-realise', 'Paiement reçu', 1,"
            " ?, 'marie', ?)",
            completions,
        )


def _julian(stamp: str) -> float:
    """SQLite's julianday() of a stored instant (whole milliseconds / 86400000.0)."""
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    milliseconds = round((moment - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() * 1000)
    return (milliseconds + 210866760000000) / 86400000.0


def _expected(store: Store, since: str) -> tuple[float | None, int, int]:
    """The median wait, the waits measured and those still waiting, one deal at a time."""
    now, required = store.stamp, {"Avis recueilli", "Paiement reçu"}
    created = dict(_read(store, "SELECT id, created_at FROM deals"))
    newer = {deal_id for deal_id, at in created.items() if not since or at >= since}
    completed = _read(store, "SELECT deal_id, at, waited_seconds FROM checklist_history"
                      " WHERE waited_seconds IS NOT NULL")  # fmt: skip
    done = [seconds / 3600 for deal_id, at, seconds in completed
            if at <= now and deal_id in newer]  # fmt: skip
    waiting = []
    for deal_id, stage, status, entered in _read(
        store, "SELECT id, stage, status, stage_entered_at FROM deals"
    ):
        moves = sorted(_read(store, "SELECT at, id, to_stage FROM stage_history"
                             " WHERE deal_id = ?", deal_id))  # fmt: skip
        if entered > now:  # moved after now: where it was then
            then = [to_stage for at, _, to_stage in moves if at <= now]
            stage, status = (then[-1] if then else None), "open"
        ticks = _read(store, "SELECT item, ticked_at FROM checklist_ticks WHERE deal_id = ?",
                      deal_id)  # fmt: skip
        ticked = {item for item, at in ticks if at <= now}
        entries = [at for at, _, to_stage in moves if to_stage == STAGE and at <= now]
        if (stage, status) != (STAGE, "open") or required <= ticked or not entries:
            continue
        if deal_id not in newer or any(d == deal_id and at <= now for d, at, _ in completed):
            continue
        waiting.append((_julian_now(store) - _julian(min(entries))) * 24)
    measured = done + waiting
    median = round(statistics.median(measured), 1) if measured else None
    return median, len(measured), len(waiting)


def _read(store: Store, sql: str, *params) -> list[tuple]:
    return [tuple(row) for row in store.conn.execute(sql, params)]


def _julian_now(store: Store) -> float:
    return 2440587.5 + (store.now - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() / 86400


def _figures(store: Store, since: date | None) -> tuple:
    [row] = [row for row in funnel(store, PIPELINE, since).rows if row["stage"] == STAGE]
    return row["items_median_hours"], row["items_measured"], row["items_waiting"]


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32 - 1))
def test_the_wait_read_off_the_summary_is_the_wait_of_every_deal(two_required, seed):
    rng = random.Random(seed)
    project = open_project(two_required.project)
    store = Store.open(project, START)
    try:
        with transaction(store.conn):  # the example before this one's rows
            for table in ("checklist_history", "checklist_ticks", "stage_history", "deals"):
                store.conn.execute(f"DELETE FROM {table}")
        _fill(store, rng)
        assert _read(store, STAGE_WAITS_KEPT) == _read(store, STAGE_WAITS_GROUPED)
        for _ in range(4):  # now anywhere, before most moves and ticks or after them all
            store.now = START + timedelta(hours=rng.randrange(0, 1400))
            since = rng.choice([None, (START + timedelta(days=rng.randrange(0, 20))).date()])
            since_text = stored_instant(datetime.combine(
                since, datetime.min.time(), tzinfo=project.timezone)) if since else ""  # fmt: skip
            assert _figures(store, since) == _expected(store, since_text)
    finally:
        store.conn.close()
