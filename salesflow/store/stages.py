"""The project's stages as an SQL table expression, so reports join them in SQL."""

from __future__ import annotations

from salesflow.config.model import Project


def stages_cte(project: Project) -> tuple[str, list]:
    """`stages(pipeline, stage, position, name, probability, outcome, rot_seconds)` as a
    `WITH` clause, and its parameters."""
    rows, params = [], []
    for pipeline in project.pipelines.values():
        for position, stage in enumerate(pipeline.stages):
            rows.append("(?, ?, ?, ?, ?, ?, ?)")
            rot = stage.rot_after.total_seconds() if stage.rot_after else None
            params += [
                pipeline.id, stage.id, position, stage.name, stage.probability, stage.outcome, rot,
            ]  # fmt: skip
    if not rows:
        rows.append("(NULL, NULL, NULL, NULL, NULL, NULL, NULL)")
    sql = (
        "stages(pipeline, stage, position, name, probability, outcome, rot_seconds) AS"
        f" (VALUES {', '.join(rows)})"
    )
    return sql, params
