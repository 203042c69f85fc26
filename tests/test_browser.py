"""The pages in a real headless Chromium (Debian's `chromium`, driven by Playwright; its own
browser download is never used): what a manager sees and does, under the pages' Content
Security Policy — a test whose pages meet a CSP violation (in any frame) fails. Skipped, with
one line in the summary, where no chromium is installed."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from conftest import CHROMIUM, CHROMIUM_FLAGS, PASSWORDS, Server, prepare_team, query

pytestmark = pytest.mark.skipif(not CHROMIUM, reason="no chromium (see the summary line)")


@pytest.fixture(scope="module")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser) -> Iterator:
    """`new_page(**context_options)`: a page in a context of its own whose CSP violations (the
    console errors Chromium writes for them, from every frame) fail the test at its end."""
    violations: list[str] = []
    contexts = []

    def watch(message) -> None:
        if "Content Security Policy" in message.text:
            violations.append(f"{message.location.get('url')}: {message.text}")

    def opened(**options):
        contexts.append(browser.new_context(**options))
        page = contexts[-1].new_page()
        page.on("console", watch)
        return page

    yield opened
    for context in contexts:
        context.close()
    assert violations == []


@pytest.fixture
def site(sf):
    prepare_team(sf)
    running = Server(sf.project)  # with the worker: moves fire the workflows on their own
    yield running
    running.stop()


def logged_in(new_page, site: Server, member: str = "marie", **options):
    page = new_page(**options)
    page.goto(f"{site.url}/")
    page.fill("input[name=member]", member)
    page.fill("input[name=password]", PASSWORDS[member])
    page.click("button.primary")
    page.wait_for_selector(".board")
    return page


def styled(page) -> bool:
    """True when the style sheet applies (it takes the browser's margin off the body)."""
    return page.evaluate("getComputedStyle(document.body).marginTop") == "0px"


def column_count(page, stage: str) -> str:
    board = '.board[data-pipeline="cours-essai"]'
    return page.locator(f'{board} section[data-stage="{stage}"] .count').inner_text()


def wait_for(project, sql: str, expected: list[tuple], seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while query(project, sql) != expected:
        assert time.monotonic() < deadline, query(project, sql)
        time.sleep(0.1)


def test_a_manager_drags_a_deal_to_the_next_stage_and_sees_the_workflow_fire(new_page, site):
    page = logged_in(new_page, site)
    assert styled(page)
    assert [column_count(page, stage) for stage in ("nouveau", "essai-planifie", "perdu")] == [
        "2", "1", "0"]  # fmt: skip
    page.drag_and_drop('article[data-deal="1"]', 'section[data-stage="essai-realise"]')
    page.wait_for_selector('section[data-stage="essai-realise"] article[data-deal="1"]')
    assert column_count(page, "essai-realise") == "1"
    assert query(site.project, "SELECT to_stage, by FROM stage_history WHERE deal_id = 1"
                 " ORDER BY id DESC LIMIT 1") == [("essai-realise", "marie")]  # fmt: skip
    wait_for(site.project, "SELECT workflow FROM runs WHERE deal_id = 1 ORDER BY id",
             [("essai-formulaire",), ("apres-essai",)])  # fmt: skip
    page.click('article[data-deal="1"] a.title')
    page.wait_for_selector("h1")
    assert "apres-essai" in page.inner_text("main")


def test_the_move_button_works_with_javascript_off(new_page, site):
    page = logged_in(new_page, site, java_script_enabled=False)
    card = page.locator('article[data-deal="2"]')
    card.locator("select").select_option("essai-planifie")
    card.locator("button").click()
    page.wait_for_selector('section[data-stage="essai-planifie"] article[data-deal="2"]')
    assert query(site.project, "SELECT stage FROM deals WHERE id = 2") == [("essai-planifie",)]


def test_a_viewer_has_nothing_to_drag_and_no_button(new_page, site):
    page = logged_in(new_page, site, "lea")
    assert column_count(page, "nouveau") == "2"
    assert page.locator("article[draggable]").count() == 0
    assert page.locator("article form").count() == 0


def test_the_html_report_opens_with_the_network_off(new_page, sf, tmp_path):
    prepare_team(sf)
    report = tmp_path / "rapport.html"
    sf("report", "--html", report)
    board = {row["stage"]: row["count"] for row in sf("pipeline", "board", "--json")["rows"]}
    page = new_page(offline=True)
    asked = []
    page.on("request", lambda request: asked.append(request.url))
    page.goto(report.as_uri())
    shown = {stage: int(column_count(page, stage)) for stage in board}
    assert shown == board
    assert page.locator("svg.chart").count() >= 5
    assert styled(page)  # its inline style sheet, allowed by its hash
    assert asked == [report.as_uri()]  # the file itself, nothing else


def test_the_message_page_shows_the_emails_html_in_a_sandboxed_frame(new_page, site):
    page = logged_in(new_page, site, "lea")  # a viewer reads messages too
    page.goto(f"{site.url}/messages/1")
    frame = page.frame_locator("iframe.email-html")
    assert "Votre cours d'essai aura lieu" in " ".join(frame.locator("body").inner_text().split())
    assert page.get_attribute("iframe.email-html", "sandbox") == ""  # no script, no same origin
    email = next(frame for frame in page.frames if frame.url.endswith("/messages/1/html"))
    shown = email.evaluate("[origin, getComputedStyle(document.body).fontFamily]")
    assert shown == ["null", "sans-serif"]  # an origin of its own; its inline style applies


def test_every_page_kind_opens_styled_under_the_policy(new_page, site):
    page = logged_in(new_page, site)
    for path in ("/funnel", "/forecast", "/activity", "/deals/1",
                 "/pipelines/cours-essai/stages/nouveau", "/deals/999"):  # fmt: skip
        page.goto(f"{site.url}{path}")
        assert styled(page), path


def test_a_cards_move_list_is_wide_enough_for_its_longest_stage_name(new_page, site):
    page = logged_in(new_page, site)
    widths = page.evaluate("""[...document.querySelectorAll('.card select')].map(select => {
        const alone = select.cloneNode(true);  // as wide as its longest option, unsqueezed
        alone.style.cssText = "position: absolute; width: auto; flex: none";
        select.parentNode.append(alone);
        const needed = alone.offsetWidth;
        alone.remove();
        return [select.offsetWidth, needed];
    })""")
    assert widths and all(shown >= needed for shown, needed in widths), widths
    card = page.locator('article[data-deal="1"]')
    assert card.locator("select").input_value() == ""  # "Déplacer vers…", not its own stage
    box, button = card.bounding_box(), card.locator("button").bounding_box()
    assert button["x"] + button["width"] <= box["x"] + box["width"]  # the button stays inside


def test_a_card_dropped_on_a_stage_it_lacks_a_field_for_opens_the_prompt_and_moves(new_page, site):
    """Deal #3 (Œdipe, no trial date) dropped on "Cours d'essai planifié": the board asks
    for the contact's date in a dialog; filled, the card moves."""
    page = logged_in(new_page, site)
    page.drag_and_drop('article[data-deal="3"]', 'section[data-stage="essai-planifie"]')
    dialog = page.locator("dialog.prompt")
    dialog.wait_for()
    assert "contact.date_essai" in dialog.locator(".error").inner_text()
    dialog.locator('input[name="set.contact.date_essai"]').fill("2026-12-12T18:30")
    dialog.locator("button.primary").click()
    page.wait_for_selector('section[data-stage="essai-planifie"] article[data-deal="3"]')
    assert column_count(page, "essai-planifie") == "2"
    assert query(site.project, "SELECT to_stage, by FROM stage_history WHERE deal_id = 3"
                 " ORDER BY id DESC LIMIT 1") == [("essai-planifie", "marie")]  # fmt: skip


def test_the_prompt_works_with_javascript_off_and_ticks_the_payment(new_page, site, sf):
    """With JavaScript off, "Inscription confirmée" chosen for a deal whose payment is not
    ticked: the prompt page asks for the tick, and its button enrols."""
    sf("deals", "move", "1", "essai-realise")
    page = logged_in(new_page, site, java_script_enabled=False)
    card = page.locator('article[data-deal="1"]')
    card.locator("select").select_option("inscrit")
    card.locator("button").click()
    page.wait_for_selector("form.prompt")
    assert "Paiement reçu" in page.inner_text(".error")
    page.check('input[name="tick.Paiement reçu"]')
    page.click("form.prompt button.primary")
    page.wait_for_selector(".board")
    assert query(site.project, "SELECT stage FROM deals WHERE id = 1") == [("inscrit",)]
    assert query(site.project, "SELECT item, ticked_by FROM checklist_ticks WHERE deal_id = 1") == [
        ("Paiement reçu", "marie")]  # fmt: skip
