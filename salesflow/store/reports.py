"""The reports' queries: each report's rows as the database computes them (counts, sums, the
deals of a board column…), one named function per question. The reports in
`salesflow/reports/` turn these rows into what people read; every report's SQL is here,
whatever table it reads, in the SQL SQLite and PostgreSQL both read; the few fragments where
they differ are written for each beside the statement. Sums are cast to bigint (PostgreSQL's
sum of integers is a numeric) and counts of a condition are `count(*) FILTER (WHERE …)`."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from salesflow.store.migrations import BUCKET_OF, STAY_BUCKET
from salesflow.store.session import Store
from salesflow.store.stages import of_kind, stages_cte, values_of
from salesflow.values import stored_instant

_RUNS = (
    "SELECT r.*, c.email AS contact_email FROM runs r LEFT JOIN contacts c ON c.id = r.contact_id"
)


def _deals_of(store: Store, pipeline_id: str | None) -> tuple[str, list]:
    """The pipeline's deals, or without one every deal that is not a ticket."""
    return (" AND d.pipeline = ?", [pipeline_id]) if pipeline_id else of_kind(store, "deal")


# -- as of now
# A move stamps the deal's stage_entered_at with the instant of its history row, so a deal
# that entered its stage by now has nothing after now: its row is as of now. The others,
# moved, closed or created after now, are few, and read off the index on (status, pipeline,
# stage, stage_entered_at, amount) (skipping its first columns where SQLite has statistics,
# else a scan of the index alone; PostgreSQL, without skip-scan, has an index of
# stage_entered_at alone: migration 14); each is read back to its latest history row by now
# (none: not yet created). Only moves recorded out of order (a later --now first) escape this.
_MOVED_LATER = "SELECT id FROM deals WHERE stage_entered_at > ?"
_MASK_THEN = (
    "(SELECT CAST(coalesce(sum(DISTINCT CAST(1 AS bigint) << CAST(b.bit AS integer)), 0) AS bigint)"
    " FROM stage_history h JOIN stage_bits b"
    " ON b.pipeline = h.pipeline AND b.stage = h.to_stage WHERE h.deal_id = d.id AND h.at <= ?)"
)
_COLUMNS = (
    "d.id, d.pipeline, d.contact_id, d.owner, d.amount, d.probability, d.expected_close,"
    " d.created_at, d.priority"
)
_JULIANDAY = {
    "sqlite": "julianday({})",
    # SQLite's own arithmetic (whole milliseconds since the julian epoch / 86400000.0): the
    # same floats on both, so days cut to whole days agree to the last one
    "postgresql": "((CAST(extract(epoch FROM CAST({} AS timestamptz)) * 1000 AS bigint)"
    " + 210866760000000) / CAST(86400000 AS double precision))",
}


def _julianday(store: Store, instant: str) -> str:
    """SQL for SQLite's julianday() of an ISO instant (a column or a parameter)."""
    return _JULIANDAY[store.conn.dialect].format(instant)


def _total(expression: str) -> str:
    """The sum of an integer expression, 0 without rows, an integer on both engines."""
    return f"CAST(coalesce(sum({expression}), 0) AS bigint)"


def _tuples(store: Store, sql: str, params: tuple) -> list[tuple]:
    """The rows of `sql` as plain tuples, for reads of thousands of rows: on SQLite a
    sqlite3.Row each costs as much as its values (PostgreSQL's rows are tuples already)."""
    if store.conn.dialect == "sqlite":
        cursor = store.conn.cursor()
        cursor.row_factory = None
        return cursor.execute(sql, params).fetchall()
    return store.conn.execute(sql, params).fetchall()


_MOVED_THEN = (  # the deals that moved after now, as they stood at now (see _as_of_now)
    f"SELECT {_COLUMNS}, h.to_stage AS stage, coalesce(s.outcome, 'open') AS status,"
    " h.at AS stage_entered_at, CASE WHEN s.outcome IS NOT NULL THEN h.at END AS closed_at,"
    " CASE WHEN s.outcome = 'lost' THEN h.from_stage END AS lost_from,"
    " CASE WHEN s.outcome = 'lost' THEN d.lost_reason END AS lost_reason"
    " FROM deals d JOIN stage_history h ON h.id = (SELECT l.id FROM stage_history l"
    "   WHERE l.deal_id = d.id AND l.at <= ? ORDER BY l.at DESC, l.id DESC LIMIT 1)"
    " LEFT JOIN stages s ON s.pipeline = d.pipeline AND s.stage = h.to_stage"
    f" WHERE d.id IN ({_MOVED_LATER})"
)


def _as_of_now(store: Store) -> tuple[str, list]:
    """`WITH` clauses: the project's `stages`, and `past`, every deal as it stood at now:
    its `stage`, `status`, `stage_entered_at`, `closed_at`, `lost_from` and `lost_reason`
    then, its other columns as they are (no history is kept of them)."""
    cte, params = stages_cte(store.project)
    sql = (
        f"{cte}, past AS (SELECT {_COLUMNS}, d.stage, d.status, d.stage_entered_at,"
        " d.closed_at, d.lost_from, d.lost_reason FROM deals d WHERE d.stage_entered_at <= ?"
        f" UNION ALL {_MOVED_THEN})"
    )
    return sql, [*params, *[store.stamp] * 3]


# -- board
def stage_totals(
    store: Store, pipeline: str, owner: str | None, stage: str | None = None
) -> dict[str, sqlite3.Row]:
    """Per stage: count, amount, the amount × probability of deals with their own
    probability (`own`), and the amount of the others (`rest`), as the deals are stored;
    read off their summary (migration 23): a row per status, owner and month of the stage,
    whatever the number of deals."""
    clauses, params = ["pipeline = ?"], [pipeline]
    for column, value in (("owner", owner), ("stage", stage)):
        if value:
            clauses.append(f"{column} = ?")
            params.append(value)
    return {
        row["stage"]: row
        for row in store.conn.execute(
            f"SELECT stage, {_total('count')} AS count, {_total('amount')} AS amount,"
            f" {_total('own')} AS own, {_total('rest')} AS rest"
            f" FROM deal_totals WHERE {' AND '.join(clauses)} GROUP BY stage",
            params,
        )
    }


def stage_deals(
    store: Store,
    pipeline: str,
    stage: str,
    *,
    closed: bool,
    oldest_first: bool,
    owner: str | None,
    limit: int,
    offset: int,
) -> list[sqlite3.Row]:
    """A board column's deals with their contact and `seconds` in the stage (as of now):
    the latest closed first in a `closed` stage; else the open ones longest in the stage
    (`oldest_first`), or the most valuable."""
    if closed:
        status, order = "", "d.closed_at DESC, d.id DESC"
    elif oldest_first:  # as the index (status, pipeline, stage, stage_entered_at) reads
        status, order = " AND d.status = 'open'", "d.stage_entered_at, d.id"
    else:
        status, order = "", "coalesce(d.amount, 0) DESC, d.id DESC"
    by_owner, owner_params = (" AND d.owner = ?", [owner]) if owner else ("", [])
    since = f"({_julianday(store, '?')} - {_julianday(store, 'd.stage_entered_at')}) * 86400"
    return store.conn.execute(
        "SELECT d.*, c.email AS contact_email,"
        " trim(coalesce(c.first_name, '') || ' ' || coalesce(c.last_name, '')) AS contact_name,"
        f" {since} AS seconds"
        " FROM deals d LEFT JOIN contacts c ON c.id = d.contact_id"
        f" WHERE d.pipeline = ? AND d.stage = ?{status}{by_owner} ORDER BY {order}"
        " LIMIT ? OFFSET ?",
        (store.stamp, pipeline, stage, *owner_params, limit, offset),
    ).fetchall()


# -- forecast and workload
# The deals as of now, summed (migration 23's deal_totals): the summary of the deals as they
# are, less the few that moved after now as they are (-1), plus those same deals as they
# stood at now (+1; those created after now are in no stage then, and add nothing).
_MONTH_OF = (  # as migration 23 keys a deal's row
    "coalesce(substr(CASE WHEN {row}.status = 'open' THEN {row}.expected_close"
    " ELSE {row}.closed_at END, 1, 7), '')"
)
_SHARE_OF = (
    "{row}.pipeline, {row}.stage, {row}.status, coalesce({row}.owner, '') AS owner,"
    f" {_MONTH_OF} AS month, {{sign}} AS count, {{sign}} * coalesce({{row}}.amount, 0) AS amount,"
    " {sign} * coalesce({row}.amount * {row}.probability, 0) AS own,"
    " {sign} * CASE WHEN {row}.probability IS NULL THEN coalesce({row}.amount, 0) ELSE 0 END"
    " AS rest"
)
_GROUP_OF = {"month": "nullif(d.month, '')", "owner": "nullif(d.owner, '')"}


def _totals_as_of_now(store: Store) -> tuple[str, list]:
    """`WITH` clauses: `stages`, `moved_then` (the deals that moved after now, as they stood at
    now) and `totals`, deal_totals' rows as of now (a key may come more than once: sum)."""
    cte, params = stages_cte(store.project)
    sql = (
        f"{cte}, moved_then AS ({_MOVED_THEN}), totals AS (SELECT pipeline, stage, status, owner,"
        " month, count, amount, own, rest FROM deal_totals"
        f" UNION ALL SELECT {_SHARE_OF.format(row='m', sign='-1')} FROM deals m"
        f" WHERE m.id IN ({_MOVED_LATER}) UNION ALL SELECT {_SHARE_OF.format(row='t', sign='1')}"
        " FROM moved_then t)"
    )
    return sql, [*params, store.stamp, store.stamp, store.stamp]


def open_deals_by(store: Store, by: str, pipeline_id: str | None = None) -> list[sqlite3.Row]:
    """Deals open as of now grouped `by` expected close month or owner (`grp`): their count
    (`deals`), `amount` and amount × probability (their own, else that of their stage
    then: `weighted`)."""
    cte, params = _totals_as_of_now(store)
    where, extra = _deals_of(store, pipeline_id)
    return store.conn.execute(
        f"WITH {cte} SELECT {_GROUP_OF[by]} AS grp, {_total('d.count')} AS deals,"
        f" {_total('d.amount')} AS amount,"
        f" {_total('d.own + coalesce(d.rest * s.probability, 0)')} AS weighted"
        " FROM totals d LEFT JOIN stages s ON s.pipeline = d.pipeline AND s.stage = d.stage"
        f" WHERE d.status = 'open'{where} GROUP BY grp HAVING sum(d.count) > 0",
        (*params, *extra),
    ).fetchall()


def won_amounts_by(store: Store, by: str, pipeline_id: str | None = None) -> list[sqlite3.Row]:
    """The amount `won` by now, grouped `by` month of closing or owner (`grp`)."""
    cte, params = _totals_as_of_now(store)
    where, extra = _deals_of(store, pipeline_id)
    return store.conn.execute(
        f"WITH {cte} SELECT {_GROUP_OF[by]} AS grp, {_total('d.amount')} AS won"
        f" FROM totals d WHERE d.status = 'won'{where} GROUP BY grp HAVING sum(d.count) > 0",
        (*params, *extra),
    ).fetchall()


def open_tasks_by_assignee(store: Store) -> list[sqlite3.Row]:
    """Per assignee: the tasks open as of now (created by then, not done by then: `open`)
    and those of them due before now (`overdue`), on the clock the deals are counted by."""
    return store.conn.execute(
        "SELECT assignee, count(*) AS open, count(*) FILTER (WHERE due_at < :now) AS overdue"
        " FROM tasks WHERE created_at <= :now AND (done_at IS NULL OR done_at > :now)"
        " GROUP BY assignee",
        {"now": store.stamp},
    ).fetchall()


# -- funnel
def stage_bits(store: Store, pipeline_id: str) -> dict[str, int]:
    """Each stage's bit in a deal's `stages_mask` (the set of stages it entered)."""
    return dict(
        store.conn.execute(
            "SELECT stage, bit FROM stage_bits WHERE pipeline = ?", (pipeline_id,)
        ).fetchall()
    )


def deals_matching(
    store: Store, pipeline_id: str, masks: list[int], since: str
) -> tuple[list[int], int]:
    """Per mask, the pipeline's deals created since `since` ("": all) that entered a stage
    of it by now: one pass over the deals with the set of stages each entered (without
    `since`, over their summary by that set), then the few that
    moved after now taken back to the set they had entered by then; and how many did."""
    if since:
        sums = ", ".join("count(*) FILTER (WHERE (stages_mask & ?) != 0)" for _ in masks)
        stored = store.conn.execute(
            f"SELECT {sums} FROM deals WHERE pipeline = ? AND created_at >= ?",
            (*masks, pipeline_id, since),
        ).fetchone()
    else:  # every deal: their summary by set of stages entered (migration 23)
        among = "CASE WHEN (stages_mask & ?) != 0 THEN count ELSE 0 END"
        sums = ", ".join(_total(among) for _ in masks)
        stored = store.conn.execute(
            f"SELECT {sums} FROM deal_masks WHERE pipeline = ?", (*masks, pipeline_id)
        ).fetchone()
    changes = "".join(
        ", count(*) FILTER (WHERE (mask_then & ?) != 0)"
        " - count(*) FILTER (WHERE (stages_mask & ?) != 0)"
        for _ in masks
    )
    corrections = store.conn.execute(
        f"SELECT count(*){changes} FROM (SELECT d.stages_mask, {_MASK_THEN} AS mask_then"
        f" FROM deals d WHERE d.id IN ({_MOVED_LATER}) AND d.pipeline = ? AND d.created_at >= ?)"
        " AS moved",
        (*(mask for mask in masks for _ in "ab"), store.stamp, store.stamp, pipeline_id, since),
    ).fetchone()
    moved, *changes = corrections
    return [count + change for count, change in zip(stored, changes, strict=True)], moved


def median_stay_seconds(
    store: Store, pipeline_id: str, stage_id: str, since: str, moved_later: bool
) -> float | None:
    """The median stay in the stage finished by now, in seconds, of deals created since
    `since` (all with ""), read off the index by offset (no sort); None without any. The
    stays that ended after now are left out by id, only when some of those deals
    `moved_later` (as `deals_matching` counts them)."""
    if not since and not moved_later:
        return _median_stay(store, pipeline_id, stage_id)
    join = " JOIN deals d ON d.id = h.deal_id AND d.created_at >= ?" if since else ""
    where = (
        f" FROM stage_history h{join} WHERE h.pipeline = ? AND h.from_stage = ?"
        " AND h.stay_seconds IS NOT NULL"
    )
    params: tuple = (*((since,) if since else ()), pipeline_id, stage_id)
    if moved_later:
        where += (
            " AND h.id NOT IN (SELECT l.id FROM stage_history l"
            f" WHERE l.deal_id IN ({_MOVED_LATER}) AND l.at > ?)"
        )
        params += (store.stamp, store.stamp)
    count = store.conn.execute(f"SELECT count(*){where}", params).fetchone()[0]
    if not count:
        return None
    middle = store.conn.execute(
        f"SELECT h.stay_seconds{where} ORDER BY h.stay_seconds LIMIT ? OFFSET ?",
        (*params, 2 - count % 2, (count - 1) // 2),
    ).fetchall()
    return sum(row[0] for row in middle) / len(middle)


def _median_stay(store: Store, pipeline_id: str, stage_id: str) -> float | None:
    """The median of every stay ended in the stage: the bucket holding it found in their
    summary by bucket (migration 23), then read off the index from the bucket's first
    second by offset: a bucket's stays, not the stage's."""
    buckets = store.conn.execute(
        "SELECT bucket, count FROM stay_buckets WHERE pipeline = ? AND stage = ? ORDER BY bucket",
        (pipeline_id, stage_id),
    ).fetchall()
    count = sum(row[1] for row in buckets)
    if not count:
        return None
    rank, before, index = (count - 1) // 2, 0, 0  # the (first) middle stay's rank, from 0
    while before + buckets[index][1] <= rank:
        before += buckets[index][1]
        index += 1
    bucket = buckets[index][0]
    middle = store.conn.execute(
        "SELECT h.stay_seconds FROM stage_history h WHERE h.pipeline = ? AND h.from_stage = ?"
        " AND h.stay_seconds >= ? ORDER BY h.stay_seconds LIMIT ? OFFSET ?",
        (pipeline_id, stage_id, float(bucket * STAY_BUCKET), 2 - count % 2, rank - before),
    ).fetchall()
    return sum(row[0] for row in middle) / len(middle)


# -- the funnel's wait on the required checklist items
# What each tick keeps (migration 20): the tick that first left a stage's required items all
# ticked holds the seconds since the record first entered the stage, read off the index
# (pipeline, stage, waited_seconds, at) in order, by now. The records still open in the
# stage at now, without such a tick and with their required items not all ticked, wait from
# their first entry to now: read off stage_waits (migration 25), not probed one by one.
_FIRST_ENTRY = (
    "(SELECT min(h.at) FROM stage_history h WHERE h.deal_id = d.id AND h.to_stage = ?"
    " AND h.at <= ?)"
)
_STATE_THEN = (  # the stage a record was in at now, read back only for those moved after now
    "(SELECT l.to_stage FROM stage_history l WHERE l.deal_id = d.id AND l.at <= ?"
    " ORDER BY l.at DESC, l.id DESC LIMIT 1)"
)


def _column(store: Store, sql: str, params: tuple) -> list:
    """The first column of the rows of `sql`."""
    return [row[0] for row in _tuples(store, sql, params)]


def waits_done(store: Store, pipeline_id: str, stage_id: str, since: str) -> list[float]:
    """The hours records created since `since` ("": all) waited on the stage's required
    items by now, of those that had them all ticked, shortest first: every tick."""
    join = " JOIN deals d ON d.id = c.deal_id AND d.created_at >= ?" if since else ""
    return _column(
        store,
        f"SELECT c.waited_seconds / 3600 FROM checklist_history c{join}"
        " WHERE c.pipeline = ? AND c.stage = ? AND c.waited_seconds IS NOT NULL"
        " AND c.at <= ? ORDER BY c.waited_seconds",
        (*((since,) if since else ()), pipeline_id, stage_id, store.stamp),
    )


def wait_buckets(store: Store, pipeline_id: str, stage_id: str) -> list[tuple[int, int]]:
    """The same waits (of every record) counted by bucket of STAY_BUCKET seconds, (bucket,
    count) in order, by now: their summary (migration 24) less the ticks dated after now,
    few (a clock set back), read off the index by instant."""
    bucket = BUCKET_OF[store.conn.dialect].format(x=f"(c.waited_seconds / {STAY_BUCKET}.0)")
    return [
        (row[0], row[1])
        for row in store.conn.execute(
            "SELECT bucket, CAST(sum(count) AS bigint) FROM (SELECT bucket, count"
            " FROM wait_buckets WHERE pipeline = :pipeline AND stage = :stage"
            f" UNION ALL SELECT {bucket} AS bucket, -1 AS count FROM checklist_history c"
            " WHERE c.at > :now AND c.pipeline = :pipeline AND c.stage = :stage"
            " AND c.waited_seconds IS NOT NULL) AS b GROUP BY bucket HAVING sum(count) > 0"
            " ORDER BY bucket",
            {"pipeline": pipeline_id, "stage": stage_id, "now": store.stamp},
        )
    ]


def waits_in_bucket(store: Store, pipeline_id: str, stage_id: str, bucket: int) -> list[float]:
    """The hours of the waits of one bucket (see wait_buckets), shortest first."""
    low, high = float(bucket * STAY_BUCKET), float((bucket + 1) * STAY_BUCKET)
    return _column(
        store,
        "SELECT c.waited_seconds / 3600 FROM checklist_history c WHERE c.pipeline = ?"
        " AND c.stage = ? AND c.waited_seconds >= ? AND c.waited_seconds < ?"
        " AND c.at <= ? ORDER BY c.waited_seconds",
        (pipeline_id, stage_id, low, high, store.stamp),
    )


def waits_still(
    store: Store, pipeline_id: str, stage_id: str, items: tuple[str, ...], since: str
) -> list[float]:
    """The hours records created since `since` ("": all), still waiting in the stage at now
    without its required `items` all ticked, have waited (from their first entry to now):
    read off stage_waits (migration 25), which holds each open record without the tick that
    completed its stage, with its first entry; a record is probed for its ticks only when
    it has ticked as many items as are required (a record in its stage by now entered it
    first by now: its first entry ever is the one by now). Read apart, as the records were
    at now: those moved after now, and those whose completing tick came after now (a clock
    set back)."""
    marks = ", ".join("?" * len(items))
    unticked = (  # the required items not all ticked by now
        f"(SELECT count(*) FROM checklist_ticks k WHERE k.deal_id = {{id}} AND k.stage = ?"
        f" AND k.item IN ({marks}) AND k.ticked_at <= ?) < ?"
    )
    ticks = (stage_id, *items, store.stamp, len(items))
    now = _julian_day(store.now)
    newer, since_params = (
        (" JOIN deals n ON n.id = {id} AND n.created_at >= ?", (since,)) if since else ("", ())
    )
    waiting = _column(
        store,
        "WITH here AS (SELECT d.id FROM deals d WHERE d.id IN"
        f" ({_MOVED_LATER}) AND d.pipeline = ? AND {_STATE_THEN} = ?"
        " UNION SELECT c.deal_id FROM checklist_history c WHERE c.at > ? AND c.stage = ?"
        " AND c.waited_seconds IS NOT NULL AND EXISTS (SELECT 1 FROM deals d WHERE"
        " d.id = c.deal_id AND d.status = 'open' AND d.pipeline = ? AND d.stage = ?"
        " AND d.stage_entered_at <= ?))"
        f" SELECT (? - {_julianday(store, _FIRST_ENTRY)}) * 24 AS hours"
        f" FROM here d{newer.format(id='d.id')} WHERE {unticked.format(id='d.id')}"
        " AND NOT EXISTS (SELECT 1 FROM checklist_history c WHERE c.deal_id = d.id"
        " AND c.stage = ? AND c.waited_seconds IS NOT NULL AND c.at <= ?)"
        f" UNION ALL SELECT (? - {_julianday(store, 'w.since')}) * 24"
        f" FROM stage_waits w{newer.format(id='w.deal_id')} WHERE w.pipeline = ?"
        " AND w.stage = ? AND w.entered <= ? AND w.since IS NOT NULL"
        f" AND (w.ticked < ? OR {unticked.format(id='w.deal_id')})",
        (store.stamp, pipeline_id, store.stamp, stage_id,
         store.stamp, stage_id, pipeline_id, stage_id, store.stamp,
         now, stage_id, store.stamp, *since_params, *ticks, stage_id, store.stamp,
         now, *since_params, pipeline_id, stage_id, store.stamp, len(items), *ticks),
    )  # fmt: skip
    return [hours for hours in waiting if hours is not None]


# -- losses
# The deals lost as of now, summed (migration 24's deal_losses): as the forecast reads
# deal_totals, the summary less the deals that moved after now as they are, plus the same
# deals as they stood at now.
_LOSS_OF = (
    "{row}.pipeline, coalesce({row}.lost_from, {row}.stage) AS lost_from,"
    " coalesce({row}.lost_reason, '') AS reason, {sign} AS count,"
    " {sign} * coalesce({row}.amount, 0) AS amount"
)


def lost_by_stage_and_reason(store: Store, pipeline_id: str | None = None) -> list[sqlite3.Row]:
    """Deals lost by now grouped by the stage they were lost from (`lost_from`) and
    `reason` ("" without one): their count (`deals`) and `amount`, the most numerous first;
    read off their summary, whatever the number of deals."""
    cte, params = stages_cte(store.project)
    where, extra = _deals_of(store, pipeline_id)
    return store.conn.execute(
        f"WITH {cte}, moved_then AS ({_MOVED_THEN}), losses AS (SELECT pipeline, lost_from,"
        f" reason, count, amount FROM deal_losses UNION ALL SELECT"
        f" {_LOSS_OF.format(row='m', sign='-1')} FROM deals m WHERE m.status = 'lost'"
        f" AND m.id IN ({_MOVED_LATER}) UNION ALL SELECT {_LOSS_OF.format(row='t', sign='1')}"
        " FROM moved_then t WHERE t.status = 'lost')"
        f" SELECT d.lost_from, d.reason, {_total('d.count')} AS deals,"
        f" {_total('d.amount')} AS amount FROM losses d WHERE true{where}"
        " GROUP BY d.lost_from, d.reason HAVING sum(d.count) > 0"
        " ORDER BY deals DESC, lost_from, reason",
        (*params, store.stamp, store.stamp, store.stamp, *extra),
    ).fetchall()


# -- response times
def ticket_answers(
    store: Store, pipelines: list[str], ticket: int | None = None
) -> list[sqlite3.Row]:
    """The tickets of `pipelines` (or the one `ticket`) as of now, with their first email
    to the contact after opening (`first_email`) and their first stage move
    (`first_move`): nothing after now counts, the report is as of its clock."""
    cte, params = _as_of_now(store)
    only, extra = (" AND d.id = ?", [ticket]) if ticket else ("", [])
    return store.conn.execute(
        f"WITH {cte} SELECT d.id, d.priority, d.status, d.created_at, d.closed_at,"
        " (SELECT min(o.created_at) FROM outbox o WHERE o.kind = 'email'"
        "   AND o.to_addr = c.email AND o.created_at >= d.created_at AND o.created_at <= ?"
        "   AND o.status != 'cancelled') AS first_email,"
        " (SELECT min(h.at) FROM stage_history h WHERE h.deal_id = d.id"
        "   AND h.from_stage IS NOT NULL AND h.at <= ?) AS first_move"
        f" FROM past d LEFT JOIN contacts c ON c.id = d.contact_id WHERE d.pipeline IN"
        f" ({', '.join('?' * len(pipelines))}){only} ORDER BY d.id",
        (*params, store.stamp, store.stamp, *pipelines, *extra),
    ).fetchall()


# -- stalled
# Stalled means nothing planned: an open deal whose stage's rot_after has passed since its
# quiet instant (the later of its stage change and its last completed task) and that has no
# open task due after now. Every reader (the stalled report, tick's deal.stalled, the board's
# cards, a deal's `stalled`) asks overdue_deals (a page's first few: most_overdue; their
# total: overdue_total; today's lists: stalled_cte). The deals are found by the open deals'
# index (migration 27: status, pipeline, stage, stage_entered_at, … — quiet since ≥ entered:
# the same candidates as entry alone), then each is read off tasks' index (deal_id, done_at,
# due_at): a few probes, whatever the number of tasks.
_LIMIT_TYPES = ("text", "text", "text", "text", "double precision")
_LAST_DONE = "(SELECT max(t.done_at) FROM tasks t WHERE t.deal_id = d.id)"
_PLANNED = (
    "EXISTS (SELECT 1 FROM tasks t WHERE t.deal_id = d.id AND t.done_at IS NULL AND t.due_at > ?)"
)


def rot_limits(store: Store, pipeline_id: str | None = None, kind: str | None = None) -> list:
    """(pipeline, stage, stage name, threshold instant as stored, rot days) per open stage
    with a `rot_after` (of one pipeline, or of one kind of record)."""
    limits = []
    for pipeline in store.project.pipelines.values():
        if (pipeline_id and pipeline.id != pipeline_id) or (kind and pipeline.object != kind):
            continue
        for stage in pipeline.stages:
            if stage.rot_after and not stage.outcome:
                threshold = stored_instant(store.now - stage.rot_after)
                rot_days = stage.rot_after.total_seconds() / 86400
                limits.append((pipeline.id, stage.id, stage.name, threshold, rot_days))
    return limits


def _quiet(limits: list[tuple], among: str) -> str:
    """`WITH` clauses: the open deals in `limits`' stages (`among` those of an SQL condition)
    entered before their threshold and with nothing planned, and `quiet`, the same with
    `quiet_since`: their columns of the open deals' index only (migration 27: ordering,
    counting and listing them reads no deal's row), and their limit's place in `limits`
    (`limit_index`); parameters: _quiet_values, the condition's, now."""
    return (
        f"WITH limits(pipeline, stage, name, threshold, rot_days, n) AS"
        f" ({values_of((*_LIMIT_TYPES, 'integer'), len(limits))}),"
        " candidates AS (SELECT d.id, d.amount, d.owner, d.stage_entered_at, d.title,"
        " d.next_step, d.contact_id, l.pipeline, l.stage, l.name AS stage_name, l.rot_days,"
        f" l.threshold, l.n AS limit_index, {_LAST_DONE} AS last_done"
        " FROM limits l JOIN deals d ON d.status = 'open' AND d.pipeline = l.pipeline"
        f" AND d.stage = l.stage AND d.stage_entered_at < l.threshold{among}"
        f" WHERE NOT {_PLANNED}),"
        " quiet AS (SELECT *, CASE WHEN last_done > stage_entered_at THEN last_done"
        " ELSE stage_entered_at END AS quiet_since FROM candidates)"
    )


def _quiet_values(limits: list[tuple]) -> list:
    """_quiet's parameters of its limits: each limit's values and its place."""
    return [value for n, limit in enumerate(limits) for value in (*limit, n)]


def overdue_deals(
    store: Store, limits: list[tuple], ids: list[int] | None = None, first: int | None = None
) -> list[sqlite3.Row]:
    """The stalled deals among those in `limits`' stages (or among `ids`), most overdue
    first (the `first` ones only, if given: found by `most_overdue`), with their contact,
    `days` in the stage, `quiet_since` (the later of the stage change and the last completed
    task), `quiet_days` since then and `overdue_days` beyond the rot_after; found by index."""
    statement = _overdue(store, limits, ids, first, f"*, {_OVERDUE}", deal_row=True)
    return store.conn.execute(*statement).fetchall() if statement else []


# What the stalled report lists of each deal, in its order (`overdue_listed`): its stage
# as its limit's place in `limits` (three texts fewer to read per deal)
LISTED = (
    "id", "title", "contact_email", "limit_index", "days", "overdue_days", "owner", "next_step",
    "amount",
)  # fmt: skip
# Days quiet beyond the rot_after, a column of the result: the order reads it there, where
# an expression would be worked out again (two more probes of the tasks per deal)
_OVERDUE = "quiet_days - rot_days AS overdue_days"


def overdue_listed(store: Store, limits: list[tuple], first: int | None = None) -> list[tuple]:
    """`overdue_deals`' rows as the stalled report lists them: the LISTED columns only, as
    plain tuples (a report of 10,000 stalled deals reads them in a few µs each)."""
    columns = ", ".join(_OVERDUE if name == "overdue_days" else name for name in LISTED)
    statement = _overdue(store, limits, None, first, columns)
    return _tuples(store, *statement) if statement else []


def _overdue(
    store: Store, limits: list[tuple], ids: list[int] | None, first: int | None, columns: str,
    deal_row: bool = False,
) -> tuple[str, tuple] | None:  # fmt: skip
    """The statement (and its parameters) of the stalled deals' `columns` (see
    overdue_deals), with `stalled_for` from each deal's row if `deal_row` (else the index
    alone is read, and each deal's contact); None when there is none to read."""
    assert ids is None or first is None, "the first ones of all, or these ones"
    if limits and first is not None:
        ids = most_overdue(store, limits, first)
    if not limits or ids == []:
        return None
    among, extra = (f" AND d.id IN ({', '.join('?' * len(ids))})", ids) if ids else ("", [])
    now = _julian_day(store.now)
    return (
        f"{_quiet(limits, among)}, listed AS (SELECT * FROM quiet WHERE quiet_since < threshold),"
        f" shown AS (SELECT s.*, ? - {_julianday(store, 's.stage_entered_at')} AS days,"
        f" ? - {_julianday(store, 's.quiet_since')} AS quiet_days, c.email AS contact_email"
        f"{', d.stalled_for' if deal_row else ''} FROM listed s"
        f"{' JOIN deals d ON d.id = s.id' if deal_row else ''}"
        " LEFT JOIN contacts c ON c.id = s.contact_id)"
        f" SELECT {columns} FROM shown ORDER BY overdue_days DESC, id",
        (*_quiet_values(limits), *extra, store.stamp, now, now),
    )  # fmt: skip


def most_overdue(
    store: Store, limits: list[tuple], first: int, of_owner: bool = False,
    owner: str | None = None,
) -> list[int]:  # fmt: skip
    """The ids of the `first` most overdue stalled deals in `limits`' stages (quiet the
    longest beyond their rot_after, then by id) — with `of_owner`, of `owner` (None: of
    nobody) —, reading only each stage's oldest entries: a deal is quiet since its stage
    change or later, so the deals of a stage not yet read are at best as overdue as the
    last one read (its `floor`). Each stage's `read` oldest are read, four times as many
    again until no deal left unread could rank among them. The owner is in the index."""
    mine, extra = ("", [])
    if of_owner:
        mine, extra = (
            (" AND d.owner = ?", [owner]) if owner is not None else (" AND d.owner IS NULL", [])
        )
    read = first
    while True:
        found, floors = [], []
        for pipeline, stage, _, threshold, rot_days in limits:
            rows = store.conn.execute(
                _OLDEST_IN_STAGE.format(due=_julianday(store, "quiet_since"),
                                        floor=_julianday(store, "stage_entered_at"), mine=mine),
                (rot_days, rot_days, threshold, pipeline, stage, threshold, *extra, store.stamp,
                 read),
            ).fetchall()  # fmt: skip
            found += [(row["due"], row["id"]) for row in rows if row["stalled"]]
            floors += [rows[-1]["floor"]] if len(rows) == read else []
        chosen = sorted(found)[:first]
        if not floors or (len(chosen) == first and chosen[-1][0] < min(floors)):
            return [number for _, number in chosen]
        read *= 4


# a stage's open deals with nothing planned, the `read` that entered it the longest ago (off
# the index ending with stage_entered_at): `due`, the day they were overdue from, `stalled`
_OLDEST_IN_STAGE = (
    "SELECT id, {due} + ? AS due, {floor} + ? AS floor,"
    " CASE WHEN quiet_since < ? THEN 1 ELSE 0 END AS stalled FROM (SELECT id, stage_entered_at,"
    " CASE WHEN last_done > stage_entered_at THEN last_done ELSE stage_entered_at END"
    f" AS quiet_since FROM (SELECT d.id, d.stage_entered_at, {_LAST_DONE} AS last_done"
    " FROM deals d WHERE d.status = 'open' AND d.pipeline = ? AND d.stage = ?"
    " AND d.stage_entered_at < ?{mine}"
    f" AND NOT {_PLANNED} ORDER BY d.stage_entered_at LIMIT ?) o) q"
)


def overdue_total(store: Store, limits: list[tuple]) -> tuple[int, int]:
    """How many deals `overdue_deals` finds in `limits`' stages, and their amount, without
    listing them nor asking every one of them about its tasks: those that entered their
    stage before its threshold, counted off the index that finds them (it holds the
    amount), less those a task keeps from stalling — one open and due after now, or one
    completed since the threshold —, found from the recent tasks (index on done_at,
    due_at: migration 26)."""
    if not limits:
        return 0, 0
    count, amount = store.conn.execute(
        f"WITH limits(pipeline, stage, name, threshold, rot_days) AS"
        f" ({values_of(_LIMIT_TYPES, len(limits))}),"
        " busy AS (SELECT deal_id FROM tasks WHERE done_at IS NULL AND due_at > ?"
        " UNION SELECT deal_id FROM tasks WHERE done_at >= ?)"
        " SELECT e.deals - k.deals, e.amount - k.amount FROM"
        f" (SELECT count(*) AS deals, {_total('d.amount')} AS amount FROM limits l JOIN deals d"
        " ON d.status = 'open' AND d.pipeline = l.pipeline AND d.stage = l.stage"
        " AND d.stage_entered_at < l.threshold) e,"
        f" (SELECT count(*) AS deals, {_total('d.amount')} AS amount FROM busy b"
        " JOIN deals d ON d.id = b.deal_id JOIN limits l ON l.pipeline = d.pipeline"
        " AND l.stage = d.stage WHERE d.status = 'open' AND d.stage_entered_at < l.threshold"
        f" AND ({_PLANNED} OR EXISTS (SELECT 1 FROM tasks t WHERE t.deal_id = d.id"
        " AND t.done_at >= l.threshold))) k",
        (*(value for limit in limits for value in limit), store.stamp,
         min(limit[3] for limit in limits), store.stamp),
    ).fetchone()  # fmt: skip
    return count, amount


def stalled_cte(store: Store, limits: list[tuple]) -> tuple[str, list]:
    """`WITH` clauses ending with `stalled` (`id`, `owner`): the stalled deals in `limits`'
    stages, off the index that finds them (it holds the owner), for a query that counts
    them per owner or leaves them out of another list (store/today.py); and its params."""
    if not limits:
        return _NONE_STALLED, []
    return (
        f"{_quiet(limits, '')}, stalled AS (SELECT id, owner FROM quiet"
        " WHERE quiet_since < threshold)",
        [*_quiet_values(limits), store.stamp],
    )


_NONE_STALLED = (  # no stage with a rot_after: nothing stalls
    "WITH stalled(id, owner) AS (SELECT CAST(NULL AS bigint), CAST(NULL AS text) WHERE 1 = 0)"
)


def stalled_among(store: Store, records: list) -> set[int]:
    """Which of these deals (or tickets: rows of `deals`) are stalled, in batches (a list of
    many deals stays one query per batch); none asked for those that entered their stage
    within its rot_after (a workflow's fresh deal costs no statement)."""
    limits = rot_limits(store)
    thresholds = {(limit[0], limit[1]): limit[3] for limit in limits}
    ids = [
        row["id"]
        for row in records
        if row["status"] == "open"
        and row["stage_entered_at"] < thresholds.get((row["pipeline"], row["stage"]), "")
    ]
    return {
        row["id"]
        for start in range(0, len(ids), _BATCH)
        for row in overdue_deals(store, limits, ids[start : start + _BATCH])
    }


_BATCH = 500


def _julian_day(moment: datetime) -> float:
    """What SQLite's julianday() gives for `moment`, computed once instead of per row."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return 2440587.5 + (moment - epoch).total_seconds() / 86400


# -- activity
def runs_listed(store: Store, failed: bool, limit: int, offset: int = 0) -> list[sqlite3.Row]:
    """The failed runs (or all the others), newest first, with their contact's email."""
    status = "r.status = 'failed'" if failed else "r.status != 'failed'"
    return store.conn.execute(
        f"{_RUNS} WHERE {status} ORDER BY r.id DESC LIMIT ? OFFSET ?", (limit, offset)
    ).fetchall()


def messages_listed(store: Store, failed: bool, limit: int, offset: int = 0) -> list[sqlite3.Row]:
    """The failed outbox items (or all the others), newest first."""
    status = "status = 'failed'" if failed else "status != 'failed'"
    return store.conn.execute(
        f"SELECT * FROM outbox WHERE {status} ORDER BY id DESC LIMIT ? OFFSET ?", (limit, offset)
    ).fetchall()


def runs_of_deal(store: Store, deal_id: int) -> list[sqlite3.Row]:
    """The workflow runs that touched the deal, newest first, with their contact's email."""
    return store.conn.execute(
        f"{_RUNS} WHERE r.deal_id = ? ORDER BY r.id DESC", (deal_id,)
    ).fetchall()


def messages_of_deal(store: Store, deal_id: int) -> list[sqlite3.Row]:
    """The emails of the deal's runs, and those to its contact, newest first."""
    return store.conn.execute(
        "SELECT o.* FROM outbox o WHERE o.run_id IN (SELECT id FROM runs WHERE deal_id = ?)"
        " OR o.to_addr = (SELECT c.email FROM deals d JOIN contacts c ON c.id = d.contact_id"
        " WHERE d.id = ?) ORDER BY o.id DESC",
        (deal_id, deal_id),
    ).fetchall()
