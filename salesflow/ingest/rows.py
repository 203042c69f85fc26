"""CSV records → clean contact rows (and deal values), or the reason each bad one is rejected.

Each mapped column gets its converter once, when the header is read. A batch of records is
then read one column at a time (stripped, converted, merged with the earlier columns for the
same value) and zipped back into rows: a record costs a few list items per column rather
than a loop of tests per cell — this runs for each of an import's 100,000 rows.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from itertools import repeat

from salesflow.config.model import Project
from salesflow.ingest.headers import ColumnMap
from salesflow.store.imports import CONTACT_COLUMNS
from salesflow.values import clean_line, coerce_field, normalise_email, parse_date, parse_money

_JSON = json.JSONEncoder(ensure_ascii=False)
_TAG_SPLIT = re.compile(r"\s*(?:[,;]|:::)\s*")
_SLOTS = {name: index for index, name in enumerate(CONTACT_COLUMNS)}
assert _SLOTS["source"] == 6 and _SLOTS["tags"] == 7 and _SLOTS["fields"] == 8


_CONTACT, _FIELD, _DEAL, _TAGS, _FULL_NAME = range(5)


@lru_cache(maxsize=4096)
def _fields_json(names: tuple[str, ...], values: tuple) -> str:
    """A record's custom fields (those it gives) as JSON; the same values recur down a file,
    so each text is made once."""
    given = zip(names, values, strict=True)
    return _JSON.encode({name: value for name, value in given if value is not None})


def _fill(held: dict, slot, values: list) -> None:
    """`values` for `slot`, where an earlier column for it left a record's value empty."""
    earlier = held.get(slot)
    if earlier is not None:
        pairs = zip(earlier, values, strict=True)
        values = [value if value is not None else later for value, later in pairs]
    held[slot] = values


def _convert(convert: Callable[[str], object], texts: tuple[str, ...], values: list,
             refused: dict[int, str]) -> None:  # fmt: skip
    """Each non-empty text converted into `values` where it is still empty; a text that
    does not convert refuses its record, unless an earlier column did."""
    for position, text in enumerate(texts):
        if values[position] is None and (text := text.strip()):
            try:
                values[position] = convert(text)
            except ValueError as error:
                refused.setdefault(position, str(error))


def _rows(held: dict, width: int) -> list[tuple]:
    """Per-slot value lists (or one value for every record) → a tuple per record. The
    email's slot always holds a list: it ends the zip."""
    columns = [value if isinstance(value, list) else repeat(value)
               for value in map(held.get, range(width))]  # fmt: skip
    return list(zip(*columns, strict=False))


class RowParser:
    """`parse(cells)` → (contact row, deal values); ValueError with the reason for a bad one."""

    def __init__(self, columns: ColumnMap, project: Project, source: str | None, tags: list[str]):
        self.project = project
        self.source = source
        self.tags = tuple(tags)
        self.tag_text = _JSON.encode(sorted(set(tags))) if tags else "[]"  # without tag columns
        self.team = {  # a member by id, email or name, as exports write owners
            key.lower(): member.id
            for member in project.team.values()
            for key in (member.id, member.email, member.name)
        }
        steps = [(index, *self._step(target)) for index, target in columns.targets.items()]
        # Grouped once so that a record costs no test of kinds: texts taken as they are
        # (contact and deal ones), then the converted ones in the columns' order (so that of
        # two bad values the first one's error is said), then tags and a full name.
        self.plain_contact = [(index, slot) for index, kind, slot, convert in steps
                              if kind == _CONTACT and convert is None]  # fmt: skip
        self.plain_deal = [(index, slot) for index, kind, slot, convert in steps
                           if kind == _DEAL and convert is None]  # fmt: skip
        self.converted = [(index, kind, slot, convert) for index, kind, slot, convert in steps
                          if convert is not None]  # fmt: skip
        self.tag_columns = [index for index, kind, *_ in steps if kind == _TAGS]
        self.name_columns = [index for index, kind, *_ in steps if kind == _FULL_NAME]
        self.width = max(columns.targets, default=-1) + 1  # the cells a record must have
        # The columns no column of the file and no option fills: every row holds their
        # default (imports.DEFAULTS), which the upsert is left to write.
        given = {"owner": None, "source": source, "tags": self.tags or None}
        targets = set(columns.targets.values())
        self.defaulted = tuple(name for name, value in given.items()
                               if value is None and name not in targets)  # fmt: skip
        self.multiline = {
            index for index, target in columns.targets.items()
            if getattr(project.contact_fields.get(target), "type", None) == "text"
        }  # fmt: skip

    def clean(self, cells: list[str]) -> tuple[list[str], int, int]:
        """The record in composed Unicode (NFC: a name some Mac tools write decomposed is
        found as typed) and without control characters (see values.clean_line); with the
        count of characters removed and of values composed."""
        cleaned, removed, composed = [], 0, 0
        for index, cell in enumerate(cells):
            text, count = clean_line(cell, multiline=index in self.multiline)
            if not text.isascii() and not unicodedata.is_normalized("NFC", text):
                text = unicodedata.normalize("NFC", text)
                composed += 1
            cleaned.append(text)
            removed += count
        return cleaned, removed, composed

    def _step(self, target: str) -> tuple[int, object, Callable[[str], object] | None]:
        """(kind, slot, converter) for a column; no converter means the text as it is."""
        locale, currency = self.project.locale, self.project.currency
        if target == "email":
            return _CONTACT, 0, normalise_email
        if target == "owner":
            return _CONTACT, _SLOTS["owner"], self._owner
        if target == "tags":
            return _TAGS, None, None
        if target == "full_name":
            return _FULL_NAME, None, None
        if target == "amount":
            return _DEAL, 2, lambda text: parse_money(text, locale, currency)
        if target == "expected_close":
            return _DEAL, 3, lambda text: parse_date(text, locale).isoformat()
        if target == "title":
            return _DEAL, 1, None
        if target in self.project.contact_fields:
            return _FIELD, target, self._custom(target)
        return _CONTACT, _SLOTS[target], None

    def parse(self, records: list[list[str]]) -> tuple[list[tuple], list[tuple], dict[int, str]]:
        """A batch of records → (contact rows, deal values, {position: why it is refused}),
        one column at a time: a record costs a few list items per column, not a dispatch per
        cell. A refused record's position holds what it parsed to in both lists (to be left
        out); of two bad values in a record, the first column's error is said."""
        count = len(records)
        if not count:
            return [], [], {}
        if min(map(len, records)) < self.width:  # a short record: the cells it lacks are empty
            records = [cells + [""] * (self.width - len(cells)) for cells in records]
        columns = list(zip(*records, strict=False))  # cells beyond the mapped ones: cut
        # By kind (_CONTACT, _FIELD, _DEAL): slot → its values, one per record; of several
        # columns for a value, the first non-empty one wins.
        held: tuple[dict, dict, dict] = ({}, {}, {})
        for index, slot in self.plain_contact:
            _fill(held[_CONTACT], slot, [text.strip() or None for text in columns[index]])
        for index, slot in self.plain_deal:
            _fill(held[_DEAL], slot, [text.strip() or None for text in columns[index]])
        refused: dict[int, str] = {}
        for index, kind, slot, convert in self.converted:
            values = held[kind].setdefault(slot, [None] * count)
            _convert(convert, columns[index], values, refused)
        contact = held[_CONTACT]
        emails = contact.setdefault(0, [None] * count)
        for position in [i for i, email in enumerate(emails) if email is None]:
            refused.setdefault(position, "no email address")
        if self.source is not None:  # a source column of the file comes before --source
            contact[6] = [value or self.source for value in contact.get(6, [None] * count)]
        if self.name_columns:
            self._split_names(contact, columns, count)
        if self.tag_columns:
            tags = zip(*map(columns.__getitem__, self.tag_columns), strict=True)
            contact[7] = [self._tags(texts) for texts in tags]
        else:
            contact[7] = self.tag_text
        if held[_FIELD]:
            names = tuple(held[_FIELD])
            records_fields = zip(*held[_FIELD].values(), strict=True)
            contact[8] = [_fields_json(names, values) for values in records_fields]
        else:
            contact[8] = "{}"
        deal = held[_DEAL]
        deal[0] = emails
        return _rows(contact, 9), _rows(deal, 4), refused

    def _split_names(self, contact: dict, columns: list[tuple[str, ...]], count: int) -> None:
        """`Julie Martin` in a name column (the first non-empty): first and last name, for
        each record that gives neither."""
        first = contact.setdefault(1, [None] * count)
        last = contact.setdefault(2, [None] * count)
        names = zip(*map(columns.__getitem__, self.name_columns), strict=True)
        for position, texts in enumerate(names):
            if first[position] is None and last[position] is None:
                full_name = next((text for raw in texts if (text := raw.strip())), None)
                if full_name:
                    given, _, family = full_name.partition(" ")
                    first[position], last[position] = given, family.strip() or None

    def _tags(self, texts: tuple[str, ...]) -> str:
        """A record's tags (its tag columns' and --tag's) as a sorted JSON list."""
        tags = list(self.tags)
        for raw in texts:
            text = raw.strip()
            if text:
                tags += [tag.removeprefix("* ") for tag in _TAG_SPLIT.split(text) if tag]
        return _JSON.encode(sorted(set(tags))) if tags else "[]"

    def _owner(self, text: str) -> str:
        owner = self.team.get(text.lower())
        if owner is None:
            ids = ", ".join(self.project.team)
            raise ValueError(f"'{text}' is not a team member (use an id, email or name: {ids})")
        return owner

    def _custom(self, name: str) -> Callable[[str], object]:
        spec = self.project.contact_fields[name]
        project = self.project

        @lru_cache(maxsize=4096)  # dates and choices repeat a lot down a column
        def convert(text: str):
            try:
                return coerce_field(spec.type, spec.options, text, project.locale, project.timezone)
            except ValueError as error:
                raise ValueError(f"{spec.label or name}: {error}") from None

        return convert
