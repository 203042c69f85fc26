"""The floor of `serve`'s welcome email: a bare Starlette endpoint under uvicorn that, per
post, records the submission as `serve` does and runs the workflows for it at once, inside
the request — no queue, no worker, nothing to wait for. Salesflow's own code does both (the
form's reader and `receive`, then a Processor handling every pending event: the submission
and those its runs record), into the demo project's own database (salesflow's schema and
indexes, WAL, synchronous as `serve` sets it: FULL for the submission, NORMAL for the
worker's work), with the templates compiled once and one write at a time, as `serve`'s
requests take turns (a post that waits past serve's REQUEST_LOCK_WAIT gets its 503). It
answers 202 with the event's id once the welcome email is queued. Beside, as in `serve`, a
thread sends the queued emails after each post (and each second), committing with
synchronous = FULL as serve's delivery loop does, each of its writes in a turn taken when no
post waits (serve's web/turns.py, never while sending): both servers do the same work in the
same seconds; only where the workflows run differs.

    python bench/floor_serve.py PROJECT PORT
"""

import json
import sys
import threading
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse
from starlette.routing import Route

from salesflow import clock
from salesflow.config.project import load_project
from salesflow.engine.context import Renderer, environment
from salesflow.engine.process import Processor
from salesflow.ingest.forms import FormReader, receive
from salesflow.outbox.delivery import deliver
from salesflow.store.db import connect, sync_every_commit
from salesflow.store.session import Store
from salesflow.web.site import REQUEST_LOCK_WAIT
from salesflow.web.turns import Turns

project = load_project(Path(sys.argv[1]))
renderer = Renderer(environment(project))
reader = FormReader(project, "cours-essai")
turns = Turns()  # one write at a time, the posts' first
local = threading.local()
queued = threading.Event()  # a post queued emails: send them


def store(answering: bool) -> Store:
    """The thread's store, at the current time: its connection for the submission (and the
    sending) commits with synchronous = FULL as serve's requests (and its delivery loop) do,
    the other as serve's worker (NORMAL)."""
    name = "answering" if answering else "working"
    if not hasattr(local, name):
        connection = connect(project.database, 2.0)
        if answering:
            sync_every_commit(connection)
        setattr(local, name, connection)
    return Store(getattr(local, name), project, clock.now(None, project.timezone))


def record_and_run(body: bytes) -> int | None:
    """The submission's event id; None when the write lock was not had within
    REQUEST_LOCK_WAIT, which serve answers 503."""
    if not turns.take(timeout=REQUEST_LOCK_WAIT):
        return None
    try:
        received = receive(store(answering=True), reader, json.loads(body), "web:cours-essai")
        Processor(store(answering=False), renderer=renderer).run()
    finally:
        turns.give()
    queued.set()
    return received.event_id


def send_emails() -> None:
    while True:
        queued.clear()
        deliver(store(answering=True), turn=turns.aside)  # FULL, as serve sends
        queued.wait(1.0)


async def post(request):
    event_id = await run_in_threadpool(record_and_run, await request.body())
    if event_id is None:
        return JSONResponse({"error": "busy"}, 503, headers={"Retry-After": "5"})
    return JSONResponse({"id": event_id}, 202)


store(answering=True)  # the database is made (and migrated) before the first request, as serve does
threading.Thread(target=send_emails, daemon=True).start()
app = Starlette(routes=[Route("/forms/{form}", post, methods=["POST"])])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
