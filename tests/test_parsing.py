"""Property tests for what varies widely: dates, amounts, emails, CSV shapes."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from salesflow.ingest.csvread import DELIMITERS, _strict_width, detect_delimiter, detect_encoding
from salesflow.values import (
    comparable,
    normalise_email,
    parse_amount,
    parse_date,
    parse_datetime,
    parse_money,
)

PARIS = ZoneInfo("Europe/Paris")
LOCALES = ["fr_FR", "en_US", "de_DE", "en_GB", "fr_CH", "es_ES"]


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)))
def test_dates_in_iso_and_in_french_day_first_form(day):
    assert parse_date(day.isoformat(), "fr_FR") == day
    assert parse_date(day.strftime("%d/%m/%Y"), "fr_FR") == day


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)))
def test_us_locale_reads_month_first(day):
    assert parse_date(day.strftime("%m/%d/%Y"), "en_US") == day


@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)))
def test_local_date_times_are_in_the_project_zone(moment):
    moment = moment.replace(second=0, microsecond=0)
    text = moment.strftime("%d/%m/%Y %H:%M")
    assert parse_datetime(text, "fr_FR", PARIS) == moment.replace(tzinfo=PARIS)


@pytest.mark.parametrize("text", ["31/02/2026", "2026-13-01", "demain", "05/12", "1/2/3/4"])
def test_not_dates(text):
    with pytest.raises(ValueError, match="is not a date"):
        parse_date(text, "fr_FR")


@given(st.decimals(min_value=0, max_value=10**9, places=2))
def test_amounts_with_french_separators(amount):
    whole, cents = f"{amount:.2f}".split(".")
    grouped = f"{int(whole):,}".replace(",", "\u202f")
    assert parse_amount(f"{grouped},{cents}", "fr_FR") == amount
    assert parse_amount(f"{int(whole):,}".replace(",", " ") + f",{cents}", "fr_FR") == amount
    assert parse_amount(f"{amount:.2f}", "fr_FR") == amount


@pytest.mark.parametrize("text", ["abc", "1,2,3", "", "€", "inf", "-Infinity", "nan", "1 2,5"])
def test_not_amounts(text):
    with pytest.raises(ValueError, match="is not an amount"):
        parse_amount(text, "fr_FR")


@given(st.decimals(min_value=0, max_value=10**9, places=2), st.sampled_from(LOCALES))
@example(Decimal("1000000000.00"), "fr_CH")  # Babel 2.19: `1000000'000,00 €`
def test_money_as_the_locale_prints_it_reads_back_exactly(amount, locale):
    """What the board prints (`1 234,50 €`, `$1,234.50`, `1.234,50 €`) is what import reads."""
    from babel.numbers import format_currency

    printed = format_currency(amount, "EUR", locale=locale)
    assert parse_money(printed, locale, "EUR") == int(amount * 100)


@pytest.mark.parametrize(
    ("text", "locale", "currency"),
    [("$5", "en_GB", "GBP"), ("5 USD", "en_GB", "GBP"), ("5€", "en_GB", "GBP"),
     ("¥5", "fr_FR", "EUR"), ("5 £", "fr_FR", "EUR"), ("EUR 5", "en_US", "USD")],
)  # fmt: skip
def test_an_amount_in_another_currency_is_refused_not_relabelled(text, locale, currency):
    """`--amount '$5'` in a pound project was stored as £5.00, silently."""
    with pytest.raises(ValueError, match=f"is not in {currency}, the project's currency"):
        parse_money(text, locale, currency)


@pytest.mark.parametrize(
    ("text", "locale", "currency", "minor"),
    [("$5", "en_GB", "USD", 500), ("5 USD", "fr_FR", "USD", 500), ("£5", "en_GB", "GBP", 500),
     ("5 €", "fr_FR", "EUR", 500), ("$5", "fr_CA", "CAD", 500),
     ("¥500", "en_US", "JPY", 500), ("GBP 5", "en_GB", "GBP", 500)],
)  # fmt: skip
def test_the_projects_own_sign_or_code_is_read(text, locale, currency, minor):
    assert parse_money(text, locale, currency) == minor


@pytest.mark.parametrize(
    ("text", "locale", "message"),
    [
        ("12,345", "fr_FR", "'12,345' has more decimals than EUR has (2); here the comma is the"
         " decimal mark: write 12345 or 12 345 for thousands"),
        ("1200.505", "fr_FR", "'1200.505' has more decimals than EUR has (2); round it yourself"),
        ("-5", "fr_FR", "'-5': an amount cannot be negative"),
        ("12345678901234567890", "fr_FR", "is too large for an amount (at most 999,999,999,999)"),
        ("1,2", "en_US", "'1,2' is not an amount (e.g. 1200.50 or 1,200.50)"),
    ],
)  # fmt: skip
def test_money_is_never_rounded_or_guessed(text, locale, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_money(text, locale, "EUR")


local = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-",
                min_size=1, max_size=20)  # fmt: skip
domain = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?(\.[a-z]{2,6}){1,2}", fullmatch=True)


@given(local, domain, st.sampled_from(["", " ", "  \t"]))
def test_emails_are_trimmed_and_lower_cased(user, host, space):
    email = normalise_email(f"{space}{user}@{host.upper()}{space}")
    assert email == f"{user}@{host}".lower()
    assert normalise_email(email) == email


@pytest.mark.parametrize("text", ["julie", "julie@", "@example.org", "a b@example.org", "a@b@c"])
def test_not_emails(text):
    with pytest.raises(ValueError, match="is not an email address"):
        normalise_email(text)


cell = st.text(alphabet=st.characters(codec="cp1252", exclude_characters="\x00\r\n"), max_size=12)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(
    st.sampled_from(DELIMITERS),
    st.integers(min_value=2, max_value=6),
    st.lists(st.lists(cell, min_size=6, max_size=6), min_size=2, max_size=15),
    st.sampled_from(["utf-8", "cp1252"]),
)
def test_delimiter_and_encoding_of_generated_files(tmp_path, delimiter, width, rows, encoding):
    """Any file csv.writer makes — quotes, delimiters inside values — is read back as it was."""
    rows = [["email", *(f"col{n}" for n in range(width - 1))]] + [row[:width] for row in rows]
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    path = tmp_path / "generated.csv"
    path.write_bytes(buffer.getvalue().encode(encoding))
    found = detect_encoding(path, "fr_FR")
    assert found == ("utf-8" if path.read_bytes().isascii() else encoding)
    assert detect_delimiter(path.read_bytes().decode(found)) == delimiter
    assert list(csv.reader(io.StringIO(path.read_bytes().decode(found), newline=""),
                           delimiter=delimiter)) == rows  # fmt: skip


def test_decimal_stays_exact():
    assert parse_amount("0,10", "fr_FR") + parse_amount("0,20", "fr_FR") == Decimal("0.30")


def test_a_trailing_word_that_is_no_currency_code_is_not_dropped():
    with pytest.raises(ValueError, match="is not an amount"):
        parse_money("300 foo", "fr_FR", "EUR")
    assert parse_money("300 EUR", "fr_FR", "EUR") == 30000


@given(
    text=st.text(alphabet=st.characters(blacklist_characters='"\r\n'), max_size=60),
    end=st.sampled_from(["", "\n", "\r\n", "\r"]),
)
def test_a_line_without_quotes_has_the_width_a_csv_reader_gives(text, end):
    """A line with no quote is split by counting delimiters (detect_delimiter reads each
    line of a 64 kB sample four times): the width csv's strict reader gives."""
    line = text + end
    for delimiter in DELIMITERS:
        read = next(csv.reader([line], delimiter=delimiter, strict=True), [])
        assert _strict_width(line, delimiter) == len(read)


@given(text=st.text(alphabet=st.characters(max_codepoint=127), max_size=40))
def test_an_ascii_name_is_made_comparable_as_any_other(text):
    """comparable's shortcut for ASCII names gives what its general path gives."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    bare = re.sub(r"[\u2010-\u2015_]", "-", bare).replace("\u2019", "'")
    assert comparable(text) == " ".join(bare.split())
