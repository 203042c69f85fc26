"""The pages in a real headless Chromium (Debian's `chromium`, driven by Playwright; its own
browser download is never used): what a manager sees and does. Skipped, with one line in
the summary, where no chromium is installed."""

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
def site(sf):
    prepare_team(sf)
    running = Server(sf.project)  # with the worker: moves fire the workflows on their own
    yield running
    running.stop()


def logged_in(browser, site: Server, member: str = "marie", **options):
    page = browser.new_context(**options).new_page()
    page.goto(f"{site.url}/")
    page.fill("input[name=member]", member)
    page.fill("input[name=password]", PASSWORDS[member])
    page.click("button.primary")
    page.wait_for_selector(".board")
    return page


def column_count(page, stage: str) -> str:
    board = '.board[data-pipeline="cours-essai"]'
    return page.locator(f'{board} section[data-stage="{stage}"] .count').inner_text()


def wait_for(project, sql: str, expected: list[tuple], seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while query(project, sql) != expected:
        assert time.monotonic() < deadline, query(project, sql)
        time.sleep(0.1)


def test_a_manager_drags_a_deal_to_the_next_stage_and_sees_the_workflow_fire(browser, site):
    page = logged_in(browser, site)
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


def test_the_move_button_works_with_javascript_off(browser, site):
    page = logged_in(browser, site, java_script_enabled=False)
    card = page.locator('article[data-deal="2"]')
    card.locator("select").select_option("essai-planifie")
    card.locator("button").click()
    page.wait_for_selector('section[data-stage="essai-planifie"] article[data-deal="2"]')
    assert query(site.project, "SELECT stage FROM deals WHERE id = 2") == [("essai-planifie",)]


def test_a_viewer_has_nothing_to_drag_and_no_button(browser, site):
    page = logged_in(browser, site, "lea")
    assert column_count(page, "nouveau") == "2"
    assert page.locator("article[draggable]").count() == 0
    assert page.locator("article form").count() == 0


def test_the_html_report_opens_with_the_network_off(browser, sf, tmp_path):
    prepare_team(sf)
    report = tmp_path / "rapport.html"
    sf("report", "--html", report)
    board = {row["stage"]: row["count"] for row in sf("pipeline", "board", "--json")["rows"]}
    page = browser.new_context(offline=True).new_page()
    asked = []
    page.on("request", lambda request: asked.append(request.url))
    page.goto(report.as_uri())
    shown = {stage: int(column_count(page, stage)) for stage in board}
    assert shown == board
    assert page.locator("svg.chart").count() >= 5
    assert asked == [report.as_uri()]  # the file itself, nothing else
