"""What a step did, as the run and its trace record it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from salesflow.engine.context import build_context, refresh_records
from salesflow.errors import UserError
from salesflow.phrases import phrase, say
from salesflow.store import contacts
from salesflow.store.db import row_dict

if TYPE_CHECKING:
    from salesflow.config.model import Step, Workflow
    from salesflow.engine.context import Renderer
    from salesflow.engine.state import RunState
    from salesflow.store.session import Store


class StepFailed(UserError):
    """A step that cannot do its work (unknown stage, template error…): the run fails there.
    `phrase`: why, as the run keeps it (a phrase, or a library's English message); str()
    gives it in English."""

    def __init__(self, reason: str):
        super().__init__(say(reason), reason)


@dataclass
class Outcome:
    """`done`, `skipped`, `wait` (until `wake_at`), `stop`, or `branch` (into `arm`);
    `detail` is what the trace keeps (a phrase)."""

    detail: str
    status: str = "done"
    wake_at: datetime | None = None
    anchor: str | None = None
    again: bool = False  # a wait that repeats this step when it ends (send windows)
    arm: str | None = None


@dataclass
class Act:
    """What an action gets: the store, the run it acts for, and rendering with its context."""

    store: Store
    renderer: Renderer
    workflow: Workflow
    step: Step
    run: RunState

    @property
    def by(self) -> str:
        return f"workflow:{self.workflow.id}"

    def context(self) -> dict:
        """What templates see; built once and kept by the run until a step changes records
        (see Engine._steps): building it reads and formats the contact and the deal."""
        if self.run.context is None:
            run = {"id": self.run.id, "workflow": self.workflow.id}
            self.run.context = build_context(
                self.store, self.workflow, run, self.run.event, self.run.contact_id,
                self.run.deal_id, self._known_contact(),
            )  # fmt: skip
        elif self.run.stale:
            refresh_records(self.store, self.run.context, self.run.contact_id, self.run.deal_id,
                            contact_too=self.run.stale == "records",
                            contact_row=self._known_contact())  # fmt: skip
        self.run.stale = None
        return self.run.context

    def contact_row(self) -> Mapping[str, Any]:
        """The run's contact's row: as this run last read or wrote it, else read now."""
        row = self._known_contact()
        if row is None:
            row = self.run.contact_row = row_dict(contacts.get(self.store, self.need_contact()))
        return row

    def _known_contact(self) -> Mapping[str, Any] | None:
        row = self.run.contact_row
        return row if row is not None and row["id"] == self.run.contact_id else None

    def render(self, value, context: dict | None = None, url: bool = False):
        """A config value rendered (`url`: as an `http` step's URL, its data percent-encoded)."""
        try:
            if url:
                return self.renderer.url(value, context or self.context())
            return self.renderer.value(value, context or self.context())
        except Exception as error:  # a template error at run time fails the step, clearly
            raise StepFailed(phrase("template_error", error=str(error))) from None

    def need_contact(self) -> int:
        if not self.run.contact_id:
            raise StepFailed(phrase("no_contact_yet"))
        return self.run.contact_id

    def need_deal(self, record: str = "deal") -> int:
        """The run's deal (or ticket: a pipeline record like a deal)."""
        if not self.run.deal_id:
            raise StepFailed(phrase(f"no_{record}_yet"))
        return self.run.deal_id
