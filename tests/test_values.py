"""Values people write in project files: durations, date-times, YAML positions."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from salesflow.clock import now, parse_now
from salesflow.config.yamlfile import load_yaml
from salesflow.durations import parse_duration
from salesflow.errors import UserError
from salesflow.values import DAY_ORDERS, babel_day_order, parse_date

PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90m", timedelta(minutes=90)),
        ("24h", timedelta(hours=24)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("1h30m", timedelta(minutes=90)),
    ],
)
def test_durations_as_people_write_them(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "2 days", "1.5h", "h", "12", "1m1h", "-1d"])
def test_not_a_duration(text):
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


UNITS = (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


@given(st.lists(st.integers(min_value=0, max_value=999), min_size=5, max_size=5), st.data())
def test_any_combination_of_units_in_order(counts, data):
    """Any of w, d, h, m, s, in that order, each with any count: the sum of its parts."""
    used = data.draw(st.lists(st.booleans(), min_size=5, max_size=5).filter(any))
    parts = [(count, unit) for count, unit, on in zip(counts, UNITS, used, strict=True) if on]
    text = "".join(f"{count}{name}" for count, (name, _) in parts)
    assert parse_duration(text) == timedelta(seconds=sum(c * s for c, (_, s) in parts))


def test_naive_now_is_in_the_project_zone():
    assert now("2026-12-01T09:00", PARIS).isoformat() == "2026-12-01T09:00:00+01:00"
    assert now("2026-07-01T09:00", PARIS).isoformat() == "2026-07-01T09:00:00+02:00"
    assert now("2026-12-01T09:00Z", PARIS).isoformat() == "2026-12-01T10:00:00+01:00"


def test_a_bad_now_is_a_user_error():
    with pytest.raises(UserError, match="not an ISO 8601 date-time"):
        parse_now("demain", PARIS)


keys = st.text(alphabet="abcdefghij_", min_size=1, max_size=8)
scalars = st.one_of(st.integers(), st.booleans(), st.text(alphabet="xyz 09", max_size=5))


@given(st.dictionaries(keys, st.one_of(scalars, st.lists(scalars, max_size=3)), min_size=1))
def test_yaml_positions_point_at_each_key(tmp_path_factory, data):
    """Whatever the document, every top-level key's recorded line is the line it is on."""
    path = tmp_path_factory.mktemp("yaml") / "f.yaml"
    text = yaml.safe_dump(data, allow_unicode=True, default_flow_style=False)
    path.write_text(text)
    document, problems = load_yaml(path)
    assert problems == []
    assert document.data == yaml.safe_load(text)
    lines = text.splitlines()
    for key in data:
        line, column = document.keys[(key,)]
        assert lines[line - 1][column - 1 :].lstrip("'\"").startswith(key)


def test_yaml_dates_stay_text(tmp_path):
    path = tmp_path / "f.yaml"
    path.write_text("at: 2026-12-05T18:30\nday: 2026-12-05\n")
    document, _ = load_yaml(path)
    assert document.data == {"at": "2026-12-05T18:30", "day": "2026-12-05"}


@pytest.mark.parametrize("locale", sorted(DAY_ORDERS))
def test_known_day_orders_are_babels(locale):
    """The table that spares an import Babel's locale data says what Babel's data says."""
    assert DAY_ORDERS[locale] == babel_day_order(locale)


def test_a_locale_outside_the_table_asks_babel():
    assert parse_date("05.12.2026", "fi_FI") == date(2026, 12, 5)  # d.M.y in Finnish
    assert parse_date("12/05/2026", "en_PH") == date(2026, 12, 5)  # month first
