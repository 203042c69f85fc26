"""Phase 2 for workflows: references, expressions, cron, loops — what a schema cannot judge."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields

from salesflow.config import actions as a
from salesflow.config.jinja_check import check_jinja, is_template
from salesflow.config.model import (
    CONTACT_FIELDS,
    DEAL_FIELDS,
    PRIORITIES,
    FieldDef,
    Pipeline,
    Step,
    Template,
    Trigger,
    Workflow,
)
from salesflow.config.playbook import RECORD_FIELDS, SETTABLE_CONTACT_FIELDS
from salesflow.config.scope import DATE_FIELDS, context_scope, lacks, start_of
from salesflow.config.settings_checks import jinja_problems
from salesflow.config.yamlfile import YamlFile
from salesflow.errors import Problem, did_you_mean
from salesflow.templating.references import referenced
from salesflow.templating.urls import template_before_host
from salesflow.values import EMAIL

# What a tick records (store/playbook.tick), each a filter.
_TICK_KEYS = {"pipeline", "stage", "item", "ticked", "required", "by"}
# Which match filters each event type understands.
MATCH_KEYS = {
    "form.submitted": {"form"},
    "contact.created": {"source"},
    "contact.updated": {"changed"},
    "deal.created": {"pipeline", "stage"},
    "deal.stage_changed": {"pipeline", "from", "to"},
    "deal.updated": {"pipeline", "changed"},
    "deal.stalled": {"pipeline", "stage"},
    "deal.checklist_ticked": _TICK_KEYS,
    "ticket.created": {"pipeline", "stage"},
    "ticket.stage_changed": {"pipeline", "from", "to"},
    "ticket.updated": {"pipeline", "changed"},
    "ticket.stalled": {"pipeline", "stage"},
    "ticket.checklist_ticked": _TICK_KEYS,
    "email.replied": {"workflow"},
    "email.auto_replied": {"workflow"},
    "email.bounced": {"workflow", "severity"},
    "email.complained": {"workflow"},
}
_STAGE_FILTERS = ("stage", "from", "to")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_SINGLE_EQUALS = re.compile(r"(?<![=!<>])\s*=\s*(?!=)")
_CALL = re.compile(r"\([^()]*\)")


def _outside_calls(text: str) -> str:
    """The expression without its quoted strings and (arguments): `f(x=1)` is no comparison."""
    text = _QUOTED.sub("''", text)
    while _CALL.search(text):
        text = _CALL.sub("", text)
    return text


# The fields an update can change, besides custom fields: what `changed` may name.
_CHANGEABLE = {
    "contact": ("first_name", "last_name", "phone", "company", "owner", "source", "tags",
                "unsubscribed_at", "email_status"),
    "deal": ("title", "amount", "owner", "probability", "expected_close", "next_step"),
    "ticket": ("subject", "priority", "owner"),
}  # fmt: skip
# Steps that act on the run's contact, deal or ticket: nothing to act on in a scheduled workflow.
_SUBJECT_ACTIONS = ("update_contact", "create_deal", "move_deal", "update_deal", "move_ticket",
                    "update_ticket", "assign_owner")  # fmt: skip
_DATE_TYPES = ("date", "datetime")
# Fields an action's own check reads (branches, conditions, nested or secret-bearing values).
_CHECKED_APART = {"then", "otherwise", "condition", "calendar", "url", "headers", "json", "body"}


@dataclass
class ProjectFacts:
    """What workflows may refer to, gathered from the rest of the project."""

    pipelines: dict[str, Pipeline]
    unreadable_pipelines: set[str]
    templates: dict[str, Template]
    team: set[str]
    members: dict
    forms: dict
    contact_fields: dict[str, FieldDef]
    deal_fields: dict[str, FieldDef]
    env: object
    ticket_fields: dict[str, FieldDef]
    workflows: set[str] = field(default_factory=set)  # the ids an email.* trigger may name


class WorkflowChecker:
    """Checks one workflow file; `problems` collects what it finds, in any order."""

    def __init__(self, document: YamlFile, workflow: Workflow, facts: ProjectFacts):
        self.doc, self.workflow, self.facts = document, workflow, facts
        self.problems: list[Problem] = []
        form_fields = self._trigger_form_fields(workflow.trigger)
        self.start = start_of(workflow.trigger)
        self.scope = context_scope(facts.contact_fields, facts.deal_fields, form_fields,
                                   facts.ticket_fields, self.start)  # fmt: skip
        self.step_ids: set[str] = set()
        self.pipeline = self._single(workflow.trigger.match.get("pipeline"))
        self.warnings: list[Problem] = []  # what may fail some runs, not every one
        self.sets: set[str] = set(ALWAYS_SET)  # what the steps so far set, as `requires` names it

    def run(self) -> list[Problem]:
        workflow = self.workflow
        self._check_trigger(workflow.trigger, ("trigger",))
        for index, trigger in enumerate(workflow.cancel_on):
            self._check_trigger(trigger, ("cancel_on", index))
        if workflow.condition:
            self._expression(("if",), workflow.condition)
        self._check_steps(workflow.steps, ("steps",))
        return self.problems

    # -- helpers
    def _add(self, keypath: tuple, message: str, of_key: bool = False) -> None:
        self.problems.append(self.doc.problem(keypath, message, of_key))

    def _expression(self, keypath: tuple, text: str) -> None:
        """An `if`: a Jinja expression, written bare; the two usual slips get their fix."""
        inner = text.strip()
        if inner.startswith("{{") and inner.endswith("}}"):
            bare = inner[2:-2].strip()
            self._add(keypath, f"write the expression without {{{{ }}}}: `if: {bare}`")
            return
        if _SINGLE_EQUALS.search(_outside_calls(inner)):
            fixed = _SINGLE_EQUALS.sub(" == ", inner)
            self._add(keypath, f"compare with ==, not = (`if: {fixed}`)")
            return
        env = self.facts.env
        self.problems += jinja_problems(self.doc, keypath, text, env, self.scope, expression=True)

    def _template(self, keypath: tuple, text: object) -> None:
        if is_template(text):
            self.problems += jinja_problems(self.doc, keypath, text, self.facts.env, self.scope)

    @staticmethod
    def _single(values: tuple[str, ...] | None) -> str | None:
        return values[0] if values and len(values) == 1 else None

    def _trigger_form_fields(self, trigger: Trigger) -> dict[str, FieldDef] | None:
        """The fields `event.data` has for sure: those of every form the trigger names."""
        names = trigger.match.get("form") or ()
        forms = [self.facts.forms.get(name) for name in names]
        if trigger.event != "form.submitted" or not forms or None in forms:
            return None
        each = [{**form.fields, **dict.fromkeys(form.map)} for form in forms]
        return {name: spec for name, spec in each[0].items() if all(name in f for f in each)}

    # -- triggers
    def _check_trigger(self, trigger: Trigger, keypath: tuple) -> None:
        if trigger.manual:
            return
        if trigger.schedule is not None:
            self._check_cron(trigger.schedule, (*keypath, "schedule"))
            return
        allowed = MATCH_KEYS[trigger.event]
        for key, values in trigger.match.items():
            where = (*keypath, "match", key)
            if key not in allowed:
                filters = ", ".join(sorted(allowed))
                message = f"'{key}' does not filter {trigger.event} events; use {filters}"
                self._add(where, message, of_key=True)
            elif key == "form":
                for value in values:
                    self._reference(where, value, self.facts.forms, "form")
            elif key == "pipeline":
                for value in values:
                    if self._reference(where, value, self.facts.pipelines, "pipeline"):
                        self._check_object(where, value, trigger.event.split(".")[0])
            elif key in _STAGE_FILTERS:
                pipeline = self._single(trigger.match.get("pipeline"))
                for value in values:
                    self._check_stage(where, value, pipeline)
            elif key == "by":
                for value in values:
                    self._member(where, value)
            elif key == "workflow":
                for value in values:
                    self._reference(where, value, self.facts.workflows, "workflow")
            elif key == "changed":
                record = trigger.event.split(".")[0]
                declared = self._declared(record)
                known = {**dict.fromkeys(_CHANGEABLE[record]), **declared}
                for index, value in enumerate(values):
                    keypath_of = (*where, index) if len(values) > 1 else where
                    self._reference(keypath_of, value, known, f"{record} field")

    def _check_cron(self, expression: str, keypath: tuple) -> None:
        from croniter import croniter

        if croniter.is_valid(expression) and len(expression.split()) == 5:
            return
        message = _cron_field_out_of_range(expression) or (
            f"'{expression}' is not a cron expression: five fields,"
            ' minute hour day-of-month month day-of-week (e.g. "0 8 * * 1")'
        )
        self._add(keypath, message)

    def _reference(self, keypath: tuple, value: str, known, kind: str) -> bool:
        if value in known or (kind == "pipeline" and value in self.facts.unreadable_pipelines):
            return True
        names = {
            **{m.name.casefold(): m.id for m in self.facts.members.values()},
            **{p.name.casefold(): p.id for p in self.facts.pipelines.values()},
        }
        named = names.get(str(value).casefold())
        hint = (f" ('{value}' is the name of '{named}': use its id)" if named in known
                else did_you_mean(value, list(known)))  # fmt: skip
        self._add(keypath, f"unknown {kind} '{value}'{hint}")
        return False

    def _declared(self, record: str) -> dict[str, FieldDef]:
        facts = self.facts
        return {"contact": facts.contact_fields, "deal": facts.deal_fields,
                "ticket": facts.ticket_fields}[record]  # fmt: skip

    def _check_object(self, keypath: tuple, pipeline_id: str | None, record: str) -> None:
        """Deals move through deal pipelines, tickets through ticket pipelines."""
        pipeline = self.facts.pipelines.get(pipeline_id or "")
        if pipeline is not None and pipeline.object != record:
            self._add(keypath, f"'{pipeline.id}' is a {pipeline.object} pipeline, not one of"
                      f" {record}s (use the {pipeline.object} actions and events)")  # fmt: skip

    def _check_stage(
        self, keypath: tuple, stage: str, pipeline_id: str | None, record: str | None = None
    ) -> None:
        unreadable = self.facts.unreadable_pipelines
        if pipeline_id in unreadable or (unreadable and pipeline_id is None):
            return  # the stage may be in a pipeline too broken to read: not judged
        pipeline = self.facts.pipelines.get(pipeline_id or "")
        if pipeline is not None:
            stages = [s.id for s in pipeline.stages]
            where = f" of pipeline '{pipeline.id}'"
        else:
            of_record = [p for p in self.facts.pipelines.values()
                         if record is None or p.object == record]  # fmt: skip
            stages = sorted({s.id for p in of_record for s in p.stages})
            where = f" of any {record or ''} pipeline".replace("  ", " ")
        owners = [p for p in self.facts.pipelines.values()
                  if record and p.object != record and p.stage(stage)]  # fmt: skip
        if stage not in stages and owners:  # a deal sent to a ticket stage, or the reverse
            owner, other = owners[0], f", not{where}" if pipeline else ""
            self._add(keypath, f"'{stage}' is a stage of {owner.object} pipeline '{owner.id}'"
                      f"{other}: a {record} cannot move there")  # fmt: skip
            return
        if stage not in stages:
            named = [s.id for p in self.facts.pipelines.values() for s in p.stages
                     if s.name.casefold() == stage.casefold()]  # fmt: skip
            hint = (f" ('{stage}' is the name of stage '{named[0]}': use its id)" if named
                    else did_you_mean(stage, stages))  # fmt: skip
            self._add(keypath, f"'{stage}' is not a stage{where}{hint}")

    # -- steps
    def _check_steps(self, steps: tuple[Step, ...], keypath: tuple) -> None:
        for index, step in enumerate(steps):
            where = (*keypath, index)
            if step.id in self.step_ids:
                self._add((*where, "id"), f"step id '{step.id}' is used twice in this workflow")
            self.step_ids.add(step.id)
            if step.condition:
                self._expression((*where, "if"), step.condition)
            self._check_action(step, (*where, step.action))

    def _check_action(self, step: Step, keypath: tuple) -> None:
        config = step.config
        if self.start == "schedule":
            self._check_without_subject(step, keypath)
        for item in fields(config):
            value = getattr(config, item.name)
            if item.name == "fields":
                self._check_custom_fields(step.action, value, (*keypath, "fields"))
            elif item.name not in _CHECKED_APART:
                self._template((*keypath, item.name), value)
        check = getattr(self, f"_check_{step.action}", None)
        if check:
            check(config, keypath)
        self.sets |= sets_of(step)

    def _check_without_subject(self, step: Step, keypath: tuple) -> None:
        """A scheduled workflow runs for nobody: no contact to email, no owner, no record."""
        config, problem = step.config, None
        if step.action == "send_email" and config.to == "contact":
            problem = (*keypath, "to"), "no contact to email (give `to:` an address)"
        elif step.action == "notify" and config.to == "owner":
            problem = (*keypath, "to"), "no owner to notify (name a team member, or team)"
        elif step.action == "create_task" and config.assignee == "owner":
            problem = (*keypath, "assignee"), "no owner to assign (name a team member)"
        elif step.action in _SUBJECT_ACTIONS:
            problem = keypath, f"no contact or deal for {step.action} (start it from an event)"
        if problem:
            where, what = problem
            self._add(where, f"a scheduled workflow runs for nobody: {what}")

    def _check_custom_fields(self, action: str, values: dict, keypath: tuple) -> None:
        kind = action.rpartition("_")[2]
        kind = kind if kind in ("deal", "ticket") else "contact"
        declared = self._declared(kind)
        for name, value in values.items():
            if name not in declared:
                message = (
                    f"'{name}' is not a custom {kind} field declared in salesflow.yaml"
                    f"{did_you_mean(name, list(declared))}"
                )
                self._add((*keypath, name), message, of_key=True)
            self._template((*keypath, name), value)

    def _member(self, keypath: tuple, value: str | None, also: tuple[str, ...] = ()) -> None:
        if value is None or is_template(value) or value in also:
            return
        self._reference(
            keypath, value, {**dict.fromkeys(also), **dict.fromkeys(self.facts.team)}, "team member"
        )

    def _check_upsert_contact(self, config: a.UpsertContact, keypath: tuple) -> None:
        self._member((*keypath, "owner"), config.owner)
        self._check_loop_on_update("contact", config, keypath)

    def _check_update_contact(self, config: a.UpdateContact, keypath: tuple) -> None:
        self._member((*keypath, "owner"), config.owner)
        self._check_loop_on_update("contact", config, keypath)

    def _check_create_deal(self, config: a.CreateDeal, keypath: tuple) -> None:
        self._member((*keypath, "owner"), config.owner)
        self._check_amount(config.amount, (*keypath, "amount"))
        if self._reference(
            (*keypath, "pipeline"), config.pipeline, self.facts.pipelines, "pipeline"
        ):
            self._check_object((*keypath, "pipeline"), config.pipeline, "deal")
            self._check_stage((*keypath, "stage"), config.stage, config.pipeline)
            self.pipeline = self.pipeline or config.pipeline
            self._check_created_meets(config, config.pipeline, config.stage, keypath)
        trigger = self.workflow.trigger
        if trigger.event == "deal.created" and not config.dedupe:
            self._add(keypath, "this creates a deal on every deal.created event: a loop")

    def _check_update_deal(self, config: a.UpdateDeal, keypath: tuple) -> None:
        self._member((*keypath, "owner"), config.owner)
        self._check_amount(config.amount, (*keypath, "amount"))
        self._check_loop_on_update("deal", config, keypath)

    def _check_amount(self, amount, keypath: tuple) -> None:
        if isinstance(amount, str) and not is_template(amount):
            try:
                float(amount)
            except ValueError:
                self._add(keypath, f"'{amount}' is not an amount (write it like 1200.50)")

    def _check_move_deal(self, config: a.MoveDeal, keypath: tuple, record: str = "deal"):
        pipeline = config.pipeline or self.pipeline
        if config.pipeline and self._reference(
            (*keypath, "pipeline"), config.pipeline, self.facts.pipelines, "pipeline"
        ):
            self._check_object((*keypath, "pipeline"), config.pipeline, record)
        known = self.facts.pipelines.get(pipeline or "")
        if known is not None and known.object != record:
            pipeline = None  # the trigger's pipeline holds other records: judge by stage alone
        self._check_stage((*keypath, "stage"), config.stage, pipeline, record)
        self._check_lost_reason(config, pipeline, keypath)
        self._check_moved_meets(config, pipeline, record, keypath)
        trigger = self.workflow.trigger
        targets = trigger.match.get("to")
        same_pipeline = pipeline is None or self.pipeline in (None, pipeline)
        if (
            trigger.event == f"{record}.stage_changed"
            and same_pipeline
            and (targets is None or config.stage in targets)
        ):
            message = (
                f"moving the {record} to '{config.stage}' triggers this workflow again"
                f" ({record}.stage_changed): a loop; narrow the trigger's `to` or move elsewhere"
            )
            self._add((*keypath, "stage"), message)

    def _check_created_meets(self, config, pipeline_id: str, stage_id: str | None, keypath):
        """A record created in a stage enters it: what the stage `requires` and neither this
        step nor an earlier one sets. The record's own fields can come from nowhere else, so
        every run would fail here: an error. The contact's fields (and the owner, which a new
        record takes from its contact) may be there already: a warning."""
        pipeline = self.facts.pipelines.get(pipeline_id)
        stage = pipeline.stage(stage_id) if pipeline and stage_id else None
        stage = stage or (pipeline.stages[0] if pipeline and not stage_id else None)
        if stage is None or config.force:
            return
        unset = [name for name in stage.requires if name not in self.sets | sets_of_config(config)]
        if "owner" in unset and "contact.owner" in self.sets:
            unset.remove("owner")  # a new record takes its contact's owner
        own = [name for name in unset if not name.startswith("contact.") and name != "owner"]
        record = pipeline.object
        if own:
            self._add((*keypath, "stage"), (
                f"stage '{stage.id}' requires {', '.join(own)}, which this step does not set:"
                f" every {record} it creates would be refused; set {_it(own)} here, or add"
                " force: true"
            ))  # fmt: skip
        elsewhere = [name for name in unset if name not in own]
        if elsewhere:
            self._warn((*keypath, "stage"), (
                f"stage '{stage.id}' requires {', '.join(elsewhere)}, which this workflow never"
                f" sets: a run whose contact lacks {_it(elsewhere)} fails here; set"
                f" {_it(elsewhere)} in an earlier step (upsert_contact, update_contact,"
                " assign_owner), or add force: true"
            ))  # fmt: skip

    def _check_moved_meets(self, config: a.MoveDeal, pipeline_id: str | None, record: str,
                           keypath: tuple) -> None:  # fmt: skip
        """A move onto a stage whose `requires` the workflow never sets fails the runs whose
        record lacks them: a warning (the record may have them already)."""
        stage = self._target_stage(config.stage, pipeline_id, record)
        if stage is None or config.force:
            return
        unset = [name for name in stage.requires if name not in self.sets]
        if unset:
            self._warn((*keypath, "stage"), (
                f"stage '{stage.id}' requires {', '.join(unset)}, which this workflow never"
                f" sets: a run {_whose(record, unset)} fails here; set {_it(unset)} in"
                " an earlier step, or add force: true"
            ))  # fmt: skip

    def _target_stage(self, stage_id: str, pipeline_id: str | None, record: str):
        """The stage a move goes to: in its pipeline, or in the one pipeline of `record`s
        that has a stage of that id."""
        pipeline = self.facts.pipelines.get(pipeline_id or "")
        if pipeline is not None:
            return pipeline.stage(stage_id)
        found = [p.stage(stage_id) for p in self.facts.pipelines.values()
                 if p.object == record and p.stage(stage_id)]  # fmt: skip
        return found[0] if len(found) == 1 else None

    def _warn(self, keypath: tuple, message: str) -> None:
        self.warnings.append(self.doc.problem(keypath, message))

    def _check_move_ticket(self, config: a.MoveTicket, keypath: tuple) -> None:
        self._check_move_deal(config, keypath, "ticket")

    def _check_create_ticket(self, config: a.CreateTicket, keypath: tuple) -> None:
        self._member((*keypath, "owner"), config.owner)
        if self._reference(
            (*keypath, "pipeline"), config.pipeline, self.facts.pipelines, "pipeline"
        ):
            self._check_object((*keypath, "pipeline"), config.pipeline, "ticket")
            if config.stage:
                self._check_stage((*keypath, "stage"), config.stage, config.pipeline)
            self._check_created_meets(config, config.pipeline, config.stage, keypath)
        self._check_priority(config.priority, (*keypath, "priority"))
        self._check_loop_on_create(config, keypath)

    def _check_loop_on_create(self, config: a.CreateTicket, keypath: tuple) -> None:
        """A ticket opened where the trigger listens is a new subject: it starts this
        workflow again, reenroll or not, until the chain limit stops it."""
        pipeline = self.facts.pipelines.get(config.pipeline)
        trigger = self.workflow.trigger
        if pipeline is None or trigger.event != "ticket.created" or not pipeline.stages:
            return
        stage = config.stage or pipeline.stages[0].id
        if _starts(trigger, "ticket.created", {"pipeline": config.pipeline, "stage": stage}):
            message = (
                f"the ticket this opens in '{config.pipeline}' (stage '{stage}') starts this"
                " workflow again (ticket.created): a loop; open it in another pipeline, or"
                " narrow the trigger's `pipeline` or `stage`"
            )
            self._add((*keypath, "pipeline"), message)

    def _check_priority(self, priority: str | None, keypath: tuple) -> None:
        if priority and not is_template(priority) and priority not in PRIORITIES:
            self._add(keypath, f"'{priority}' is not a priority: {', '.join(PRIORITIES)}")

    def _check_update_ticket(self, config: a.UpdateTicket, keypath: tuple) -> None:
        self._member((*keypath, "owner"), config.owner)
        self._check_priority(config.priority, (*keypath, "priority"))
        self._check_loop_on_update("ticket", config, keypath)

    def _check_lost_reason(self, config: a.MoveDeal, pipeline_id: str | None, keypath: tuple):
        """Moving to a lost stage of a pipeline that requires a reason needs one here, or
        every such run would fail at this step."""
        pipeline = self.facts.pipelines.get(pipeline_id or "")
        stage = pipeline.stage(config.stage) if pipeline else None
        if stage and stage.outcome == "lost" and pipeline.require_lost_reason and not config.reason:
            message = (
                f"pipeline '{pipeline.id}' needs a reason to lose a deal: add"
                f" `reason: \"…\"` to this move to '{config.stage}'"
            )
            self._add(keypath, message)

    def _check_loop_on_update(self, record: str, config, keypath: tuple) -> None:
        """A step that changes what started the workflow would start it again."""
        trigger = self.workflow.trigger
        if trigger.event != f"{record}.updated":
            return
        changed = {f.name for f in fields(config) if f.name != "fields" and getattr(config, f.name)}
        changed |= set(config.fields)
        watched = trigger.match.get("changed")
        looping = changed & set(watched) if watched else changed
        if looping:
            message = (
                f"changing {', '.join(sorted(looping))} triggers this workflow again"
                f" ({record}.updated): a loop"
            )
            self._add(keypath, message)

    def _check_assign_owner(self, config: a.AssignOwner, keypath: tuple) -> None:
        for index, member in enumerate(config.among):
            self._member((*keypath, "among", index), member)

    def _check_send_email(self, config: a.SendEmail, keypath: tuple) -> None:
        self._reference((*keypath, "template"), config.template, self.facts.templates, "template")
        self._check_template_reads(config.template, (*keypath, "template"))
        if config.to != "contact" and not is_template(config.to) and not EMAIL.match(config.to):
            message = (
                f"'{config.to}' is not an email address; use contact, an address or a template"
            )
            self._add((*keypath, "to"), message)
        for key, value in (config.calendar or {}).items():
            self._template((*keypath, "calendar", key), value)

    def _check_http(self, config: a.Http, keypath: tuple) -> None:
        """Secrets (`{{ env.NAME }}`) only where they leave the machine unstored: URL, headers;
        the URL's scheme and host written out, never from a template."""
        with_env = {**self.scope, "env": None}
        may_hold_secrets = [((*keypath, "url"), config.url)]
        may_hold_secrets += [((*keypath, "headers", name), value)
                             for name, value in config.headers.items()]  # fmt: skip
        for where, text in may_hold_secrets:
            if is_template(text):
                self.problems += jinja_problems(self.doc, where, text, self.facts.env, with_env)
        start = _literal_start(config.url)
        scheme = start.partition("://")
        if scheme[1] and scheme[0].lower() not in ("http", "https"):
            self._add((*keypath, "url"), f"'{scheme[0]}://' URL: use http:// or https://")
        elif not scheme[1] and not is_template(config.url):
            self._add((*keypath, "url"), f"'{config.url}' is not a URL: write https://…")
        elif problem := template_before_host(config.url):
            self._add((*keypath, "url"), problem)
        elif not scheme[1]:
            message = (f"the URL begins '{start}', without http:// or https://: write"
                       f" https://{start}…")  # fmt: skip
            self._add((*keypath, "url"), message)
        for where, text in _strings(config.json, (*keypath, "json")):
            self._body_template(where, text)
        self._body_template((*keypath, "body"), config.body)

    def _body_template(self, keypath: tuple, text: object) -> None:
        if referenced(text):
            self._add(keypath, "{{ env.… }} is for url and headers only: a body is stored in"
                      " the outbox as rendered, and a secret must not be")  # fmt: skip
        else:
            self._template(keypath, text)

    def _check_template_reads(self, name: str, keypath: tuple) -> None:
        """The template files are checked once, as an event's run sees them; a scheduled or
        manual workflow's run has less (no contact, no form data): what its templates read
        of that fails every run, so say it at the step that sends them."""
        template, reasons = self.facts.templates.get(name), lacks(self.start)
        if template is None or not reasons:
            return
        for path in (template.text_path, template.html_path):
            if path is None:
                continue
            source = path.read_text(encoding="utf-8-sig")
            for line, message in check_jinja(source, self.facts.env, self.scope):
                if message in reasons:
                    self._add(keypath, f"template '{name}' (line {line} of {path.name}): {message}")
                    return

    def _check_notify(self, config: a.Notify, keypath: tuple) -> None:
        self._reference((*keypath, "template"), config.template, self.facts.templates, "template")
        self._check_template_reads(config.template, (*keypath, "template"))
        self._member((*keypath, "to"), config.to, also=("owner", "team"))

    def _check_create_task(self, config: a.CreateTask, keypath: tuple) -> None:
        self._member((*keypath, "assignee"), config.assignee, also=("owner",))
        if config.due_in and config.due_at:
            self._add((*keypath, "due_at"), "give due_in or due_at, not both", of_key=True)

    def _check_wait_until(self, config: a.WaitUntil, keypath: tuple) -> None:
        if config.before and config.after:
            self._add((*keypath, "after"), "give before or after, not both", of_key=True)
        field_type = self._anchor_type(config.at)
        if field_type and field_type not in _DATE_TYPES:
            message = (
                f"wait_until needs a date-time, but {config.at.strip('{} ')} is a {field_type}"
            )
            self._add((*keypath, "at"), message)
        elif not is_template(config.at):
            from datetime import datetime

            try:
                datetime.fromisoformat(config.at)
            except ValueError:
                message = f"'{config.at}' is not a date-time; use ISO 8601 or a template"
                self._add((*keypath, "at"), message)

    def _anchor_type(self, text: str) -> str | None:
        """The type of the field a `{{ record.field }}` anchor names, when it is known."""
        inner = text.strip()
        if not (inner.startswith("{{") and inner.endswith("}}")):
            return None
        parts = inner[2:-2].strip().split(".")
        if len(parts) == 2 and parts[0] in ("contact", "deal"):
            record, name = parts
            declared = self.facts.contact_fields if record == "contact" else self.facts.deal_fields
            if name in declared:
                return declared[name].type
            if name in DATE_FIELDS[record]:
                return "datetime"
            return (
                "text" if name in (CONTACT_FIELDS if record == "contact" else DEAL_FIELDS) else None
            )
        form_fields = self._trigger_form_fields(self.workflow.trigger)
        if len(parts) == 3 and parts[:2] == ["event", "data"] and form_fields:
            spec = form_fields.get(parts[2])
            return spec.type if isinstance(spec, FieldDef) else None
        return None

    def _check_branch(self, config: a.Branch, keypath: tuple) -> None:
        self._expression((*keypath, "if"), config.condition)
        self._check_steps(config.then, (*keypath, "then"))
        self._check_steps(config.otherwise, (*keypath, "else"))


# What `requires` may name that a workflow's record always has: its title (a ticket's
# subject) and a ticket's priority, given or defaulted at creation, and its contact's email.
ALWAYS_SET = ("title", "subject", "priority", "contact.email")
# The record's fields a create or update step sets by name, as `requires` names them.
_RECORD_SETS = tuple(dict.fromkeys(name for names in RECORD_FIELDS.values() for name in names))


def _it(names: list[str]) -> str:
    return "it" if len(names) == 1 else "them"


def _whose(record: str, names: list[str]) -> str:
    """Whose fields `names` (as `requires` writes them) are: the record's, its contact's."""
    own = [name for name in names if not name.startswith("contact.")]
    theirs = [name.removeprefix("contact.") for name in names if name.startswith("contact.")]
    if own and theirs:
        return f"whose {record} lacks {', '.join(own)} or whose contact lacks {', '.join(theirs)}"
    return f"whose {record if own else 'contact'} lacks {_it(names)}"


def sets_of(step: Step) -> set[str]:
    """The names (as a stage's `requires` writes them) a step sets when it runs."""
    config = step.config
    if step.action == "assign_owner":
        return {"owner", "contact.owner"}
    if step.action in ("upsert_contact", "update_contact"):
        given = [name for name in SETTABLE_CONTACT_FIELDS if getattr(config, name)] + list(
            config.fields
        )
        return {f"contact.{name}" for name in given}
    if step.action in ("create_deal", "create_ticket", "update_deal", "update_ticket"):
        return sets_of_config(config)
    return set()


def sets_of_config(config) -> set[str]:
    """The record's fields a create or update step gives a value (a template counts)."""
    given = {name for name in _RECORD_SETS if getattr(config, name, None) not in (None, "")}
    return given | set(config.fields)


def _literal_start(template: str) -> str:
    """The text before the first Jinja tag: a URL's scheme and host, as they must be written."""
    return re.split(r"\{[{%#]", template, maxsplit=1)[0]


def _strings(value, keypath: tuple):
    """(keypath, text) for every string in a YAML value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*keypath, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*keypath, index))
    elif isinstance(value, str):
        yield keypath, value


def loops_between(workflows: dict[str, Workflow], documents: dict[str, YamlFile]) -> list[Problem]:
    """Workflows that start each other in a circle (a → b → a, or longer): each run would
    record an event that starts the next one, until the chain limit stops it at run time.
    Loops of a workflow with itself are found by WorkflowChecker."""
    edges = {
        wid: {
            (target, path): None
            for path, kind, data in _emitted(workflow)
            for target, other in workflows.items()
            if target != wid and _starts(other.trigger, kind, data)
        }
        for wid, workflow in workflows.items()
    }
    problems, reported = [], set()
    for start in sorted(workflows):
        cycle = _cycle_from(start, edges)
        if cycle and frozenset(w for w, _ in cycle) not in reported:
            reported.add(frozenset(w for w, _ in cycle))
            names = " → ".join([*(w for w, _ in cycle), cycle[0][0]])
            first, keypath = cycle[0]
            message = (
                f"this step starts a loop of workflows ({names}): each one's events start the"
                " next; narrow a trigger's match, or change what a step does"
            )
            problems.append(documents[first].problem(keypath, message))
    return problems


def _emitted(workflow: Workflow, steps=None, keypath=("steps",)):
    """(keypath of the step, event type, the event data known statically) for each step."""
    pipeline = (workflow.trigger.match.get("pipeline") or (None,))[0]
    for index, step in enumerate(workflow.steps if steps is None else steps):
        where, config = (*keypath, index, step.action), step.config
        if step.action == "move_deal":
            data = {"pipeline": config.pipeline or pipeline, "to": config.stage}
            yield where, "deal.stage_changed", data
        elif step.action == "create_deal":
            yield where, "deal.created", {"pipeline": config.pipeline, "stage": config.stage}
        elif step.action in ("update_contact", "upsert_contact"):
            changed = [f.name for f in fields(config) if f.name not in ("fields", "email")
                       and getattr(config, f.name)] + list(config.fields)  # fmt: skip
            yield where, "contact.updated", {"changed": changed}
        elif step.action == "update_deal":
            changed = [f.name for f in fields(config) if f.name != "fields"
                       and getattr(config, f.name)] + list(config.fields)  # fmt: skip
            yield where, "deal.updated", {"pipeline": pipeline, "changed": changed}
        elif step.action in ("move_ticket", "create_ticket", "update_ticket"):
            yield from _ticket_events(step, config, pipeline, where)
        elif step.action == "branch":
            yield from _emitted(workflow, config.then, (*keypath, index, "branch", "then"))
            yield from _emitted(workflow, config.otherwise, (*keypath, index, "branch", "else"))


def _ticket_events(step: Step, config, pipeline: str | None, where: tuple):
    if step.action == "move_ticket":
        yield where, "ticket.stage_changed", {"pipeline": config.pipeline or pipeline,
                                              "to": config.stage}  # fmt: skip
    elif step.action == "create_ticket":
        yield where, "ticket.created", {"pipeline": config.pipeline, "stage": config.stage}
    else:
        changed = [f.name for f in fields(config) if f.name != "fields"
                   and getattr(config, f.name)] + list(config.fields)  # fmt: skip
        yield where, "ticket.updated", {"pipeline": pipeline, "changed": changed}


def _starts(trigger: Trigger, kind: str, data: dict) -> bool:
    """Could an event of `kind` with `data` (None: not known statically) start `trigger`?"""
    if trigger.event != kind:
        return False
    for key, values in trigger.match.items():
        value = data.get(key)
        if key == "changed":
            if not set(values) & set(value or ()):
                return False
        elif value is not None and value not in values:
            return False
    return True


def _cycle_from(start: str, edges: dict) -> list[tuple[str, tuple]] | None:
    """[(workflow, keypath of the step that starts the next)…] back to `start`, if any."""
    stack = [(start, [])]
    seen = set()
    while stack:
        node, path = stack.pop()
        for target, keypath in edges[node]:
            step = [*path, (node, keypath)]
            if target == start:
                return step
            if target not in seen:
                seen.add(target)
                stack.append((target, step))
    return None


_CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31),
                ("month", 1, 12), ("day of week", 0, 7))  # fmt: skip


def _cron_field_out_of_range(expression: str) -> str | None:
    """Name the field whose number is out of range, when the five fields are there
    (croniter only says the expression is invalid)."""
    parts = expression.split()
    if len(parts) != 5:
        return None
    for text, (name, low, high) in zip(parts, _CRON_FIELDS, strict=True):
        for number in re.findall(r"\d+", text.split("/")[0]):
            if not low <= int(number) <= high:
                return f"'{expression}': the {name} is {low}–{high}, not {number}"
    return None
