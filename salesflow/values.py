"""Values as people type them — emails, amounts, dates — and as the store keeps them.

Emails are stored lower-cased (matching is case-insensitive); money as integer minor units of
the currency (never float); instants as UTC text `YYYY-MM-DDTHH:MM:SSZ`, which sorts as text
and which SQLite's date functions read; dates as `YYYY-MM-DD`.
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from functools import cache, lru_cache

from salesflow.phrases import Refused

# The WHATWG "valid e-mail address" grammar: under a µs a check, and what browsers accept.
EMAIL = re.compile(
    r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$"
)
# RFC 5321 lengths: a local part of at most 64 octets, a path of at most 256 (254 without <>).
MAX_LOCAL_PART = 64
MAX_ADDRESS = 254
# Years outside this range are typing mistakes or attacks ("9999-12-31"), and near the ends
# of Python's datetime range arithmetic overflows: refused at the door.
YEARS = range(1900, 2201)
# Control characters (C0 but tab, DEL, C1) and the Unicode line separators: in a single-line
# field they can only be noise or an attempt to break a header; line breaks become a space.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_BUT_BREAKS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
_LINE_BREAK = re.compile(r"\r\n|[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
# Characters of a number as written: a float holds 17 digits, so more is noise or an attack
# (past 4,300 digits Python refuses to read an integer at all).
MAX_NUMBER = 64
MAX_AMOUNT = 10**12  # major units: more is a typing mistake (and overflows SQLite's integers)
# A sign or code at either end (the spaces beside it are stripped after: a `\s*` here would
# scan a long run of spaces again from each of its positions)
_CURRENCY_SIGN = re.compile(r"^(?:[€$£¥]|[A-Z]{3}\b)|(?:[€$£¥]|\b[A-Z]{3})$")
# An internationalised local part (RFC 6531): letters of any script, the ASCII specials, then
# a domain already in punycode.
_LOCAL_UTF8 = re.compile(
    r"^[\w.!#$%&'*+/=?^`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$"
)
_PLAIN_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_SPACES = re.compile(r"[\s\u00a0\u202f\u2019']+")  # kinds of spaces and apostrophes
STORED_INSTANT = "%Y-%m-%dT%H:%M:%SZ"


def normalise_email(text: str) -> str:
    """`  Julie.Martin@Example.ORG ` → `julie.martin@example.org`; ValueError if not an address.

    Internationalised addresses are accepted (they need SMTPUTF8 to be sent): the local part
    NFC-normalised and lower-cased, the domain in punycode — so `Chloé@Gamma.example` typed
    with a composed or a decomposed é is one person."""
    email = text.strip().lower()
    if EMAIL.match(email) and len(email) <= MAX_ADDRESS and email.find("@") <= MAX_LOCAL_PART:
        return email  # the common case, ASCII (EMAIL matches nothing else): the import's path
    if not email.isascii():
        email = _international(email, text)
    if len(email.encode()) > MAX_ADDRESS or len(email.partition("@")[0].encode()) > MAX_LOCAL_PART:
        raise Refused("email_too_long", value=email[:40], length=len(email),
                      local=MAX_LOCAL_PART, total=MAX_ADDRESS)  # fmt: skip
    if not (EMAIL if email.isascii() else _LOCAL_UTF8).match(email):
        raise Refused("not_an_email", value=text.strip())
    return email


def _international(email: str, text: str) -> str:
    local, at, domain = unicodedata.normalize("NFC", email).rpartition("@")
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise Refused("not_an_email_domain", value=text.strip()) from None
    return f"{local}{at}{domain}"


def clean_line(text: str, multiline: bool = False) -> tuple[str, int]:
    """(text without control characters, how many were removed or replaced). In a
    single-line field a line break becomes one space; a multi-line one keeps CR and LF."""
    if not _CONTROL.search(text):
        return text, 0
    if multiline:
        cleaned, count = _CONTROL_BUT_BREAKS.subn("", text)
        return cleaned, count
    spaced, breaks = _LINE_BREAK.subn(" ", text)
    cleaned, others = _CONTROL.subn("", spaced)
    return cleaned, breaks + others


def has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None


def _in_range(value: date, text: str) -> None:
    if value.year not in YEARS:
        raise Refused("year_out_of_range", value=text, first=YEARS[0], last=YEARS[-1])


def comparable(text: str) -> str:
    """Text as people type a name, made comparable: case, accents, dashes, curly apostrophes
    and spaces aside (`  Adresse E‑mail ` → `adresse e-mail`, `Cours d’essai` → `cours
    d'essai`): CSV headers, stage names."""
    if text.isascii():  # no accent, dash or apostrophe of another kind (most names)
        return " ".join(text.lower().replace("_", "-").split())
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    bare = re.sub(r"[\u2010-\u2015_]", "-", bare).replace("\u2019", "'")
    return " ".join(bare.split())


def parse_amount(text: str | int | float | Decimal, locale: str) -> Decimal:
    """`1200.50`, or the locale's own writing with or without a currency sign: `1 200,50 €`
    (any kind of space) in French, `$1,200.50` in English. Groups must be whole (`1,2` is
    not 12 in English); infinities and NaN are not amounts, nor numbers of more than
    MAX_NUMBER characters or out of a float's range."""
    if isinstance(text, int) and abs(text) >= 10**MAX_NUMBER:  # str() fails past 4,300 digits
        raise Refused("number_too_many_digits", digits=MAX_NUMBER)
    if isinstance(text, int | float | Decimal):
        value = Decimal(str(text))
        if len(value.as_tuple().digits) > MAX_NUMBER:
            raise too_long_number(str(value))
    else:
        cleaned = _SPACES.sub(" ", _CURRENCY_SIGN.sub("", text.strip()).strip())
        if len(cleaned) > MAX_NUMBER:
            raise too_long_number(cleaned)
        value = Decimal(cleaned) if _PLAIN_NUMBER.match(cleaned) else _local_amount(cleaned, locale)
        if value is None:
            example = _amount_example(locale)
            raise Refused("not_an_amount_example", value=str(text), example=example)
    if not value.is_finite():
        raise Refused("not_an_amount", value=str(text))
    if not math.isfinite(float(value)):
        raise Refused("number_out_of_range", value=str(value))
    return value


def too_long_number(text: str) -> Refused:
    """Why a number of more than MAX_NUMBER characters is refused, showing its beginning."""
    return Refused("number_too_long", start=text[:12], length=f"{len(text):,}", most=MAX_NUMBER)


def _local_amount(cleaned: str, locale: str) -> Decimal | None:
    """The number written the locale's way (its group and decimal marks), or None."""
    from babel.numbers import get_decimal_symbol, get_group_symbol

    decimal_mark, group = get_decimal_symbol(locale), get_group_symbol(locale)
    marks = "[ '" + (re.escape(group) if group.strip() else "") + "]"  # spaces group anywhere
    # The first group may be longer than three digits: Babel (2.19) prints a million in
    # fr_CH as `1000000'000,00`; the groups after it must be whole.
    pattern = rf"-?\d+(?:{marks}\d{{3}})*(?:{re.escape(decimal_mark)}\d+)?"
    if not re.fullmatch(pattern, cleaned):
        return None
    return Decimal(re.sub(marks, "", cleaned).replace(decimal_mark, "."))


def _amount_example(locale: str) -> str:
    from babel.numbers import format_decimal

    return format_decimal(Decimal("1200.50"), "#,##0.00", locale=locale)


def parse_money(text: str | int | float | Decimal, locale: str, currency: str) -> int:
    """An amount of money as people write it → integer minor units; never negative, never
    absurdly large, never rounded silently (`1200.505` EUR is refused)."""
    if isinstance(text, str):
        _check_currency(text, locale, currency)
    amount = parse_amount(text, locale)
    if amount < 0:
        raise Refused("amount_negative", value=str(text))
    if amount >= MAX_AMOUNT:
        raise Refused("amount_too_large", value=str(text), most=f"{MAX_AMOUNT - 1:,}")
    digits = currency_digits(currency)
    minor = amount.scaleb(digits)
    if minor != minor.to_integral_value():
        raise Refused(_decimal_hint(text, locale), value=str(text), currency=currency,
                      digits=digits)  # fmt: skip
    return int(minor)


def _check_currency(text: str, locale: str, currency: str) -> None:
    """A sign or code written with the amount must be the project's currency: `$5` in a
    pound project is refused, never read as £5 (amounts are never converted)."""
    from babel.numbers import get_currency_symbol

    symbols = {get_currency_symbol(currency, locale), get_currency_symbol(currency, "en")}
    for match in _CURRENCY_SIGN.finditer(text.strip()):
        written = match.group().strip()
        if written != currency and not any(written in symbol for symbol in symbols):
            raise Refused("other_currency", value=text, currency=currency)


def _decimal_hint(text, locale: str) -> str:
    """The message for too many decimals: with the hint that fits how it was written."""
    from babel.numbers import get_decimal_symbol

    mark = get_decimal_symbol(locale)
    if mark == "," and "," in str(text):
        return "amount_too_precise_comma"
    return "amount_too_precise_round"


@cache
def currency_digits(currency: str) -> int:
    """2 for EUR, 0 for JPY."""
    from babel.numbers import get_currency_precision

    return get_currency_precision(currency)


def from_minor(minor: int | None, currency: str) -> Decimal | None:
    if minor is None:
        return None
    return Decimal(minor).scaleb(-currency_digits(currency))


def weighted_amount(amount_times_percent: int, currency: str) -> Decimal:
    """Σ amount × probability% (minor units × 100, summed in SQL) → major units."""
    minor = (Decimal(amount_times_percent) / 100).quantize(Decimal(1))
    return from_minor(int(minor), currency)


# The order of day, month and year in common locales' numeric dates, as Babel's data gives it
# (tests/test_values.py compares each): reading that data costs ~15 ms of an import's start.
_DAY_FIRST = ("d", "M", "y")
DAY_ORDERS = {
    "en_US": ("M", "d", "y"), "en_CA": ("y", "M", "d"), "fr_CA": ("y", "M", "d"),
    **dict.fromkeys(("fr_FR", "fr_BE", "fr_CH", "en_GB", "en_AU", "de_DE", "de_CH", "de_AT",
                     "es_ES", "it_IT", "nl_NL", "nl_BE", "pt_PT", "pt_BR"), _DAY_FIRST),
}  # fmt: skip


@cache
def _day_order(locale: str) -> tuple[str, str, str]:
    """The order of day, month and year in the locale's numeric dates: ("d", "M", "y") in
    French, ("M", "d", "y") in US English — read once, never guessed row by row."""
    if locale in DAY_ORDERS:
        return DAY_ORDERS[locale]
    return babel_day_order(locale)


def babel_day_order(locale: str) -> tuple[str, str, str]:
    """The order of day, month and year in the locale's short date format, from Babel."""
    from babel.dates import get_date_format

    order: list[str] = []
    for letter in get_date_format("short", locale=locale).pattern:
        if letter in "dMy" and letter not in order:
            order.append(letter)
    return tuple(order) if len(order) == 3 else _DAY_FIRST


_LOCAL_DATE = re.compile(
    r"(\d{1,4})[/.\-](\d{1,2})[/.\-](\d{1,4})(?:[ T]+(\d{1,2})[:hH](\d{2})(?::(\d{2}))?)?"
)


def _local_parts(text: str, locale: str) -> tuple[date, tuple[int, int, int] | None] | None:
    """(date, (hour, minute, second) or None) when `text` is in the locale's numeric form."""
    match = _LOCAL_DATE.fullmatch(text)
    if not match or len(match.group(1)) == 4:  # 2026-12-05 is ISO, not local
        return None
    parts = dict(zip(_day_order(locale), (int(g) for g in match.groups()[:3]), strict=True))
    year = parts["y"] + 2000 if parts["y"] < 100 else parts["y"]
    day = date(year, parts["M"], parts["d"])  # ValueError for 31/02
    clock = match.group(4)
    if clock is None:
        return day, None
    return day, (int(clock), int(match.group(5)), int(match.group(6) or 0))


def parse_date(text: str, locale: str) -> date:
    """ISO (`2026-12-05`) or the locale's numeric form (`05/12/2026` in French)."""
    text = text.strip()
    day = None
    try:
        local = _local_parts(text, locale)
        if local and local[1] is None:
            day = local[0]
        elif not local:
            day = date.fromisoformat(text)
    except ValueError:
        pass
    if day is not None:
        _in_range(day, text)
        return day
    raise Refused("not_a_date", value=text, example=_example(locale))


def parse_datetime(text: str, locale: str, zone: tzinfo) -> datetime:
    """ISO 8601 or the locale's form (`05/12/2026 18:30`); no offset means the project zone."""
    text = text.strip()
    try:
        local = _local_parts(text, locale)
        if local:
            day, clock = local
            value = datetime(day.year, day.month, day.day, *(clock or (0, 0, 0)))
        else:
            value = datetime.fromisoformat(text)
    except ValueError:
        raise Refused("not_a_datetime", value=text) from None
    _in_range(value, text)
    return value.replace(tzinfo=zone) if value.tzinfo is None else value


def _example(locale: str) -> str:
    from babel.dates import format_date

    return format_date(date(2026, 12, 5), "short", locale=locale).replace("/26", "/2026")


def stored_instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(STORED_INSTANT)


def read_instant(text: str | None, zone: tzinfo) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text).astimezone(zone)  # ~10× faster than strptime


@lru_cache(maxsize=1024)
def local_iso(text: str | None, zone: tzinfo) -> str | None:
    """A stored instant as ISO 8601 in `zone` (None for none); kept per text, as a pass
    stamps every row it writes with one instant, and shows each record it writes."""
    moment = read_instant(text, zone)
    return moment.isoformat() if moment else None


def coerce_field(kind: str, options: tuple[str, ...], value, locale: str, zone: tzinfo):
    """A custom field's value as the store keeps it (JSON), checked against its declared type."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    if kind == "datetime":
        return parse_datetime(text, locale, zone).isoformat()
    if kind == "date":
        return parse_date(text, locale).isoformat()
    if kind in ("number", "money"):
        return str(parse_amount(value, locale))
    if kind == "boolean":
        if text.lower() in ("true", "yes", "oui", "1", "x"):
            return True
        if text.lower() in ("false", "no", "non", "0", ""):
            return False
        raise Refused("not_yes_or_no", value=text)
    if kind == "email":
        return normalise_email(text)
    if kind == "choice" and text not in options:
        raise Refused("not_an_option", value=text, options=", ".join(options))
    return text
