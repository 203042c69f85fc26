"""`salesflow serve` as a provider or a browser meets it: what its forms and unsubscribe links
take in and answer, from the app in this process (`app`); what needs the network or the
process (the log, signals, a kill, the worker, ports, proxies), from a real uvicorn on
127.0.0.1 posted to with httpx. What went in is read from the database as a user would."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
import yaml
from conftest import Pages, query
from conftest import Server as BaseServer

from salesflow.config.project import load_project
from salesflow.store.serving import ServeState, serve_records

pytestmark = pytest.mark.engines  # each test on SQLite and on PostgreSQL

JULIE = {"submissionId": "s-1", "email": "julie@example.org", "prenom": "Julie",
         "nom": "Petit", "date_essai": "2027-01-09T18:30"}  # fmt: skip
SECRETS = {"TALLY_SECRET": "tally-s3cret", "TYPEFORM_SECRET": "tf-s3cret",
           "SHOP_SECRET": "shop-s3cret", "FORM_TOKEN": "t0ken"}  # fmt: skip


class Server(BaseServer):
    env = SECRETS


@pytest.fixture
def project(demo) -> Path:
    """The demo, with forms for each way of signing, and one for a plain HTML form."""
    config_path = demo / "salesflow.yaml"
    config = yaml.safe_load(config_path.read_text())
    fields = config["forms"]["cours-essai"]["fields"]
    simple = {"key": "{{ payload.submissionId | default('') }}", "fields": fields}
    config["forms"].update({
        "tally": {**config["forms"]["cours-essai-tally"], "signature": "tally",
                  "secret_env": "TALLY_SECRET"},
        "typeform": {**simple, "signature": "typeform", "secret_env": "TYPEFORM_SECRET"},
        "shop": {**simple, "signature": "hmac-sha256", "secret_env": "SHOP_SECRET",
                 "signature_header": "X-Shop-Signature"},
        "token": {**simple, "signature": "token", "secret_env": "FORM_TOKEN"},
        "site": {**simple, "honeypot": "website", "allowed_origins": ["https://club.example"],
                 "rate_limit": "3/min"},
        "merci": {**simple, "redirect": "https://club.example/merci"},
    })  # fmt: skip
    config["forms"]["ratio"] = {"map": {"part": "{{ 10 / payload.n }}"},
                                "fields": {"part": {"type": "number"}}}  # fmt: skip
    config["serve"] = {"max_body_kib": 4}
    config["public_url"] = "https://crm.club.example"
    config_path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return demo


@pytest.fixture
def server(project):
    running = Server(project, "--no-worker")
    yield running
    if running.process.poll() is None:
        running.stop()


@pytest.fixture
def app(project, monkeypatch):
    """The app `serve --no-worker` builds, in this process, its forms' secrets exported."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    answering = Pages(project)
    yield answering
    answering.close()


def events(project: Path) -> list[tuple]:
    return query(project, "SELECT key, data FROM events WHERE type = 'form.submitted'")


def digest(secret: str, body: bytes) -> bytes:
    return hmac.new(secret.encode(), body, hashlib.sha256).digest()


def test_a_json_post_is_recorded_once_however_often_it_is_retried(app, project):
    first = app.post("/forms/cours-essai", json=JULIE)
    again = app.post("/forms/cours-essai", json=JULIE)
    assert first.status_code == again.status_code == 202
    assert again.json() == {"id": first.json()["id"], "duplicate": True}
    [(key, data)] = events(project)
    assert key == "form:cours-essai:s-1" and json.loads(data)["email"] == "julie@example.org"


def test_a_browser_gets_a_thank_you_page_or_the_forms_redirect(app, project):
    fields = {k: v for k, v in JULIE.items() if k != "submissionId"}
    page = app.post("/forms/cours-essai", data=fields, headers={"Accept": "text/html"})
    assert page.status_code == 200 and "Merci !" in page.text
    moved = app.post("/forms/merci", data=fields, headers={"Accept": "text/html"})
    assert (moved.status_code, moved.headers["location"]) == (303, "https://club.example/merci")
    multipart = app.post("/forms/cours-essai", data=fields, files={"cv": ("cv.txt", b"x")},
                         headers={"Accept": "text/html"})  # fmt: skip
    assert multipart.status_code == 200
    assert len(events(project)) == 2  # the same fields, no key: the same payload hash


def test_the_answer_follows_accept_and_an_unknown_form_names_those_there_are(app, project):
    """Form fields from curl (`Accept: */*`) get JSON, from a browser the page; a typo in a
    form's name gets a 404 that lists the forms, as JSON or as a page."""
    fields = {k: v for k, v in JULIE.items() if k != "submissionId"}
    curl = app.post("/forms/cours-essai", data=fields, headers={"Accept": "*/*"})
    assert curl.status_code == 202 and curl.json()["duplicate"] is False
    browser = app.post("/forms/cours-essai", data=fields, headers={"Accept": "text/html"})
    assert browser.status_code == 200 and "Merci !" in browser.text
    missing = app.post("/forms/cours-esai", json=JULIE)
    assert missing.status_code == 404
    assert missing.json()["forms"] == sorted(yaml.safe_load(
        (project / "salesflow.yaml").read_text())["forms"])  # fmt: skip
    assert "(did you mean 'cours-essai'?)" in missing.json()["error"]
    page = app.post("/forms/cours-esai", data=fields, headers={"Accept": "text/html"})
    assert page.status_code == 404 and "cours-essai, cours-essai-tally" in page.text


def test_bad_requests_get_their_status_and_nothing_vanishes(app, project):
    assert app.post("/forms/nope", json=JULIE).status_code == 404
    assert app.post("/forms/cours-essai", content=b"hello",
                    headers={"Content-Type": "text/plain"}).status_code == 415  # fmt: skip
    too_big = app.post("/forms/cours-essai", json={**JULIE, "nom": "x" * 5000})
    assert too_big.status_code == 413
    broken = app.post("/forms/cours-essai", content=b'{"email": ',
                      headers={"Content-Type": "application/json"})  # fmt: skip
    assert broken.status_code == 400 and broken.json()["pointer"] == "/"
    invalid = app.post("/forms/cours-essai", json={**JULIE, "email": "julie"})
    assert invalid.status_code == 422 and invalid.json()["pointer"] == "/email"
    assert events(project) == []
    kept = query(project, "SELECT source, form, body FROM rejects ORDER BY id")
    assert [(source, form) for source, form, _ in kept] == [("web:cours-essai", "cours-essai")] * 2
    assert json.loads(kept[1][2])["email"] == "julie"


def test_a_submission_that_makes_the_forms_map_raise_fails_alone(app, project, sf):
    """`10 / payload.n` with n = 0 raises ZeroDivisionError, not a template error: that post
    is kept as a reject with the reason, and the app takes the next one."""
    poison = app.post("/forms/ratio", json={"n": 0})
    assert poison.status_code == 422
    assert "ZeroDivisionError" in poison.json()["error"] and poison.json()["reject"] == 1
    assert app.post("/forms/ratio", json={"n": 4}).status_code == 202
    [(_, data)] = events(project)
    assert json.loads(data)["part"] == 2.5
    assert "ZeroDivisionError" in sf("rejects", "show", "1").output


def test_a_reject_is_retried_after_the_form_is_fixed(app, project, sf):
    late = {k: v for k, v in JULIE.items() if k != "date_essai"}
    assert app.post("/forms/cours-essai", json=late).status_code == 422
    [reject] = sf("rejects", "list", "--json")
    assert (reject["form"], reject["status"]) == ("cours-essai", "open")
    assert reject["error"].startswith("/date_essai: required")
    still = sf("rejects", "retry", str(reject["id"]), code=1)
    assert "still rejected: /date_essai: required" in still.output
    config = yaml.safe_load((project / "salesflow.yaml").read_text())
    config["forms"]["cours-essai"]["fields"]["date_essai"]["required"] = False
    (project / "salesflow.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    assert "recorded as event #1" in sf("rejects", "retry", str(reject["id"])).output
    assert sf("rejects", "list", "--json") == []
    assert len(events(project)) == 1


@pytest.mark.parametrize(
    ("form", "sign"),
    [
        ("tally", lambda body, s: {"Tally-Signature": base64.b64encode(digest(s, body)).decode()}),
        ("typeform", lambda body, s: {
            "Typeform-Signature": "sha256=" + base64.b64encode(digest(s, body)).decode()}),
        ("shop", lambda body, s: {"X-Shop-Signature": digest(s, body).hex()}),
        ("token", lambda body, s: {"Authorization": f"Bearer {s}"}),
    ],
)  # fmt: skip
def test_each_signature_lets_the_genuine_post_in_and_keeps_the_forged_one_out(
    app, project, form, sign
):
    secret = SECRETS[yaml.safe_load((project / "salesflow.yaml").read_text())["forms"][form][
        "secret_env"]]  # fmt: skip
    payload = JULIE if form != "tally" else {"data": {"submissionId": "t-1", "fields": [
        {"label": "Email", "value": "julie@example.org"},
        {"label": "Date du cours", "value": "2027-01-09T18:30"}]}}  # fmt: skip
    body = json.dumps(payload).encode()
    json_type = {"Content-Type": "application/json"}
    forged = app.post(f"/forms/{form}", content=body, headers={**json_type,
                      **sign(body, "not-the-secret")})  # fmt: skip
    unsigned = app.post(f"/forms/{form}", content=body, headers=json_type)
    assert forged.status_code == unsigned.status_code == 401
    assert events(project) == [] and query(project, "SELECT count(*) FROM rejects") == [(0,)]
    genuine = app.post(f"/forms/{form}", content=body, headers={**json_type,
                       **sign(body, secret)})  # fmt: skip
    assert genuine.status_code == 202, genuine.text
    assert len(events(project)) == 1


def test_a_token_may_come_in_the_query_string_and_never_reaches_the_log(server):
    assert server.post("/forms/token?token=t0ken", json=JULIE).status_code == 202
    code, log = server.stop()
    assert code == 0
    assert "POST /forms/token 202" in log and "t0ken" not in log and "julie" not in log


def test_a_plain_html_form_is_kept_from_robots_other_sites_and_floods(app, project):
    fields = {"email": "julie@example.org", "date_essai": "2027-01-09T18:30"}
    ours = {"Origin": "https://club.example", "Accept": "text/html"}
    robot = app.post("/forms/site", data={**fields, "website": "spam.example"}, headers=ours)
    assert robot.status_code == 200 and events(project) == []
    elsewhere = {"Origin": "https://evil.example", "Accept": "application/json"}
    assert app.post("/forms/site", data=fields, headers=elsewhere).status_code == 403
    referred = {"Referer": "https://club.example/essai.html", "Accept": "application/json"}
    assert app.post("/forms/site", data=fields, headers=referred).status_code == 202
    assert app.post("/forms/site", data=fields, headers=ours).status_code == 200
    flood = app.post("/forms/site", data=fields, headers={**ours, "Accept": "*/*"})
    assert flood.status_code == 429 and int(flood.headers["retry-after"]) >= 1


@contextlib.contextmanager
def held(project: Path) -> Iterator[None]:
    """Another process in the middle of a long write: it holds SQLite's write lock, or on
    PostgreSQL the events table, until the block ends."""
    url = os.environ.get("SALESFLOW_DB")
    if url:
        import psycopg

        with psycopg.connect(url) as holder:  # a transaction until rolled back
            holder.execute("LOCK TABLE events IN EXCLUSIVE MODE")
            yield
            holder.rollback()
        return
    holder = sqlite3.connect(project / "salesflow.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    yield
    holder.execute("ROLLBACK")
    holder.close()


def test_a_locked_database_gets_503_with_retry_after_not_a_hang(app, project):
    with held(project):
        began = time.monotonic()
        busy = app.post("/forms/cours-essai", json=JULIE)
        waited = time.monotonic() - began
    assert busy.status_code == 503 and busy.headers["retry-after"] == "5"
    assert waited < 10
    assert app.post("/forms/cours-essai", json=JULIE).status_code == 202


def test_health_says_what_waits_and_serve_stops_cleanly_on_sigterm(server):
    server.post("/forms/cours-essai", json=JULIE)
    health = httpx.get(f"{server.url}/healthz").json()
    assert health["ok"] and health["worker"] == "off" and health["events_pending"] == 1
    code, log = server.stop()
    assert code == 0, log


def test_a_port_in_use_is_one_line_naming_it_exit_1_and_nothing_announced(server):
    second = subprocess.run(
        [sys.executable, "-m", "salesflow", "--project", str(server.project), "serve",
         "--no-worker", "--port", str(server.port)],
        env={**os.environ, **SECRETS}, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    lines = second.stderr.strip().splitlines()
    assert second.returncode == 1, second.stderr
    assert len(lines) == 1 and str(server.port) in lines[0] and "serving" not in lines[0]


def test_with_the_worker_a_submission_gets_its_welcome_email_within_seconds(project):
    server = Server(project, now=None)  # the worker runs on the real clock
    try:
        began = time.monotonic()
        assert server.post("/forms/cours-essai", json=JULIE).status_code == 202
        while not query(project, "SELECT 1 FROM outbox WHERE to_addr = 'julie@example.org'"):
            assert time.monotonic() - began < 15, server.stop()[1]
            time.sleep(0.1)
        health = httpx.get(f"{server.url}/healthz").json()
        assert health["worker"] == "running" and health["last_pass"]
    finally:
        code, log = server.stop()
    assert code == 0, log


def test_every_acknowledged_submission_survives_a_kill(project, sf):
    """SIGKILL the server while posts go on: every post that got a 2xx is there, once."""
    acknowledged = []
    for attempt in range(3):
        server = Server(project, "--no-worker")
        for n in range(30):
            number = attempt * 100 + n
            try:
                answer = server.post("/forms/cours-essai", json={**JULIE, "submissionId":
                                     f"k-{number}", "email": f"k{number}@example.org"})  # fmt: skip
            except httpx.TransportError:
                break
            if answer.status_code == 202:
                acknowledged.append(f"form:cours-essai:k-{number}")
            if n == 10 + attempt * 7:
                server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=10)
    keys = [key for key, _ in events(project)]
    assert len(keys) == len(set(keys))
    assert set(acknowledged) <= set(keys) and len(acknowledged) >= 30
    sf("process", now="2026-11-20T10:05")
    assert query(project, "SELECT count(*) FROM runs") == [(len(keys),)]


def test_an_unsubscribe_link_unsubscribes_its_own_contact_and_no_one_else(app, project, sf):
    ines = {**JULIE, "submissionId": "s-2", "email": "ines@example.org", "prenom": "Inès"}
    for payload in (JULIE, ines):
        assert app.post("/forms/cours-essai", json=payload).status_code == 202
    sf("process", now="2026-11-20T10:05")
    [(headers, text, html)] = query(project, "SELECT headers, text, html FROM outbox WHERE"
                                    " to_addr = ? AND subject LIKE 'Bienvenue%'",
                                    "julie@example.org")  # fmt: skip
    headers = json.loads(headers)
    link = headers["List-Unsubscribe"].split(">")[0].lstrip("<")
    assert link.startswith("https://crm.club.example/unsubscribe/")
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert text.rstrip().endswith(link) and f'<a href="{link}">' in html
    path = link.removeprefix("https://crm.club.example")
    julie_id, signature = path.rsplit("/", 1)[1].split("-", 1)

    page = app.client().get(path)  # a mail scanner opening the link changes nothing
    assert page.status_code == 200 and "Ne plus recevoir nos messages" in page.text
    assert "j…@example.org" in page.text and "julie@" not in page.text
    forged = f"/unsubscribe/{int(julie_id) + 1}-{signature}"
    assert app.post(forged, data={"List-Unsubscribe": "One-Click"}).status_code == 404
    assert query(project, "SELECT count(*) FROM contacts WHERE unsubscribed_at IS NOT NULL") == [
        (0,)]  # fmt: skip

    done = app.post(path, data={"List-Unsubscribe": "One-Click"})  # RFC 8058's one click
    assert done.status_code == 200 and "C’est fait" in done.text
    assert query(project, "SELECT email FROM contacts WHERE unsubscribed_at IS NOT NULL") == [
        ("julie@example.org",)]  # fmt: skip
    [(data,)] = query(project, "SELECT data FROM events WHERE type = 'contact.updated'"
                      " AND data LIKE '%unsubscribed_at%'")  # fmt: skip
    assert json.loads(data)["by"] == "unsubscribe link"
    assert "C’est fait" in app.client().get(path).text  # a second visit says so

    assert "no longer work" in sf("secret", "rotate").output
    assert app.client().get(path).status_code == 404


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_rate_limit(project):
    fields = {"email": "julie@example.org", "date_essai": "2027-01-09T18:30"}
    ours = {"Origin": "https://club.example", "Accept": "application/json"}

    def post(server: Server, client: str) -> int:
        headers = {**ours, "X-Forwarded-For": client}
        return server.post("/forms/site", data=fields, headers=headers).status_code

    direct = Server(project, "--no-worker")  # no proxy trusted: the header is anyone's word
    try:
        assert [post(direct, f"203.0.113.{n}") for n in range(4)] == [202, 202, 202, 429]
    finally:
        direct.stop()
    config = yaml.safe_load((project / "salesflow.yaml").read_text())
    config["serve"]["trusted_proxies"] = ["127.0.0.1"]
    (project / "salesflow.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    proxied = Server(project, "--no-worker")
    try:
        assert [post(proxied, "203.0.113.7") for _ in range(4)] == [202, 202, 202, 429]
        assert post(proxied, "198.51.100.2") == 202
    finally:
        proxied.stop()


def test_a_number_out_of_range_is_a_located_400_with_a_reject_never_a_500(project, sf):
    """Past 4,300 digits Python's JSON reader raises; 1e999 would be stored as `inf`."""
    config = yaml.safe_load((project / "salesflow.yaml").read_text())
    config["serve"]["max_body_kib"] = 16  # room for 5,000 digits
    config["forms"]["dues"] = {"fields": {"email": {"type": "email", "required": True},
                                          "cotisation": {"type": "number"}}}  # fmt: skip
    (project / "salesflow.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    running = Pages(project)  # in this process, the settings just written
    try:
        json_type = {"Content-Type": "application/json"}
        answers = [
            running.post("/forms/cours-essai", headers=json_type,
                         content=f'{{"email": "a@example.org", "prenom": {raw}}}'.encode())
            for raw in ("9" * 5000, "1e999", "-Infinity")
        ]  # fmt: skip
        typed = running.post("/forms/dues", data={"email": "b@example.org",
                                                  "cotisation": "9" * 400})  # fmt: skip
        good = running.post("/forms/cours-essai", json=JULIE)
    finally:
        running.close()
    assert [(a.status_code, a.json()["pointer"]) for a in answers] == [(400, "/prenom")] * 3
    assert answers[0].json()["error"].startswith("/prenom: 999999999999… (5,000 characters)")
    assert (typed.status_code, typed.json()["pointer"]) == (422, "/cotisation")
    assert "(400 characters) is too long for a number" in typed.json()["error"]
    assert good.status_code == 202 and len(events(project)) == 1
    assert [r["id"] for r in sf("rejects", "list", "--json")] == [4, 3, 2, 1]


def test_a_multipart_post_without_a_boundary_gets_our_400_and_is_kept(app, project, sf):
    body = b'--x\r\nContent-Disposition: form-data; name="email"\r\n\r\njulie@example.org\r\n--x--'
    answer = app.post("/forms/cours-essai", content=body,
                      headers={"Content-Type": "multipart/form-data"})  # fmt: skip
    assert answer.status_code == 400
    assert answer.json() == {
        "error": "/: the form data cannot be read: a multipart body without its boundary",
        "pointer": "/", "reject": 1,
    }  # fmt: skip
    [reject] = sf("rejects", "list", "--json")
    assert (reject["source"], reject["form"]) == ("web:cours-essai", "cours-essai")
    assert "julie@example.org" in sf("rejects", "show", "1").output


def test_a_form_post_of_too_many_fields_gets_our_400_and_is_kept(app, sf):
    fields = "&".join(f"f{n}=" for n in range(300))  # 300 fields in 1.7 KiB
    answer = app.post("/forms/cours-essai", content=f"email=julie@example.org&{fields}",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert answer.status_code == 400
    assert (
        answer.json()["error"] == "/: the form data cannot be read: too many fields (at most 200)"
    )
    assert sf("rejects", "list", "--json")[0]["form"] == "cours-essai"
    page = app.post("/forms/cours-essai", content=f"email=julie@example.org&{fields}",
                    headers={"Content-Type": "application/x-www-form-urlencoded",
                             "Accept": "text/html"})  # fmt: skip
    assert "<p>les données du formulaire sont illisibles : trop de champs (au plus 200)</p>" in (
        page.text
    )  # a visitor's page: in French, without a pointer


def test_a_rate_limit_counts_any_window_of_its_length_not_calendar_minutes():
    """`5/min` lets no 6th post in less than a minute after the first, even across the turn
    of a minute (fixed windows let 10 through in two seconds there), and says how long."""
    from salesflow.web.guards import RateLimiter

    now = [59.0]
    limiter = RateLimiter(clock=lambda: now[0])
    assert [limiter.wait_for("login", "5/min", "1.2.3.4") for _ in range(5)] == [0] * 5
    now[0] = 61.0  # a new calendar minute
    assert limiter.wait_for("login", "5/min", "1.2.3.4") == 58
    assert limiter.wait_for("login", "5/min", "5.6.7.8") == 0  # another client
    now[0] = 119.5
    assert limiter.wait_for("login", "5/min", "1.2.3.4") == 0


def test_the_request_log_is_in_the_projects_time_zone(project):
    """On a machine in UTC, the log's times carry the project's zone (Europe/Paris), as every
    other time salesflow shows."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    class InUtc(Server):
        env: ClassVar[dict[str, str]] = {**SECRETS, "TZ": "UTC"}

    running = InUtc(project, "--no-worker")
    httpx.get(f"{running.url}/healthz", timeout=10)
    code, log = running.stop()
    [line] = [line for line in log.splitlines() if " GET /healthz 200 " in line][-1:]
    paris = datetime.now(ZoneInfo("Europe/Paris")).strftime("%z")
    assert code == 0 and line.split()[0].endswith(paris), line


def test_the_file_serve_leaves_for_check_names_a_postgresql_database_without_its_password(demo):
    """`.salesflow/serve-PID.json` names the database as messages do: a password given in
    SALESFLOW_DB is not written to the project's folder."""
    project = load_project(demo, "postgresql://sales:s3cret@db.example/sales")
    state = ServeState(project, datetime(2026, 11, 20, tzinfo=UTC), (7, 16384))
    try:
        written = state.path.read_text()
        [record] = serve_records(project)
    finally:
        state.close()
    assert "s3cret" not in written
    assert record.database == "postgresql://sales:***@db.example/sales" and record.running


def test_a_form_posted_with_raw_utf8_keeps_its_accents(app, project):
    """`curl -d prenom=Zoé` sends the UTF-8 bytes without percent-encoding them, as a browser
    would have: read as UTF-8 either way, never as Latin-1 (ZoÃ©)."""
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    raw = "email=zoe@example.org&prenom=Zoé&date_essai=2027-01-09T18:30".encode()
    assert app.post("/forms/cours-essai", content=raw, headers=form).status_code == 202
    encoded = b"email=leo@example.org&prenom=L%C3%A9o&date_essai=2027-01-09T18:30"
    with_charset = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    assert app.post("/forms/cours-essai", content=encoded, headers=with_charset).status_code == 202
    assert {data for _, data in events(project) if "Zoé" in data or "Léo" in data} == {
        data for _, data in events(project)
    }
    latin1 = "email=x@example.org&prenom=Zoé".encode("latin-1")
    refused = app.post("/forms/cours-essai", content=latin1, headers=form)
    assert refused.status_code == 400
    assert refused.json()["error"] == "/: the body is not UTF-8 (byte 29)"
