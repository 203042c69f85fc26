"""Reading the CSV files people have: encodings, delimiters, line endings, quoted fields —
and refusing, with what to do, the files that are not CSV at all.

Encoding: a BOM says it; else strict UTF-8 if the whole file decodes; else the Windows code
page of the project's locale (cp1252 for French: what French Excel writes). A detector is not
used: on short French files they answer cp1250 and turn Œ into Ś (../shared/FACTS.md).
Delimiter: Excel's `sep=;` first line when there is one; else the one among , ; tab | that
splits a bounded sample into the most consistent rows, then the most columns (csv.Sniffer
picks , for ; files whose values hold commas).
Records: each is read with the line it starts on. A quote opened and never closed makes a CSV
reader swallow the following lines into one value; such a record is given as broken (its own
line only) and reading resumes on the next line, so the merged row is never imported.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from salesflow.errors import UserError
from salesflow.wording import counted

DELIMITERS = (",", ";", "\t", "|")
SAMPLE_BYTES = 64 * 1024
_CODE_PAGES = {
    "pl": "cp1250", "cs": "cp1250", "sk": "cp1250", "hu": "cp1250", "sl": "cp1250",
    "hr": "cp1250", "ro": "cp1250", "ru": "cp1251", "uk": "cp1251", "bg": "cp1251",
    "el": "cp1253", "tr": "cp1254", "he": "cp1255", "ar": "cp1256", "lt": "cp1257",
    "lv": "cp1257", "et": "cp1257", "vi": "cp1258",
}  # fmt: skip
_SAVE_AS_CSV = "save it as “CSV UTF-8” (Excel: File › Save As) and import that file"
_NOT_CSV = (  # first bytes → what the file is, and what to do
    (b"PK\x03\x04", f"an Excel or LibreOffice workbook (.xlsx, .ods), not CSV: {_SAVE_AS_CSV}"),
    (b"\xd0\xcf\x11\xe0", f"an Excel 97–2003 workbook (.xls), not CSV: {_SAVE_AS_CSV}"),
    (b"%PDF", "a PDF document, not CSV: export the table as CSV from the tool that made it"),
    (b"\x1f\x8b", "compressed (gzip), not CSV: decompress it first (gunzip)"),
)  # fmt: skip
_JSON_START = re.compile(r"\s*(\{|\[\s*[\[{\"\]])")
_MARKUP_START = re.compile(r"\s*<(\?xml|!doctype|html|table)", re.IGNORECASE)
_SEP_LINE = re.compile(r"sep=(.)\r?\n?$")  # Excel's first line naming the delimiter


@dataclass(frozen=True)
class CsvFormat:
    encoding: str
    delimiter: str
    declared: bool = False  # the delimiter came from the file's `sep=` line

    @property
    def delimiter_name(self) -> str:
        return {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}[self.delimiter]


def code_page(locale: str) -> str:
    """The Windows code page spreadsheets use for `locale`'s language (cp1252 by default)."""
    return _CODE_PAGES.get(locale.split("_")[0], "cp1252")


def detect_encoding(path: Path, locale: str) -> str:
    with path.open("rb") as file:
        start = file.read(SAMPLE_BYTES)
        if start.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        if wide := _utf16_without_bom(start):
            return wide
        file.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while chunk := file.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
            return "utf-8"
        except UnicodeDecodeError:
            return code_page(locale)


def _utf16_without_bom(raw: bytes) -> str | None:
    """UTF-16 text without its byte-order mark: mostly-Latin text leaves a zero byte in every
    other place (the odd ones little-endian, the even ones big-endian)."""
    even, odd = raw[0::2].count(0), raw[1::2].count(0)
    if len(raw) < 4:
        return None
    if odd > len(raw) // 6 and even == 0:
        return "utf-16-le"
    if even > len(raw) // 6 and odd == 0:
        return "utf-16-be"
    return None


def refuse_non_csv(path: Path, raw: bytes) -> None:
    """UserError naming what the file is, when its first bytes say it is not CSV text."""
    for signature, what in _NOT_CSV:
        if raw.startswith(signature):
            raise UserError(f"{path.name}: this is {what}")
    text = raw.removeprefix(codecs.BOM_UTF8).decode("latin-1")
    if _JSON_START.match(text):
        raise UserError(
            f"{path.name}: this is JSON, not CSV: form submissions are read by"
            f" `salesflow ingest --form FORM {path.name}`"
        )
    if _MARKUP_START.match(text):
        raise UserError(
            f"{path.name}: this is an HTML or XML document, not CSV (some tools' “Excel”"
            f" exports are web pages): open it in a spreadsheet and {_SAVE_AS_CSV}"
        )
    wide = raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or _utf16_without_bom(raw)
    if not wide and raw.count(0) > max(4, len(raw) // 10):  # a stray NUL is cleaned, not this
        raise UserError(f"{path.name}: this is a binary file, not CSV text; export it as CSV")


def detect_delimiter(sample: str) -> str:
    """The delimiter that gives the most lines of one same width (≥ 2), then the widest.
    Each line is read alone (a quote left open in one line must not merge the sample) and
    strictly: a quoted value not followed by this delimiter is a line it does not split."""
    lines = io.StringIO(sample, newline="").readlines()  # \r, \n, \r\n only
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        lines.pop()  # the sample may end mid-row
    best, best_score = ",", (0.0, 0)
    for delimiter in DELIMITERS:
        widths = [_strict_width(line, delimiter) for line in lines if line.strip()]
        split = Counter(width for width in widths if width > 1)
        if not split:
            continue
        width, count = split.most_common(1)[0]
        score = (count / len(widths), width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def sniff(path: Path, locale: str, encoding: str | None, delimiter: str | None) -> CsvFormat:
    """The file's encoding and delimiter: given ones are checked, the others detected."""
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        with path.open("rb") as file:
            raw = file.read(SAMPLE_BYTES)
    except OSError as error:
        raise UserError(f"{path}: cannot be read ({error.strerror})") from None
    refuse_non_csv(path, raw)
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise UserError(
                f"--encoding {encoding}: unknown encoding (e.g. utf-8, cp1252)"
            ) from None
    encoding = encoding or detect_encoding(path, locale)
    sample = raw.decode(encoding, errors="replace").removeprefix("\ufeff")
    if delimiter:
        delimiter = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";"}.get(
            delimiter, delimiter
        )
        if len(delimiter) != 1:
            raise UserError(f"--delimiter must be one character (or 'tab'), not '{delimiter}'")
        return CsvFormat(encoding, delimiter)
    if declared := _SEP_LINE.match(sample.partition("\n")[0]):
        return CsvFormat(encoding, declared[1], declared=True)
    return CsvFormat(encoding, detect_delimiter(sample))


def _strict_width(line: str, delimiter: str) -> int:
    """How many cells `delimiter` splits the line into; 0 if its quotes do not fit it."""
    if '"' not in line and line.strip("\r\n"):  # nothing to unquote, nor to refuse
        return line.count(delimiter) + 1
    try:
        return len(next(csv.reader([line], delimiter=delimiter, strict=True), []))
    except csv.Error:
        return 0


def _cells(line: str, delimiter: str) -> list[str]:
    """The cells of one physical line, read as if it were the whole file."""
    cells = next(csv.reader([line], delimiter=delimiter), [])
    return [cell.rstrip("\r\n") for cell in cells]


Record = tuple[int, list[str], str | None]  # (line it starts on, cells, why it is broken)


class Records:
    """The records of a CSV file, streamed: (line, cells, None), or (line, the cells of that
    line alone, why) for a record a quote never closed. Set `width` to the header's number of
    cells once known: a swallowed line that reads as a whole row is a sign of such a quote.
    `progress(bytes_read)` is called every 4,096 records."""

    def __init__(self, path: Path, fmt: CsvFormat, progress: Callable[[int], None] | None = None):
        self.path, self.fmt, self.progress = path, fmt, progress
        self.width = 0
        self._lines: list[str] = []  # the physical lines of the record being read

    def __iter__(self) -> Iterator[Record]:
        with self.path.open("r", encoding=self.fmt.encoding, newline="") as file:
            try:
                yield from self._records(file)
            except UnicodeDecodeError as error:
                raise UserError(
                    f"{self.path.name}: not readable as {self.fmt.encoding} ({error.reason});"
                    " nothing was imported; pass --encoding (e.g. utf-8, cp1252, latin-1)"
                ) from None

    def _records(self, file) -> Iterator[Record]:
        source, lines, done = iter(file), self._lines, 0
        progress, report_at = self.progress, 0
        while True:
            try:
                for cells in self._reader(source):
                    if len(lines) > 1 and (why := self._broken(lines)):
                        break
                    yield done + 1, cells, None
                    done += len(lines)
                    lines.clear()
                    if progress and done >= report_at:
                        progress(file.buffer.tell())
                        report_at = done + 4096
                else:
                    return
            except csv.Error as error:  # a value over csv's size limit
                why = f"a value runs on from this line ({error}): a quote not closed?"
            first, replay = lines[0], lines[1:]  # the others read again as records of their own
            lines.clear()
            source = itertools.chain(replay, source)
            yield done + 1, self.alone(first), why
            done += 1

    def _reader(self, source: Iterable[str]):
        lines = self._lines

        def kept() -> Iterator[str]:
            for line in source:
                lines.append(line)
                yield line

        return csv.reader(kept(), delimiter=self.fmt.delimiter)

    def alone(self, line: str) -> list[str]:
        return _cells(line, self.fmt.delimiter)

    def _broken(self, lines: list[str]) -> str | None:
        """Why a record over several lines is a quote never closed, or None if it reads as
        one value with line breaks (a note, an address)."""
        merged = counted(len(lines) - 1, "line")
        if sum(line.count('"') for line in lines) % 2:
            return (
                f'a quote (") opened on this line is never closed (it would merge the next'
                f" {merged} into one value): close it and import the line again"
            )
        if self.width > 1 and any(len(self.alone(line)) >= self.width for line in lines[1:]):
            return (
                f'a quote (") opened on this line runs over the next {merged}, which read as'
                " rows of their own: close it and import the line again"
            )
        return None
