"""What the pages take in before anyone looks at it: bodies bounded (a stranger's post is never
read, a member's form is cut at 16 KiB: a real `salesflow serve`, real HTTP, its memory
measured), multipart forms read with their limits, and ids or pages no database could hold
answered with the site's own 404 (the pages in this process)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import Server, csrf_of, signed_in

pytestmark = pytest.mark.engines  # each test on SQLite and on PostgreSQL

TEN_MB = 10 * 2**20


def resident_mb(server: Server) -> float:
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def chunked(size: int) -> Iterator[bytes]:
    """A body sent without Content-Length (chunked), 64 KiB at a time."""
    piece = b"x" * 2**16
    for _ in range(size // len(piece)):
        yield piece


def timed_post(client: httpx.Client, path: str, **options) -> httpx.Response:
    began = time.perf_counter()
    answer = client.post(path, **options)
    assert time.perf_counter() - began < 5, path
    return answer


def test_ten_megabytes_posted_to_the_login_or_a_page_are_refused_unread(site):
    before = resident_mb(site)
    stranger = httpx.Client(base_url=site.url, timeout=10)
    huge = {"member": "marie", "password": "x" * TEN_MB}
    for body in ({"data": huge}, {"content": chunked(TEN_MB)}):
        refused = timed_post(stranger, "/login", **body)
        assert refused.status_code == 413 and "trop long" in refused.text
        to_login = timed_post(stranger, "/deals/1/move", **body)  # no session: never read
        assert to_login.status_code == 303 and to_login.headers["location"] == "/login?next=/"
    member = signed_in(site)
    token = csrf_of(member.get("/").text)
    for body in ({"data": {"csrf": token, "stage": "x" * TEN_MB}}, {"content": chunked(TEN_MB)}):
        assert timed_post(member, "/deals/1/move", **body).status_code == 413
    assert resident_mb(site) - before < 30
    moved = member.post("/deals/1/move", data={"csrf": token, "stage": "essai-realise"})
    assert moved.status_code == 303  # the server still answers, and a normal form goes in


def test_the_boards_multipart_form_works_and_a_file_in_it_is_refused(pages):
    member = signed_in(pages)
    token = csrf_of(member.get("/").text)
    fields = {"csrf": (None, token), "stage": (None, "essai-realise")}  # as FormData sends it
    moved = member.post("/deals/1/move", files=fields, headers={"Accept": "application/json"})
    assert moved.json()["stage"] == "essai-realise"
    with_file = {**fields, "upload": ("a.bin", b"\0" * 100, "application/octet-stream")}
    refused = member.post("/deals/1/move", files=with_file)
    assert refused.status_code == 400 and "illisible" in refused.text
    many = {f"field{n}": (None, "x") for n in range(100)}
    assert member.post("/deals/1/move", files={**fields, **many}).status_code == 400


HUGE = (str(2**63), "99999999999999999999", "9" * 5000)


def test_ids_and_pages_no_database_holds_are_the_sites_404(pages):
    member = signed_in(pages)
    token = csrf_of(member.get("/").text)
    for number in HUGE:
        pages = [f"/deals/{number}", f"/messages/{number}", f"/activity?page={number}",
                 f"/pipelines/cours-essai/stages/nouveau?page={number}"]  # fmt: skip
        for path in pages:
            answer = member.get(path)
            assert answer.status_code == 404 and "<!doctype html>" in answer.text, path
        actions = [f"/deals/{number}/{verb}" for verb in ("move", "won", "lost", "edit")]
        for path in [*actions, f"/messages/{number}/retry", f"/runs/{number}/retry"]:
            answer = member.post(path, data={"csrf": token, "stage": "perdu", "reason": "x"})
            assert answer.status_code == 404 and "<!doctype html>" in answer.text, path
    assert member.get("/activity?page=²").status_code == 200  # not a page number: the first
    assert member.get(f"/deals/{2**63 - 1}").status_code == 404  # in range, not there
    actions = [f"/deals/12345/{verb}" for verb in ("move", "won", "lost", "edit")]
    for path in [*actions, f"/messages/{2**63 - 1}/retry", f"/runs/{2**63 - 1}/retry"]:
        answer = member.post(path, data={"csrf": token, "stage": "perdu", "reason": "x"})
        assert answer.status_code == 404, path  # was 422, as if the change were wrong
    for method in ("GET", "POST"):
        assert member.request(method, "/unsubscribe/¹-x").status_code == 404


def test_an_address_or_method_no_page_answers_is_the_sites_error_in_its_language(pages):
    """Not Starlette's plain-text English: the site's page (JSON for a .json address)."""
    visitor = pages.client()
    nowhere = visitor.get("/nulle-part")
    assert nowhere.status_code == 404 and "Cette page n’existe pas." in nowhere.text
    assert '<html lang="fr">' in nowhere.text and "Not Found" not in nowhere.text
    for path in ("/nulle-part.json", "/deals/1/html.json"):
        answer = visitor.get(path)
        assert (answer.status_code, answer.json()) == (404, {"error": "Cette page n’existe pas."})
    wrong_method = visitor.put("/login")
    assert wrong_method.status_code == 405 and "GET" in wrong_method.headers["allow"]
    assert "Cette page n’accepte pas ce type de requête." in wrong_method.text
    assert visitor.post("/.json").json() == {
        "error": "Cette page n’accepte pas ce type de requête."
    }
    assert visitor.get("/static/nothing.css").status_code == 404
