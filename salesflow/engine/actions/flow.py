"""Actions that steer the run: wait, wait_until, branch, stop."""

from __future__ import annotations

import re

from salesflow.config import actions as a
from salesflow.durations import parse_duration
from salesflow.engine.context import local_time
from salesflow.engine.outcome import Act, Outcome, StepFailed
from salesflow.phrases import phrase, reason_of
from salesflow.values import parse_datetime

_ANCHOR = re.compile(r"^\s*\{\{\s*(contact|deal)\.([a-z_][a-z0-9_]*)\s*\}\}\s*$")


def wait(act: Act, config: a.Wait) -> Outcome:
    wake = act.store.now + parse_duration(config.duration)
    until = local_time(wake, act.store)
    return Outcome(phrase("waiting_for", duration=config.duration, until=until), "wait", wake)


def wake_time(act: Act, config: a.WaitUntil, context: dict | None = None):
    """When a wait_until ends: its `at`, moved by before/after."""
    text = act.render(config.at, context)
    if not text:
        raise StepFailed(phrase("wait_until_empty", at=config.at))
    project = act.store.project
    try:
        moment = parse_datetime(str(text), project.locale, project.timezone)
    except ValueError as error:
        raise StepFailed(phrase("wait_until_unreadable", error=reason_of(error))) from None
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
        return Outcome(phrase("waiting_until", until=when), "wait", wake, anchor_name)
    if config.if_past == "fail":
        raise StepFailed(phrase("wait_passed", when=when))
    if config.if_past == "run":
        return Outcome(phrase("wait_passed_go_on", when=when))
    return Outcome(phrase("wait_passed_skip", when=when), "skip_next")


def branch(act: Act, config: a.Branch) -> Outcome:
    try:
        holds = act.renderer.test(config.condition, act.context())
    except Exception as error:
        raise StepFailed(
            phrase("condition_failed", condition=repr(config.condition), error=str(error))
        ) from None
    arm = "then" if holds else "else"
    return Outcome(phrase(f"condition_{arm}", condition=config.condition), arm=arm)


def stop(act: Act, config: a.Stop) -> Outcome:
    return Outcome(config.reason or phrase("stopped"), "stop")  # the workflow's own words
