"""The pages in the project's language, through the gettext catalogs of
salesflow/translations: every page kind, the visitor pages and the HTML report rendered
under a pseudo-locale that wraps each translated string in ⟦…⟧ (a word left unwrapped and
not data was never marked), a French project without the catalog's English, an English
one without its French, the catalogs up to date with the sources, and the emails' footer.
In this process (the app the `pages` fixture builds); the catalogs are read as an install
reads them."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from gettext import NullTranslations
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from babel.messages import pofile
from conftest import Pages, csrf_of, open_project, prepare_team, query, signed_in

from salesflow import clock
from salesflow.mail.unsubscribe import token
from salesflow.store.session import Store
from salesflow.translations import CATALOGS, translations
from salesflow.web import environment
from salesflow.web.pages.unsubscribe import masked
from salesflow.web.report import html_report
from salesflow.web.site import Site

REPO = Path(__file__).parents[1]
NOW = "2026-11-20T10:00"

# The stored columns that hold words rather than data: the runs' traces and reasons, a
# reject's reason (a visitor's value error), which the pages render in their language.
STORED_WORDS = {("run_steps", "detail"), ("runs", "reason"), ("rejects", "error")}
# The stored codes the pages word (a status, a priority), never show as stored.
STORED_CODES = {("runs", "status"), ("outbox", "status"), ("run_steps", "outcome"),
                ("deals", "status"), ("deals", "priority")}  # fmt: skip


class Pseudo(NullTranslations):
    """Every string that goes through the catalog, wrapped: ⟦Board⟧."""

    def gettext(self, message: str) -> str:
        return f"⟦{message}⟧"

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return f"⟦{singular if n == 1 else plural}⟧"


class Visible(HTMLParser):
    """The text a reader meets: text nodes (not scripts or styles) and the attributes a
    browser shows or reads aloud."""

    SHOWN = ("title", "placeholder", "aria-label", "alt", "data-reason")

    def __init__(self):
        super().__init__()
        self.texts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "style"):
            self._hidden += 1
        self.texts += [attrs[name] for name in self.SHOWN if attrs.get(name)]
        if tag == "button" or (tag == "input" and attrs.get("type") in ("submit", "button")):
            self.texts += [attrs["value"]] if attrs.get("value") else []

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden and data.strip():
            self.texts.append(data)


def visible(html: str) -> list[str]:
    parser = Visible()
    parser.feed(html)
    return parser.texts


def strings(value) -> set[str]:
    """Every string in a value read from YAML or JSON (keys too: ids are shown)."""
    if isinstance(value, str):
        try:
            inner = json.loads(value)
        except ValueError:
            return {value}
        return {value} | (strings(inner) if isinstance(inner, dict | list) else set())
    if isinstance(value, dict):
        return set().union(*(strings(k) | strings(v) for k, v in value.items()))
    if isinstance(value, list):
        return set().union(*(strings(item) for item in value))
    return set()


def phrase_values(stored: dict) -> set[str]:
    """The values of a stored phrase (`{"msg": id, …values}`, values nesting phrases): data;
    its id and keys are not."""
    found: set[str] = set()
    for key, value in stored.items():
        if isinstance(value, dict):
            found |= phrase_values(value)
        elif key != "msg" and value is not None:
            found.add(str(value))
    return found


def data_of(project: Path) -> set[str]:
    """The project's data: every text in its database (but the codes and sentences the
    pages word) and in its YAML, and the masked addresses the unsubscribe page shows."""
    found: set[str] = set()
    with sqlite3.connect(project / "salesflow.db") as connection:
        tables = [row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]  # fmt: skip
        for table in tables:
            cursor = connection.execute(f'SELECT * FROM "{table}"')
            names = [column[0] for column in cursor.description]
            for row in cursor:
                for name, value in zip(names, row, strict=True):
                    column = (table, name)
                    if column in STORED_WORDS and value:
                        found |= phrase_values(json.loads(value))
                    elif isinstance(value, str) and column not in STORED_CODES:
                        found |= strings(value)
    for path in project.rglob("*.yaml"):
        found |= strings(yaml.safe_load(path.read_text()))
    found |= {masked(text) for text in found if re.fullmatch(r"[^@\s]+@[^@\s]+", text)}
    return {text.strip() for text in found if text.strip()}


def data_pattern(data: set[str]) -> re.Pattern:
    """Any of the data, as whole words (the longest first)."""
    texts = sorted(data, key=len, reverse=True)
    return re.compile("|".join(rf"(?<!\w){re.escape(text)}(?!\w)" for text in texts))


def words_left(html: str, data: set[str]) -> list[str]:
    """The words of a page that are neither wrapped (⟦…⟧) nor data."""
    pattern = data_pattern(data)
    left = []
    for text in visible(html):
        text = re.sub(r"⟦[^⟧]*⟧", " ", text)
        left += re.findall(r"[^\W\d_]+", pattern.sub(" ", text))
    return left


def every_page(project: Path, sf) -> dict[str, str]:
    """Each page kind, the visitor pages and the HTML report, on the team's demo with a
    ticket, a won deal, a failed run, emails delivered and a refused submission in it."""
    sf("deals", "add", "--title", "Sans contact", "--pipeline", "cours-essai")
    lonely = query(project, "SELECT max(id) FROM deals")[0][0]
    sf("workflows", "start", "inviter", "--deal", lonely)  # no contact to invite: it fails
    sf("tickets", "add", "--subject", "Passer au jeudi", "--priority", "urgent", "--owner", "paul")
    sf("process")
    sf("outbox", "send")  # delivered: each email's answer, in the traces too
    ticket = query(project, "SELECT max(id) FROM deals")[0][0]
    sf("deals", "won", "2")
    app = Pages(project, NOW)
    try:
        member, visitor = signed_in(app), app.client()
        html = {"Accept": "text/html"}
        shown = {
            path: member.get(path)
            for path in (
                "/",
                "/?pipeline=support",
                "/pipelines/cours-essai/stages/nouveau",
                "/funnel",
                "/forecast",
                "/activity",
                "/today",
                "/deals/1",
                "/deals/2",
                f"/deals/{ticket}",
                "/messages/1",
                "/deals/999",
            )
        }
        shown["login"] = visitor.get("/login")
        wrong = {"member": "marie", "password": "nope", "csrf": csrf_of(shown["login"].text)}
        shown["login failed"] = visitor.post("/login", data=wrong)
        viewer = signed_in(app, "lea")
        shown["viewer"] = viewer.get("/deals/1")
        viewed = {"csrf": csrf_of(shown["viewer"].text)}
        shown["refused"] = viewer.post("/deals/1/won", data=viewed)
        shown["expired"] = member.post("/deals/1/won", data={"csrf": "old"})
        form = {"email": "zoe@example.org", "date_essai": "2027-01-09T18:30"}
        shown["thanks"] = visitor.post("/forms/cours-essai", data=form, headers=html)
        shown["problem"] = visitor.post("/forms/cours-essai", data={**form, "email": "x"},
                                        headers=html)  # fmt: skip
        shown["no form"] = visitor.post("/forms/cours-esai", data=form, headers=html)
        opened = open_project(project)
        store = Store.open(opened, clock.now(NOW, opened.timezone))
        link = f"/unsubscribe/{token(store, 1)}"
        shown["report"] = html_report(store)
        store.conn.close()
        shown["unsubscribe"] = visitor.get(link)
        shown["unsubscribed"] = visitor.post(link)
        shown["invalid link"] = visitor.get("/unsubscribe/1-nope")
        site = Site(open_project(project), NOW)  # the pages of a database gone or busy
        shown["unavailable"] = site.page("unavailable.html", 503)
        shown["busy"] = site.page("unsubscribe.html", 503, state="busy")
    finally:
        app.close()
    return {name: page if isinstance(page, str) else page.body.decode() if hasattr(page, "body")
            else page.text for name, page in shown.items()}  # fmt: skip


@pytest.fixture
def pseudo(monkeypatch):
    """The pages' catalog replaced by the pseudo-locale, where the environment loads it (the
    one seam: Site.gettext reads the environment's catalog)."""
    monkeypatch.setattr(environment, "translations", lambda locale: Pseudo())


def test_every_word_of_every_page_goes_through_the_catalog(sf, pseudo):
    project = prepare_team(sf)
    pages = every_page(project, sf)
    data = data_of(project)
    assert "⟦Board⟧" in pages["/"] and "⟦Report⟧" in pages["report"]
    left = {name: words for name, page in pages.items() if (words := words_left(page, data))}
    assert not left, f"words neither marked for translation nor data: {left}"


def translated(lang: str) -> list[tuple[str, str]]:
    """(msgid, msgstr) of the language's catalog, plural forms apart; not those that hold no
    word of their own (`{pointer}: {reason}`): their typography differs, not their language."""
    with (CATALOGS / lang / "LC_MESSAGES" / "salesflow.po").open("rb") as file:
        catalog = pofile.read_po(file)
    pairs = []
    for message in catalog:
        if message.id:
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            texts = message.string if isinstance(message.string, tuple) else (message.string,)
            pairs += list(zip(ids, texts, strict=False))
    return [(i, t) for i, t in pairs if re.search(r"[^\W\d_]", re.sub(r"\{\w*\}|%\(\w+\)d", "", i))]


def phrase(text: str) -> re.Pattern:
    """A catalog string as it reads on a page: a number for `%(num)d`, any value for the
    other placeholders; whole words only."""
    pieces = re.split(r"(%\(\w+\)d|%\(\w+\)s|\{\w+\})", text)
    pattern = "".join(
        (r"\d+" if piece.endswith(")d") else ".+?") if index % 2 else re.escape(piece)
        for index, piece in enumerate(pieces)
    )
    return re.compile(rf"(?<!\w){pattern}(?!\w)")


def foreign(pages: dict[str, str], data: set[str], strings_: list[str]) -> dict[str, list]:
    """Each page's visible text (data left out) that reads as one of `strings_`."""
    pattern = data_pattern(data)
    found = {}
    for name, page in pages.items():
        text = " | ".join(pattern.sub(" ", line) for line in visible(page))
        hits = [s for s in strings_ if phrase(s).search(text)]
        if hits:
            found[name] = hits
    return found


def test_a_french_project_shows_none_of_the_catalogs_english(sf):
    project = prepare_team(sf)
    pages = every_page(project, sf)
    english = [msgid for msgid, msgstr in translated("fr") if msgstr != msgid]
    assert "Nom ou mot de passe incorrect" not in pages["login"]
    assert "Tableau" in pages["/"] and "Rapport" in pages["report"]
    assert not foreign(pages, data_of(project), english)


def test_an_english_project_shows_no_french(sf):
    config = yaml.safe_load((sf.project / "salesflow.yaml").read_text())
    config["locale"] = "en_GB"
    (sf.project / "salesflow.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    project = prepare_team(sf)
    pages = every_page(project, sf)
    french = [msgstr for msgid, msgstr in translated("fr") if msgstr != msgid]
    assert "Board" in pages["/"] and 'lang="en"' in pages["/"]
    assert not foreign(pages, data_of(project), french)


def test_the_catalogs_are_up_to_date_and_french_is_complete(tmp_path):
    pot = tmp_path / "salesflow.pot"
    subprocess.run([Path(sys.executable).parent / "pybabel", "-q", "extract", "-F", "babel.cfg",
                    "-k", "N_", "--omit-header", "-o", pot, "."], cwd=REPO,
                   check=True)  # fmt: skip
    with pot.open("rb") as fresh, (CATALOGS / "salesflow.pot").open("rb") as kept:
        assert {m.id for m in pofile.read_po(fresh)} == {m.id for m in pofile.read_po(kept)}, (
            "run `make catalogs` and translate what is new"
        )
    with (CATALOGS / "salesflow.pot").open("rb") as kept:
        wanted = {message.id for message in pofile.read_po(kept) if message.id}
    with (CATALOGS / "fr" / "LC_MESSAGES" / "salesflow.po").open("rb") as file:
        french = pofile.read_po(file)
    assert {message.id for message in french if message.id} == wanted
    for message in french:
        if message.id:
            strings_ = message.string if isinstance(message.string, tuple) else (message.string,)
            assert all(strings_) and not message.fuzzy, message.id
    assert translations("fr_FR").gettext("Board") == "Tableau"


@pytest.mark.parametrize(
    ("locale", "public_url", "footer"),
    [
        ("fr_FR", None, "Pour ne plus recevoir nos messages, écrivez à {address} (objet :"
                        " désinscription)."),
        ("en_GB", "https://crm.club.example", "To stop receiving our messages:"
                                              " https://crm.club.example/unsubscribe/"),
    ],
    ids=["fr", "en"],
)  # fmt: skip
def test_an_emails_footer_is_in_the_projects_language(sf, locale, public_url, footer):
    config = yaml.safe_load((sf.project / "salesflow.yaml").read_text())
    config["locale"] = locale
    if public_url:
        config["public_url"] = public_url
    (sf.project / "salesflow.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    sf("ingest", sf.project / "examples/forms/julie.json", "--form", "cours-essai")
    sf("process")
    [(text, sender)] = query(sf.project, "SELECT text, sender FROM outbox WHERE"
                             " subject LIKE 'Bienvenue%'")  # fmt: skip
    address = re.search(r"[^<\s]+@[^>\s]+", sender).group(0)
    assert footer.format(address=address) in text.split("\n-- \n")[1]
