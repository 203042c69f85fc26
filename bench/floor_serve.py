"""The floor of `salesflow serve`: a bare Starlette endpoint under uvicorn that does the same
single INSERT + commit per post (WAL, synchronous = FULL, in the thread pool, one connection
per thread) into a table shaped like salesflow's events, and answers 202 with the id.

    python bench/floor_serve.py DATABASE PORT
"""

import json
import sqlite3
import sys
import threading
from datetime import UTC, datetime

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse
from starlette.routing import Route

local = threading.local()


def connection() -> sqlite3.Connection:
    if not hasattr(local, "connection"):
        local.connection = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=2)
        local.connection.execute("PRAGMA journal_mode = WAL")
        local.connection.execute("PRAGMA synchronous = FULL")
    return local.connection


def insert(body: bytes) -> int:
    payload = json.loads(body)
    return connection().execute(
        "INSERT INTO events (type, key, data, created_at) VALUES ('form.submitted', ?, ?, ?)"
        " ON CONFLICT (key) DO NOTHING",
        (f"form:cours-essai:{payload['submissionId']}", json.dumps(payload),
         datetime.now(UTC).isoformat()),
    ).lastrowid  # fmt: skip


async def post(request):
    return JSONResponse({"id": await run_in_threadpool(insert, await request.body())}, 202)


connection().executescript(
    "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, type TEXT NOT NULL, key TEXT,"
    " data TEXT NOT NULL, created_at TEXT NOT NULL, processed_at TEXT);"
    "CREATE UNIQUE INDEX IF NOT EXISTS events_key ON events (key);"
    "CREATE INDEX IF NOT EXISTS events_pending ON events (processed_at, id);"
)
app = Starlette(routes=[Route("/forms/{form}", post, methods=["POST"])])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
