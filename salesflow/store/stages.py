"""The project's stages as an SQL table expression, so reports join them in SQL; the deals in
stages the project no longer declares; and which pipelines hold deals, which tickets."""

from __future__ import annotations

import sqlite3

from salesflow.config.model import Project
from salesflow.phrases import phrase
from salesflow.store.session import Store

_STAGE_TYPES = ("text", "text", "integer", "text", "integer", "text", "double precision")


def stages_cte(project: Project) -> tuple[str, list]:
    """`stages(pipeline, stage, position, name, probability, outcome, rot_seconds)` as a
    `WITH` clause, and its parameters."""
    params = []
    for pipeline in project.pipelines.values():
        for position, stage in enumerate(pipeline.stages):
            rot = stage.rot_after.total_seconds() if stage.rot_after else None
            params += [
                pipeline.id, stage.id, position, stage.name, stage.probability, stage.outcome, rot,
            ]  # fmt: skip
    rows = max(len(params) // len(_STAGE_TYPES), 1)  # no stages: one row of NULLs
    params = params or [None] * len(_STAGE_TYPES)
    sql = (
        "stages(pipeline, stage, position, name, probability, outcome, rot_seconds) AS"
        f" ({values_of(_STAGE_TYPES, rows)})"
    )
    return sql, params


def values_of(types: tuple[str, ...], rows: int) -> str:
    """`VALUES (?, …), …`: `rows` rows of parameters, those of the first cast to `types`.
    PostgreSQL takes a lone parameter as of no type and types the list by its rows (a column
    of None alone would be text, then fail against a number); on SQLite, values of these
    types come out of such a CAST unchanged."""
    first = ", ".join(f"CAST(? AS {name})" for name in types)
    rest = ", ".join("?" for _ in types)
    return "VALUES " + ", ".join([f"({first})", *[f"({rest})"] * (rows - 1)])


def stray_stages(conn: sqlite3.Connection, project: Project) -> list[tuple[str, str, int]]:
    """(pipeline, stage, deals) for deals sitting in a stage that their pipeline no longer
    has (a stage removed from the YAML, or a whole pipeline): never to be dropped silently.
    Read off the deals' summary (migration 23): a row per stage, status, owner and month."""
    known = {(p.id, s.id) for p in project.pipelines.values() for s in p.stages}
    rows = conn.execute(
        "SELECT pipeline, stage, CAST(sum(count) AS bigint) FROM deal_totals"
        " GROUP BY pipeline, stage"
    )
    return [(pipeline, stage, n) for pipeline, stage, n in rows if (pipeline, stage) not in known]


def stray_message(pipeline: str, stage: str, count: int, project: Project) -> str:
    """Why `count` deals show in a stage or a pipeline the YAML lost, and what to do: a phrase
    (the CLI says it in English, a page in its language)."""
    gone = "pipeline" if pipeline not in project.pipelines else "stage"
    msg = f"stray_{gone}_one" if count == 1 else f"stray_{gone}"
    return phrase(msg, count=count, pipeline=pipeline, stage=stage)


def stray_warning(pipeline: str, stage: str, count: int, project: Project) -> str:
    """The report note for it: `warning: …`."""
    return phrase("warning", text=stray_message(pipeline, stage, count, project))


def stray_warnings(conn: sqlite3.Connection, project: Project, pipeline: str | None = None):
    """The report notes for deals in stages that no longer exist (of one pipeline, or all)."""
    return [
        stray_warning(of, stage, count, project)
        for of, stage, count in stray_stages(conn, project)
        if pipeline in (None, of)
    ]


def pipelines_of(store: Store, record: str) -> list[str]:
    return [key for key, of in store.project.pipelines.items() if of.object == record]


def of_kind(store: Store, record: str, alias: str = "d") -> tuple[str, list[str]]:
    """` AND <alias>.pipeline [NOT] IN (…ticket pipelines)`: only deals (deals in a pipeline
    that is gone included) or only tickets; for deals, nothing (and no cost) in a project
    without tickets."""
    tickets = pipelines_of(store, "ticket")
    if not tickets:
        return ("", []) if record == "deal" else (" AND false", [])
    negation = "NOT " if record == "deal" else ""
    return f" AND {alias}.pipeline {negation}IN ({', '.join('?' * len(tickets))})", tickets
