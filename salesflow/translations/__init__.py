"""The words salesflow shows people, in their language: gettext catalogs made with Babel.
The strings are marked where they are written (`_()`/`gettext` in templates, `N_()` in
Python), `make catalogs` extracts them into salesflow.pot and updates each language's .po,
and `make compile` compiles the .po files. The source language is English: an English
project, and the CLI, read the strings as written."""

from __future__ import annotations

from functools import cache
from gettext import GNUTranslations, NullTranslations
from io import BytesIO
from pathlib import Path

DOMAIN = "salesflow"
SOURCE = "en"  # the language the strings are written in
CATALOGS = Path(__file__).parent


def N_(text: str) -> str:
    """Marks `text` for the catalogs where it is written; it is translated where it is shown,
    in the reader's language (`translations(locale).gettext(text)`)."""
    return text


def language(locale: str) -> str:
    """The language a project's locale reads (`fr_FR` and `fr` read `fr`): its own when it
    has a catalog, else English, the source language (for `<html lang>`)."""
    lang = locale.split("_")[0].split("-")[0].lower()
    return lang if (CATALOGS / lang / "LC_MESSAGES" / f"{DOMAIN}.po").is_file() else SOURCE


@cache
def translations(locale: str) -> NullTranslations:
    """The catalog for a project's locale (`fr_FR` and `fr` read fr). English, or a language
    without a catalog, reads the source strings."""
    lang = language(locale)
    if lang == SOURCE:
        return NullTranslations()
    folder = CATALOGS / lang / "LC_MESSAGES"
    source, compiled = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
    if compiled.is_file() and compiled.stat().st_mtime >= source.stat().st_mtime:
        with compiled.open("rb") as file:
            return GNUTranslations(file)
    return _compiled_in_memory(source)


def _compiled_in_memory(source: Path) -> GNUTranslations:
    """A checkout or an install where `make compile` did not run: the .po is read itself
    (a few milliseconds more, once per process)."""
    from babel.messages import mofile, pofile

    with source.open("rb") as file:
        catalog = pofile.read_po(file)
    buffer = BytesIO()
    mofile.write_mo(buffer, catalog)
    buffer.seek(0)
    return GNUTranslations(buffer)
