"""One CSV record → one clean contact row, or the reason it is rejected."""

from __future__ import annotations

import json
import re

from salesflow.config.model import Project
from salesflow.ingest.headers import ColumnMap
from salesflow.values import coerce_field, normalise_email, parse_amount, parse_date, to_minor

# The columns of the staging table, in order (row_no first).
STAGED = ("row_no", "email", "first_name", "last_name", "phone", "company", "owner", "source",
          "tags", "fields", "title", "amount", "expected_close")  # fmt: skip
_TEXT = ("first_name", "last_name", "phone", "company", "source", "title")
_TAG_SPLIT = re.compile(r"\s*(?:[,;]|:::)\s*")


class RowParser:
    """Turns records into staging rows; raises ValueError with the reason for a bad one."""

    def __init__(self, columns: ColumnMap, project: Project, source: str | None, tags: list[str]):
        self.columns = list(columns.targets.items())
        self.project = project
        self.source = source
        self.tags = tags
        self.team = {  # a member by id, email or name, as exports write owners
            key.lower(): member.id
            for member in project.team.values()
            for key in (member.id, member.email, member.name)
        }

    def parse(self, row_no: int, cells: list[str]) -> tuple:
        values: dict = {"source": self.source}
        tags = list(self.tags)
        fields = {}
        for index, target in self.columns:
            text = cells[index].strip() if index < len(cells) else ""
            if not text:
                continue
            if target in _TEXT:
                values[target] = text
            elif target == "email":
                values["email"] = normalise_email(text)
            elif target == "full_name":
                values["full_name"] = text
            elif target == "owner":
                values["owner"] = self._owner(text)
            elif target == "tags":
                tags += [tag.removeprefix("* ") for tag in _TAG_SPLIT.split(text) if tag]
            elif target == "amount":
                values["amount"] = to_minor(parse_amount(text, self.project.locale),
                                            self.project.currency)  # fmt: skip
            elif target == "expected_close":
                values["expected_close"] = parse_date(text, self.project.locale).isoformat()
            else:
                fields[target] = self._custom(target, text)
        if "email" not in values:
            raise ValueError("no email address")
        self._split_full_name(values)
        return (
            row_no, values["email"], values.get("first_name"), values.get("last_name"),
            values.get("phone"), values.get("company"), values.get("owner"), values.get("source"),
            json.dumps(sorted(set(tags)), ensure_ascii=False) if tags else None,
            json.dumps(fields, ensure_ascii=False) if fields else None,
            values.get("title"), values.get("amount"), values.get("expected_close"),
        )  # fmt: skip

    def _owner(self, text: str) -> str:
        owner = self.team.get(text.lower())
        if owner is None:
            ids = ", ".join(self.project.team)
            raise ValueError(f"'{text}' is not a team member (use an id, email or name: {ids})")
        return owner

    def _custom(self, name: str, text: str):
        spec = self.project.contact_fields[name]
        try:
            return coerce_field(
                spec.type, spec.options, text, self.project.locale, self.project.timezone
            )
        except ValueError as error:
            raise ValueError(f"{spec.label or name}: {error}") from None

    @staticmethod
    def _split_full_name(values: dict) -> None:
        """`Julie Martin` in a name column fills first and last name when they are empty."""
        full = values.pop("full_name", None)
        if full and not values.get("first_name") and not values.get("last_name"):
            first, _, last = full.partition(" ")
            values["first_name"], values["last_name"] = first, last.strip() or None
