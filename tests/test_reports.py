"""Pipeline reports against figures computed by hand on small fixed data sets."""

from __future__ import annotations

import csv
import io

import pytest
from ticks import tick

pytestmark = pytest.mark.engines


DAY0 = 20  # 2026-11-20


def at(day: int, hour: int = 10) -> str:
    """Day `day` of the story (day 0 = 2026-11-20) at `hour`, Paris time."""
    from datetime import date, timedelta

    return f"{date(2026, 11, DAY0) + timedelta(days=day)}T{hour:02}:00"


@pytest.fixture
def funnel_data(sf):
    """Ten deals with known histories (see the funnel test for what each did)."""
    for n in range(1, 11):
        sf("contacts", "add", f"d{n}@example.org", "--field", "date_essai=2026-11-27T18:30",
           now=at(0))  # fmt: skip
        sf("deals", "add", "--title", f"D{n}", "--contact", f"d{n}@example.org", now=at(0))
    moves = [
        (1, ["1", "perdu", "--reason", "trop loin"], [8]),
        (2, ["essai-planifie"], [1, 2, 3, 4, 5, 6]),
        (3, ["essai-realise"], [7]),  # skips essai-planifie
        (6, ["essai-realise"], [1, 2, 3]),
        (8, ["inscrit"], [1, 7]),
        (10, ["perdu", "--reason", "prix"], [4]),
        (12, ["inscrit"], [2]),
    ]
    for day, args, deal_ids in moves:
        for deal in deal_ids:
            stage_args = args[1:] if args[0] == "1" else args
            if stage_args[0] == "inscrit":  # enrolment needs the payment received
                tick(sf, deal, "Paiement reçu", now=at(day, 9))
            sf("deals", "move", str(deal), *stage_args, now=at(day))
    return sf


def test_funnel_counts_reached_conversion_and_median_days(funnel_data):
    rows = funnel_data("pipeline", "funnel", "--json", now=at(14))["rows"]
    assert [(r["stage"], r["reached"], r["to_next"], r["from_first"], r["median_days"])
            for r in rows] == [
        ("nouveau", 10, 0.7, 1.0, 2.0),  # stays 1, 2×6, 3 (D9, D10 still there: not counted)
        ("essai-planifie", 7, 0.5714, 0.7, 4.0),  # D7 skipped it and counts; stays 4, 4, 4, 8
        ("essai-realise", 4, 0.75, 0.4, 5.0),  # stays 2, 5, 6
        ("inscrit", 3, None, 0.3, None),
    ]  # fmt: skip


def test_funnel_since_keeps_only_newer_deals(funnel_data):
    rows = funnel_data("pipeline", "funnel", "--since", "21/11/2026", "--json", now=at(14))["rows"]
    assert [r["reached"] for r in rows] == [0, 0, 0, 0]


def test_losses_by_stage_and_reason(funnel_data):
    report = funnel_data("pipeline", "losses", "--json", now=at(14))
    assert [(r["stage"], r["reason"], r["deals"]) for r in report["rows"]] == [
        ("essai-planifie", "prix", 1),
        ("nouveau", "trop loin", 1),
    ]
    assert report["totals"]["deals"] == 2


@pytest.fixture
def forecast_data(sf):
    for email, owner in (("a@example.org", "marie"), ("b@example.org", "paul")):
        sf("contacts", "add", email, "--owner", owner, "--field", "date_essai=2026-11-27T18:30")
    deals = [
        ("A", "a@example.org", "nouveau", "1000", "15/12/2026"),  # 10 %
        ("B", "b@example.org", "essai-planifie", "500", "2026-12-20"),  # 40 %
        ("C", "a@example.org", "essai-realise", "200,50", "10/01/2027"),  # 70 %
        ("D", "b@example.org", "essai-realise", "300", "2026-12-01"),  # won below
    ]
    for title, email, stage, amount, close in deals:
        sf("deals", "add", "--title", title, "--contact", email, "--stage", stage,
           "--amount", amount, "--expected-close", close)  # fmt: skip
    for task in sf("tasks", "list", "--json"):  # the trial's feedback, asked on entry
        sf("tasks", "done", str(task["id"]))
    tick(sf, 4, "Paiement reçu", now="2026-12-01T11:00")
    sf("deals", "won", "4", now="2026-12-01T12:00")
    return sf


def test_forecast_by_month(forecast_data):
    report = forecast_data("pipeline", "forecast", "--json", now="2026-12-02T09:00")
    assert [
        (r["month"], r["deals"], r["amount"], r["weighted"], r["won"]) for r in report["rows"]
    ] == [
        ("2026-12", 2, "1500.00", "300.00", "300.00"),
        ("2027-01", 1, "200.50", "140.35", "0.00"),
    ]  # money: decimal strings with the currency's digits
    assert (report["totals"]["weighted"], report["totals"]["won"]) == ("440.35", "300.00")


def test_forecast_by_owner(forecast_data):
    report = forecast_data("pipeline", "forecast", "--by", "owner", "--json", now="2026-12-02")
    assert [(r["owner"], r["weighted"], r["won"]) for r in report["rows"]] == [
        ("marie", "240.35", "0.00"), ("paul", "200.00", "300.00"),
    ]  # fmt: skip
    before = forecast_data("pipeline", "forecast", "--by", "owner", "--json")  # on 11-20
    # D, won on 12-01, is still open (at 70 %) on 11-20
    assert [(r["owner"], r["deals"], r["weighted"], r["won"]) for r in before["rows"]] == [
        ("marie", 2, "240.35", "0.00"), ("paul", 2, "410.00", "0.00"),
    ]  # fmt: skip


def test_forecast_names_the_row_of_deals_without_an_expected_close(forecast_data):
    forecast_data("deals", "add", "--title", "E", "--contact", "a@example.org", "--amount", "90")
    table = forecast_data("pipeline", "forecast").output
    cells = [[cell.strip() for cell in line.split("│")[1:3]] for line in table.splitlines()]
    assert ["no expected close", "1"] in cells  # was a blank month
    markdown = forecast_data("pipeline", "forecast", "--format", "markdown").output
    assert "| no expected close | 1 | 90,00" in markdown
    rows = forecast_data("pipeline", "forecast", "--json")["rows"]
    assert rows[-1]["month"] is None and rows[-1]["deals"] == 1  # JSON: data, not words


def test_board_columns_and_cards(forecast_data):
    board = forecast_data("pipeline", "board", "--json", now="2026-12-30T09:00")
    stages = board["rows"]
    summary = [(s["stage"], s["count"], s["amount"]) for s in stages]
    assert summary == [
        ("nouveau", 1, "1000.00"), ("essai-planifie", 1, "500.00"),
        ("essai-realise", 1, "200.50"), ("inscrit", 1, "300.00"), ("perdu", 0, "0.00"),
    ]  # fmt: skip
    assert board["totals"] == {
        "name": "total",
        "count": 3,
        "amount": "1700.50",
        "weighted": "440.35",
    }  # the open deals: the forecast's 440.35, not the 300.00 won
    assert [s["weighted"] for s in stages][3:] == ["300.00", "0.00"]
    card = stages[1]["cards"][0]
    assert (card["title"], card["contact"], card["owner"]) == ("B", "b@example.org", "paul")
    assert (card["days_in_stage"], card["stalled"]) == (39, True)  # rots after 2 weeks
    assert stages[0]["cards"][0]["stalled"] is True  # nouveau rots after 3 days
    assert stages[3]["cards"][0]["stalled"] is False  # closed deals never stall


def test_board_fits_80_columns_and_marks_stalled_deals(forecast_data):
    output = forecast_data("pipeline", "board", now="2026-12-30T09:00").output
    assert max(len(line) for line in output.splitlines()) <= 80
    assert "⚠" in output
    assert "1\u202f000,00\u00a0€" in output  # French money: (narrow) no-break spaces


def test_stalled_most_overdue_first(forecast_data):
    report = forecast_data("pipeline", "stalled", "--json", now="2026-12-10T10:00")
    rows = report["rows"]
    assert report["totals"] == {"title": "total: 3 deals", "amount": "1700.50"}
    assert [(r["title"], r["days_in_stage"], r["days_overdue"]) for r in rows] == [
        ("A", 20, 17),  # nouveau: 3 days
        ("C", 20, 13),  # essai-realise: 1 week
        ("B", 20, 6),  # essai-planifie: 2 weeks
    ]


def test_workload_per_member(forecast_data):
    forecast_data("tasks", "add", "Call A", "--assignee", "marie", "--due", "1d")
    forecast_data("tasks", "add", "Call B", "--assignee", "marie", "--due", "5d")
    report = forecast_data("pipeline", "workload", "--json", now="2026-11-22T10:00")
    rows = report["rows"]
    assert report["totals"]["open_tasks"] == 2 and report["totals"]["weighted"] == "650.35"
    assert [(r["owner"], r["open_deals"], r["weighted"], r["open_tasks"], r["overdue_tasks"])
            for r in rows] == [
        ("marie", 2, "240.35", 2, 1),
        ("paul", 2, "410.00", 0, 0),  # D, won on 12-01, is still open (70 %) on 11-22
    ]  # fmt: skip


def test_csv_for_spreadsheets_neutralises_formulas(sf):
    sf("contacts", "add", "x@example.org", "--first-name", "=HYPERLINK(\"http://evil\")",
       "--company", "+33 SARL")  # fmt: skip
    sf("deals", "add", "--title", "@SUM(A1)", "--contact", "x@example.org", "--amount", "1234,5")
    text = sf("deals", "list", "--format", "csv").output
    assert text.startswith("\ufeff")  # so Excel reads UTF-8
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))  # French Excel
    header, row = rows[0], rows[1]
    assert header[:2] == ["#", "deal"]
    assert row[1] == "'@SUM(A1)"
    assert row[header.index("amount")] == "1234,50"
    contacts = sf("contacts", "list", "--format", "csv").output.lstrip("\ufeff")
    contact = list(csv.reader(io.StringIO(contacts), delimiter=";"))[1]
    assert '\'=HYPERLINK("http://evil")' in contact
    assert "'+33 SARL" in contact


def test_markdown_report_for_mail(forecast_data):
    text = forecast_data("pipeline", "forecast", "--format", "markdown", now="2026-12-02").output
    lines = text.splitlines()
    assert lines[0] == "## Forecast by month"
    assert lines[2].startswith("| expected close | open deals |")
    assert "| total | 3 | 1 700,50 € | 440,35 € | 300,00 € |" in text.replace(
        "\u202f", " "
    ).replace("\u00a0", " ")


@pytest.mark.parametrize("output", ["csv", "markdown"])
def test_board_as_csv_or_markdown_names_each_deals_stage(forecast_data, output):
    text = forecast_data("pipeline", "board", "--format", output, now="2026-12-30T09:00").output
    assert "Cours d'essai planifié" in text and "Nouveau prospect" in text


def test_forecast_by_owner_names_nobody_as_workload_does(sf):
    sf("contacts", "add", "x@example.org")
    sf("deals", "add", "--title", "X", "--contact", "x@example.org", "--amount", "100")
    output = sf("pipeline", "forecast", "--by", "owner").output
    assert "(nobody)" in output
    assert sf("pipeline", "forecast", "--by", "owner", "--json")["rows"][0]["owner"] is None


def remove_stage_essai_realise(project) -> None:
    """The stage goes from the pipeline's YAML, its lines up to the next stage's (and the
    workflow that moved deals there)."""
    pipeline = project / "pipelines" / "cours-essai.yaml"
    kept, inside = [], False
    for line in pipeline.read_text().splitlines():
        if line.startswith("  - "):
            inside = "essai-realise" in line
        if not inside:
            kept.append(line)
    pipeline.write_text("\n".join(kept))
    workflow = project / "workflows" / "apres-essai.yaml"
    workflow.write_text(workflow.read_text().replace("to: essai-realise", "to: inscrit"))


def test_deals_in_a_stage_removed_from_the_pipeline_are_shown_and_warned(sf, backend):
    sf("contacts", "add", "x@example.org")
    sf("deals", "add", "--title", "X", "--contact", "x@example.org", "--amount", "100")
    sf("deals", "move", "1", "essai-realise")
    remove_stage_essai_realise(sf.project)
    warning = (
        "1 deal is in stage 'essai-realise', which pipeline 'cours-essai' no longer has: move"
        " it (`salesflow deals move ID STAGE`), or put the stage back"
    )
    if backend == "sqlite":  # validate never connects to a PostgreSQL server (a hook's check)
        result = sf("validate")
        assert "no errors, 1 warning\n" in result.output and f"warning: {warning}" in result.output
        assert sf("validate", "--strict", code=1)
    board = sf("pipeline", "board", "--json")
    assert board["rows"][-1]["stage"] == "essai-realise" and board["rows"][-1]["count"] == 1
    assert board["notes"] == [f"warning: {warning}"]
    forecast = sf("pipeline", "forecast", "--json")
    assert forecast["totals"]["amount"] == "100.00"  # not dropped
    assert f"warning: {warning}" in forecast["notes"]


def test_the_funnel_warns_about_deals_in_a_removed_stage_as_the_board_does(sf):
    from conftest import Pages, prepare_team, signed_in

    prepare_team(sf)
    sf("deals", "move", "1", "essai-realise")
    remove_stage_essai_realise(sf.project)
    warning = "1 deal is in stage 'essai-realise', which pipeline 'cours-essai' no longer has"
    assert f"warning: {warning}" in " ".join(sf("pipeline", "funnel").output.split())
    assert any(note.startswith(f"warning: {warning}")
               for note in sf("pipeline", "funnel", "--json")["notes"])  # fmt: skip
    pages = Pages(sf.project)
    try:
        page = signed_in(pages).get("/funnel")
    finally:
        pages.close()
    assert (  # the page says it in its language
        "attention : 1 affaire est dans l’étape « essai-realise », que le pipeline « cours-essai »"
        " n’a plus" in page.text
    )


def test_nothing_in_a_report_comes_from_after_its_now(sf):
    sf("contacts", "add", "julie@example.org", "--owner", "marie")
    sf("tickets", "add", "--subject", "A", "--contact", "julie@example.org", "--priority", "high",
       now="2026-11-20T09:00")  # fmt: skip
    sf("workflows", "start", "inviter", "--contact", "julie@example.org", now="2026-11-20T10:00")
    sf("tickets", "move", "1", "en-cours", now="2026-11-20T12:00")
    tick(sf, 1, "Réponse envoyée au membre", now="2026-11-21T08:00")
    sf("tickets", "close", "1", now="2026-11-21T09:00")

    def high(now: str) -> tuple:
        [row] = sf("pipeline", "response", "support", "--json", now=now)["rows"]
        return (row["first_response_hours"], row["resolved"], row["resolution_hours"])

    assert high("2026-11-20T09:30") == (None, 0, None)  # the email is still to come
    assert high("2026-11-20T11:00") == (1.0, 0, None)
    assert high("2026-11-22T09:00") == (1.0, 1, 24.0)
    sf("deals", "add", "--title", "Plus tard", "--pipeline", "cours-essai", now="2026-12-10T09:00")
    board = sf("pipeline", "board", "cours-essai", "--json", now="2026-12-08T09:00")
    [card] = [c for s in board["rows"] for c in s["cards"] if c["title"] == "Plus tard"]
    assert card["days_in_stage"] == 0  # was -2


def test_stalled_tickets_are_a_report_of_their_own(sf):
    sf("tickets", "add", "--subject", "Absence")
    sf("deals", "add", "--title", "Essai", "--pipeline", "cours-essai")
    deals = sf("pipeline", "stalled", "--json", now="2026-12-10T10:00")
    assert [row["title"] for row in deals["rows"]] == ["Essai"]
    assert deals["totals"]["title"] == "total: 1 deal"
    tickets = sf("pipeline", "stalled", "support", "--json", now="2026-12-10T10:00")
    assert [row["subject"] for row in tickets["rows"]] == ["Absence"]
    assert tickets["totals"]["subject"] == "total: 1 ticket"
    assert "ticket" in sf("pipeline", "stalled", "support", now="2026-12-10T10:00").output
