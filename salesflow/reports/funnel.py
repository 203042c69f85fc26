"""The funnel: how many deals reached each stage, how many went on, and how long they stayed.

Rule for skipped stages: stages are ordered, so a deal that reached a stage is counted as
having reached every stage before it (a deal moved straight from `nouveau` to `inscrit` went
through the whole funnel). Lost stages are not steps of the funnel. A stay's length runs from
entering a stage to the next move; the stay a deal is still in does not count in the median.
"""

from __future__ import annotations

from datetime import date

from salesflow.reports import Column, Report
from salesflow.store.deals import pipeline as find_pipeline
from salesflow.store.session import Store
from salesflow.store.stages import stages_cte
from salesflow.values import stored_instant

COLUMNS = [
    Column("name", "stage"),
    Column("reached", "reached", "int"),
    Column("to_next", "→ next", "percent"),
    Column("from_first", "from first", "percent"),
    Column("median_days", "median days", "days"),
]


def funnel(store: Store, pipeline_id: str | None = None, since: date | None = None) -> Report:
    of = find_pipeline(store, pipeline_id)
    cte, params = stages_cte(store.project)
    since_text = stored_instant(_midnight(store, since)) if since else ""
    reach = store.conn.execute(
        f"WITH {cte}, reach AS (SELECT h.deal_id, max(s.position) AS top FROM stage_history h"
        " JOIN deals d ON d.id = h.deal_id"
        " JOIN stages s ON s.pipeline = d.pipeline AND s.stage = h.to_stage"
        " WHERE d.pipeline = ? AND s.outcome IS NOT 'lost' AND d.created_at >= ?"
        " GROUP BY h.deal_id) SELECT top, count(*) AS deals FROM reach GROUP BY top",
        (*params, of.id, since_text),
    ).fetchall()
    medians = dict(
        store.conn.execute(
            "WITH stays AS (SELECT h.to_stage AS stage, julianday(lead(h.at) OVER"
            "  (PARTITION BY h.deal_id ORDER BY h.at, h.id)) - julianday(h.at) AS days"
            "  FROM stage_history h JOIN deals d ON d.id = h.deal_id"
            "  WHERE d.pipeline = ? AND d.created_at >= ?),"
            " ranked AS (SELECT stage, days, row_number() OVER (PARTITION BY stage ORDER BY days)"
            "  AS n, count(*) OVER (PARTITION BY stage) AS total FROM stays WHERE days IS NOT NULL)"
            " SELECT stage, avg(days) FROM ranked WHERE n IN ((total + 1) / 2, (total + 2) / 2)"
            " GROUP BY stage",
            (of.id, since_text),
        ).fetchall()
    )
    steps = [stage for stage in of.stages if stage.outcome != "lost"]
    tops = {row["top"]: row["deals"] for row in reach}
    position = {stage.id: index for index, stage in enumerate(of.stages)}
    reached = [sum(n for top, n in tops.items() if top >= position[s.id]) for s in steps]
    rows = []
    for index, stage in enumerate(steps):
        following = reached[index + 1] if index + 1 < len(steps) else None
        rows.append(
            {
                "stage": stage.id,
                "name": stage.name,
                "reached": reached[index],
                "to_next": _ratio(following, reached[index]),
                "from_first": _ratio(reached[index], reached[0]),
                "median_days": round(medians[stage.id], 1) if stage.id in medians else None,
            }
        )
    notes = ["a deal that skipped stages counts as having reached the stages it skipped"]
    return Report(f"Funnel — {of.name}", COLUMNS, rows, notes=notes)


def _ratio(part: int | None, whole: int) -> float | None:
    if part is None or not whole:
        return None
    return round(part / whole, 4)


def _midnight(store: Store, day: date):
    from datetime import datetime

    return datetime.combine(day, datetime.min.time(), tzinfo=store.project.timezone)
