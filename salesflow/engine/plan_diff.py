"""What a change of configuration changes in the plan: two plans of the same data compared
effect by effect, by identity (workflow, step, record, occurrence) — so a step that now
happens a day earlier is one change, not a removal and an addition.

A run's start and end follow its steps: when they only move in time they are not a change of
their own (a reminder moved by a day would otherwise show three times); a run that no longer
starts, a new one, or one that now ends otherwise (failed instead of done) is.
"""

from __future__ import annotations

from dataclasses import dataclass

from salesflow.engine.plan import Effect, Plan

_FOLLOWERS = ("run started", "run ended")


@dataclass(frozen=True)
class Change:
    """`what`: added, removed or changed. `effect` is the new one (the old one when removed);
    `before` the old one of a changed effect, and `fields` what changed in it (`at`, or one
    of its values: to, subject, title…)."""

    what: str
    effect: Effect
    before: Effect | None = None
    fields: tuple[str, ...] = ()

    @property
    def workflow(self) -> str:
        return self.effect.workflow or ""

    def as_json(self) -> dict:
        data = {"change": self.what, **self.effect.as_json()}
        if self.before is not None:
            data["before"] = self.before.as_json()
            data["fields"] = list(self.fields)
        return data


def compare(before: Plan, after: Plan) -> list[Change]:
    """The effects of `after` that `before` lacks (added), those it no longer has (removed),
    and those that differ (changed), in time order."""
    old = {effect.identity: effect for effect in before.effects}
    new = {effect.identity: effect for effect in after.effects}
    changes = [Change("removed", effect) for key, effect in old.items() if key not in new]
    for key, effect in new.items():
        if key not in old:
            changes.append(Change("added", effect))
        elif fields := _differences(old[key], effect):
            changes.append(Change("changed", effect, old[key], fields))
    return sorted(changes, key=lambda change: (change.effect.at, change.workflow))


def _differences(old: Effect, new: Effect) -> tuple[str, ...]:
    moved = old.at != new.at and new.kind not in _FOLLOWERS
    fields = ["at"] if moved else []
    keys = sorted(set(old.values) | set(new.values))
    fields += [key for key in keys if old.values.get(key) != new.values.get(key)]
    return tuple(fields)
