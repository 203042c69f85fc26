"""One CSV record → one clean contact row (and deal values), or the reason it is rejected.

Each mapped column gets its converter once, when the header is read; a record then costs a
few dictionary-free steps — this runs 100,000 times in an import.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache

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
def _fields_json(items: tuple) -> str:
    """Custom fields as JSON; the same values recur down a file, so each text is made once."""
    return _JSON.encode(dict(items))


_DEAL_SLOTS = {"title": 1, "amount": 2, "expected_close": 3}


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

    def parse(self, cells: list[str]) -> tuple[tuple, list]:
        if len(cells) < self.width:  # a short record: the cells it lacks are empty
            cells = cells + [""] * (self.width - len(cells))
        row: list = [None, None, None, None, None, None, None, None, None]
        deal: list = [None, None, None, None]
        for index, slot in self.plain_contact:  # of several columns for a value, the first
            if row[slot] is None:  # non-empty one wins
                row[slot] = cells[index].strip() or None
        for index, slot in self.plain_deal:
            if deal[slot] is None:
                deal[slot] = cells[index].strip() or None
        records = (row, None, deal)  # by kind: _CONTACT, _FIELD, _DEAL
        fields = {}
        for index, kind, slot, convert in self.converted:
            text = cells[index].strip()
            if not text:
                continue
            if kind == _FIELD:
                if slot not in fields:
                    fields[slot] = convert(text)
            elif records[kind][slot] is None:
                records[kind][slot] = convert(text)
        if row[0] is None:
            raise ValueError("no email address")
        if row[6] is None:
            row[6] = self.source  # a source column of the file comes before --source
        if self.name_columns and row[1] is None and row[2] is None:
            self._split_name(row, cells)
        row[7] = self._tags(cells) if self.tag_columns else self.tag_text
        row[8] = _fields_json(tuple(fields.items())) if fields else "{}"
        deal[0] = row[0]
        return tuple(row), deal

    def _split_name(self, row: list, cells: list[str]) -> None:
        """`Julie Martin` in a name column: first and last name (the first non-empty)."""
        full_name = next((text for index in self.name_columns
                          if (text := cells[index].strip())), None)  # fmt: skip
        if full_name:
            first, _, last = full_name.partition(" ")
            row[1], row[2] = first, last.strip() or None

    def _tags(self, cells: list[str]) -> str:
        tags = list(self.tags)
        for index in self.tag_columns:
            text = cells[index].strip()
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
