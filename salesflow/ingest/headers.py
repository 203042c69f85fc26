"""Which CSV column holds which field: built-in synonyms (English and French, and the headers
of common exports), `--map "Column=field"`, and named mappings kept in salesflow.yaml."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from salesflow.config.model import CONTACT_TARGETS, DEAL_TARGETS, Project
from salesflow.errors import UserError, did_you_mean
from salesflow.values import comparable

# Headers as the exports people have write them (a target may have several columns: the
# first non-empty one wins). Outlook (English and French): Microsoft's contact field names;
# Google Contacts; HubSpot; Pipedrive's "Person - …"; Salesforce; Brevo; Mailchimp; LinkedIn's
# Connections.csv; Mautic. Listed by name in the README's import section.
SYNONYMS = {
    "email": [
        "email", "e-mail", "mail", "email address", "e-mail address", "adresse e-mail",
        "adresse email", "adresse mail", "adresse electronique", "courriel", "primary email",
        "work email", "e-mail 1 - value", "e-mail 2 - value", "e-mail 3 - value", "email 1",
        "e-mail 2 address", "e-mail 3 address", "adresse de messagerie",
        "adresse de messagerie 2", "adresse de messagerie 3", "person - email",
        "person - email - work", "person - email - home", "person - email - other",
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
        "phone 1 - value", "phone 2 - value", "numero de telephone", "business phone",
        "home phone", "mobile phone number", "telephone mobile", "telephone (bureau)",
        "telephone (domicile)", "sms", "person - phone", "person - phone - work",
        "person - phone - mobile", "person - phone - home", "person - phone - other",
    ],
    "company": [
        "company", "company name", "societe", "entreprise", "organization", "organisation",
        "organization name", "organization 1 - name", "person - organization", "organisme",
        "account name",
    ],
    "owner": [
        "owner", "contact owner", "proprietaire", "responsable", "deal owner", "person - owner",
        "proprietaire du contact",
    ],
    "source": ["source", "lead source", "origine", "canal", "original source"],
    "tags": [
        "tags", "tag", "labels", "etiquettes", "groupes", "group membership", "categories",
        "person - labels",
    ],
    "title": ["deal", "deal name", "deal title", "titre", "affaire", "opportunite", "deal - title"],
    "amount": ["amount", "montant", "deal value", "value", "valeur", "deal - value"],
    "expected_close": [
        "expected close", "expected close date", "close date", "date de cloture",
        "deal - expected close date",
    ],
}  # fmt: skip


_KNOWN = {comparable(name): target for target, names in SYNONYMS.items() for name in names}
_KNOWN |= {comparable(target): target for target in SYNONYMS}  # salesflow's own names: first_name
HEADER_SEARCH = 20  # records looked through for the header: exports may start with notes


@dataclass
class ColumnMap:
    """Column index → target field, in the order columns are tried for a field; the columns
    nobody asked for; and the deals' columns (Montant), known but unused when the import
    opens no deals (no --pipeline): those are not "ignored", a re-import would say so wrongly."""

    targets: dict[int, str]
    ignored: list[str] = field(default_factory=list)
    deal_columns: list[str] = field(default_factory=list)


def allowed_targets(project: Project, with_deals: bool) -> list[str]:
    fields = [*CONTACT_TARGETS, *project.contact_fields]
    return fields + list(DEAL_TARGETS) if with_deals else fields


def resolve(
    header: list[str], explicit: dict[str, str], project: Project, with_deals: bool
) -> ColumnMap:
    """Map every column: explicit mapping first, then synonyms, then custom field names or
    labels; an unknown column is ignored (and listed), never guessed. Several columns may
    hold one field (Work, Home and Other emails): in a row, the first non-empty one wins,
    columns named by --map before the others."""
    allowed = allowed_targets(project, with_deals)
    explicit_norm = {comparable(column): target for column, target in explicit.items()}
    for column, target in explicit.items():
        if target not in allowed and target != "ignore":
            hint = did_you_mean(target, allowed)
            raise UserError(f"--map {column}={target}: '{target}' is not a field{hint}")
        if comparable(column) not in {comparable(h) for h in header}:
            hint = did_you_mean(column, header)
            raise UserError(f"--map {column}={target}: the file has no column '{column}'{hint}")
    custom = {comparable(name): name for name in project.contact_fields}
    custom |= {
        comparable(spec.label): name for name, spec in project.contact_fields.items() if spec.label
    }
    found, ignored, deal_columns = [], [], []
    for index, column in enumerate(header):
        key = comparable(column)
        target = explicit_norm.get(key) or _KNOWN.get(key) or custom.get(key)
        if target in DEAL_TARGETS and not with_deals:
            deal_columns.append(column)
        elif target and target != "ignore":
            found.append((key not in explicit_norm, index, target))
        elif column.strip():
            ignored.append(column)
    targets = {index: target for _, index, target in sorted(found)}  # --map columns first
    if "email" not in targets.values():
        raise UserError(
            f"no email column among: {', '.join(header)}; name it with --map 'Column=email'"
        )
    return ColumnMap(targets, ignored, deal_columns)


def find_header(
    records: Iterable[tuple[int, list[str], str | None]], explicit: dict[str, str]
) -> tuple[int, list[str]] | None:
    """(line, cells) of the header: the first record, among the first HEADER_SEARCH, with
    a column that names an email (LinkedIn's export starts with notes, Excel's with `sep=`);
    else the first non-blank record, whose columns the error will then list."""
    emails = {comparable(column) for column, target in explicit.items() if target == "email"}
    emails |= {name for name, target in _KNOWN.items() if target == "email"}
    first = None
    for count, (line, cells, _) in enumerate(records):
        if any(comparable(cell) in emails for cell in cells):
            return line, cells
        if first is None and any(cell.strip() for cell in cells):
            first = line, cells
        if count + 1 >= HEADER_SEARCH:
            break
    return first
