"""The web pages as a team member meets them: the app `serve` builds, in this process (the
`pages` fixture), a client with cookies; what changed is read from the database as a user
would. Behind a TLS proxy, the real `salesflow serve`. (tests/test_browser.py drives the same
pages in a real Chromium.)"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest
import yaml
from conftest import PASSWORDS, Server, csrf_of, prepare_team, query, signed_in

pytestmark = pytest.mark.engines


def columns(html: str) -> dict[str, tuple[int, str, list[int]]]:
    """The deals' board as a reader sees it: stage → (count, amount, the deals' ids on its
    cards)."""
    board = {}
    deals = html.split('data-pipeline="cours-essai"')[1].split('<div class="board"')[0]
    for section in deals.split('<section class="column"')[1:]:
        stage = re.search(r'data-stage="([^"]+)"', section).group(1)
        count = int(re.search(r'<span class="count">(\d+)</span>', section).group(1))
        amount = re.search(r'<span class="amount">([^<]*)</span>', section).group(1)
        board[stage] = (count, amount, [int(n) for n in re.findall(r'data-deal="(\d+)"', section)])
    return board


def test_every_page_needs_a_login_but_forms_unsubscribe_and_health_do_not(pages):
    anonymous = pages.client()
    for path in ("/", "/funnel", "/forecast", "/activity", "/deals/1", "/messages/1"):
        answer = anonymous.get(path)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next=")
    assert anonymous.post("/deals/1/move", data={"stage": "perdu"}).status_code == 303
    assert anonymous.get("/healthz").status_code == 200
    assert pages.post("/forms/cours-essai", json={"email": "zoe@example.org",
                     "date_essai": "2027-01-09T18:30"}).status_code == 202  # fmt: skip
    assert anonymous.get("/unsubscribe/1-nope").status_code == 404  # not a login page
    assert anonymous.get("/unsubscribe/1-é").status_code == 404
    issued = int(datetime(2026, 11, 20, 9, tzinfo=UTC).timestamp())  # the server's now
    cookie = f"salesflow_session=marie:{issued}:é".encode()
    forged = anonymous.get("/", headers={"Cookie": cookie})
    assert forged.status_code == 303


def test_a_login_sets_a_guarded_cookie_and_wrong_passwords_are_slowed(pages):
    client = pages.client()
    token = csrf_of(client.get("/login?next=/funnel").text)
    wrong = client.post("/login", data={"member": "marie", "password": "nope", "csrf": token})
    assert wrong.status_code == 401 and "Nom ou mot de passe incorrect" in wrong.text
    right = client.post("/login", data={"member": "MARIE@club.example", "csrf": token,
                        "password": PASSWORDS["marie"], "next": "/funnel"})  # fmt: skip
    assert (right.status_code, right.headers["location"]) == (303, "/funnel")
    cookie = right.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    assert "Entonnoir" in client.get("/funnel").text
    guesser = pages.client()
    token = csrf_of(guesser.get("/login").text)
    tries = [guesser.post("/login", data={"member": "paul", "password": "x", "csrf": token})
             for _ in range(4)]  # fmt: skip
    assert [t.status_code for t in tries] == [401, 401, 401, 429]  # 5 tries a minute


def test_the_board_shows_each_deal_in_its_column_with_the_clis_totals(pages, sf):
    board = columns(signed_in(pages).get("/").text)
    cli = {row["stage"]: row for row in sf("pipeline", "board", "--json")["rows"]}
    assert list(board) == list(cli)
    for stage, (count, amount, cards) in board.items():
        assert count == cli[stage]["count"] and len(cards) == count
        shown = amount.replace("\u202f", " ").replace("\xa0", " ")
        assert shown == f"{cli[stage]['amount'].replace('.', ',')} €"
    assert board["essai-planifie"][2] == [1] and sorted(board["nouveau"][2]) == [2, 3]


def test_the_board_headline_is_the_open_deals_and_shows_the_won_apart(pages, sf):
    sf("deals", "won", "1")
    cli = sf("pipeline", "board", "--json")
    won = next(row for row in cli["rows"] if row["outcome"] == "won")
    heading = re.search(r"<h1>(.*?)</h1>", signed_in(pages).get("/").text, re.S).group(1)
    heading = heading.replace("\u202f", " ").replace("\xa0", " ")
    total = cli["totals"]["amount"].replace(".", ",")
    assert f"{cli['totals']['count']} affaires en cours · {total} €" in heading
    assert cli["totals"]["count"] == sum(r["count"] for r in cli["rows"] if not r["outcome"])
    assert f"{won['name']} 1 · {won['amount'].replace('.', ',')} €" in heading


def test_the_forecast_page_lists_stalled_tickets_apart_from_the_deals(pages, sf):
    sf("tickets", "add", "--subject", "Partition perdue", now="2026-11-18T10:00")
    page = signed_in(pages).get("/forecast").text
    deals, tickets = page.split("<h2>Affaires en retard</h2>")[1].split(
        "<h2>Demandes en retard</h2>"
    )
    assert "Partition perdue" in tickets and "Partition perdue" not in deals


def test_a_member_moves_a_deal_with_the_plain_form_and_the_workflow_fires(pages, sf):
    client = signed_in(pages)
    token = csrf_of(client.get("/").text)
    moved = client.post("/deals/1/move", data={"stage": "essai-realise", "csrf": token,
                                               "next": "/?owner=marie"})  # fmt: skip
    assert (moved.status_code, moved.headers["location"]) == (303, "/?owner=marie")
    assert query(pages.project, "SELECT stage FROM deals WHERE id = 1") == [("essai-realise",)]
    assert query(pages.project, "SELECT from_stage, to_stage, by FROM stage_history"
                 " WHERE deal_id = 1 ORDER BY id DESC LIMIT 1") == [
        ("essai-planifie", "essai-realise", "marie")]  # fmt: skip
    sf("process")
    assert query(pages.project, "SELECT workflow FROM runs WHERE deal_id = 1 ORDER BY id") == [
        ("essai-formulaire",), ("apres-essai",)]  # fmt: skip
    page = client.get("/deals/1").text
    assert "apres-essai" in page and "Cours d&#39;essai réalisé" in page
    assert "Invitation" in page or "invitation" in page  # the email the workflow queued


def test_a_page_of_something_that_is_not_there_is_a_404_that_says_so(pages):
    client = signed_in(pages)
    for path in ("/deals/999", "/messages/999", "/pipelines/ventes/stages/x"):
        answer = client.get(path)
        assert answer.status_code == 404 and "Cette page n’existe pas." in answer.text, path


def test_a_viewer_sees_the_board_but_changes_nothing(pages):
    client = signed_in(pages, "lea")
    board = client.get("/")
    assert columns(board.text)["essai-planifie"][0] == 1
    assert 'action="/deals/' not in board.text and not re.search(
        "<article[^>]*draggable", board.text
    )
    refused = client.post("/deals/1/move", data={"stage": "perdu", "csrf": csrf_of(board.text)})
    assert refused.status_code == 403 and "lecture" in refused.text
    assert query(pages.project, "SELECT stage FROM deals WHERE id = 1") == [("essai-planifie",)]


def test_a_post_without_its_csrf_token_is_refused(pages):
    client = signed_in(pages)
    for data in ({"stage": "perdu"}, {"stage": "perdu", "csrf": "forged"}, {"csrf": "forgé€"}):
        refused = client.post("/deals/1/move", data=data)
        assert refused.status_code == 403 and "rechargez la page" in refused.text
    assert query(pages.project, "SELECT stage FROM deals WHERE id = 1") == [("essai-planifie",)]


def test_lost_needs_its_reason_and_the_next_step_and_amount_are_edited(pages):
    client = signed_in(pages)
    token = csrf_of(client.get("/deals/2").text)
    refused = client.post("/deals/2/lost", data={"csrf": token})
    assert refused.status_code == 422 and "Indiquez la raison de la perte" in refused.text
    assert "--reason" not in refused.text  # a page does not speak of the CLI's flags
    assert (
        client.post("/deals/2/lost", data={"csrf": token, "reason": "trop loin"}).status_code == 303
    )
    assert client.post("/deals/3/edit", data={"csrf": token, "next_step": "Rappeler lundi",
                       "amount": "300,50"}).status_code == 303  # fmt: skip
    assert query(pages.project, "SELECT id, status, lost_reason, next_step, amount FROM deals"
                 " WHERE id IN (2, 3) ORDER BY id") == [
        (2, "lost", "trop loin", None, 18000),
        (3, "open", None, "Rappeler lundi", 30050)]  # fmt: skip
    typo = client.post("/deals/3/edit", data={"csrf": token, "amount": "trois cents"})
    assert typo.status_code == 422  # said in French, as the value's refusal is a phrase
    assert "« trois cents » n’est pas un montant (par exemple 1200.50 ou" in typo.text
    json_refusal = client.post("/deals/3/move", data={"csrf": token, "stage": "nowhere"},
                               headers={"Accept": "application/json"})  # fmt: skip
    assert json_refusal.status_code == 422 and "nowhere" in json_refusal.json()["error"]


def test_failed_runs_and_messages_come_first_and_are_retried(pages):
    query(pages.project, "UPDATE outbox SET status = 'failed', last_error = '550 no such user'"
          " WHERE id = 1 RETURNING id")  # fmt: skip
    client = signed_in(pages)
    page = client.get("/activity").text
    failed = page.split("E-mails en échec")[1].split("<h2>")[0]
    assert "550 no such user" in failed and 'action="/messages/1/retry"' in failed
    retried = client.post("/messages/1/retry", data={"csrf": csrf_of(page)})
    assert retried.status_code == 303
    assert query(pages.project, "SELECT status FROM outbox WHERE id = 1") == [("queued",)]
    shown = client.get("/messages/1").text
    assert "Bienvenue Julie" in shown and "<iframe sandbox" in shown


def test_a_new_password_ends_the_sessions_made_before_it(pages, sf):
    client = signed_in(pages)
    assert client.get("/").status_code == 200
    sf("team", "password", "marie", "--stdin", input="un-autre-mot-de-passe\n")
    assert client.get("/").status_code == 303


def test_the_html_report_is_one_file_with_the_boards_totals(sf, tmp_path):
    project = prepare_team(sf)
    target = tmp_path / "rapport.html"
    sf("report", "--html", target)
    html = target.read_text()
    assert "<script" not in html and "<link" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing fetched from elsewhere
    board = columns(html)
    cli = {row["stage"]: row["count"] for row in sf("pipeline", "board", "--json")["rows"]}
    assert {stage: count for stage, (count, _, _) in board.items()} == cli
    assert "Entonnoir" in html and "Charge" in html and "<svg" in html
    assert sf("report", "--html", "-").output.startswith("<!doctype html>")
    assert project.exists()


def test_logout_ends_the_session(pages):
    client = signed_in(pages)
    page = client.get("/")
    assert client.post("/logout", data={"csrf": csrf_of(page.text)}).status_code == 303
    assert client.get("/").headers["location"] == "/login?next=/"


def test_behind_a_tls_proxy_the_session_cookie_is_secure(sf):
    project = prepare_team(sf)
    config = yaml.safe_load((project / "salesflow.yaml").read_text())
    config["serve"] = {"trusted_proxies": ["127.0.0.1"]}
    (project / "salesflow.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    server = Server(project, "--no-worker")
    try:
        https = {"X-Forwarded-Proto": "https"}  # as Caddy says it; the test itself speaks http
        form = httpx.get(f"{server.url}/login", headers=https)
        assert "Secure" in form.headers["set-cookie"]
        nonce = form.cookies["salesflow_login"]  # a client over http would not send it back
        answer = httpx.post(f"{server.url}/login", headers={**https, "Cookie":
                            f"salesflow_login={nonce}"}, data={"member": "marie", "csrf":
                            csrf_of(form.text), "password": PASSWORDS["marie"]})  # fmt: skip
        assert answer.status_code == 303 and "Secure" in answer.headers["set-cookie"]
    finally:
        server.stop()


def test_a_failed_run_is_retried_from_the_activity_page(pages, sf):
    sf("deals", "add", "--title", "Sans contact", "--pipeline", "cours-essai")
    sf("workflows", "start", "inviter", "--deal", "4")  # no contact to invite: it fails
    [(run, status)] = query(pages.project, "SELECT id, status FROM runs WHERE deal_id = 4")
    assert status == "failed"
    client = signed_in(pages)
    page = client.get("/activity").text
    failed = page.split("Automatisations en échec")[1].split("<h2>")[0]
    assert (
        f'action="/runs/{run}/retry"' in failed and "n’a pas encore de contact" in failed
    )  # the reason, in French
    assert client.post(f"/runs/{run}/retry", data={"csrf": csrf_of(page)}).status_code == 303
    tried = query(pages.project, "SELECT count(*) FROM run_steps WHERE run_id = ? AND outcome ="
                  " 'failed'", run)  # fmt: skip
    assert tried == [(2,)]  # the step ran again (and, the cause still there, failed again)


def test_the_board_of_a_ticket_pipeline_shows_priorities_and_the_ticket_page(pages, sf):
    sf("tickets", "add", "--subject", "Passer au jeudi", "--priority", "urgent", "--owner", "paul")
    client = signed_in(pages)
    board = client.get("/?pipeline=support").text
    column = board.split('data-stage="nouveau"')[1].split("</section>")[0]
    assert '<span class="count">1</span> demande' in column and "€" not in column
    assert '<span class="priority-urgent">urgente</span>' in column
    ticket = re.search(r'data-deal="(\d+)"', column).group(1)
    page = client.get(f"/deals/{ticket}")
    assert page.status_code == 200 and "Passer au jeudi" in page.text
    assert "Priorité" in page.text and "Montant" not in page.text
    assert "Marquer résolue" in page.text and "Marquer gagnée" not in page.text


def test_a_message_page_names_the_workflow_that_sent_it_and_its_step_apart(pages):
    page = signed_in(pages).get("/messages/1").text  # Julie's welcome, from the form's workflow
    facts = page.split('<dl class="facts-grid">')[1].split("</dl>")[0]
    workflow = re.search(r"<dt>Workflow</dt><dd>(.*?)</dd>", facts).group(1)
    assert '<a href="/deals/1#run-1">Formulaire « cours d&#39;essai »</a>' in workflow
    assert "essai-formulaire" in workflow and "bienvenue" not in workflow
    assert "<dt>Étape</dt><dd>bienvenue</dd>" in facts
    assert 'id="run-1"' in signed_in(pages).get("/deals/1").text  # where the link leads


def test_a_resolved_ticket_or_won_deal_offers_no_closing_and_refuses_it(pages, sf):
    sf("tickets", "add", "--subject", "Passer au jeudi", "--owner", "paul")
    ticket = query(pages.project, "SELECT max(id) FROM deals")[0][0]
    sf("tickets", "close", str(ticket))
    sf("deals", "won", "1")
    client = signed_in(pages)
    for number, words in ((ticket, ("Marquer résolue", "Abandonner")),
                          (1, ("Marquer gagnée", "Marquer perdue"))):  # fmt: skip
        page = client.get(f"/deals/{number}").text
        assert not any(word in page for word in words) and f"/deals/{number}/move" not in page
    token = csrf_of(page)
    for action, data in (("won", {}), ("lost", {"reason": "plus besoin"}),
                         ("move", {"stage": "en-cours"})):  # fmt: skip
        refused = client.post(f"/deals/{ticket}/{action}", data={"csrf": token, **data})
        assert refused.status_code == 409, action
        assert "Cette demande est déjà close (Résolue)" in refused.text
    as_json = client.post("/deals/1/move", data={"csrf": token, "stage": "nouveau"},
                          headers={"Accept": "application/json"})  # fmt: skip
    assert as_json.status_code == 409 and "déjà close (Gagnée)" in as_json.json()["error"]
    assert query(pages.project, "SELECT id, stage, status FROM deals WHERE id IN (1, ?)"
                 " ORDER BY id", ticket) == [(1, "inscrit", "won"),
                                             (ticket, "resolu", "won")]  # fmt: skip
    won_column = client.get("/").text.split('data-stage="inscrit"')[1].split("</section>")[0]
    assert 'data-deal="1"' in won_column and "<form" not in won_column
    assert "draggable" not in won_column


def test_the_forecast_names_the_deals_without_an_expected_close(pages, sf):
    rows = sf("pipeline", "forecast", "--json")["rows"]
    assert [row for row in rows if row["month"] is None]  # the prospects imported without one
    page = signed_in(pages).get("/forecast").text
    by_month = page.split("Prévisions — Par mois")[1].split("<h2>")[0]
    assert ">Sans date de clôture</text>" in by_month  # the chart's bar
    assert re.search(r"<td><span class=\"muted\">Sans date de clôture</span></td>", by_month)


def test_a_name_column_is_headed_by_what_it_names(pages):
    client = signed_in(pages)
    first = re.compile(r"<thead><tr>\s*<th>([^<]*)</th>")
    funnel = client.get("/funnel").text
    assert first.search(funnel).group(1) == "Étape"
    by_owner = client.get("/forecast").text.split("Prévisions — Par responsable")[1]
    assert first.search(by_owner).group(1) == "Responsable"


def test_a_move_list_names_every_other_stage_after_a_move_to_that_is_none(pages):
    client = signed_in(pages)
    card = client.get("/").text.split('data-deal="1"')[1].split("</article>")[0]
    deal = client.get("/deals/1").text.split('action="/deals/1/move"')[1].split("</form>")[0]
    for form in (card, deal):  # deal 1 is in "Cours d'essai planifié"
        options = re.findall(r"<option([^>]*)>([^<]*)</option>", form)
        assert options[0] == (' value="" disabled selected', "Déplacer vers…")
        assert [name for _, name in options[1:]] == [
            "Nouveau prospect",
            "Cours d&#39;essai réalisé",
            "Inscription confirmée",
            "Perdu",
        ]
        assert '<select name="stage"' in form and " required" in form
    token = csrf_of(card)
    unchosen = client.post("/deals/1/move", data={"csrf": token, "stage": ""})
    assert unchosen.status_code == 422
    assert query(pages.project, "SELECT stage FROM deals WHERE id = 1") == [("essai-planifie",)]


def test_webhook_requests_are_listed_apart_from_the_emails(pages, sf):
    sf("tickets", "add", "--subject", "Passer au jeudi", "--owner", "paul")
    sf("process")  # the ticket's workflow emails Paul and posts to the teachers' channel
    [(request, ticket)] = query(
        pages.project,
        "SELECT o.id, r.deal_id FROM outbox o JOIN runs r ON r.id = o.run_id WHERE o.kind = 'http'",
    )
    client = signed_in(pages)
    for path, emails_heading, requests_heading in (
        ("/activity", "E-mails récents", "Requêtes récentes"),
        (f"/deals/{ticket}", "E-mails", "Requêtes (webhooks)"),
    ):
        page = client.get(path).text
        emails = page.split(f"<h2>{emails_heading}</h2>")[1].split("<h2>")[0]
        assert "Passer au jeudi" in emails  # Paul's email
        assert "POST" not in emails and "hooks.club.example" not in emails, path
        requests = page.split(f"<h2>{requests_heading}</h2>")[1].split("<h2>")[0]
        shown = f'<a href="/messages/{request}">POST https://hooks.club.example/profs/'
        assert shown + "{{ env.CANAL_PROFS }}</a>" in requests, path
