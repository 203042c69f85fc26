"""A request as the outbox keeps it: queued in the step's transaction, read back to be sent."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from salesflow.store import outbox
from salesflow.store.session import Store
from salesflow.templating.references import Pieces, shown


@dataclass(frozen=True)
class Request:
    id: int
    method: str
    url: Pieces
    headers: dict[str, Pieces]
    body: str
    key: str  # the Idempotency-Key: the same for every attempt

    @classmethod
    def from_row(cls, row) -> Request:
        stored = json.loads(row["request"])
        return cls(row["id"], row["subject"], stored["url"], stored["headers"], row["text"],
                   row["message_id"])  # fmt: skip

    def shown(self) -> str:
        """The request as text — method, URL, headers, body — with `{{ env.NAME }}` unresolved."""
        lines = [f"{self.method} {shown(self.url)}", f"Idempotency-Key: {self.key}"]
        lines += [f"{name}: {shown(value)}" for name, value in self.headers.items()]
        return "\n".join(lines) + "\n\n" + self.body


def queue(
    store: Store,
    run_id: int | None,
    step: str | None,
    method: str,
    url: Pieces,
    headers: dict[str, Pieces],
    body: str,
) -> int:
    """Queue a request in the caller's transaction; its outbox id."""
    stored = {"url": url, "headers": headers}
    return outbox.add_request(store, run_id, step, uuid.uuid4().hex, method, shown(url), stored,
                              body)  # fmt: skip
