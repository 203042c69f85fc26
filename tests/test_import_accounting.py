"""`salesflow import` accounts for every row: rows read = created + updated + unchanged +
duplicate rows + rejected, each counted on its own. A broken quote, a shifted row, hidden
characters, notes above the header, files that are not CSV, emails in unusual columns: each
ends as exact stored values, or as a reject or a refusal naming the line."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import REPO, query
from hypothesis import given, settings
from hypothesis import strategies as st

from salesflow.config.project import load_project
from salesflow.ingest.importer import ImportOptions, import_csv
from salesflow.store.session import Store
from salesflow.values import has_control

pytestmark = pytest.mark.engines
FIXTURES = Path(__file__).parent / "fixtures" / "csv"
TERMS = ("created", "updated", "unchanged", "duplicate_rows", "rejected")


def imported(sf, name: str, text: str | None = None) -> dict:
    """The JSON summary of importing fixture `name` (or `text` written under that name),
    after checking its accounting."""
    target = sf.project / "imports" / name
    target.parent.mkdir(exist_ok=True)
    if text is None:
        shutil.copy(FIXTURES / name, target)
    else:
        target.write_text(text)
    summary = sf("import", target, "--json")
    assert summary["rows"] == sum(summary[term] for term in TERMS), summary
    return summary


def people(project: Path) -> dict[str, tuple]:
    rows = query(project, "SELECT email, first_name, last_name, phone, company FROM contacts")
    return {row[0]: row[1:] for row in rows}


def rejected_lines(summary: dict) -> list[int]:
    return [error["row"] for error in summary["errors"]]


@pytest.mark.parametrize("name", sorted(path.name for path in FIXTURES.glob("*.csv")))
def test_every_fixture_adds_up_and_twice_changes_nothing(sf, name):
    first = imported(sf, name)
    again = imported(sf, name)
    assert again["created"] == again["updated"] == 0
    assert again["rejected"] == first["rejected"]


def test_a_quote_never_closed_rejects_its_line_and_the_next_lines_import(sf):
    summary = imported(sf, "unclosed-quote.csv")
    assert (summary["rows"], summary["created"], summary["rejected"]) == (5, 4, 1)
    assert rejected_lines(summary) == [3]
    assert "never closed" in summary["errors"][0]["error"]
    assert people(sf.project) == {
        "ana@example.org": ("Ana", "Lopez", None, "Chorale A"),
        "claire@example.org": ("Claire", "Dubois", None, "Chorale C"),
        "dan@example.org": ("Dan", "Roux", None, "Chorale D"),
        "eve@example.org": ("Eve", "Petit", None, 'Chorale "E"'),
    }
    kept = (sf.project / "imports" / "unclosed-quote.rejected.csv").read_text()
    assert kept.splitlines()[1].startswith("bernard@example.org,")


def test_a_quote_open_to_the_end_of_the_file_rejects_only_its_line(sf):
    summary = imported(sf, "unclosed-quote-at-end.csv")
    assert rejected_lines(summary) == [3]
    assert set(people(sf.project)) == {"ana@example.org", "cy@example.org"}


def test_a_quote_closed_by_a_later_stray_quote_is_caught_by_the_rows_it_swallows(sf):
    summary = imported(sf, "stray.csv", (
        'email,first_name,notes\nana@example.org,"Ana,x\nbob@example.org,Bob,ok\n'
        'cy@example.org,Cy,5" tall\ndan@example.org,Dan,fine\n'
    ))  # fmt: skip
    assert rejected_lines(summary) == [2]
    assert set(people(sf.project)) == {"bob@example.org", "cy@example.org", "dan@example.org"}


def test_rejects_of_every_kind_are_listed_in_the_files_order_over_several_batches(sf):
    """Rows refused as they are read (a quote never closed, a cell too many) and rows
    refused by their values (a bad email) are said in the file's order: the summary's first
    100 are the file's first 100, and the rejects file keeps every one, in order."""
    lines, bad = ["email,first_name,phone"], []
    for n in range(2500):  # more than a batch (BATCH rows are parsed together)
        kind = n % 15
        if kind == 0:
            lines.append(f"not-an-email-{n},Zed,")
        elif kind == 5:
            lines.append(f"p{n}@example.org,Zed,01,extra")
        elif kind == 10:
            lines.append(f'p{n}@example.org,"Zed,')
        else:
            lines.append(f"p{n}@example.org,Ann,")
            continue
        bad.append(n + 2)  # its line: the header is line 1
    summary = imported(sf, "mixed.csv", "\n".join(lines) + "\n")
    assert summary["rejected"] == len(bad)
    assert rejected_lines(summary) == bad[:100]
    kept = list(csv.reader(io.StringIO(
        (sf.project / "imports" / "mixed.rejected.csv").read_text()
    )))[1:]  # fmt: skip
    assert [row[0].removeprefix("not-an-email-").removeprefix("p").split("@")[0]
            for row in kept] == [str(line - 2) for line in bad]  # fmt: skip


def test_a_note_over_several_lines_stays_one_value(sf):
    summary = imported(sf, "notes.csv", (
        'email,first_name,Notes\nana@example.org,Ana,"Appeler lundi\nou mardi, après 18 h"\n'
        "bob@example.org,Bob,\n"
    ))  # fmt: skip
    assert (summary["rows"], summary["created"], summary["rejected"]) == (2, 2, 0)


def test_a_row_with_more_cells_than_the_header_is_rejected_not_shifted(sf):
    summary = imported(sf, "extra-cells.csv")
    assert rejected_lines(summary) == [3]
    assert summary["errors"][0]["error"].startswith("4 cells, the header has 3")
    assert "dan@example.org" not in people(sf.project)
    assert people(sf.project)["eve@example.org"][3] == "Acme"  # a trailing empty cell is fine
    assert people(sf.project)["fred@example.org"][0] == "Fred"  # fewer cells: blanks
    kept = list(csv.reader(io.StringIO(
        (sf.project / "imports" / "extra-cells.rejected.csv").read_text()
    )))  # fmt: skip
    assert kept[1][:3] == ["dan@example.org", "Dan", "Dupont, Fils et Cie"]


def test_text_is_composed_and_control_characters_dropped_and_counted(sf):
    summary = imported(sf, "decomposed-and-control.csv")
    assert (summary["values_composed"], summary["control_characters_removed"]) == (2, 2)
    stored = people(sf.project)
    assert stored["helene@example.org"][:2] == ("Hélène", "Noël")  # composed: found as typed
    assert stored["ana@example.org"][:2] == ("Ana", "Lopez")
    found = sf("contacts", "list", "--search", "Hélène", "--format", "csv").output
    assert "helene@example.org" in found


def test_a_printable_text_holds_no_control_character():
    """The import looks for control characters only in a text that is not printable."""
    assert not [char for char in map(chr, range(sys.maxunicode + 1))
                if char.isprintable() and has_control(char)]  # fmt: skip


def test_notes_above_the_header_are_skipped_and_the_header_line_said(sf):
    summary = imported(sf, "linkedin-connections.csv")
    assert (summary["header_line"], summary["rows"], summary["created"]) == (4, 2, 1)
    assert rejected_lines(summary) == [6]
    assert people(sf.project)["julie.martin@example.org"] == (
        "Julie", "Martin", None, "Chorale du Marais",
    )  # fmt: skip
    target = sf.project / "imports" / "linkedin-connections.csv"
    assert "header on line 4" in sf("import", target).output


def test_excel_sep_line_names_the_delimiter(sf):
    summary = imported(sf, "excel-sep-line.csv")
    assert (summary["delimiter"], summary["header_line"], summary["created"]) == (";", 2, 2)
    assert people(sf.project)["ines@example.org"][3] == "Atelier Bréval, Fils & Cie"


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"PK\x03\x04\x14\x00\x06\x00" + bytes(200), "Excel or LibreOffice workbook"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(200), "Excel 97"),
        (b'[{"email": "a@example.org"}]', "this is JSON, not CSV: form submissions are read by"),
        (b'\xef\xbb\xbf{"email": "a@example.org"}\n', "this is JSON"),
        (b"<html><table><tr><td>email</td></tr></table></html>", "HTML or XML document"),
        (b"%PDF-1.7\n" + bytes(100), "PDF document"),
        (b"\x01\x02\x00\x00\x05" * 100, "binary file"),
    ],
    ids=["xlsx", "xls", "json", "json-bom", "html", "pdf", "binary"],
)
def test_what_is_not_csv_is_refused_saying_what_it_is(sf, tmp_path, content, says):
    path = tmp_path / "prospects.csv"
    path.write_bytes(content)
    for extra in ([], ["--encoding", "latin-1"]):  # following the advice changes nothing
        result = sf("import", path, *extra, code=1)
        assert says in result.output
    assert query(sf.project, "SELECT count(*) FROM contacts") == [(0,)]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_a_file_that_cannot_be_read_is_one_line(sf, tmp_path):
    path = tmp_path / "locked.csv"
    path.write_text("email\nana@example.org\n")
    path.chmod(0)
    assert "locked.csv: cannot be read (Permission denied)" in sf("import", path, code=1).output


def test_utf16_without_byte_order_mark_is_read(sf, tmp_path):
    path = tmp_path / "wide.csv"
    path.write_bytes("email\tfirst_name\nchloe@example.org\tChloé\n".encode("utf-16-le"))
    summary = sf("import", path, "--json")
    assert (summary["encoding"], summary["created"]) == ("utf-16-le", 1)
    assert people(sf.project)["chloe@example.org"][0] == "Chloé"


def test_french_outlook_takes_the_first_address_given(sf):
    imported(sf, "outlook-fr.csv")
    stored = people(sf.project)
    assert stored["chloe.lefevre@example.org"] == (
        "Chloé", "Lefèvre", "01 40 00 00 01", "Chœur de Paris",
    )  # fmt: skip
    assert stored["noel@example.org"][:3] == ("Noël", "Goüin", "06 00 00 00 02")
    assert "noel.perso@example.org" not in stored


def test_pipedrive_home_or_other_email_is_an_email(sf):
    summary = imported(sf, "pipedrive-home-email.csv")
    assert (summary["created"], summary["rejected"]) == (2, 0)
    stored = people(sf.project)
    assert stored["hugo.home@example.com"] == ("Hugo", "Lambert", "0600000003", "Lambert & Fils")
    assert stored["iris@example.com"][2] == "0100000004"


def test_internationalised_domains_are_addresses(sf):
    summary = imported(sf, "international-domain.csv")
    assert (summary["created"], summary["rejected"]) == (2, 0)
    assert set(people(sf.project)) == {"user@xn--exmple-cua.org", "josé@xn--exmple-cua.org"}


def test_the_summary_prints_the_sum(sf, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text(
        "email,first_name\nana@example.org,Ana\nANA@example.org,Ana\nbad,X\n\nbob@example.org,B\n"
    )
    output = sf("import", path).output
    assert "4 rows read = 2 created + 0 updated + 0 unchanged + 1 duplicate + 1 rejected" in output
    assert "1 blank line skipped" in output


# Property: random tables, written by Python's csv writer in any supported encoding and
# delimiter, some rows damaged — the sum holds, and every undamaged row imports exactly.

NAME = st.text(
    alphabet=st.characters(codec="cp1252", exclude_categories=["Cc", "Cs"]), max_size=10
).filter(lambda name: name.strip() == name)
DAMAGES = ("quote removed", "cell added", "nul inserted")


@st.composite
def tables(draw):
    size = draw(st.integers(1, 12))
    rows = [
        [f"p{n}@example.org", draw(NAME), draw(NAME)] for n in range(size)
    ]  # distinct emails: each undamaged row is one contact
    damaged = draw(st.dictionaries(st.integers(0, size - 1), st.sampled_from(DAMAGES)))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]))
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    return rows, damaged, encoding, delimiter


def write_table(rows, damaged, encoding, delimiter) -> bytes:
    """The table as csv.writer writes it (all cells quoted, so a quote can be removed)."""
    lines = []
    for index, row in enumerate([["email", "first_name", "last_name"], *rows]):
        out = io.StringIO()
        csv.writer(out, delimiter=delimiter, quoting=csv.QUOTE_ALL).writerow(row)
        line = out.getvalue()
        damage = damaged.get(index - 1)
        if damage == "quote removed":
            line = line[:-3] + line[-2:]  # the closing quote of the last cell
        elif damage == "cell added":
            line = line.rstrip("\r\n") + f'{delimiter}"Fils, et Cie"\r\n'
        elif damage == "nul inserted":
            line = line.replace("@", "\x00@", 1)
        lines.append(line)
    return "".join(lines).encode(encoding)


@settings(max_examples=60)
@given(table=tables())
def test_damaged_tables_add_up_and_undamaged_rows_import_exactly(table):
    if os.environ.get("SALESFLOW_DB"):  # the reading of damaged files: one engine is enough
        pytest.skip("a SQLite file per example")
    rows, damaged, encoding, delimiter = table
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        shutil.copy(REPO / "salesflow.yaml", folder)
        for sub in ("pipelines", "workflows"):
            shutil.copytree(REPO / sub, folder / sub)
        path = folder / "table.csv"
        path.write_bytes(write_table(rows, damaged, encoding, delimiter))
        store = Store.open(load_project(folder), datetime(2026, 11, 20, 10, tzinfo=UTC))
        try:
            result = import_csv(store, path, ImportOptions())
            stored = {
                email: (first or "", last or "")
                for email, first, last in store.conn.execute(
                    "SELECT email, first_name, last_name FROM contacts"
                )
            }
        finally:
            store.conn.close()
    assert result.rows == result.accounted == len(rows)
    for index, (email, first, last) in enumerate(rows):
        if index not in damaged:
            assert stored[email] == (first, last), json.dumps(result.as_json(), default=str)
        elif damaged[index] == "cell added":
            assert email not in stored
