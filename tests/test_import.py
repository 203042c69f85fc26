"""`salesflow import`: the CSV files people have, imported once, bad rows kept aside."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from conftest import query

pytestmark = pytest.mark.engines

FIXTURES = Path(__file__).parent / "fixtures" / "csv"


@pytest.fixture
def fixture(sf):
    """A copy of a fixture CSV inside the demo project (rejects are written beside it)."""

    def copy(name: str) -> Path:
        target = sf.project / "imports" / name
        target.parent.mkdir(exist_ok=True)
        shutil.copy(FIXTURES / name, target)
        return target

    return copy


def contacts(project: Path) -> dict[str, tuple]:
    rows = query(
        project, "SELECT email, first_name, last_name, phone, company, fields FROM contacts"
    )
    return {row[0]: row[1:] for row in rows}


def test_french_excel_export(sf, fixture):
    path = fixture("excel-fr.csv")
    summary = sf("import", path, "--pipeline", "cours-essai", "--stage", "nouveau", "--json")
    assert (summary["encoding"], summary["delimiter"]) == ("cp1252", ";")
    assert (summary["created"], summary["updated"], summary["unchanged"]) == (3, 0, 0)
    assert summary["rejected"] == 2
    assert summary["ignored_columns"] == ["Notes"]
    people = contacts(sf.project)
    julie = people["julie.martin@example.org"]  # stored lower-case
    assert julie[:4] == ("Julie", "Martin", "0612345678", "Chorale « Les Voix », Lyon")
    assert json.loads(julie[4]) == {"date_essai": "2026-12-05T18:30:00+01:00"}
    assert people["oedipe.lefevre@example.org"][:2] == ("Œdipe", "Lefèvre")  # not Ś
    assert people["anais.celik@example.org"][:2] == ("Anaïs", "Çelik")
    amounts = query(sf.project, "SELECT title, amount FROM deals ORDER BY id")
    assert amounts == [
        ("Julie Martin", 120050),
        ("Œdipe Lefèvre", 8000),
        ("Anaïs Çelik", 123456789),
    ]


def test_rejected_rows_are_kept_beside_the_file_as_it_was_written(sf, fixture):
    path = fixture("excel-fr.csv")
    result = sf("import", path)
    assert "imported" in result.output and "2 rejected" in result.output
    assert "excel-fr.csv:4: 'pas-une-adresse' is not an email address" in result.output
    assert "excel-fr.csv:5: Date du cours d'essai: '31/02/2026 10:00' is not a date-time" in (
        result.output
    )
    rejects = path.with_name("excel-fr.rejected.csv")
    with rejects.open(encoding="cp1252", newline="") as file:
        rows = list(csv.reader(file, delimiter=";"))
    assert rows[0][-2:] == ["Notes", "error"]
    assert rows[1][:3] == ["Chloé", "Dubois", "pas-une-adresse"]
    assert rows[1][-1] == "'pas-une-adresse' is not an email address"
    assert rows[2][0] == "Zoé"


def test_importing_the_same_file_twice_changes_nothing(sf, fixture):
    path = fixture("excel-fr.csv")
    sf("import", path, "--pipeline", "cours-essai")
    events = query(sf.project, "SELECT count(*) FROM events")
    again = sf("import", path, "--pipeline", "cours-essai", "--json")
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 3)
    assert again["deals_created"] == 0
    assert query(sf.project, "SELECT count(*) FROM events") == events


def test_google_contacts_export(sf, fixture):
    summary = sf("import", fixture("google-contacts.csv"), "--json")
    assert (summary["encoding"], summary["delimiter"], summary["created"]) == ("utf-8", ",", 2)
    people = contacts(sf.project)
    assert people["ines.breval@example.org"][:4] == (
        "Inès", "Bréval", "+33 6 98 76 54 32", "Atelier Bréval",
    )  # fmt: skip
    assert people["francois.muller@example.org"][:2] == ("François", "Müller")
    tags = query(sf.project, "SELECT tags FROM contacts WHERE email = 'ines.breval@example.org'")
    assert json.loads(tags[0][0]) == ["Chorale", "myContacts"]


@pytest.mark.parametrize(
    ("name", "email", "expected"),
    [
        ("hubspot.csv", "paula@example.com", ("Paula", "Gómez", "+34 600 000 000", "Gómez SL")),
        ("mailchimp.csv", "lea@example.com", ("Léa", "Roux", "0600000002", None)),
        ("pipedrive.csv", "hugo@example.com", ("Hugo", "Lambert", "0600000003", "Lambert & Fils")),
        ("mautic.csv", "nina@example.com", ("Nina", "Perrin", "0600000004", None)),
    ],
)
def test_exports_of_common_tools(sf, fixture, name, email, expected):
    summary = sf("import", fixture(name), "--json")
    assert (summary["created"], summary["rejected"]) == (1, 0)
    assert contacts(sf.project)[email][:4] == expected


def test_owners_are_read_as_ids_emails_or_names(sf, fixture):
    sf("import", fixture("hubspot.csv"))
    sf("import", fixture("pipedrive.csv"))
    assert query(sf.project, "SELECT email, owner FROM contacts ORDER BY id") == [
        ("paula@example.com", "marie"), ("hugo@example.com", "paul"),
    ]  # fmt: skip


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_semicolon_file_whose_values_hold_commas(sf, tmp_path):
    """csv.Sniffer picks ',' for this file (CPython #119123); we must not."""
    path = write(
        tmp_path / "p.csv",
        "Email;Nom;Société\na@example.org;Dupont, Jean;Durand, Fils et Cie\n"
        "b@example.org;Martin, Paul;Ateliers, Lyon\n",
    )
    summary = sf("import", path, "--json")
    assert (summary["delimiter"], summary["created"]) == (";", 2)
    assert contacts(sf.project)["a@example.org"][3] == "Durand, Fils et Cie"


@pytest.mark.parametrize("ending", ["\r\n", "\n", "\r"], ids=["crlf", "lf", "old-mac-cr"])
@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"], ids=["comma", "semi", "tab", "pipe"])
def test_line_endings_and_delimiters(sf, tmp_path, ending, delimiter):
    rows = [["Email", "First Name", "Notes", ""], ["a@example.org", "Ana", "x", ""],
            ["b@example.org", "Bo", 'two\nlines, "quoted"', ""]]  # fmt: skip
    text = ending.join(
        delimiter.join('"' + c.replace('"', '""') + '"' if any(x in c for x in '\n,"') else c
                       for c in row) for row in rows
    ) + ending  # fmt: skip
    summary = sf("import", write(tmp_path / "p.csv", text), "--json")
    assert (summary["rows"], summary["created"], summary["rejected"]) == (2, 2, 0)


def test_utf8_bom_is_read(sf, tmp_path):
    path = tmp_path / "p.csv"
    path.write_bytes(b"\xef\xbb\xbfEmail,Pr\xc3\xa9nom\na@example.org,Ren\xc3\xa9e\n")
    assert sf("import", path, "--json")["encoding"] == "utf-8-sig"
    assert contacts(sf.project)["a@example.org"][0] == "Renée"


def test_a_file_that_cannot_be_decoded_imports_nothing(sf, tmp_path):
    rows = "".join(f"p{n}@example.org,Ana\n" for n in range(5000))
    path = write(tmp_path / "p.csv", "Email,Prénom\n" + rows + "z@example.org,Zoé\n", "cp1252")
    result = sf("import", path, "--encoding", "utf-8", code=1)
    assert "not readable as utf-8" in result.output
    assert "nothing was imported" in result.output
    assert query(sf.project, "SELECT count(*) FROM contacts") == [(0,)]
    assert not path.with_name("p.rejected.csv").exists()


def test_an_empty_cell_never_erases_and_events_say_what_changed(sf, tmp_path):
    write(tmp_path / "a.csv", "Email,First Name,Phone\njulie@example.org,Julie,0612\n")
    write(tmp_path / "b.csv", "Email,First Name,Phone,Company\nJULIE@example.org,,,Chorale\n")
    sf("import", tmp_path / "a.csv")
    summary = sf("import", tmp_path / "b.csv", "--json")
    assert (summary["created"], summary["updated"]) == (0, 1)
    assert contacts(sf.project)["julie@example.org"][:4] == ("Julie", None, "0612", "Chorale")
    events = query(sf.project, "SELECT type, data FROM events ORDER BY id")
    changed = [(kind, json.loads(data).get("changed")) for kind, data in events]
    assert changed == [("contact.created", None), ("contact.updated", ["company"])]


def test_an_imports_events_are_the_same_text_on_both_engines(sf, tmp_path):
    """Built in SQL, they read as json.dumps writes every other event's data."""
    first = write(tmp_path / "a.csv", "Email,Source\nana@example.org,\nbo@example.org,Salon\n")
    sf("import", first, "--pipeline", "cours-essai")
    sf("import", write(tmp_path / "b.csv", "Email,First Name,Phone\nana@example.org,Ana,0612\n"))
    data = [row[0] for row in query(sf.project, "SELECT data FROM events ORDER BY id")]
    assert data == [
        '{"pipeline": "cours-essai", "stage": "nouveau", "by": "import"}',
        '{"pipeline": "cours-essai", "stage": "nouveau", "by": "import"}',
        '{"email": "ana@example.org", "source": null, "by": "import"}',
        '{"email": "bo@example.org", "source": "Salon", "by": "import"}',
        '{"email": "ana@example.org", "changed": ["first_name", "phone"], "by": "import"}',
    ]
    assert all(json.dumps(json.loads(text), ensure_ascii=False) == text for text in data)


def test_duplicates_within_the_file_become_one_contact(sf, tmp_path):
    path = write(
        tmp_path / "p.csv",
        "Email,First Name,Phone,Tags\na@example.org,Ana,,x\nb@example.org,Bo,,\n"
        "A@Example.org,,0600,y\n",
    )
    summary = sf("import", path, "--json")
    assert (summary["created"], summary["duplicate_rows"]) == (2, 1)
    assert contacts(sf.project)["a@example.org"][:3] == ("Ana", None, "0600")
    tags = query(sf.project, "SELECT tags FROM contacts WHERE email = 'a@example.org'")
    assert json.loads(tags[0][0]) == ["x", "y"]


def test_dry_run_writes_nothing(sf, fixture):
    path = fixture("excel-fr.csv")
    result = sf("import", path, "--dry-run")
    assert "would import" in result.output and "dry run: nothing was written" in result.output
    assert query(sf.project, "SELECT count(*) FROM contacts") == [(0,)]
    assert not path.with_name("excel-fr.rejected.csv").exists()


def test_no_trigger_records_no_event(sf, fixture):
    sf("import", fixture("mautic.csv"), "--no-trigger")
    assert query(sf.project, "SELECT count(*) FROM contacts") == [(1,)]
    assert query(sf.project, "SELECT count(*) FROM events") == [(0,)]


def test_strict_exits_1_on_any_reject(sf, fixture):
    sf("import", fixture("excel-fr.csv"), "--strict", code=1)
    assert query(sf.project, "SELECT count(*) FROM contacts") == [(3,)]  # the good rows went in


def test_explicit_map_and_ignore(sf, tmp_path):
    path = write(tmp_path / "p.csv", "Courriel perso,Qui,Voice\na@example.org,Ana,alto\n")
    result = sf("import", path, "--map", "Courriel perso=email", "--map", "Qui=first_name",
                "--map", "Voice=voix", "--json")  # fmt: skip
    assert result["ignored_columns"] == []
    assert contacts(sf.project)["a@example.org"][0] == "Ana"
    bad = sf("import", path, "--map", "Qui=frist_name", code=1)
    assert "'frist_name' is not a field (did you mean 'first_name'?)" in bad.output


def test_named_mapping_from_the_project(sf, tmp_path):
    settings = sf.project / "salesflow.yaml"
    settings.write_text(
        settings.read_text() + "imports:\n  salle:\n    map: {Mel: email, Qui: first_name,"
        " Essai: date_essai}\n    pipeline: cours-essai\n    stage: essai-planifie\n"
        "    tags: [salon]\n"
    )  # the stage requires the trial's date
    path = write(tmp_path / "p.csv", "Mel;Qui;Essai\na@example.org;Ana;2026-12-05T18:30\n")
    summary = sf("import", path, "--mapping", "salle", "--json")
    assert (summary["created"], summary["deals_created"]) == (1, 1)
    assert query(sf.project, "SELECT stage FROM deals") == [("essai-planifie",)]
    assert query(sf.project, "SELECT tags FROM contacts") == [('["salon"]',)]


def test_no_email_column_is_unusable(sf, tmp_path):
    result = sf("import", write(tmp_path / "p.csv", "Name,Phone\nAna,06\n"), code=1)
    assert "no email column among: Name, Phone; name it with --map 'Column=email'" in result.output


def test_rows_of_one_email_that_disagree_still_import_twice_as_nothing(sf, tmp_path):
    path = write(
        tmp_path / "p.csv",
        "Email,First Name\nana@example.org,Ana\nbo@example.org,Bo\nANA@example.org,Anna\n",
    )
    first = sf("import", path)
    assert contacts(sf.project)["ana@example.org"][0] == "Ana"  # the first non-empty value wins
    assert "p.csv:4: first name 'Anna' not taken: the contact keeps 'Ana'" in first.output
    events = query(sf.project, "SELECT count(*) FROM events")
    again = sf("import", path, "--json", now="2026-11-21T10:00")
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)
    assert query(sf.project, "SELECT count(*) FROM events") == events
    assert query(sf.project, "SELECT DISTINCT updated_at FROM contacts") == [
        ("2026-11-20T09:00:00Z",)
    ]


def test_salesflow_own_field_names_are_headers_too(sf, tmp_path):
    path = tmp_path / "own.csv"
    path.write_text("email,first_name,last_name,date_essai\nana@example.org,Ana,Lima,05/12/2026\n")
    result = sf("import", path)
    assert "ignored columns" not in result.output
    assert query(sf.project, "SELECT first_name, last_name FROM contacts") == [("Ana", "Lima")]


@pytest.mark.parametrize(
    ("amount", "stored"),
    [("1 200 €", 120000), ("120,50 €", 12050), ("1 234,50", 123450), ("99", 9900)],
)
def test_deal_amounts_as_the_board_prints_them(sf, tmp_path, amount, stored):
    path = tmp_path / "deals.csv"
    path.write_text(f'email;deal;amount\nana@example.org;Essai;"{amount}"\n')
    sf("import", path, "--pipeline", "cours-essai", "--stage", "nouveau")
    assert query(sf.project, "SELECT amount FROM deals") == [(stored,)]


def test_an_ambiguous_amount_is_a_rejected_row_with_the_reason(sf, tmp_path):
    path = tmp_path / "deals.csv"
    path.write_text("email;deal;amount\nana@example.org;A;12,345\nbob@example.org;B;-5\n")
    result = sf("import", path, "--pipeline", "cours-essai", "--stage", "nouveau")
    assert "deals.csv:2: '12,345' has more decimals than EUR has (2)" in result.output
    assert "deals.csv:3: '-5': an amount cannot be negative" in result.output


def test_an_amount_in_another_currency_is_a_rejected_row_not_a_euro_amount(sf, tmp_path):
    """`$1,500.00` in a euro project was imported as 1 500,00 €, without a word."""
    path = tmp_path / "deals.csv"
    path.write_text('email;deal;amount\nana@example.org;A;"$1,500.00"\nbob@example.org;B;15 €\n')
    result = sf("import", path, "--pipeline", "cours-essai", "--stage", "nouveau")
    assert "deals.csv:2: '$1,500.00' is not in EUR, the project's currency" in result.output
    assert query(sf.project, "SELECT title, amount FROM deals") == [("B", 1500)]
    refused = sf("deals", "add", "--title", "C", "--pipeline", "cours-essai", "--amount", "$5",
                 code=1)  # fmt: skip
    assert "'$5' is not in EUR, the project's currency" in refused.output


@pytest.mark.parametrize("delimiter", ["x", ";;", "."])
def test_an_unusual_delimiter_is_refused_before_reading(sf, delimiter):
    result = sf("import", sf.project / "examples" / "prospects.csv", "--delimiter", delimiter,
                code=2)  # fmt: skip
    words = " ".join(result.output.replace("│", " ").split())  # unwrapped from rich's box
    assert "is not a CSV delimiter: use , ; | or tab" in words


def test_tab_can_be_named(sf, tmp_path):
    path = tmp_path / "tabs.csv"
    path.write_text("email\tfirst_name\nana@example.org\tAna\n")
    assert sf("import", path, "--delimiter", "tab", "--json")["created"] == 1


def test_a_later_import_fills_blanks_and_keeps_values_unless_told_to_overwrite(sf, tmp_path):
    """A Mailchimp export must not turn "Dupont; fils" back into "Dupont"."""
    first = write(tmp_path / "crm.csv", "Email;Nom;Téléphone\nana@example.org;Dupont; fils;\n")
    write(first, 'Email;Nom;Téléphone\nana@example.org;"Dupont; fils";\n')
    sf("import", first)
    later = write(
        tmp_path / "mailchimp.csv", "Email,Last Name,Phone\nana@example.org,Dupont,0612\n"
    )
    result = sf("import", later, "--json", now="2026-11-21T10:00")
    assert (result["updated"], result["conflicts"]) == (
        1, [{"row": 2, "field": "last_name", "value": "Dupont", "held": "Dupont; fils"}],
    )  # fmt: skip
    assert query(sf.project, "SELECT last_name, phone FROM contacts") == [("Dupont; fils", "0612")]
    sf("import", later, "--overwrite", now="2026-11-22T10:00")
    assert query(sf.project, "SELECT last_name FROM contacts") == [("Dupont",)]


def test_one_row_is_said_in_the_singular(sf, tmp_path):
    path = write(tmp_path / "one.csv", "Email,First Name\nana@example.org,Ana\n")
    assert ": 1 row read = 1 created + " in sf("import", path).output


def test_a_reimport_never_calls_a_column_it_used_ignored(sf, tmp_path):
    """The first import opened deals from Montant; the second, without --pipeline, opens
    none: Montant is a deal column unused this time, not an unknown one."""
    path = tmp_path / "prospects.csv"
    path.write_text("Email;Prénom;Montant;Remarque\nana@example.org;Ana;120,50 €;VIP\n")
    first = sf("import", path, "--pipeline", "cours-essai")
    assert "ignored columns (no such field; --map 'Column=field'): Remarque" in first.output
    assert "Montant" not in first.output
    again = sf("import", path)
    assert "ignored columns (no such field; --map 'Column=field'): Remarque" in again.output
    assert "deal columns, used with --pipeline only: Montant" in again.output
    summary = sf("import", path, "--json")
    assert (summary["ignored_columns"], summary["deal_columns_unused"]) == (
        ["Remarque"],
        ["Montant"],
    )


def test_a_reimport_with_one_row_changed_updates_that_contact_alone(sf, tmp_path):
    """Compared first, written only where something changes: the other contacts keep their
    moment, and the one change is recorded as such."""
    rows = (
        "Email,First Name,Phone\nana@example.org,Ana,0611\nbo@example.org,Bo,\n"
        "cy@example.org,Cy,0633\n"
    )
    path = write(tmp_path / "p.csv", rows)
    sf("import", path, now="2026-11-20T10:00")
    before = query(sf.project, "SELECT email, updated_at FROM contacts ORDER BY email")
    events = query(sf.project, "SELECT count(*) FROM events")[0][0]
    write(path, rows.replace("bo@example.org,Bo,", "bo@example.org,Bo,0622"))
    summary = sf("import", path, "--json", now="2026-11-21T10:00")
    assert (summary["created"], summary["updated"], summary["unchanged"]) == (0, 1, 2)
    after = query(sf.project, "SELECT email, updated_at FROM contacts ORDER BY email")
    assert after[0] == before[0] and after[2] == before[2]  # untouched
    assert after[1][1] > before[1][1]
    recorded = query(sf.project, "SELECT type, data FROM events WHERE id > ?", events)
    assert [(kind, json.loads(data)["changed"]) for kind, data in recorded] == [
        ("contact.updated", ["phone"])
    ]


def test_values_not_taken_are_all_counted_and_the_first_thousand_listed(sf, tmp_path):
    """Listing every one would hold a line of memory per conflict of a million-row file."""
    names = "".join(f"ana@example.org,Ana{n}\n" for n in range(1002))
    summary = sf("import", write(tmp_path / "p.csv", f"Email,First Name\n{names}"), "--json")
    assert (summary["conflict_count"], len(summary["conflicts"])) == (1001, 1000)
    assert summary["conflicts"][0] == {
        "row": 3, "field": "first_name", "value": "Ana1", "held": "Ana0"
    }  # fmt: skip


def test_owner_source_and_tags_no_file_column_gives_are_kept_and_filled(sf, tmp_path):
    """An import whose file has no owner or tags column, without --source or --tag, leaves
    those columns to the database's defaults: a new contact gets them, a known one keeps its
    own; with --source and --tag the same file fills them."""
    first = tmp_path / "first.csv"
    first.write_text("email,owner,tags\njulie@example.org,marie,chant\n")
    sf("import", first, "--source", "salon")
    second = tmp_path / "second.csv"
    second.write_text("email,Prénom\njulie@example.org,Julie\ninès@example.org,Inès\n")
    summary = sf("import", second, "--json")
    assert (summary["created"], summary["updated"]) == (1, 1)

    def kept() -> list[tuple]:
        rows = query(sf.project, "SELECT email, first_name, owner, source, tags FROM contacts"
                     " ORDER BY id")  # fmt: skip
        return [(*row[:4], json.loads(row[4])) for row in rows]

    assert kept() == [
        ("julie@example.org", "Julie", "marie", "salon", ["chant"]),
        ("inès@example.org", "Inès", None, None, []),
    ]
    summary = sf("import", second, "--source", "site", "--tag", "essai", "--json")
    assert (summary["created"], summary["updated"]) == (0, 2)
    assert kept() == [
        ("julie@example.org", "Julie", "marie", "salon", ["chant", "essai"]),
        ("inès@example.org", "Inès", None, "site", ["essai"]),
    ]
