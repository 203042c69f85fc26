"""What a browser is told it may do with each answer of `serve` (issue #24, case 8): a
Content-Security-Policy without inline script or style that no other site may frame,
`nosniff`, `X-Frame-Options` and a `Referrer-Policy`, on every door — pages, login, errors,
redirects, `/forms`, `/healthz`, unsubscribe, static files, a 500; an email's HTML on a URL
of its own with its own policy. (tests/test_browser.py shows the pages work under it.)"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re

import httpx
from conftest import csrf_of, signed_in

from salesflow.config.project import load_project
from salesflow.web.app import build_app
from salesflow.web.site import Site


def policy(answer: httpx.Response) -> dict[str, str]:
    """The answer's Content-Security-Policy, directive → its sources."""
    text = answer.headers.get("content-security-policy", "")
    return dict((part.strip() + " ").split(" ", 1) for part in text.split(";") if part.strip())


def assert_guarded(answer: httpx.Response, door: str) -> None:
    """The page's policy: nothing but this site's own files, no inline script or style, no
    framing; no sniffing; no URL of ours sent to another site."""
    csp = policy(answer)
    assert csp.get("default-src") == "'none' ", door
    assert csp.get("script-src") == "'self' " and csp.get("style-src") == "'self' ", door
    assert csp.get("frame-ancestors") == "'none' " and csp.get("base-uri") == "'none' ", door
    assert csp.get("form-action") == "'self' " and csp.get("object-src") == "'none' ", door
    assert answer.headers.get("x-content-type-options") == "nosniff", door
    assert answer.headers.get("x-frame-options") == "DENY", door
    assert answer.headers.get("referrer-policy") == "same-origin", door


def test_every_answer_carries_the_security_headers(site):
    anonymous = httpx.Client(base_url=site.url, timeout=10)
    client = signed_in(site)
    csrf = csrf_of(client.get("/").text)
    submission = {"email": "zoe@example.org", "date_essai": "2027-01-09T18:30"}
    doors = {
        "login page": (anonymous.get("/login"), 200),
        "login refused": (anonymous.post("/login", data={"member": "marie", "password": "x",
                          "csrf": csrf_of(anonymous.get("/login").text)}), 401),
        "redirect to the login": (anonymous.get("/funnel"), 303),
        "board": (client.get("/"), 200),
        "stage": (client.get("/pipelines/cours-essai/stages/nouveau"), 200),
        "funnel": (client.get("/funnel"), 200),
        "forecast": (client.get("/forecast"), 200),
        "activity": (client.get("/activity"), 200),
        "deal": (client.get("/deals/1"), 200),
        "message": (client.get("/messages/1"), 200),
        "no such deal": (client.get("/deals/999"), 404),
        "no such page": (client.get("/nowhere"), 404),
        "refused without its token": (client.post("/deals/2/move", data={"stage": "perdu"}), 403),
        "moved, back to the board": (client.post("/deals/2/move", data={
            "csrf": csrf, "stage": "essai-planifie", "next": "/"}), 303),
        "moved, JSON for the board's script": (client.post("/deals/2/move", data={
            "csrf": csrf, "stage": "nouveau"}, headers={"Accept": "application/json"}), 200),
        "form taken": (site.post("/forms/cours-essai", json=submission), 202),
        "no such form": (site.post("/forms/nope", json=submission), 404),
        "health": (anonymous.get("/healthz"), 200),
        "unsubscribe link not valid": (anonymous.get("/unsubscribe/1-nope"), 404),
        "style sheet": (anonymous.get("/static/salesflow.css"), 200),
        "board's script": (anonymous.get("/static/board.js"), 200),
        "no such static file": (anonymous.get("/static/nope.js"), 404),
        "logout": (client.post("/logout", data={"csrf": csrf}), 303),
    }  # fmt: skip
    for door, (answer, status) in doors.items():
        assert answer.status_code == status, (door, answer.text[:300])
        assert_guarded(answer, door)


def test_the_pages_run_no_inline_script_or_style(pages):
    client = signed_in(pages)
    for path in ("/", "/funnel", "/forecast", "/activity", "/deals/1", "/messages/1", "/nope"):
        html = client.get(path).text
        assert not re.search(r"<style|\sstyle=|<script(?![^>]*\ssrc=)|\son[a-z]+=", html), path
    message = client.get("/messages/1").text
    frame = '<iframe sandbox title="Version HTML" class="email-html" src="/messages/1/html">'
    assert frame in message
    assert "srcdoc" not in message


def test_an_emails_html_has_its_own_url_and_policy_behind_the_login(site):
    assert httpx.get(f"{site.url}/messages/1/html").status_code == 303  # to the login
    answer = signed_in(site, "lea").get("/messages/1/html")  # a viewer reads it, as its page
    assert answer.status_code == 200 and "Votre cours d'essai aura lieu" in answer.text
    assert 'style="font-family: sans-serif' in answer.text  # the email's own inline styles
    csp = policy(answer)
    assert csp["default-src"] == "'none' " and csp["script-src"] == "'none' "
    assert csp["style-src"] == "'unsafe-inline' " and csp["img-src"] == "data: "  # no remote
    assert csp["frame-ancestors"] == "'self' " and "sandbox" in csp  # framed here only
    assert answer.headers["x-frame-options"] == "SAMEORIGIN"
    assert answer.headers["x-content-type-options"] == "nosniff"
    missing = signed_in(site).get("/messages/999/html")
    assert missing.status_code == 404 and "Cette page n’existe pas." in missing.text
    assert_guarded(missing, "an email that is not there")


async def get(app, path: str) -> httpx.Response:
    """`GET path` from the app in this process, as the server would answer it."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        return await client.get(path)


def test_a_server_error_carries_the_headers_too(sf, monkeypatch):
    def broken(self):
        raise RuntimeError("a bug")

    monkeypatch.setattr(Site, "store", broken)
    app = build_app(Site(load_project(sf.project)), worker=False)
    answer = asyncio.run(get(app, "/login"))
    assert answer.status_code == 500
    assert_guarded(answer, "500")


def test_the_html_report_allows_its_own_style_sheet_and_nothing_else(sf, tmp_path):
    target = tmp_path / "rapport.html"
    sf("report", "--html", target)
    html = target.read_text()
    meta = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', html)
    style = re.search(r"<style>(.*?)</style>", html, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert meta.group(1).startswith(f"default-src 'none'; style-src 'sha256-{digest}';")
    assert html.index("Content-Security-Policy") < html.index("<style>") < html.index("<body>")
