"""What a run carries from step to step while it advances: its records, its event, the
template context built for it, and the records a step bound it to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunState:
    """A run's state as its steps read and change it.

    `deal_id` is the run's pipeline record: a deal, or a ticket. A step that creates or finds
    the run's contact or deal binds it (`bind_contact`, `bind_deal`); the engine takes the
    bindings on once the step went through (`Engine._bind`), or forgets them when it failed."""

    id: int
    contact_id: int | None = None
    deal_id: int | None = None
    depth: int = 0
    event: dict = field(default_factory=dict)  # the event's template view
    context: dict | None = None  # what templates see, kept until a step changes records
    # the run's contact's row as this run last read or wrote it, kept until a step changes
    # the contact without leaving the row it wrote (see Engine._changed); None: read it again
    contact_row: Mapping[str, Any] | None = None
    stale: str | None = None  # what a step changed of it: "records", or only the "deal"
    bound_contact: int | None = None
    bound_deal: int | None = None

    def bind_contact(self, contact_id: int) -> None:
        self.bound_contact = contact_id

    def bind_deal(self, deal_id: int) -> None:
        self.bound_deal = deal_id

    def forget_bindings(self) -> None:
        self.bound_contact = self.bound_deal = None
