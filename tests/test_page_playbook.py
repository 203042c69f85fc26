"""The stages' playbooks on the pages: the move prompt that asks for what a record lacks to
enter a stage (without JavaScript: a page; the board's script: a 409 with what is missing,
then the same form in a dialog — tests/test_browser.py), and the deal page's guidance,
checklist and history of ticks. The demo's singing club: a trial lesson needs its date
(`contact.date_essai`), an enrolment needs "Paiement reçu" ticked."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import yaml
from conftest import Pages, csrf_of, prepare_team, query, signed_in

REFUSED = "l’affaire n° 3 ne peut pas entrer dans « Cours d’essai planifié » : contact.date_essai"


def test_a_plain_move_the_stage_refuses_asks_for_the_date_then_moves(pages):
    """Deal #3 (Œdipe, imported without a trial date) moved to "Cours d'essai planifié"
    with JavaScript off: the prompt page asks for the contact's date, and moves it."""
    client = signed_in(pages)
    token = csrf_of(client.get("/").text)
    refused = client.post("/deals/3/move", data={"csrf": token, "stage": "essai-planifie",
                                                 "next": "/?owner=marie"})  # fmt: skip
    assert refused.status_code == 303
    where = urlsplit(refused.headers["location"])
    assert where.path == "/deals/3/move"
    assert parse_qs(where.query) == {"to": ["essai-planifie"], "next": ["/?owner=marie"]}
    asked = client.get(refused.headers["location"])
    assert asked.status_code == 200
    assert "ne peut pas entrer dans « Cours d&#39;essai planifié » : contact.date_essai" in (
        asked.text)  # fmt: skip
    assert 'name="set.contact.date_essai" type="datetime-local"' in asked.text
    assert "Date du cours d&#39;essai (Contact)" in asked.text
    form = {"csrf": token, "stage": "essai-planifie", "prompt": "1", "next": "/?owner=marie"}
    blank = client.post("/deals/3/move", data={**form, "set.contact.date_essai": ""})
    assert blank.status_code == 422 and 'name="set.contact.date_essai"' in blank.text
    assert "n’est pas renseigné" in blank.text
    assert query(pages.project, "SELECT stage FROM deals WHERE id = 3") == [("nouveau",)]
    wrong = client.post("/deals/3/move", data={**form, "set.contact.date_essai": "bientôt"})
    assert wrong.status_code == 422 and 'value="bientôt"' in wrong.text
    assert "bientôt" in wrong.text.split('role="alert">')[1].split("</p>")[0]
    viewer = signed_in(pages, "lea").get(refused.headers["location"]).text
    assert "ne peut pas entrer" in viewer and 'class="prompt"' not in viewer
    filled = client.post(
        "/deals/3/move", data={**form, "set.contact.date_essai": "2026-12-12T18:30"}
    )
    assert (filled.status_code, filled.headers["location"]) == (303, "/?owner=marie")
    assert query(pages.project, "SELECT stage FROM deals WHERE id = 3") == [("essai-planifie",)]
    assert query(pages.project, "SELECT json_extract(c.fields, '$.date_essai') FROM contacts c"
                 " JOIN deals d ON d.contact_id = c.id WHERE d.id = 3") == [
        ("2026-12-12T18:30:00+01:00",)]  # fmt: skip
    assert query(pages.project, "SELECT to_stage, by, forced FROM stage_history WHERE deal_id = 3"
                 " ORDER BY id DESC LIMIT 1") == [("essai-planifie", "marie", 0)]  # fmt: skip


def test_winning_without_the_payment_ticked_asks_for_it_and_ticks_it_by_the_member(pages, sf):
    """Deal #1 in "Cours d'essai réalisé": marking it won on its page goes through the prompt,
    which ticks "Paiement reçu" by Marie, then enrols; the history shows both."""
    sf("deals", "move", "1", "essai-realise")
    client = signed_in(pages)
    token = csrf_of(client.get("/deals/1").text)
    refused = client.post("/deals/1/won", data={"csrf": token})
    assert (refused.status_code, refused.headers["location"]) == (303, "/deals/1/move?to=inscrit")
    asked = client.get("/deals/1/move?to=inscrit").text
    assert "« Paiement reçu » n’est pas coché dans « Cours d&#39;essai réalisé »" in asked
    assert 'name="tick.Paiement reçu"' in asked and "set." not in asked
    moved = client.post("/deals/1/move", data={"csrf": token, "stage": "inscrit", "prompt": "1",
                                               "tick.Paiement reçu": "1"})  # fmt: skip
    assert (moved.status_code, moved.headers["location"]) == (303, "/deals/1")
    assert query(pages.project, "SELECT stage, status FROM deals WHERE id = 1") == [
        ("inscrit", "won")]  # fmt: skip
    assert query(
        pages.project, "SELECT stage, item, ticked, by FROM checklist_history WHERE deal_id = 1"
    ) == [("essai-realise", "Paiement reçu", 1, "marie")]
    history = client.get("/deals/1").text.split("<h2>Historique</h2>")[1].split("</ol>")[0]
    assert 'coché « Paiement reçu » <span class="muted">(Marie Dupont)' in history
    assert history.index("Paiement reçu") < history.index("Inscription confirmée")


def test_the_boards_script_gets_a_409_saying_what_is_missing(pages):
    client = signed_in(pages)
    token = csrf_of(client.get("/").text)
    refused = client.post("/deals/3/move", data={"csrf": token, "stage": "essai-planifie"},
                          headers={"Accept": "application/json"})  # fmt: skip
    assert refused.status_code == 409
    assert refused.json() == {
        "error": "l’affaire n° 3 ne peut pas entrer dans « Cours d'essai planifié » :"
                 " contact.date_essai n’est pas renseigné",
        "missing": {"fields": ["contact.date_essai"], "items": []},
    }  # fmt: skip
    assert query(pages.project, "SELECT stage FROM deals WHERE id = 3") == [("nouveau",)]


def test_a_ticket_dropped_on_a_stage_needing_an_owner_asks_for_one_of_the_team(pages, sf):
    sf("tickets", "add", "--subject", "Changer de créneau")
    ticket = query(pages.project, "SELECT max(id) FROM deals")[0][0]
    client = signed_in(pages)
    token = csrf_of(client.get("/").text)
    refused = client.post(f"/deals/{ticket}/move", data={"csrf": token, "stage": "en-cours"})
    asked = client.get(refused.headers["location"]).text
    assert "La demande n° " in asked and "owner n’est pas renseigné" in asked
    assert '<select name="set.owner" required>' in asked
    assert '<option value="paul">Paul Martin</option>' in asked
    form = {"csrf": token, "stage": "en-cours", "prompt": "1", "set.owner": "paul"}
    moved = client.post(f"/deals/{ticket}/move", data={**form, "set.stage": "resolu"})
    assert moved.status_code == 303  # `set.stage` is no field: the rule is not bypassed
    changed = query(pages.project, "SELECT json_extract(data, '$.changed') FROM events"
                    " WHERE type = 'ticket.updated'")  # fmt: skip
    assert changed == [('["owner"]',)]
    assert query(pages.project, "SELECT stage, owner FROM deals WHERE id = ?", ticket) == [
        ("en-cours", "paul")]  # fmt: skip


def test_a_member_ticks_and_unticks_on_the_deal_page_a_viewer_cannot(pages):
    client = signed_in(pages)
    page = client.get("/deals/1").text
    token = csrf_of(page)
    assert 'action="/deals/1/check"' in page and "☐ Partition envoyée" in page
    ticked = client.post("/deals/1/check", data={"csrf": token, "item": "Partition envoyée"})
    assert (ticked.status_code, ticked.headers["location"]) == (303, "/deals/1")
    page = client.get("/deals/1").text
    assert "☑ Partition envoyée" in page and 'name="undo" value="1"' in page
    assert "Marie Dupont, 20/11/2026 10:00" in page.split('class="checklist"')[1]
    shown = client.get("/deals/1.json").json()["playbook"]["checklist"][0]
    assert (shown["item"], shown["ticked"], shown["ticked_by"]) == ("Partition envoyée", True,
                                                                     "marie")  # fmt: skip
    client.post("/deals/1/check", data={"csrf": token, "item": "Partition envoyée", "undo": "1"})
    assert "☐ Partition envoyée" in client.get("/deals/1").text
    assert query(pages.project, "SELECT item, ticked, by FROM checklist_history") == [
        ("Partition envoyée", 1, "marie"), ("Partition envoyée", 0, "marie")]  # fmt: skip
    viewer = signed_in(pages, "lea")
    page = viewer.get("/deals/1").text
    assert 'action="/deals/1/check"' not in page and "☐ Partition envoyée" in page
    refused = viewer.post(
        "/deals/1/check", data={"csrf": csrf_of(page), "item": "Présence confirmée"}
    )
    assert refused.status_code == 403
    assert len(query(pages.project, "SELECT * FROM checklist_ticks")) == 0


def test_the_deal_page_shows_the_stages_playbook_with_its_guidance_escaped(sf):
    project = prepare_team(sf)
    path = project / "pipelines" / "cours-essai.yaml"
    pipeline = yaml.safe_load(path.read_text())
    pipeline["stages"][1]["guidance"] += (
        "\n**Pas** de <script>alert('x')</script> [lien](javascript:alert(1))\n"
    )
    path.write_text(yaml.safe_dump(pipeline, allow_unicode=True))
    pages = Pages(project)
    try:
        page = signed_in(pages).get("/deals/1").text
    finally:
        pages.close()
    playbook = page.split('<section class="playbook">')[1].split("</section>")[0]
    assert "<p>Le cours d'essai a une date" in playbook and "<strong>Pas</strong>" in playbook
    assert "&lt;script&gt;alert('x')&lt;/script&gt;" in playbook
    assert "<script>" not in playbook and 'href="javascript' not in playbook
    assert "Étape suivante : Cours d&#39;essai réalisé" in playbook
    assert (
        "rien n’est exigé" in playbook
    )  # essai-planifie has no required item; essai-realise no field


def test_the_prompts_post_sets_only_the_fields_and_items_it_asked_for(pages, sf):
    """The prompt's post takes what the move lacks, nothing else: not the contact's email
    (the key that names the contact), not a field the stage does not require (a ticket's
    subject, a probability that is no number), not an item the move does not need."""
    client = signed_in(pages)
    token = csrf_of(client.get("/").text)
    contact = "SELECT c.email FROM contacts c JOIN deals d ON d.contact_id = c.id WHERE d.id = 3"
    email = query(pages.project, contact)
    before = query(pages.project, "SELECT title, probability FROM deals WHERE id = 3")
    moved = client.post("/deals/3/move", data={
        "csrf": token, "stage": "essai-planifie", "prompt": "1",
        "set.contact.date_essai": "2026-12-12T18:30", "set.contact.email": "pirate@example.org",
        "set.probability": "abc", "set.title": "Piraté", "tick.Appel de présentation": "1",
    })  # fmt: skip
    assert (moved.status_code, moved.headers["location"]) == (303, "/deals/3")
    assert query(pages.project, contact) == email
    assert query(pages.project, "SELECT stage FROM deals WHERE id = 3") == [("essai-planifie",)]
    assert query(pages.project, "SELECT title, probability FROM deals WHERE id = 3") == before
    assert query(pages.project, "SELECT * FROM checklist_ticks") == []
    sf("tickets", "add", "--subject", "Changer de créneau")
    ticket = query(pages.project, "SELECT max(id) FROM deals")[0][0]
    moved = client.post(f"/deals/{ticket}/move", data={
        "csrf": token, "stage": "en-cours", "prompt": "1", "set.owner": "paul",
        "set.subject": "Piraté", "set.priority": "urgent",
    })  # fmt: skip
    assert moved.status_code == 303
    assert query(pages.project, "SELECT stage, owner, title, priority FROM deals WHERE id = ?",
                 ticket) == [("en-cours", "paul", "Changer de créneau", "normal")]  # fmt: skip


def test_a_deal_without_contact_is_told_it_has_none_not_asked_a_date_it_cannot_save(pages, sf):
    sf("deals", "add", "--title", "Sans contact")
    deal = query(pages.project, "SELECT max(id) FROM deals")[0][0]
    asked = signed_in(pages).get(f"/deals/{deal}/move?to=essai-planifie").text
    assert "Date du cours d&#39;essai (Contact) : cette affaire n’a pas de contact" in asked
    assert 'name="set.contact.date_essai"' not in asked and 'class="primary"' not in asked
    assert f"salesflow deals move {deal} essai-planifie --force --by marie" in asked
    assert "forcez-le en ligne de commande" in asked


def test_the_deal_page_writes_the_entry_task_for_the_deal_and_its_delay_in_words(pages, sf):
    sf("deals", "move", "1", "essai-realise")
    page = signed_in(pages).get("/deals/1").text
    tasks = page.split("<h3>Tâches créées à l’entrée dans cette étape</h3>")[1].split("</ul>")[0]
    assert "Demander son avis à Julie après l&#39;essai" in tasks and "{{" not in tasks
    assert "échéance dans 1\xa0jour" in tasks
    [task] = signed_in(pages).get("/deals/1.json").json()["playbook"]["entry_tasks"]
    assert task == {
        "title": "Demander son avis à Julie après l'essai",
        "template": "Demander son avis à {{ contact.first_name }} après l'essai",
        "due_in": "1d",
    }


def test_ticking_as_json_answers_as_the_cli_and_a_closed_deal_refuses_it(pages, sf):
    """POST /deals/N/check as JSON gives `deals check --json`'s object; once the deal is won
    its page shows no empty playbook, and ticking is refused in the page's words."""
    client = signed_in(pages)
    token = csrf_of(client.get("/deals/1").text)
    json_answer = {"Accept": "application/json"}
    ticked = client.post("/deals/1/check", data={"csrf": token, "item": "partition  envoyée"},
                         headers=json_answer)  # fmt: skip
    assert ticked.status_code == 200
    assert ticked.json() == {
        "id": 1, "stage": "essai-planifie", "stage_name": "Cours d'essai planifié",
        "item": "Partition envoyée", "required": False, "ticked": True, "changed": True,
        "by": "marie",
    }  # fmt: skip
    again = sf("deals", "check", "1", "Partition envoyée", "--by", "marie", "--json")
    assert again == {**ticked.json(), "changed": False}
    sf("deals", "won", "1")
    page = client.get("/deals/1").text
    assert '<section class="playbook">' not in page  # “Inscription confirmée” has no playbook
    refused = client.post("/deals/1/check", data={"csrf": token, "item": "Présence confirmée"},
                          headers=json_answer)  # fmt: skip
    closed = "Gagnée : cette affaire est close, sa liste de contrôle ne se coche plus."
    assert (refused.status_code, refused.json()) == (409, {"error": closed})
    refused = client.post("/deals/1/check", data={"csrf": token, "item": "Présence confirmée"})
    assert refused.status_code == 409 and closed in refused.text
