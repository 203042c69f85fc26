"""Reading the CSV files people have: encodings, delimiters, line endings, quoted fields.

Encoding: a BOM says it; else strict UTF-8 if the whole file decodes; else the Windows code
page of the project's locale (cp1252 for French: what French Excel writes). A detector is not
used: on short French files they answer cp1250 and turn Œ into Ś (../shared/FACTS.md).
Delimiter: the one among , ; tab | that splits a bounded sample into the most consistent
rows, then the most columns (csv.Sniffer picks , for ; files whose values hold commas).
"""

from __future__ import annotations

import codecs
import csv
import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from salesflow.errors import UserError

DELIMITERS = (",", ";", "\t", "|")
SAMPLE_BYTES = 64 * 1024
_CODE_PAGES = {
    "pl": "cp1250", "cs": "cp1250", "sk": "cp1250", "hu": "cp1250", "sl": "cp1250",
    "hr": "cp1250", "ro": "cp1250", "ru": "cp1251", "uk": "cp1251", "bg": "cp1251",
    "el": "cp1253", "tr": "cp1254", "he": "cp1255", "ar": "cp1256", "lt": "cp1257",
    "lv": "cp1257", "et": "cp1257", "vi": "cp1258",
}  # fmt: skip


@dataclass(frozen=True)
class CsvFormat:
    encoding: str
    delimiter: str

    @property
    def delimiter_name(self) -> str:
        return {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}[self.delimiter]


def code_page(locale: str) -> str:
    """The Windows code page spreadsheets use for `locale`'s language (cp1252 by default)."""
    return _CODE_PAGES.get(locale.split("_")[0], "cp1252")


def detect_encoding(path: Path, locale: str) -> str:
    with path.open("rb") as file:
        start = file.read(4)
        if start.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        file.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while chunk := file.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
            return "utf-8"
        except UnicodeDecodeError:
            return code_page(locale)


def detect_delimiter(sample: str) -> str:
    """The delimiter that gives the most rows of one same width (≥ 2), then the widest."""
    lines = sample.splitlines(keepends=True)
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        sample = "".join(lines[:-1])  # the sample may end mid-row
    best, best_score = ",", (-1.0, 0)
    for delimiter in DELIMITERS:
        try:
            rows = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter)
            widths = [len(row) for row in rows if row]
        except csv.Error:
            continue
        if not widths:
            continue
        width, count = Counter(widths).most_common(1)[0]
        score = (count / len(widths) if width > 1 else 0.0, width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def sniff(path: Path, locale: str, encoding: str | None, delimiter: str | None) -> CsvFormat:
    """The file's encoding and delimiter: given ones are checked, the others detected."""
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise UserError(
                f"--encoding {encoding}: unknown encoding (e.g. utf-8, cp1252)"
            ) from None
    encoding = encoding or detect_encoding(path, locale)
    if delimiter:
        delimiter = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";"}.get(
            delimiter, delimiter
        )
        if len(delimiter) != 1:
            raise UserError(f"--delimiter must be one character (or 'tab'), not '{delimiter}'")
    else:
        with path.open("rb") as file:
            raw = file.read(SAMPLE_BYTES)
        delimiter = detect_delimiter(raw.decode(encoding, errors="replace"))
    return CsvFormat(encoding, delimiter)


def read_rows(path: Path, fmt: CsvFormat, progress=None) -> Iterator[list[str]]:
    """Every record (header first), streamed; a byte the encoding cannot decode raises
    UserError (the caller's transaction then keeps nothing: no half import).
    `progress(bytes_read)` is called every 4,096 records."""
    with path.open("r", encoding=fmt.encoding, newline="") as file:
        try:
            for count, record in enumerate(csv.reader(file, delimiter=fmt.delimiter)):
                if progress and not count % 4096:
                    progress(file.buffer.tell())
                yield record
        except UnicodeDecodeError as error:
            raise UserError(
                f"{path.name}: not readable as {fmt.encoding} ({error.reason});"
                " nothing was imported; pass --encoding (e.g. utf-8, cp1252, latin-1)"
            ) from None
        except csv.Error as error:
            raise UserError(f"{path.name}: not a readable CSV file ({error})") from None
