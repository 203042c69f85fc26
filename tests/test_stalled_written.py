"""The stalled report's JSON writes each amount from its integer (reports/stalled.py
`_decimal_text`): the text the Decimal of `from_minor` gives, for any amount and any
currency's digits (the report's rows as a whole: tests/test_forecast_bounded.py)."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from salesflow.reports.as_json import to_json
from salesflow.reports.stalled import _decimal_text
from salesflow.values import currency_digits, from_minor


@given(st.integers(-(2**63), 2**63 - 1), st.sampled_from(["EUR", "JPY", "BHD", "CLF"]))
@example(0, "EUR")
@example(-5, "EUR")
@example(-100, "BHD")
@example(-7, "JPY")
def test_an_amount_written_from_its_integer_is_the_decimals_text(minor, currency):
    written = _decimal_text(minor, currency_digits(currency))  # 2, 0, 3 and 4 digits
    assert written == to_json(str(from_minor(minor, currency)))
