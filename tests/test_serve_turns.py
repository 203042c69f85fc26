"""`serve`'s threads take turns to write (web/turns.py): a post, or a batch of the worker,
waiting for its turn goes before a delivery loop waiting for one, and the delivery loops
write only in their turns, never while sending. Each wait is bounded and waits for a
condition; none asserts a duration."""

from __future__ import annotations

import textwrap
import threading
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest
from conftest import open_project

from salesflow.engine.due import anything_due
from salesflow.mail.compose import queue as queue_email
from salesflow.outbox.delivery import deliver, deliver_requests
from salesflow.store.session import Store
from salesflow.transports import PermanentFailure, TemporaryFailure
from salesflow.web.turns import Turns
from salesflow.webhooks.request import queue as queue_request

NOW = datetime.fromisoformat("2026-12-01T12:00:00+00:00")
SOON = 20.0  # seconds: a bound on waiting for another thread, never a measure
PROJECT = """
    name: Turns
    timezone: UTC
    locale: en_GB
    email: {from: "Turns <hello@turns.example>"}
    """
WRITES = {"INSERT", "UPDATE", "DELETE", "BEGIN", "COMMIT", "ROLLBACK"}


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + SOON
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {SOON:g} s"
        time.sleep(0.01)


def in_thread(work) -> threading.Thread:
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def write(order: list[str], turn, who: str) -> None:
    """`who` writes in the turn `turn` gives: noted in `order` once it has it."""
    with turn():
        order.append(who)


def test_a_post_waiting_goes_before_a_delivery_loop_waiting():
    turns, order = Turns(), []

    turns.take()  # a post being written
    patient = lambda: turns.aside(patience=SOON)  # noqa: E731
    sending = in_thread(lambda: write(order, patient, "delivery loop"))
    posting = in_thread(lambda: write(order, turns.first, "post"))
    wait_for(lambda: turns._waiting == 1, "the second post waiting")
    turns.give()
    for thread in (sending, posting):
        thread.join(SOON)
    assert order == ["post", "delivery loop"]


def test_a_delivery_loop_that_gave_way_long_enough_goes_before_new_posts():
    """Under a steady stream of posts a delivery loop still gets its turn: once its
    patience is out, it goes before any post that comes to wait."""
    turns, order = Turns(), []

    turns.take()  # a post being written
    sending = in_thread(lambda: write(order, lambda: turns.aside(patience=0), "delivery loop"))
    wait_for(lambda: turns._overdue == 1, "the delivery loop out of patience")
    posting = in_thread(lambda: write(order, turns.first, "post"))
    wait_for(lambda: turns._waiting == 1, "the second post waiting")
    turns.give()
    for thread in (sending, posting):
        thread.join(SOON)
    assert order == ["delivery loop", "post"]


def test_a_delivery_loop_writes_at_once_when_nobody_waits_and_a_post_can_time_out():
    turns = Turns()
    with turns.aside():
        taken = []
        in_thread(lambda: taken.append(turns.take(timeout=0.01))).join(SOON)
        assert taken == [False]  # serve answers it 503
    assert turns.take(timeout=0)
    turns.give()


class Watched:
    """A turn that says which thread holds it, and a transport that notes whether its
    thread held a turn while it sent (requests go from threads of their own); with every
    statement of the connection noted: whether it was written in a turn."""

    def __init__(self, store: Store, fate: dict[str, Exception]):
        self.holder: int | None = None  # the thread in its turn
        self.fate = fate
        self.statements: list[tuple[str, bool]] = []
        self.sent_in_turn: list[bool] = []
        store.conn.set_trace_callback(
            lambda sql: self.statements.append((sql.split()[0].upper(), self.held()))
        )

    def held(self) -> bool:
        return self.holder == threading.get_ident()

    @contextmanager
    def turn(self):
        assert self.holder is None, "a turn inside a turn"
        self.holder = threading.get_ident()
        try:
            yield
        finally:
            self.holder = None

    @contextmanager
    def session(self):
        yield self._send

    def _send(self, message, name: str) -> str:
        self.sent_in_turn.append(self.held())
        to = message["To"] if hasattr(message, "get_all") else message.url[0]
        if to in self.fate:
            raise self.fate[to]
        return "accepted"

    def writes_outside_a_turn(self) -> list[str]:
        return [sql for sql, held in self.statements if sql in WRITES and not held]


@pytest.fixture
def store(tmp_path: Path):
    root = tmp_path / "turns"
    root.mkdir()
    (root / "salesflow.yaml").write_text(textwrap.dedent(PROJECT))
    store = Store.open(open_project(root), NOW)
    yield store
    store.conn.close()


def test_a_delivery_pass_writes_in_its_turns_and_sends_outside_them(store):
    for to in ("ok@x.example", "later@x.example", "never@x.example"):
        queue_email(store, None, None, (None, to), "Hi", "Hello\n", None)
    fate = {"later@x.example": TemporaryFailure("421 busy"),
            "never@x.example": PermanentFailure("550 no such user")}  # fmt: skip
    watched = Watched(store, fate)
    result = deliver(store, transport=watched, turn=watched.turn)
    assert (result.sent, result.retrying, result.failed) == (1, 1, 1)
    assert watched.sent_in_turn == [False, False, False]
    assert watched.writes_outside_a_turn() == []
    assert sum(held for sql, held in watched.statements if sql == "UPDATE") >= 6  # 2 a message


def test_a_pass_of_requests_writes_in_its_turns(store):
    """Requests are sent from threads of their own, beside the pass's marks: only where
    the pass writes is asked here."""
    for url in ("https://a.example/hook", "https://b.example/hook"):
        queue_request(store, None, None, "POST", [url], {}, "{}")
    watched = Watched(store, {"https://b.example/hook": TemporaryFailure("503")})
    result = deliver_requests(store, transport=watched, turn=watched.turn)
    assert (result.sent, result.retrying) == (1, 1)
    assert watched.writes_outside_a_turn() == []


def test_serve_looks_past_the_messages_its_loops_send(store):
    """The worker's full look ticks when a tick has work; the emails queued are the delivery
    loops' (serve ticks without sending), so they alone are no reason to tick."""
    queue_email(store, None, None, (None, "ok@x.example"), "Hi", "Hello\n", None)
    assert anything_due(store, intake=False)
    assert not anything_due(store, sending=False, intake=False)
