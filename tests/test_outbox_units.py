"""The outbox on its own: claims, leases, the courier's retries and backoff, retry and cancel
by hand — on a real database (SQLite, then PostgreSQL) built by the real migrations, with
small transports that keep what they are given (no CLI, no server): a failure here points at
salesflow/outbox/.
"""

from __future__ import annotations

import os
import textwrap
import threading
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import open_project

from salesflow.errors import UserError
from salesflow.mail.compose import queue as queue_email
from salesflow.outbox import claims
from salesflow.outbox.by_hand import cancel, requeue
from salesflow.outbox.claims import HOST, claim, lease
from salesflow.outbox.courier import backoff
from salesflow.outbox.delivery import deliver, deliver_requests
from salesflow.store import outbox
from salesflow.store.session import Store
from salesflow.transports import ConnectionLost, PermanentFailure, TemporaryFailure
from salesflow.webhooks.request import queue as queue_request

NOW = datetime.fromisoformat("2026-12-01T12:00:00+00:00")
ALIVE = f"{HOST}:{os.getpid()}:alive"  # this very process: a live pass
DEAD = f"{HOST}:{2**22 + 17}:dead"  # no such process on this host
PROJECT = """
    name: Outbox
    timezone: UTC
    locale: en_GB
    email: {from: "Outbox <hello@outbox.example>", max_attempts: 3}
    webhooks: {max_attempts: 2}
    """


pytestmark = pytest.mark.engines


@pytest.fixture
def project(tmp_path: Path, backend: str):
    root = tmp_path / "outbox"
    root.mkdir()
    (root / "salesflow.yaml").write_text(textwrap.dedent(PROJECT))
    return open_project(root)


@pytest.fixture
def store(project):
    store = Store.open(project, NOW)
    yield store
    store.conn.close()


def emails(store: Store, *addresses: str) -> list[int]:
    """One queued email to each address, as a send_email step leaves it."""
    return [queue_email(store, None, None, (None, to), "Hi", "Hello\n", None)[0]
            for to in addresses]  # fmt: skip


def statuses(store: Store, ids: list[int]) -> list[str]:
    return [outbox.get(store, item)["status"] for item in ids]


class Postbox:
    """A transport that keeps what it is given, or fails as `fate` says for a recipient."""

    def __init__(self, fate: dict[str, Exception] | None = None):
        self.fate = fate or {}
        self.sent: list[str] = []

    @contextmanager
    def session(self):
        yield self._send

    def _send(self, message, name: str) -> str:
        to = message["To"] if hasattr(message, "get_all") else message.url[0]
        if to in self.fate:
            raise self.fate[to]
        self.sent.append(to)
        return "accepted"


class Unreachable:
    """A transport whose server cannot be reached at all."""

    @contextmanager
    def session(self):
        raise TemporaryFailure("cannot reach mail.example:25: connection refused")
        yield  # pragma: no cover


def test_two_passes_claiming_at_once_never_take_the_same_message(store, project):
    ids = emails(store, *(f"p{n}@x.example" for n in range(40)))
    taken: dict[str, list[int]] = {}
    start = threading.Barrier(2)

    def pass_(holder: str) -> None:
        own = Store.open(project, NOW)
        start.wait()
        taken[holder] = [row["id"] for row in claim(own, holder, 25)]
        own.conn.close()

    passes = [threading.Thread(target=pass_, args=(f"{HOST}:{os.getpid()}:{n}",)) for n in "ab"]
    for thread in passes:
        thread.start()
    for thread in passes:
        thread.join(10)
    first, second = taken.values()
    assert not set(first) & set(second)
    assert sorted(first + second) == ids
    assert statuses(store, ids) == ["sending"] * 40


def test_a_live_claim_is_not_taken_but_an_expired_lease_is(store, monkeypatch):
    ids = emails(store, "a@x.example", "b@x.example")
    assert [row["id"] for row in claim(store, ALIVE, 10)] == ids
    assert claim(store, "other:1:x", 10) == []
    monkeypatch.setattr(claims, "CLAIM", timedelta(seconds=-1))  # the leases run out
    outbox.renew(store, ALIVE, lease())
    taken = claim(store, "other:1:x", 10)
    assert [(row["id"], row["claimed_by"]) for row in taken] == [(i, "other:1:x") for i in ids]


def test_the_claims_of_a_dead_pass_are_taken_at_once(store):
    ids = emails(store, "a@x.example")
    claim(store, DEAD, 10)
    elsewhere = "another-host:1:x"  # a process elsewhere cannot be looked at: alive
    assert [row["claimed_by"] for row in claim(store, elsewhere, 10)] == [elsewhere]
    assert statuses(store, ids) == ["sending"]
    assert claim(store, ALIVE, 10) == []


def test_a_renewed_lease_keeps_its_messages(store, monkeypatch):
    emails(store, "a@x.example")
    monkeypatch.setattr(claims, "CLAIM", timedelta(seconds=-1))
    claim(store, ALIVE, 10)
    monkeypatch.setattr(claims, "CLAIM", timedelta(minutes=10))
    outbox.renew(store, ALIVE, lease())
    assert claim(store, "other:1:x", 10) == []


def test_only_the_holder_renews_one_message(store):
    [item] = emails(store, "a@x.example")
    claim(store, ALIVE, 10)
    assert outbox.still_mine(store, item, ALIVE, lease())
    assert not outbox.still_mine(store, item, "other:1:x", lease())


def test_given_back_messages_are_due_again_queued_or_retrying(store):
    fresh, tried = emails(store, "a@x.example", "b@x.example")
    deliver(store, transport=Postbox({"b@x.example": TemporaryFailure("421 busy")}))
    store.now = NOW + timedelta(hours=1)
    claim(store, ALIVE, 10)  # b only: a was sent
    [new] = emails(store, "c@x.example")
    claim(store, ALIVE, 10)
    outbox.give_back(store, ALIVE)
    assert statuses(store, [fresh, tried, new]) == ["sent", "retrying", "queued"]
    assert outbox.get(store, tried)["claimed_by"] is None
    assert [row["id"] for row in claim(store, "other:1:x", 10)] == [tried, new]


def test_backoff_doubles_from_a_minute_up_to_six_hours():
    assert [backoff(n) / timedelta(minutes=1) for n in range(1, 11)] == [
        1, 2, 4, 8, 16, 32, 64, 128, 256, 360,
    ]  # fmt: skip


def test_a_temporary_failure_is_retried_after_the_backoff_then_fails(store):
    [item] = emails(store, "a@x.example")
    busy = Postbox({"a@x.example": TemporaryFailure("421 try later")})
    waits = []
    for attempt in (1, 2):
        result = deliver(store, transport=busy)
        row = outbox.get(store, item)
        assert (result.retrying, row["status"], row["attempts"]) == (1, "retrying", attempt)
        waits.append(datetime.fromisoformat(row["next_attempt_at"]) - store.now)
        assert deliver(store, transport=busy).handled == 0  # not due yet
        store.now += waits[-1]
    assert waits == [timedelta(minutes=1), timedelta(minutes=2)]
    assert deliver(store, transport=busy).failed == 1
    row = outbox.get(store, item)
    assert (row["status"], row["attempts"]) == ("failed", 3)
    assert row["last_error"] == "421 try later (after 3 attempts)"


def test_the_other_ends_retry_after_is_the_wait(store):
    [item] = emails(store, "a@x.example")
    later = TemporaryFailure("429 slow down", retry_after=timedelta(minutes=5))
    deliver(store, transport=Postbox({"a@x.example": later}))
    at = datetime.fromisoformat(outbox.get(store, item)["next_attempt_at"])
    assert at - store.now == timedelta(minutes=5)


def test_each_message_fails_alone_and_a_lost_connection_leaves_the_rest(store):
    ids = emails(store, "ok@x.example", "no@x.example", "cut@x.example", "late@x.example")
    fate = {"no@x.example": PermanentFailure("550 no such user"),
            "cut@x.example": ConnectionLost("connection lost: reset")}  # fmt: skip
    postbox = Postbox(fate)
    result = deliver(store, transport=postbox)
    assert postbox.sent == ["ok@x.example"]
    assert (result.sent, result.failed, result.retrying) == (1, 1, 2)
    assert statuses(store, ids) == ["sent", "failed", "retrying", "retrying"]
    assert outbox.get(store, ids[0])["response"] == "accepted"
    assert outbox.get(store, ids[1])["last_error"] == "550 no such user"


def test_an_unreachable_server_leaves_every_message_to_retry(store):
    ids = emails(store, "a@x.example", "b@x.example")
    assert deliver(store, transport=Unreachable()).retrying == 2
    assert statuses(store, ids) == ["retrying", "retrying"]


def test_requests_have_their_own_attempts_and_queue(store):
    [email] = emails(store, "a@x.example")
    url = "https://hooks.example/in"
    request = queue_request(store, None, None, "POST", [url], {}, "{}")
    result = deliver_requests(store, transport=Postbox({url: TemporaryFailure("503")}))
    assert (result.retrying, statuses(store, [email, request])) == (1, ["queued", "retrying"])
    store.now += timedelta(minutes=1)
    assert deliver_requests(store, transport=Postbox({url: TemporaryFailure("503")})).failed == 1


def test_retry_by_hand_queues_a_failed_message_afresh_not_a_sent_one(store):
    failed, sent = emails(store, "no@x.example", "ok@x.example")
    deliver(store, transport=Postbox({"no@x.example": PermanentFailure("550 no such user")}))
    requeue(store, outbox.get(store, failed))
    row = outbox.get(store, failed)
    assert (row["status"], row["attempts"], row["next_attempt_at"]) == ("queued", 0, store.stamp)
    with pytest.raises(UserError, match="message #2 is sent; only failed"):
        requeue(store, outbox.get(store, sent))


def test_cancel_stops_a_message_unless_it_left_or_a_live_pass_holds_it(store):
    [gone] = emails(store, "a@x.example")
    deliver(store, transport=Postbox())
    queued, held = emails(store, "b@x.example", "c@x.example")
    cancel(store, outbox.get(store, queued))
    claim(store, ALIVE, 10)
    with pytest.raises(UserError, match="being sent by a pass right now: too late"):
        cancel(store, outbox.get(store, held))
    with pytest.raises(UserError, match="message #1 is sent: too late"):
        cancel(store, outbox.get(store, gone))
    assert statuses(store, [queued, held]) == ["cancelled", "sending"]


def test_a_message_cancelled_after_its_pass_died_is_not_sent_by_the_next(store):
    [item] = emails(store, "a@x.example")
    [row] = claim(store, DEAD, 10)
    cancel(store, row)  # its pass is gone: cancelling is allowed
    postbox = Postbox()
    assert deliver(store, transport=postbox).handled == 0
    assert (postbox.sent, statuses(store, [item])) == ([], ["cancelled"])
