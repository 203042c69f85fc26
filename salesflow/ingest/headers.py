"""Which CSV column holds which field: built-in synonyms (English and French, and the headers
of common exports), `--map "Column=field"`, and named mappings kept in salesflow.yaml."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from salesflow.config.model import CONTACT_TARGETS, DEAL_TARGETS, Project
from salesflow.errors import UserError, did_you_mean

# Headers as exported by Excel users, Google Contacts, HubSpot, Mailchimp, Pipedrive, Mautic…
SYNONYMS = {
    "email": [
        "email", "e-mail", "mail", "email address", "e-mail address", "adresse e-mail",
        "adresse email", "adresse mail", "adresse electronique", "courriel", "e-mail 1 - value",
        "email 1", "primary email", "person - email - work", "person - email", "work email",
    ],
    "first_name": [
        "first name", "firstname", "given name", "prenom", "first", "person - first name",
    ],
    "last_name": [
        "last name", "lastname", "surname", "family name", "nom", "nom de famille",
        "person - last name",
    ],
    "full_name": ["name", "full name", "nom complet", "person - name", "contact name", "contact"],
    "phone": [
        "phone", "phone number", "telephone", "tel", "mobile", "mobile phone", "portable",
        "phone 1 - value", "numero de telephone", "person - phone - work", "person - phone",
    ],
    "company": [
        "company", "company name", "societe", "entreprise", "organization", "organisation",
        "organization name", "organization 1 - name", "person - organization", "organisme",
    ],
    "owner": [
        "owner", "contact owner", "proprietaire", "responsable", "deal owner", "person - owner",
    ],
    "source": ["source", "lead source", "origine", "canal"],
    "tags": ["tags", "tag", "labels", "etiquettes", "groupes", "group membership"],
    "title": ["deal", "deal name", "deal title", "titre", "affaire", "opportunite"],
    "amount": ["amount", "montant", "deal value", "value", "valeur", "deal - value"],
    "expected_close": ["expected close", "expected close date", "close date", "date de cloture"],
}  # fmt: skip


def normalise(header: str) -> str:
    """`  Adresse E-mail ` and `adresse e‑mail` → `adresse e-mail`: case, accents, spaces."""
    text = unicodedata.normalize("NFKD", header.strip().lower())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = re.sub(r"[\u2010-\u2015_]", "-", text)
    return re.sub(r"\s+", " ", text).strip()


_KNOWN = {normalise(name): target for target, names in SYNONYMS.items() for name in names}
_KNOWN |= {normalise(target): target for target in SYNONYMS}  # salesflow's own names: first_name


@dataclass
class ColumnMap:
    """Column index → target field, and the columns nobody asked for."""

    targets: dict[int, str]
    ignored: list[str] = field(default_factory=list)


def allowed_targets(project: Project, with_deals: bool) -> list[str]:
    fields = [*CONTACT_TARGETS, *project.contact_fields]
    return fields + list(DEAL_TARGETS) if with_deals else fields


def resolve(
    header: list[str], explicit: dict[str, str], project: Project, with_deals: bool
) -> ColumnMap:
    """Map every column: explicit mapping first, then synonyms, then custom field names or
    labels; an unknown column is ignored (and listed), never guessed."""
    allowed = allowed_targets(project, with_deals)
    explicit_norm = {normalise(column): target for column, target in explicit.items()}
    for column, target in explicit.items():
        if target not in allowed and target != "ignore":
            hint = did_you_mean(target, allowed)
            raise UserError(f"--map {column}={target}: '{target}' is not a field{hint}")
        if normalise(column) not in {normalise(h) for h in header}:
            hint = did_you_mean(column, header)
            raise UserError(f"--map {column}={target}: the file has no column '{column}'{hint}")
    custom = {normalise(name): name for name in project.contact_fields}
    custom |= {
        normalise(spec.label): name for name, spec in project.contact_fields.items() if spec.label
    }
    targets: dict[int, str] = {}
    ignored = []
    for index, column in enumerate(header):
        key = normalise(column)
        target = explicit_norm.get(key) or _KNOWN.get(key) or custom.get(key)
        if target in DEAL_TARGETS and not with_deals:
            target = None
        if target and target != "ignore" and target not in targets.values():
            targets[index] = target
        elif column.strip():
            ignored.append(column)
    if "email" not in targets.values():
        raise UserError(
            f"no email column among: {', '.join(header)}; name it with --map 'Column=email'"
        )
    return ColumnMap(targets, ignored)
