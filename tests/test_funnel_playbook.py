"""The funnel's wait on a stage's required checklist items (issue #29): per stage with some,
the median hours from entering to the last required tick, the deals still waiting counted
to now; how many deals measured and still waiting; nothing for the other stages; as of
--now; the same on the funnel page's JSON."""

from __future__ import annotations

import pytest
from conftest import Pages, prepare_team, signed_in
from ticks import tick

pytestmark = pytest.mark.engines


def at(day: int, hour: int = 10) -> str:
    return f"2026-11-{20 + day}T{hour:02}:00"


def known_ticks(sf) -> None:
    """Five deals enter "Cours d'essai réalisé" (payment received required to leave it):
    D1 on day 0 at 10:00, ticked at 22:00 (12 h), won on day 1; D2 on day 0, ticked on day 2
    (48 h); D3 created in `nouveau`, moved in on day 1, never ticked; D4 on day 0, only an
    item not required ticked (still waiting); D5 on day 0, lost on day 1 without the tick."""
    d = {}
    for n, stage in ((1, "essai-realise"), (2, "essai-realise"), (3, "nouveau"),
                     (4, "essai-realise"), (5, "essai-realise")):  # fmt: skip
        sf("contacts", "add", f"d{n}@example.org", "--first-name", f"D{n}", now=at(0))
        added = sf("deals", "add", "--title", f"D{n}", "--contact", f"d{n}@example.org",
                   "--stage", stage, "--json", now=at(0))  # fmt: skip
        d[n] = added["id"]
    tick(sf, d[1], "Paiement reçu", now=at(0, 22))
    tick(sf, d[4], "Avis recueilli", now=at(0, 11))  # not a required item
    sf("deals", "won", str(d[1]), now=at(1))
    sf("deals", "move", str(d[3]), "essai-realise", now=at(1))
    sf("deals", "lost", str(d[5]), "--reason", "trop loin", now=at(1))
    tick(sf, d[2], "Paiement reçu", now=at(2))


def waits(sf, now: str) -> dict:
    rows = sf("pipeline", "funnel", "--json", now=now)["rows"]
    return {
        row["stage"]: (row["items_median_hours"], row["items_measured"], row["items_waiting"])
        for row in rows
    }


def test_the_median_wait_on_the_required_items_counts_the_deals_still_waiting(sf):
    known_ticks(sf)
    assert waits(sf, at(3)) == {
        "nouveau": (None, None, None),  # no required item: nothing, not 0
        "essai-planifie": (None, None, None),
        "essai-realise": (48.0, 4, 2),  # 12, 48 ticked; D3 48 and D4 72 still waiting
        "inscrit": (None, None, None),
    }
    text = sf("pipeline", "funnel", now=at(3)).output
    assert "required items (h)" in text and "48,0" in text


def test_the_wait_is_as_of_now(sf):
    known_ticks(sf)
    # day 1 at noon: D2 still waits (26 h), D3 came in at 10:00 (2 h), D4 26 h, D5 lost
    assert waits(sf, at(1, 12))["essai-realise"] == (19.0, 4, 3)
    # day 0 at 23:00: D3 not in the stage yet, D5 not lost yet (13 h), D1 ticked (12 h)
    assert waits(sf, at(0, 23))["essai-realise"] == (13.0, 4, 3)
    assert waits(sf, at(0, 9))["essai-realise"] == (None, 0, 0)  # before anyone entered


def test_since_keeps_the_wait_of_newer_deals_only(sf):
    known_ticks(sf)
    rows = sf("pipeline", "funnel", "--since", "2026-11-21", "--json", now=at(3))["rows"]
    assert [row["items_measured"] for row in rows] == [None, None, 0, None]


def test_the_funnel_page_shows_the_wait_and_its_json_is_the_clis(sf):
    prepare_team(sf)
    known_ticks(sf)
    pages = Pages(sf.project, now=at(3))
    try:
        client = signed_in(pages)
        answer = client.get("/funnel.json?pipeline=cours-essai").json()
        page = client.get("/funnel?pipeline=cours-essai").text
    finally:
        pages.close()
    assert answer == sf("pipeline", "funnel", "cours-essai", "--json", now=at(3))
    [row] = [row for row in answer["rows"] if row["stage"] == "essai-realise"]
    assert row["items_measured"] >= 4
    assert "éléments requis, heures (médiane)" in page and "encore en attente" in page
