"""The `http` step: requests queued with the run, delivered by the outbox pass against a real
local HTTP server that fails on demand, secrets resolved only as the request leaves."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, quote_plus

import pytest
from conftest import Server, open_project, query

from salesflow.templating.references import References, resolve, shown
from salesflow.webhooks.transports import retry_after

pytestmark = pytest.mark.engines  # each test on SQLite and on PostgreSQL

TOKEN = "s3cr3t-t0ken"
PATH = "T000/B000/xyz"


class Hook:
    """An HTTP server on 127.0.0.1: answers from `answers` in turn (then 200), records every
    request; the answer "hang" never comes (until the test ends), "trickle" comes a byte at a
    time; a function answers from the request."""

    def __init__(self) -> None:
        self.answers: list = []
        self.received: list[dict] = []
        self.release = threading.Event()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.received.append({"path": self.path, "headers": dict(self.headers),
                                      "body": body.decode(), "at": time.monotonic()})  # fmt: skip
                answer = hook.answers.pop(0) if hook.answers else (200, {}, '{"ok": true}')
                if callable(answer):  # an answer made from the request: an echo
                    answer = answer(hook.received[-1])
                if answer == "hang":
                    hook.release.wait(10)
                    return
                if answer == "trickle":  # a byte every 0.2 s, for 8 s at most
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n")
                    for _ in range(40):
                        if hook.release.wait(0.2):
                            return
                        self.wfile.write(b".")
                    return
                status, headers, text = answer
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(text.encode())))
                self.end_headers()
                self.wfile.write(text.encode())

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook(sf, monkeypatch):
    """The demo with a workflow that posts each new contact to the hook, really sent."""
    server = Hook()
    (sf.project / "workflows" / "alerte.yaml").write_text(
        "id: alerte\n"
        "trigger: {event: contact.created}\n"
        "steps:\n"
        "  - id: prevenir\n"
        "    http:\n"
        f'      url: "{server.url}/hook/{{{{ env.HOOK_PATH }}}}?from=salesflow"\n'
        '      headers: {Authorization: "Bearer {{ env.HOOK_TOKEN }}"}\n'
        '      json: {text: "Nouveau contact : {{ contact.email }}",\n'
        '             prenom: "{{ contact.first_name }}"}\n',
        encoding="utf-8",
    )  # fmt: skip
    with (sf.project / "salesflow.yaml").open("a", encoding="utf-8") as settings:
        settings.write("webhooks: {transport: http, timeout: 1s, max_attempts: 3}\n")
    monkeypatch.setenv("HOOK_PATH", PATH)
    monkeypatch.setenv("HOOK_TOKEN", TOKEN)
    yield server
    server.close()


def dump(project) -> str:
    """Everything the database keeps, as text: SQLite's dump, or each row of each table."""
    if not os.environ.get("SALESFLOW_DB"):
        with sqlite3.connect(project / "salesflow.db") as connection:
            return "\n".join(connection.iterdump())
    tables = query(project, "SELECT table_name FROM information_schema.tables"
                   " WHERE table_schema = 'public'")  # fmt: skip
    rows = [query(project, f'SELECT CAST(t AS text) FROM "{name}" t') for (name,) in tables]
    return "\n".join(text for table in rows for (text,) in table)


def requests_of(project) -> list[tuple]:
    return query(project, "SELECT id, status, attempts, next_attempt_at, last_error"
                 " FROM outbox WHERE kind = 'http' ORDER BY id")  # fmt: skip


def test_a_request_leaves_with_its_secrets_resolved_only_as_it_goes(sf, hook):
    sf("contacts", "add", "julie@example.org", "--first-name", "Julie")
    sf("process")
    shown_request = sf("outbox", "show", "1").output
    assert f"{hook.url}/hook/{{{{ env.HOOK_PATH }}}}?from=salesflow" in shown_request
    assert "Authorization: Bearer {{ env.HOOK_TOKEN }}" in shown_request
    result = sf("tick")
    assert "1 request sent (0 to retry, 0 failed)" in result.output
    [got] = hook.received
    key = query(sf.project, "SELECT message_id FROM outbox")[0][0]
    assert got["path"] == f"/hook/{PATH}?from=salesflow"
    assert got["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert got["headers"]["Idempotency-Key"] == key
    assert got["headers"]["Content-Type"] == "application/json"
    assert json.loads(got["body"]) == {"text": "Nouveau contact : julie@example.org",
                                       "prenom": "Julie"}  # fmt: skip
    trace = sf("runs", "show", "1").output
    assert 'request #1: 200 OK: {"ok": true}' in trace
    everything = dump(sf.project)
    assert TOKEN not in everything and PATH not in everything


def test_data_that_looks_like_a_reference_stays_data(sf, hook):
    sf("contacts", "add", "ines@example.org", "--first-name", "{{ env.HOOK_TOKEN }}")
    sf("tick")
    [got] = hook.received
    assert json.loads(got["body"])["prenom"] == "{{ env.HOOK_TOKEN }}"
    references = References()
    pieces = references.pieces(f"https://x.example/{references['A']}/{{{{ env.B }}}}")
    assert resolve(pieces, {"A": "a", "B": "b"}) == "https://x.example/a/{{ env.B }}"
    assert shown(pieces) == "https://x.example/{{ env.A }}/{{ env.B }}"


def test_a_server_error_then_success_sends_once_more_with_the_same_key(sf, hook):
    hook.answers = [(500, {}, "boom")]
    sf("contacts", "add", "julie@example.org")
    result = sf("tick", now="2026-11-20T10:00")
    assert "500 Internal Server Error: boom (will retry)" in result.output
    assert requests_of(sf.project)[0][1:4] == ("retrying", 1, "2026-11-20T09:01:00Z")
    sf("tick", now="2026-11-20T10:02")
    assert requests_of(sf.project)[0][1:3] == ("sent", 2)
    keys = {got["headers"]["Idempotency-Key"] for got in hook.received}
    assert len(hook.received) == 2 and len(keys) == 1
    assert "next try in 60 s" in sf("runs", "show", "1").output


def test_too_many_requests_waits_as_long_as_the_server_asks(sf, hook):
    hook.answers = [(429, {"Retry-After": "120"}, "slow down")]
    sf("contacts", "add", "julie@example.org")
    sf("tick", now="2026-11-20T10:00")
    assert requests_of(sf.project)[0][3] == "2026-11-20T09:02:00Z"
    sf("tick", now="2026-11-20T10:01")
    assert len(hook.received) == 1  # not before the server said
    sf("tick", now="2026-11-20T10:02:01")
    assert len(hook.received) == 2 and requests_of(sf.project)[0][1] == "sent"


def test_a_server_that_hangs_fails_that_request_alone(sf, hook):
    hook.answers = ["hang"]
    sf("contacts", "add", "julie@example.org")
    sf("contacts", "add", "ines@example.org")
    result = sf("tick")
    assert "1 request sent (1 to retry, 0 failed)" in result.output
    outcomes = sorted((status, error or "") for _, status, _, _, error in requests_of(sf.project))
    [(retrying, error), (sent, _)] = outcomes  # the two go together: either may hang
    assert (retrying, sent) == ("retrying", "sent") and "timed out" in error


def test_not_found_fails_at_once_and_is_retried_by_hand(sf, hook):
    hook.answers = [(404, {}, "no such hook")]
    sf("contacts", "add", "julie@example.org")
    result = sf("tick")
    assert (
        "request #1 to" in result.output and "404 Not Found: no such hook (failed)" in result.output
    )
    assert requests_of(sf.project)[0][1:3] == ("failed", 1)
    assert "failed messages and requests: 1" in sf("check", code=1).output
    assert "request #1 queued again" in sf("outbox", "retry", "1").output
    sf("tick")
    assert requests_of(sf.project)[0][1] == "sent"


def test_a_missing_secret_is_named_and_waits(sf, hook, monkeypatch):
    monkeypatch.delenv("HOOK_TOKEN")
    assert "HOOK_TOKEN is not set; the requests of alerte wait for it" in sf("check", code=1).output
    sf("contacts", "add", "julie@example.org")
    result = sf("tick")
    assert "the environment variable HOOK_TOKEN is not set where salesflow runs" in result.output
    assert requests_of(sf.project)[0][1] == "retrying" and not hook.received


def test_the_folder_transport_writes_the_request_without_its_secrets(sf):
    (sf.project / "workflows" / "alerte.yaml").write_text(
        "id: alerte\ntrigger: {event: contact.created}\nsteps:\n"
        "  - http:\n"
        '      url: "https://hooks.example.org/{{ env.HOOK_PATH }}"\n'
        '      body: "Nouveau : {{ contact.email }}"\n',
        encoding="utf-8",
    )
    assert "environment: CANAL_PROFS, HOOK_PATH (named by http steps" in sf("validate").output
    sf("contacts", "add", "julie@example.org")
    sf("tick")
    [written] = (sf.project / "outbox" / "requests").glob("*.http")
    lines = written.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "POST https://hooks.example.org/{{ env.HOOK_PATH }}"
    assert "Content-Type: text/plain; charset=utf-8" in lines
    assert lines[-1] == "Nouveau : julie@example.org"


def test_check_lists_the_variables_even_with_the_folder_transport(sf):
    """The demo writes its requests to a folder: check still names what http will need."""
    output = sf("check").output
    assert "CANAL_PROFS, read by" in output and "not resolved with the folder transport" in output


def test_retry_after_reads_seconds_and_dates():
    assert retry_after("30").total_seconds() == 30
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT").total_seconds() == 0  # in the past
    assert retry_after("soon") is None and retry_after(None) is None


@pytest.mark.parametrize(
    "value",
    ["S3CR3T\r\nX-Injected: 1", "S3CR3T €", "S3CR3T" + "x" * 70_000],
    ids=["header-injection", "not-latin-1", "huge-header"],
)
def test_a_request_that_cannot_leave_fails_alone_and_the_next_one_goes(sf, hook, monkeypatch,
                                                                       value):  # fmt: skip
    """The variable is resolved at delivery, past the step's checks: whatever the transport
    makes of it, that request ends failed or retrying with its reason, and the pass goes on."""
    (sf.project / "workflows" / "mauvais.yaml").write_text(
        "id: mauvais\ntrigger: {event: contact.created}\nsteps:\n"
        f'  - http: {{url: "{hook.url}/bad", headers: {{X-Bad: "{{{{ env.BAD }}}}"}}}}\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("BAD", value)
    sf("contacts", "add", "julie@example.org")
    result = sf("tick")
    statuses = {row[0]: row[1] for row in requests_of(sf.project)}
    bad = [number for number, status in statuses.items() if status != "sent"]
    assert len(bad) == 1 and len(statuses) == 2, result.output
    assert [got["path"] for got in hook.received] == [f"/hook/{PATH}?from=salesflow"]
    assert "Traceback" not in result.output and f"request #{bad[0]}" in result.output
    assert "S3CR3T" not in dump(sf.project)  # not even in the error


SECRET_PATH = "T0P/s3cr3t+p=th~x"
SECRET_TOKEN = 'T0KEN"V4LUE\\9'


def written_forms(secret: str) -> set[str]:
    """A secret as an answer may quote it back: as is, percent-encoded, JSON-escaped."""
    return {secret, quote(secret), quote(secret, safe=""), quote_plus(secret),
            json.dumps(secret)[1:-1]}  # fmt: skip


def echo(got: dict) -> tuple:
    """A redirect, a 404 or a 200 that each quote the secrets the request carried."""
    path, token = got["path"], got["headers"]["Authorization"]
    kind = json.loads(got["body"])["prenom"]
    if kind == "Redirect":
        return 301, {"Location": f"https://127.0.0.1{path}&next={quote_plus(path)}"}, ""
    if kind == "Missing":
        return 404, {}, f"no hook at {path} {json.dumps({'path': path})} {quote(path, safe='')}"
    return 200, {}, f"you sent {token} {json.dumps({'auth': token})} {quote(token)}"


def test_no_secret_is_kept_from_what_the_receiver_answers(sf, hook, monkeypatch, caplog, capfd):
    """Case 1 of #24: a 301 whose Location holds the secret path, a 404 echoing the path, a
    200 echoing the Bearer token: nothing kept (database, output, log, `outbox show`, `runs
    show`) holds either secret in any form."""
    monkeypatch.setenv("HOOK_PATH", SECRET_PATH)
    monkeypatch.setenv("HOOK_TOKEN", SECRET_TOKEN)
    caplog.set_level("DEBUG")
    hook.answers = [echo] * 3
    for name in ("Redirect", "Missing", "Echo"):
        sf("contacts", "add", f"{name.lower()}@example.org", "--first-name", name)
    kept = [sf("tick").output]
    assert len(hook.received) == 3
    statuses = sorted(row[1] for row in requests_of(sf.project))
    assert statuses == ["failed", "failed", "sent"]
    for number, run in query(sf.project, "SELECT id, run_id FROM outbox WHERE kind = 'http'"):
        kept += [sf("outbox", "show", str(number)).output, sf("runs", "show", str(run)).output]
    kept.append(dump(sf.project))
    kept += [caplog.text, *capfd.readouterr()]
    everything = "\n".join(kept)
    assert "301 Moved Permanently: moved to https://127.0.0.1/hook/***?from=salesflow" in everything
    assert "you sent Bearer ***" in everything
    for form in written_forms(SECRET_PATH) | written_forms(SECRET_TOKEN):
        assert form not in everything, form


def test_no_part_of_a_secret_is_kept_where_the_answer_is_cut(sf, hook, monkeypatch):
    """An answer is kept from its first 64 KiB: a receiver that puts the secret path across
    that edge (after 65,520 spaces, which the kept line squeezes away) leaves no piece of it."""
    monkeypatch.setenv("HOOK_PATH", SECRET_PATH)
    hook.answers = [lambda got: (404, {}, "a" + " " * 65_520 + got["path"])]
    sf("contacts", "add", "julie@example.org", "--first-name", "Julie")
    sf("tick")
    [(_, status, _, _, error)] = requests_of(sf.project)
    assert status == "failed" and error.startswith("404 Not Found: a /hook/***")
    assert SECRET_PATH[:6] not in error


def test_data_in_a_url_is_percent_encoded_and_the_secret_stays_in_the_path(sf, hook):
    """Case 10 of #24: a space, `?`, `#` or `/` in a name stays one value of the path or the
    query; the secret from the environment goes as the operator wrote it."""
    (sf.project / "workflows" / "alerte.yaml").write_text(
        "id: alerte\ntrigger: {event: contact.created}\nsteps:\n"
        "  - http:\n"
        f'      url: "{hook.url}/people/{{{{ contact.first_name }}}}/{{{{ env.HOOK_PATH }}}}'
        '?who={{ contact.last_name }}&mail={{ contact.email | urlencode }}"\n',
        encoding="utf-8",
    )
    sf("contacts", "add", "julie@example.org", "--first-name", "Anne Marie?x#y/z",
       "--last-name", "Dupont & Fils")  # fmt: skip
    result = sf("tick")
    assert "1 request sent (0 to retry, 0 failed)" in result.output
    [got] = hook.received
    assert got["path"] == (
        f"/people/Anne%20Marie%3Fx%23y%2Fz/{PATH}?who=Dupont%20%26%20Fils&mail=julie%40example.org"
    )


def test_a_space_from_the_environment_names_its_variable(sf, hook, monkeypatch):
    monkeypatch.setenv("HOOK_PATH", "T000 B000")
    sf("contacts", "add", "julie@example.org")
    result = sf("tick")
    assert (
        "the environment variable HOOK_PATH puts a space or a control character in the URL"
        in result.output
    )
    assert "from the environment?" not in result.output and not hook.received


def test_a_request_whose_host_comes_from_the_environment_fails_alone(sf, hook, monkeypatch):
    """#25: validate now wants the scheme and host written in the workflow; a request queued
    before (its URL began with {{ env.X }}) is checked as it would leave: sent when X gives
    http(s):// and a host, else failed alone, naming the variable — never its value."""
    for name in ("julie", "ines", "zoe"):
        sf("contacts", "add", f"{name}@example.org")
    sf("process")
    for number, variable in ((1, "HOOK_URL"), (2, "HOOK_BASE")):
        old_form = json.dumps({"url": ["", variable, "/x"], "headers": {}})
        query(sf.project, "UPDATE outbox SET request = ? WHERE id = ?", old_form, number)
    monkeypatch.setenv("HOOK_URL", "hooks.example.org/T0P-S3CR3T")
    monkeypatch.setenv("HOOK_BASE", f"{hook.url}/hook/B4SE-S3CR3T")
    result = sf("tick")
    assert "2 requests sent (0 to retry, 1 failed)" in result.output, result.output
    assert "S3CR3T" not in result.output
    assert sorted(got["path"] for got in hook.received) == [
        "/hook/B4SE-S3CR3T/x",
        f"/hook/{PATH}?from=salesflow",
    ]
    assert [status for _, status, *_ in requests_of(sf.project)] == ["failed", "sent", "sent"]
    said = ("the URL does not begin with http:// or https:// and a host: the environment"
            " variable HOOK_URL gives its start")  # fmt: skip
    shown_request = sf("outbox", "show", "1").output
    assert said in shown_request and "T0P-S3CR3T" not in shown_request
    everything = dump(sf.project)
    assert "T0P-S3CR3T" not in everything and "B4SE-S3CR3T" not in everything


def by_first_name(got: dict):
    """Hang for "Hang", trickle for "Trickle", 200 for anyone else."""
    name = json.loads(got["body"])["prenom"]
    return name.lower() if name in ("Hang", "Trickle") else (200, {}, "ok")


def test_a_trickling_receiver_fails_at_the_deadline(sf, hook):
    """Case 2 of #24: the deadline (1 s here) covers the whole answer, not each read."""
    hook.answers = [by_first_name]
    sf("contacts", "add", "lent@example.org", "--first-name", "Trickle")
    sf("process")
    began = time.monotonic()
    result = sf("outbox", "send")
    assert time.monotonic() - began < 4  # the trickle would last 8 s
    assert "timed out: no whole answer within 1 s (will retry)" in result.output


def test_hanging_receivers_hold_up_neither_a_request_nor_an_email(sf, hook):
    """Case 2 of #24: a healthy request queued behind three that hang, and an email, all go
    before the first hanging one reaches its deadline (3 s)."""
    settings = sf.project / "salesflow.yaml"
    settings.write_text(settings.read_text().replace("timeout: 1s", "timeout: 3s"))
    hook.answers = [by_first_name] * 4
    for number in range(3):
        sf("contacts", "add", f"pendu{number}@example.org", "--first-name", "Hang")
    sf("ingest", sf.project / "examples/forms/julie.json", "--form", "cours-essai")
    result = sf("tick")
    assert "1 request sent (3 to retry, 0 failed)" in result.output
    first = min(got["at"] for got in hook.received)
    [healthy] = [got for got in hook.received if json.loads(got["body"])["prenom"] == "Julie"]
    assert healthy["at"] - first < 3
    emails = [email.stat().st_mtime for email in (sf.project / "outbox").glob("*.eml")]
    assert emails and max(emails) - (time.time() - time.monotonic()) - first < 3


def test_requests_not_yet_started_when_serve_stops_go_back_to_the_queue(sf, hook):
    """A stopping serve starts no further request (they would each hold it up to a deadline
    past systemd's patience): they are queued again at once, unclaimed, untried."""
    from salesflow.outbox.delivery import deliver_requests
    from salesflow.store.session import Store

    for number in range(3):
        sf("contacts", "add", f"c{number}@example.org", "--first-name", "Ana")
    sf("process")
    store = Store.open(open_project(sf.project), datetime(2026, 11, 20, 10, tzinfo=UTC))
    result = deliver_requests(store, stop=lambda: True)
    assert (result.sent, result.retrying, result.failed) == (0, 0, 0)
    assert not hook.received
    assert query(sf.project, "SELECT status, attempts, claimed_by FROM outbox"
                 " WHERE kind = 'http'") == [("queued", 0, None)] * 3  # fmt: skip


def test_serve_sends_an_email_while_its_requests_hang(sf, hook):
    """Case 2 of #24 in `serve`: requests go from a loop of their own, so a submission's
    email leaves while three receivers hang, before their deadline (6 s)."""
    settings = sf.project / "salesflow.yaml"
    settings.write_text(settings.read_text().replace("timeout: 1s", "timeout: 6s"))
    hook.answers = [by_first_name] * 4
    for number in range(3):
        sf("contacts", "add", f"pendu{number}@example.org", "--first-name", "Hang")
    sf("process")
    emails = len(list((sf.project / "outbox").glob("*.eml")))
    server = Server(sf.project)
    try:
        until(lambda: len(hook.received) == 3)
        hanging = min(got["at"] for got in hook.received)
        julie = {"submissionId": "s-1", "email": "julie@example.org", "prenom": "Julie",
                 "date_essai": "2027-01-09T18:30"}  # fmt: skip
        assert server.post("/forms/cours-essai", json=julie).status_code == 202
        until(lambda: len(list((sf.project / "outbox").glob("*.eml"))) > emails)
        assert time.monotonic() - hanging < 6
    finally:
        hook.release.set()  # the hanging receivers let go: serve stops at once
        server.stop()


def until(condition, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within 15 s"
        time.sleep(0.05)
