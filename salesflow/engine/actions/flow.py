"""Actions that steer the run: wait, wait_until, branch, stop."""

from __future__ import annotations

import re

from salesflow.config import actions as a
from salesflow.durations import parse_duration
from salesflow.engine.context import local_time
from salesflow.engine.outcome import Act, Outcome, StepFailed
from salesflow.values import parse_datetime

_ANCHOR = re.compile(r"^\s*\{\{\s*(contact|deal)\.([a-z_][a-z0-9_]*)\s*\}\}\s*$")


def wait(act: Act, config: a.Wait) -> Outcome:
    wake = act.store.now + parse_duration(config.duration)
    return Outcome(f"waiting {config.duration}, until {local_time(wake, act.store)}", "wait", wake)


def wake_time(act: Act, config: a.WaitUntil, context: dict | None = None):
    """When a wait_until ends: its `at`, moved by before/after."""
    text = act.render(config.at, context)
    if not text:
        raise StepFailed(f"wait_until: {config.at} is empty")
    project = act.store.project
    try:
        moment = parse_datetime(str(text), project.locale, project.timezone)
    except ValueError as error:
        raise StepFailed(f"wait_until: {error}") from None
    if config.before:
        moment -= parse_duration(config.before)
    if config.after:
        moment += parse_duration(config.after)
    return moment


def wait_until(act: Act, config: a.WaitUntil) -> Outcome:
    wake = wake_time(act, config)
    anchor = _ANCHOR.match(config.at)
    anchor_name = f"{anchor.group(1)}.{anchor.group(2)}" if anchor else None
    when = local_time(wake, act.store)
    if wake > act.store.now:
        return Outcome(f"waiting until {when}", "wait", wake, anchor_name)
    if config.if_past == "fail":
        raise StepFailed(f"the time to wait for ({when}) has passed")
    if config.if_past == "run":
        return Outcome(f"{when} has passed: going on now")
    return Outcome(f"{when} has passed: skipping the next step", "skip_next")


def branch(act: Act, config: a.Branch) -> Outcome:
    try:
        holds = act.renderer.test(config.condition, act.context())
    except Exception as error:
        raise StepFailed(f"condition {config.condition!r}: {error}") from None
    arm = "then" if holds else "else"
    return Outcome(f"{config.condition} is {'true' if holds else 'false'}: {arm}", arm=arm)


def stop(act: Act, config: a.Stop) -> Outcome:
    return Outcome(config.reason or "stopped", "stop")
