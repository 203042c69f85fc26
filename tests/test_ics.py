"""Calendar invitations: what salesflow writes, read back by icalendar (a real reader)."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from icalendar import Calendar

from salesflow.mail.ics import invitation

START = datetime(2026, 12, 5, 17, 30, tzinfo=UTC)
# Any text a template may produce: accents, emoji, separators that need escaping, line breaks.
TEXT = st.text(
    st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\u2028\u2029")
    | st.sampled_from(["\n", ";", ",", "\\", ":", '"', "é", "€", "😀"]),
    min_size=1,
    max_size=300,
).filter(lambda text: text.strip())


def read(summary: str, location: str | None = None, description: str | None = None):
    text = invitation("a1@club.example", START, START, START + timedelta(hours=1, minutes=30),
                      summary, location, description, "bonjour@club.example",
                      "julie@example.org")  # fmt: skip
    return text, Calendar.from_ical(text).walk("VEVENT")[0]


def test_the_event_reads_back_with_its_times_in_utc_and_its_people():
    text, event = read("Cours d'essai — Club de chant", "Salle des fêtes, 12 rue des Lilas")
    assert text.startswith("BEGIN:VCALENDAR\r\n") and text.endswith("END:VCALENDAR\r\n")
    assert "METHOD:PUBLISH\r\n" in text
    assert event.decoded("dtstart") == START
    assert event.decoded("dtend") - event.decoded("dtstart") == timedelta(hours=1, minutes=30)
    assert str(event["summary"]) == "Cours d'essai — Club de chant"
    assert str(event["location"]) == "Salle des fêtes, 12 rue des Lilas"
    assert str(event["organizer"]) == "mailto:bonjour@club.example"
    assert str(event["attendee"]) == "mailto:julie@example.org"
    assert "DESCRIPTION" not in event


@given(summary=TEXT, location=TEXT, description=TEXT)
def test_any_text_comes_back_exactly_and_no_line_is_longer_than_75_octets(
    summary, location, description
):
    text, event = read(summary, location, description)
    assert str(event["summary"]) == summary.replace("\r", "")
    assert str(event["location"]) == location.replace("\r", "")
    assert str(event["description"]) == description.replace("\r", "")
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
