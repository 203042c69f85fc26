"""Every page as JSON (`/deals/4.json`, the board `/.json`): what a program reads equals the
CLI's --json for the same question, on the same project at the same `now`; behind the same
login and roles (a program signs in with HTTP Basic auth, slowed like the login form), and
JSON whatever the answer — never the login form, never an HTML page."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from conftest import PASSWORDS, query, signed_in

from salesflow.store.db import DatabaseLocked

pytestmark = pytest.mark.engines

JSON = "application/json; charset=utf-8"
URLS = ("/.json", "/pipelines/cours-essai/stages/nouveau.json", "/funnel.json",
        "/forecast.json", "/activity.json", "/deals/1.json", "/messages/1.json")  # fmt: skip


def read(client, url: str, status: int = 200, **options):
    """The JSON answer to `url`, after checking its status and that it is JSON."""
    answer = client.get(url, **options)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == JSON and not answer.text.lstrip().startswith("<")
    return answer.json()


def test_the_board_is_the_clis_board_as_the_page_shows_it(pages, sf):
    sf("deals", "update", "2", "--owner", "marie")
    sf("tickets", "add", "--subject", "Passer au jeudi", "--priority", "urgent", "--owner", "paul")
    client = signed_in(pages)
    board = ("pipeline", "board", "--cards", "20", "--oldest-first")
    assert read(client, "/.json") == sf(*board, "cours-essai", "--json")
    mine = read(client, "/.json?pipeline=cours-essai&owner=marie")
    assert mine == sf(*board, "cours-essai", "--owner", "marie", "--json")
    everyone = read(client, "/.json?pipeline=cours-essai&owner=")
    assert (mine["totals"]["count"], everyone["totals"]["count"]) == (2, 3)  # deal 1, and 2
    assert mine["totals"]["amount"] == "420.00"  # money: a decimal string, as the CLI's
    assert read(client, "/.json?pipeline=support") == sf(*board, "support", "--json")


def test_a_stage_is_its_row_of_the_clis_board_a_hundred_cards_a_page(pages, sf):
    client = signed_in(pages)
    board = sf("pipeline", "board", "cours-essai", "--cards", "100", "--oldest-first", "--json")
    row = next(row for row in board["rows"] if row["stage"] == "nouveau")
    assert read(client, "/pipelines/cours-essai/stages/nouveau.json") == row
    assert len(row["cards"]) == row["count"] == 2
    later = read(client, "/pipelines/cours-essai/stages/nouveau.json?page=1")
    assert (later["count"], later["cards"], later["more"]) == (2, [], 0)
    nobody = read(client, "/pipelines/cours-essai/stages/nouveau.json?owner=paul")
    assert (nobody["count"], nobody["cards"]) == (0, [])
    assert "error" in read(client, "/pipelines/cours-essai/stages/x.json", 404)


def test_the_funnel_since_a_date_or_over_a_period_is_the_clis_funnel(pages, sf):
    sf("deals", "add", "--title", "Ancienne", "--pipeline", "cours-essai", now="2026-06-01T10:00")
    client = signed_in(pages)
    funnel = ("pipeline", "funnel", "cours-essai")
    assert read(client, "/funnel.json") == sf(*funnel, "--json")
    since = read(client, "/funnel.json?pipeline=cours-essai&since=2026-10-01")
    assert since == sf(*funnel, "--since", "2026-10-01", "--json")
    assert read(client, "/funnel.json?since=01/10/2026") == since  # the locale's form, as --since
    month_ago = (date(2026, 11, 20) - timedelta(days=30)).isoformat()
    assert read(client, "/funnel.json?period=30") == sf(*funnel, "--since", month_ago, "--json")
    assert since != read(client, "/funnel.json")  # the old deal counts only without a date
    error = read(client, "/funnel.json?since=hier", 400)["error"]
    assert error == "« since » est une date, par exemple 2026-09-01 : hier n’en est pas une."


def test_the_forecast_is_each_of_the_clis_reports_the_page_shows(pages, sf):
    sf("deals", "lost", "3", "--reason", "trop loin")
    sf("tickets", "add", "--subject", "Partition perdue", now="2026-11-10T10:00")
    forecast = read(signed_in(pages), "/forecast.json")
    commands = {"by_month": ("forecast",), "by_owner": ("forecast", "--by", "owner"),
                "workload": ("workload",), "losses": ("losses",), "stalled": ("stalled",),
                "stalled_tickets": ("stalled", "--kind", "ticket")}  # fmt: skip
    assert list(forecast) == list(commands)
    for key, command in commands.items():
        assert forecast[key] == sf("pipeline", *command, "--json"), key
    assert forecast["losses"]["rows"] and forecast["stalled_tickets"]["rows"]


def test_a_deal_or_a_ticket_is_the_clis_show_with_its_runs_and_messages(pages, sf):
    sf("tickets", "add", "--subject", "Passer au jeudi", "--owner", "paul")
    client = signed_in(pages)
    deal = read(client, "/deals/1.json")
    assert deal == sf("deals", "show", "1", "--json")
    assert deal["amount"] == "240.00" and deal["history"][-1]["to"] == "essai-planifie"
    assert deal["runs"][0]["trace"]  # the runs with their traces, the emails sent
    assert "julie.martin@example.org" in {message["to"] for message in deal["messages"]}
    ticket = query(pages.project, "SELECT max(id) FROM deals")[0][0]
    assert read(client, f"/deals/{ticket}.json") == sf("tickets", "show", str(ticket), "--json")
    assert read(client, "/deals/999.json", 404) == {"error": "Cette page n’existe pas."}
    assert "error" in read(client, f"/deals/{2**64}.json", 404)


def test_a_message_is_the_clis_outbox_show(pages, sf):
    client = signed_in(pages)
    message = read(client, "/messages/1.json")
    assert message == sf("outbox", "show", "1", "--json")
    assert message["text"] and message["headers"] is not None
    assert read(client, "/messages/999.json", 404) == {"error": "Cette page n’existe pas."}


def test_the_activity_lists_are_rows_of_the_clis_lists(pages, sf):
    sf("deals", "add", "--title", "Sans contact", "--pipeline", "cours-essai")
    sf("workflows", "start", "inviter", "--deal", "4")  # no contact to invite: it fails
    client = signed_in(pages)
    activity = read(client, "/activity.json")
    runs, messages = sf("runs", "list", "--json"), sf("outbox", "list", "--json")
    assert activity["failed_runs"] == sf("runs", "list", "--status", "failed", "--json")
    assert activity["runs"] == [run for run in runs if run["status"] != "failed"]
    assert activity["failed_messages"] == sf("outbox", "list", "--status", "failed", "--json")
    assert activity["messages"] == [item for item in messages if item["status"] != "failed"]
    assert activity["failed_runs"] and activity["messages"]
    assert (activity["page"], activity["more"]) == (0, False)
    later = read(client, "/activity.json?page=1")
    assert (later["page"], later["runs"], later["messages"]) == (1, [], [])


def test_a_program_without_a_session_gets_401_json_not_the_login_form(pages):
    anonymous = pages.client()
    for url in URLS:
        answer = anonymous.get(url, headers={"Accept": "text/html"})
        assert answer.status_code == 401 and answer.headers["content-type"] == JSON, url
        assert answer.json()["error"] and answer.headers["www-authenticate"].startswith("Basic")
        assert "set-cookie" not in answer.headers
    assert anonymous.get("/deals/1").status_code == 303  # a person still gets the login form


def test_basic_auth_reads_the_json_on_each_request_without_a_session(pages, sf):
    program = pages.client()
    answer = program.get("/deals/1.json", auth=("marie", PASSWORDS["marie"]))
    assert answer.status_code == 200 and answer.headers["content-type"] == JSON
    assert answer.json() == sf("deals", "show", "1", "--json")
    assert "set-cookie" not in answer.headers  # HTTP Basic: the password on each request
    assert program.get("/.json").status_code == 401
    by_email = pages.client()
    assert read(by_email, "/funnel.json", auth=("MARIE@club.example", PASSWORDS["marie"]))
    wrong = pages.client()
    said = read(wrong, "/deals/1.json", 401, auth=("marie", "not her password"))["error"]
    assert said == "Nom ou mot de passe incorrect."
    garbled = wrong.get("/deals/1.json", headers={"Authorization": "Basic ###"})
    assert garbled.status_code == 401 and garbled.headers["content-type"] == JSON


def test_a_program_polling_with_the_right_password_never_locks_its_address_out(pages):
    """Only wrong passwords count: a dashboard reading every few seconds goes on, and the
    people behind the same address can still log in."""
    program = pages.client()
    for _ in range(12):
        read(program, "/.json", auth=("lea", PASSWORDS["lea"]))
    assert signed_in(pages).get("/").status_code == 200
    assert query(pages.project, "SELECT count(*) FROM sessions") == [(1,)]  # the login's


def test_wrong_basic_passwords_count_with_the_login_forms_five_a_minute(pages):
    client = pages.client()
    tries = [client.get("/.json", auth=("paul", "a guess")) for _ in range(4)]
    assert [answer.status_code for answer in tries] == [401, 401, 401, 401]
    login_form = client.post("/login", data={"member": "paul", "password": "x"})
    assert login_form.status_code == 403  # counted (5th), then refused for its missing token
    slowed = client.get("/.json", auth=("marie", PASSWORDS["marie"]))  # right, but too soon
    assert slowed.status_code == 429 and slowed.headers["content-type"] == JSON
    assert int(slowed.headers["retry-after"]) > 0 and slowed.json()["error"]


def test_a_viewer_reads_every_page_as_json(pages):
    viewer = signed_in(pages, "lea")
    for url in URLS:
        read(viewer, url)
    by_password = pages.client()
    read(by_password, "/forecast.json", auth=("lea", PASSWORDS["lea"]))


def test_a_busy_database_is_a_503_in_json(pages, monkeypatch):
    client = signed_in(pages)

    def busy(*args):
        raise DatabaseLocked("other requests kept the database busy")

    monkeypatch.setattr("salesflow.web.auth._signed_in", busy)
    answer = client.get("/deals/1.json", headers={"Accept": "text/html"})
    assert answer.status_code == 503 and answer.headers["content-type"] == JSON
    assert answer.headers["retry-after"] == "5" and answer.json()["error"]
    assert client.get("/deals/1").headers["content-type"].startswith("text/html")


def test_the_clis_new_options_refuse_what_they_do_not_know(sf):
    typo = sf("pipeline", "board", "cours-essai", "--owner", "mari", code=2)
    assert "'mari' is not in the team" in typo.output
    assert "'contact' is not one of: deal, ticket" in sf("pipeline", "stalled", "--kind",
                                                         "contact", code=2).output  # fmt: skip
    shown = sf("deals", "show", "1", code=1).output  # none yet: one line, no traceback
    assert shown.startswith("error: no deal #1") and "Traceback" not in shown


def test_an_unknown_pipeline_or_owner_is_a_400_for_a_program_not_other_data(pages):
    client = signed_in(pages)
    error = read(client, "/.json?pipeline=nope", 400)["error"]
    assert error == "« pipeline » : il n’y a pas de « nope » ici ; il y a : cours-essai, support."
    error = read(client, "/.json?owner=zzz", 400)["error"]
    assert error.startswith("« owner » : il n’y a pas de « zzz » ici ; il y a : marie, paul")
    assert read(client, "/.json?owner=")["rows"]  # "everyone", as the board's own form sends it
    assert client.get("/?pipeline=nope").status_code == 200  # a person's page falls back
