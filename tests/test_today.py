"""Each member's "today" (issue #29): overdue tasks, tasks due today in the project's time
zone, stalled deals, deals with nothing planned — in that order, each deal once — through
the CLI, the /today page (the first after login) and its JSON, and the Monday email."""

from __future__ import annotations

import pytest
from conftest import csrf_of, query, signed_in

NOW = "2026-11-20T10:00"  # a Friday, Paris time


def known_day(sf) -> None:
    """Marie: deal 1 in `nouveau` for ten days (stalled, nothing planned either), deal 2
    planned (a next step and tasks), deal 3 with a next step but no task, deal 4 with
    neither; tasks overdue, due tonight, due just after midnight, done. Paul: deal 5."""
    sf("contacts", "add", "julie@example.org", now="2026-11-10T10:00")
    sf("deals", "add", "--title", "Essai Julie", "--contact", "julie@example.org",
       "--owner", "marie", now="2026-11-10T10:00")  # fmt: skip
    for title, amount in (("Essai Zoé", "100"), ("Essai Anne", "500"), ("Essai Luc", "50")):
        sf("deals", "add", "--title", title, "--owner", "marie", "--amount", amount,
           now="2026-11-19T10:00")  # fmt: skip
    sf("deals", "add", "--title", "Essai Paul", "--owner", "paul", now="2026-11-19T10:00")
    for deal in ("2", "3"):
        sf("deals", "update", deal, "--next-step", "Appeler", now="2026-11-19T10:00")
    for title, due, deal in (
        ("Rappeler Zoé", "2026-11-19T17:00", "2"),
        ("Envoyer le devis", "2026-11-20T17:00", "2"),
        ("Message du soir", "2026-11-20T23:30", "2"),
        ("Après minuit", "2026-11-21T00:30", "2"),  # 23:30 UTC: tomorrow in Paris
        ("Déjà fait", "2026-11-19T09:00", "3"),
    ):
        sf("tasks", "add", title, "--assignee", "marie", "--due", due, "--deal", deal,
           now="2026-11-19T10:00")  # fmt: skip
    sf("tasks", "done", "5", now="2026-11-19T11:00")


def listed(member: dict) -> list[tuple]:
    return [(item["kind"], item["title"]) for item in member["items"]]


MARIE = [
    ("overdue_task", "Rappeler Zoé"),
    ("task_due_today", "Envoyer le devis"),
    ("task_due_today", "Message du soir"),
    ("stalled_deal", "Essai Julie"),
    ("unplanned_deal", "Essai Luc"),  # neither a next step nor a task: first
    ("unplanned_deal", "Essai Anne"),
]


def test_a_members_today_in_the_order_to_work_it(sf):
    known_day(sf)
    today = sf("today", "--member", "marie", "--json", now=NOW)
    assert today["date"] == "2026-11-20"
    [marie] = today["members"]
    assert (marie["member"], marie["name"]) == ("marie", "Marie Dupont")
    assert listed(marie) == MARIE
    items = {item["title"]: item for item in marie["items"]}
    assert items["Rappeler Zoé"]["due_at"] == "2026-11-19T17:00:00+01:00"
    assert items["Rappeler Zoé"]["link"] == "/deals/2"
    assert items["Essai Julie"]["days_overdue"] == 7  # 10 days in a stage of 3
    assert items["Essai Luc"]["missing"] == ["next_step", "task"]
    assert items["Essai Anne"]["missing"] == ["task"]


@pytest.mark.engines
def test_without_member_the_whole_team_member_by_member(sf):
    known_day(sf)
    team = sf("today", "--json", now=NOW)
    assert [member["member"] for member in team["members"]] == ["marie", "paul"]
    assert listed(team["members"][0]) == MARIE
    assert listed(team["members"][1]) == [("unplanned_deal", "Essai Paul")]
    assert team["members"][0] == sf("today", "--member", "marie", "--json", now=NOW)["members"][0]


def test_the_cli_says_each_members_list_in_english(sf):
    nothing = sf("today", "--member", "paul", now=NOW).output
    assert "Today 2026-11-20 — Paul Martin: nothing to do" in nothing
    known_day(sf)
    text = sf("today", now=NOW).output
    assert "Today 2026-11-20 — Marie Dupont" in text and "Today 2026-11-20 — Paul Martin" in text
    positions = [text.index(title) for _, title in MARIE]
    assert positions == sorted(positions)
    assert "7 days too long in Nouveau prospect" in text
    assert "no next step and no open task" in text and "/deals/4" in text
    refused = sf("today", "--member", "zoe", code=2).output
    assert "'zoe' is not in the team" in refused


@pytest.mark.engines
def test_the_page_is_the_signed_in_members_today_and_a_viewer_sees_the_teams(pages, sf):
    sf("deals", "update", "2", "--owner", "marie")
    marie, lea = signed_in(pages), signed_in(pages, "lea")
    mine = marie.get("/today.json").json()
    assert mine == sf("today", "--member", "marie", "--json")
    assert mine["members"][0]["items"]
    assert lea.get("/today.json").json() == sf("today", "--json")
    page = marie.get("/today")
    assert page.status_code == 200
    assert "<h1>Aujourd’hui" in page.text and 'href="/today" aria-current="page"' in page.text
    for item in mine["members"][0]["items"]:
        assert f'<a href="{item["link"]}">{item["title"]}</a>' in page.text
    assert "Marie Dupont</h3>" not in page.text  # her own list: no name over it
    team = lea.get("/today").text
    assert "Marie Dupont</h3>" in team and "Paul Martin</h3>" in team


def test_the_login_lands_on_today(pages):
    client = pages.client()
    form = client.get("/login")
    answer = client.post("/login", data={"member": "marie", "password": "do-ré-mi-fa-sol",
                                         "csrf": csrf_of(form.text)})  # fmt: skip
    assert (answer.status_code, answer.headers["location"]) == (303, "/today")
    assert client.get("/login").headers["location"] == "/today"  # already signed in


def test_the_monday_email_tells_each_member_what_is_theirs(sf):
    known_day(sf)
    sf("tick", now=NOW)  # the weekly schedule starts counting here
    sf("tick", now="2026-11-23T08:00")
    mails = dict(query(sf.project, "SELECT to_addr, text FROM outbox WHERE subject LIKE"
                       " 'Revue du lundi%' ORDER BY id"))  # fmt: skip
    marie, paul = mails["marie@club.example"], mails["paul@club.example"]
    assert "Pour vous, Marie Dupont, aujourd'hui :" in marie
    assert "- en retard : Rappeler Zoé (Essai Zoé), prévue le 19 novembre à 17:00" in marie
    assert "- à relancer : Essai Julie, 9 jour(s) de trop en « Nouveau prospect »\n" in marie
    assert "/deals/" not in marie  # without public_url, no link that leads nowhere
    assert "Essai Paul" not in marie.split("Pour vous")[1]  # the team's list is above it
    assert "Pour vous, Paul Martin, aujourd'hui :" in paul
    assert "Essai Paul" in paul.split("Pour vous")[1] and "Rappeler Zoé" not in paul


def test_the_html_report_has_the_teams_today(sf, tmp_path):
    known_day(sf)
    html = sf("report", "--html", "-", now=NOW).output
    section = html.split("<h2>Aujourd’hui · ")[1]
    assert "<h3>Marie Dupont</h3>" in section and "<h3>Paul Martin</h3>" in section
    assert "Rappeler Zoé" in section
    assert "7 jours de trop en « Nouveau prospect »" in section
    assert 'href="/deals/' not in section  # a file opened from disk: no link leading nowhere


def waiting_day(sf) -> None:
    """The known day, and in "Cours d'essai réalisé" (leaving it needs the payment received):
    Marc since the 18th, nothing ticked, nothing planned (waiting, not unplanned); Léo since
    the 10th, stalled too (stalled, not waiting); Eva, paid and planned (nowhere); and a
    ticket of Marie's "En cours" (its reply to send) since the 19th."""
    from ticks import tick

    known_day(sf)
    for name, since in (("Marc", "2026-11-18T10:00"), ("Léo", "2026-11-10T10:00"),
                        ("Eva", "2026-11-20T09:00")):  # fmt: skip
        email = f"{name.lower()}@example.org"
        sf("contacts", "add", email, "--first-name", name, now=since)
        added = sf("deals", "add", "--title", f"Essai {name}", "--contact", email, "--owner",
                   "marie", "--stage", "essai-realise", "--json", now=since)  # fmt: skip
        if name != "Eva":  # the feedback asked on entry: done at once
            [task] = [t for t in sf("tasks", "list", "--json", now=since)
                      if t["deal_id"] == added["id"]]  # fmt: skip
            sf("tasks", "done", str(task["id"]), now=since)
    eva = added["id"]
    sf("deals", "update", str(eva), "--next-step", "Encaisser", now="2026-11-20T09:00")
    tick(sf, eva, "Paiement reçu", now="2026-11-20T09:30")
    sf("tickets", "add", "--subject", "Changer de créneau", "--owner", "marie", "--stage",
       "en-cours", now="2026-11-19T10:00")  # fmt: skip


WAITING = [
    *MARIE[:4],
    ("stalled_deal", "Essai Léo"),  # 3 days too long, waiting on the payment too
    ("waiting_deal", "Essai Marc"),  # longest in the stage first; nothing planned either
    ("waiting_deal", "Changer de créneau"),
    *MARIE[4:],
]


@pytest.mark.engines
def test_deals_and_tickets_waiting_on_a_required_item_come_after_the_stalled(sf):
    waiting_day(sf)
    [marie] = sf("today", "--member", "marie", "--json", now=NOW)["members"]
    assert listed(marie) == WAITING
    items = {item["title"]: item for item in marie["items"]}
    assert items["Essai Marc"]["items"] == ["Paiement reçu"]
    assert items["Essai Marc"]["stage_name"] == "Cours d'essai réalisé"
    assert items["Changer de créneau"]["items"] == ["Réponse envoyée au membre"]
    assert items["Essai Léo"]["items"] is None
    text = sf("today", "--member", "marie", now=NOW).output
    assert "to tick in Cours d'essai réalisé: Paiement reçu" in " ".join(text.split())


def test_the_waiting_list_on_the_page_in_the_report_and_in_the_monday_email(sf, tmp_path):
    from conftest import Pages, prepare_team

    prepare_team(sf)
    waiting_day(sf)
    pages = Pages(sf.project, now=NOW)
    try:
        client = signed_in(pages)
        assert client.get("/today.json").json() == sf("today", "--member", "marie", "--json",
                                                     now=NOW)  # fmt: skip
        page = client.get("/today").text
    finally:
        pages.close()
    said = "à cocher en « Cours d&#39;essai réalisé » : Paiement reçu"
    assert said in page
    report = sf("report", "--html", "-", now=NOW).output.split("<h2>Aujourd’hui · ")[1]
    assert said in report and "élément à cocher" in report
    sf("tick", now=NOW)
    sf("tick", now="2026-11-23T08:00")
    [mail] = [text for to, text in query(sf.project, "SELECT to_addr, text FROM outbox WHERE"
              " subject LIKE 'Revue du lundi%'") if to == "marie@club.example"]  # fmt: skip
    assert "- à cocher : Essai Marc, Paiement reçu en « Cours d'essai réalisé »" in mail


def test_the_html_report_lists_each_members_first_items_and_counts_them_all(sf):
    """A member with more than TODAY_LISTED items: the report lists the most urgent, says
    how many of each kind there are and names the command that lists them all; `today`
    (the command, and its page) keeps the whole list."""
    from salesflow.web.report import TODAY_LISTED

    known_day(sf)
    stalled = TODAY_LISTED + 2  # entered a day apart: the first the most overdue
    rows = ", ".join(
        f"('cours-essai', 'nouveau', 'open', 'Vieux {n}', 'EUR', '2026-09-01T10:00:00Z',"
        f" '2026-10-{n % 28 + 1:02}T10:00:00Z', 'marie')"
        for n in range(stalled)
    )
    query(sf.project, "INSERT INTO deals (pipeline, stage, status, title, currency, created_at,"
          f" stage_entered_at, owner) VALUES {rows}")  # fmt: skip
    [marie] = sf("today", "--member", "marie", "--json", now=NOW)["members"]
    assert len(marie["items"]) == len(MARIE) + stalled and marie["more"] == 0
    assert marie["counts"] == {"overdue_task": 1, "task_due_today": 2,
                               "stalled_deal": stalled + 1, "unplanned_deal": 2}  # fmt: skip
    html = sf("report", "--html", "-", now=NOW).output
    section = html.split("<h3>Marie Dupont</h3>")[1].split("<h3>")[0]
    assert section.count("<tr class=") == TODAY_LISTED
    titles = [item["title"] for item in marie["items"]]
    assert all(f">{title}<" in section or f"<td>{title}</td>" in section
               for title in titles[:TODAY_LISTED])  # fmt: skip
    assert "Essai Anne" not in section  # the last of her list: left out
    more = len(titles) - TODAY_LISTED
    hint = "la liste complète : `salesflow today --member marie`"
    assert f"et {more} de plus, dans le total ; {hint}" in section
    assert (f"1 tâche en retard · 2 tâches du jour · {stalled + 1} affaires en retard"
            " · 2 sans rien de prévu") in section  # fmt: skip
    paul = html.split("<h3>Paul Martin</h3>")[1].split("<h3>")[0]  # his whole list
    assert "<tfoot>" not in paul and "de plus" not in paul
