"""Read the tables operators keep: CSV with any common delimiter, XLSX, and text as Excel writes it.

One reader for every file input (``handles verify --file``, ``handles events import``):

- the format is chosen from the bytes with certainty, else refused: XLSX by the zip signature and
  its workbook part; text by its encoding — UTF-8 (with or without BOM), UTF-16 LE/BE with a BOM
  (Excel's "Unicode text"), else Windows-1252 (a superset of printable Latin-1) when the bytes are
  not valid UTF-8 anywhere in the file;
- a header row is looked for in the first :data:`HEADER_SEARCH_ROWS` lines; its names are matched
  without regard to case, spaces, underscores or punctuation, with synonyms (``MMS ID``/``mms_id``/
  ``MMSID``; ``Handle URL``/``dc:identifier``/``URI``…); the delimiter (comma, semicolon, tab, pipe) is
  the one that splits that header line into the wanted columns, never guessed from the data;
- sizes are bounded: a line of text, a cell (Excel's own limit), an XLSX part (``outcomes.events.xlsx``).

Every refusal is a :class:`SheetError` whose ``str()`` is one line.
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from outcomes.events.xlsx import XlsxError, iter_rows

__all__ = [
    "HANDLE",
    "MMS_ID",
    "Column",
    "SheetError",
    "Table",
    "column_key",
    "file_kind",
    "match_header",
    "read_table",
    "text_encoding",
    "text_lines",
]

HEADER_SEARCH_ROWS = 20
# Excel's own limit for one cell is 32,767 characters: a longer value did not come from a spreadsheet.
MAX_CELL_CHARS = 32_767
# One physical line of text: a few cells at their limit. Longer lines are refused before they are
# held in memory whole (a file with no line breaks would otherwise be one giant line).
MAX_LINE_CHARS = 262_144
DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_CHUNK = 1 << 20
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


class SheetError(ValueError):
    """The file cannot be read as the table wanted; ``str()`` is one line (naming the line if known)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line


@dataclass(frozen=True)
class Column:
    """A wanted column: its name in messages, the header spellings it accepts, and if it must be there."""

    name: str
    synonyms: tuple[str, ...] = ()
    required: bool = True

    def keys(self) -> set[str]:
        return {column_key(self.name), *(column_key(s) for s in self.synonyms)}


MMS_ID = Column("MMS ID", ("mms_id", "MMSID", "mms", "MMS Id number"), required=False)
HANDLE = Column(
    "Handle",
    ("Handle URL", "handle_url", "dc:identifier", "URI", "Handle URI", "hdl", "identifier", "Persistent URL"),
)


def column_key(name: str) -> str:
    """A header name compared without case, spaces, underscores or punctuation."""
    return "".join(ch for ch in name.casefold() if ch.isalnum())


@dataclass
class Table:
    """A file's table: ``kind`` (``csv`` or ``xlsx``), its header, and lazy rows of text cells.

    ``index`` maps each found column's name to its position; ``rows`` yields ``(line, cells)``.
    """

    kind: str
    header_line: int
    header: list[str]
    index: dict[str, int]
    rows: Iterator[tuple[int, list[str]]]
    delimiter: str | None = None
    encoding: str | None = None

    def cell(self, cells: Sequence[str], name: str) -> str | None:
        i = self.index.get(name)
        if i is None or i >= len(cells):
            return None
        return cells[i].strip() or None


# --- what the bytes are ----------------------------------------------------------------------------


def file_kind(path: Path) -> str:
    """``xlsx`` or ``text``, from the bytes; a zip that is not a workbook, binary or empty is refused."""
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except IsADirectoryError:
        raise SheetError("it is a directory, not a file") from None
    except FileNotFoundError:
        raise SheetError("cannot read it: no such file") from None
    except OSError as exc:
        raise SheetError(f"cannot read it: {exc.strerror or exc}") from None
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
        except (OSError, zipfile.BadZipFile, ValueError) as exc:
            raise SheetError(f"not a readable XLSX workbook ({type(exc).__name__})") from None
        if "xl/workbook.xml" not in names and "_rels/.rels" not in names:
            raise SheetError("a zip file but not an XLSX workbook (no xl/workbook.xml)")
        return "xlsx"
    if not head.strip(b"\xef\xbb\xbf\xff\xfe\x00 \t\r\n"):
        raise SheetError("the file is empty")
    return "text"


def text_encoding(path: Path) -> str:
    """The file's text encoding, from its bytes with certainty; raises :class:`SheetError` otherwise."""
    with path.open("rb") as fh:
        head = fh.read(4)
        for bom, encoding in _BOMS:
            if head.startswith(bom):
                return encoding
        fh.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        line = 1
        while True:
            chunk = fh.read(_CHUNK)
            if b"\x00" in chunk:
                at = line + chunk[: chunk.index(b"\x00")].count(b"\n")
                raise SheetError("binary data (NUL byte): not text, CSV or XLSX", at)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError:
                break
            if not chunk:
                return "utf-8"
            line += chunk.count(b"\n")
    # not UTF-8: Windows-1252 (Excel's "CSV" on Western systems) if every byte is one of its characters
    try:
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                chunk.decode("cp1252")
    except UnicodeDecodeError:
        raise SheetError("neither UTF-8, UTF-16 nor Windows-1252 text") from None
    return "cp1252"


def text_lines(path: Path, encoding: str) -> Iterator[str]:
    """The file's lines (with their line ends, as ``csv`` wants them), each at most MAX_LINE_CHARS."""
    with path.open("rb") as raw, io.TextIOWrapper(raw, encoding=encoding, newline="") as text:
        readline, limit, number = text.readline, MAX_LINE_CHARS + 1, 0
        try:
            for line in iter(lambda: readline(limit), ""):
                number += 1
                if len(line) == limit:
                    raise SheetError(f"line longer than {MAX_LINE_CHARS:,} characters", number)
                if "\x00" in line:
                    raise SheetError("binary data (NUL character): not text", number)
                yield line
        except UnicodeDecodeError:
            raise SheetError(f"not {encoding} text", number + 1) from None


# --- the header ----------------------------------------------------------------------------------


def match_header(cells: Sequence[str], columns: Sequence[Column]) -> dict[str, int] | None:
    """Each wanted column's position among ``cells``, or ``None`` when a required one is missing."""
    keys = [column_key(c) for c in cells]
    index: dict[str, int] = {}
    for column in columns:
        wanted = column.keys()
        found = next((i for i, k in enumerate(keys) if k in wanted), None)
        if found is not None:
            index[column.name] = found
        elif column.required:
            return None
    return index


def _split(line: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return []


def header_of(line: str, columns: Sequence[Column]) -> tuple[str, dict[str, int]] | None:
    """The delimiter that splits ``line`` into the wanted columns, and their positions; else None.

    Certain by construction: only a delimiter present in the line is tried (a one-column header has
    none), and when two would do, the one giving more columns is the line's (a header whose names
    themselves hold the other one would still split into names that match).
    """
    best: tuple[int, str, dict[str, int]] | None = None
    present = [d for d in DELIMITERS if d in line] or [","]
    for delimiter in present:
        cells = _split(line, delimiter)
        index = match_header(cells, columns)
        if index is not None and (best is None or len(cells) > best[0]):
            best = (len(cells), delimiter, index)
    return None if best is None else (best[1], best[2])


def refusal(found: Iterable[str], columns: Sequence[Column], line: int | None = None) -> SheetError:
    """The one line naming the columns a file has and the ones wanted."""
    names = [" ".join(str(c).split())[:40] for c in found if str(c).strip()]
    shown = ", ".join(names[:12]) + (", …" if len(names) > 12 else "") or "nothing"
    missing = [c for c in columns if c.required]
    wanted = "; ".join(
        f"'{c.name}'" + (f" (or {', '.join(c.synonyms[:4])})" if c.synonyms else "") for c in missing
    )
    optional = [c.name for c in columns if not c.required]
    extra = f"; optional: {', '.join(optional)}" if optional else ""
    first = f"'{missing[0].name.lower()}'" if missing else "a usable"
    return SheetError(f"no {first} column: found {shown}; wanted {wanted}{extra}", line)


# --- reading ---------------------------------------------------------------------------------------


def read_table(path: str | Path, columns: Sequence[Column]) -> Table:
    """The file's table with ``columns`` located in its header; raises :class:`SheetError`."""
    path = Path(path)
    if file_kind(path) == "xlsx":
        return _xlsx_table(path, columns)
    encoding = text_encoding(path)
    return csv_table(path, encoding, columns)


def csv_table(path: Path, encoding: str, columns: Sequence[Column]) -> Table:
    """A delimited text file's table, its header found in the first lines."""
    lines = text_lines(path, encoding)
    first: tuple[int, str] | None = None
    for number, line in enumerate(lines, 1):
        text = line.lstrip("\ufeff") if number == 1 else line
        if text.strip():
            if first is None:
                first = (number, text)
            found = header_of(text.rstrip("\r\n"), columns)
            if found is not None:
                delimiter, index = found
                header = _split(text.rstrip("\r\n"), delimiter)
                return Table(
                    "csv", number, header, index, _csv_rows(lines, number, delimiter), delimiter, encoding
                )
        if number >= HEADER_SEARCH_ROWS:
            break
    if first is None:
        raise SheetError("the file is empty")
    line = first[1].rstrip("\r\n")
    delimiter = max(DELIMITERS, key=line.count)
    raise refusal(_split(line, delimiter) or [line], columns, first[0])


def _csv_rows(lines: Iterator[str], header_line: int, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(lines, delimiter=delimiter)
    seen = 0  # lines the reader had taken before this row: a row of several lines has a quoted cell
    try:
        for row in reader:
            taken = reader.line_num
            if taken - seen > 1 and max(map(len, row), default=0) > MAX_CELL_CHARS:
                raise SheetError(f"a cell longer than {MAX_CELL_CHARS:,} characters", header_line + taken)
            seen = taken
            yield header_line + taken, row
    except csv.Error as exc:
        raise SheetError(f"unreadable CSV ({exc})", header_line + reader.line_num) from None


def _xlsx_table(path: Path, columns: Sequence[Column]) -> Table:
    rows = _xlsx_rows(iter_rows(path))
    first: list[str] | None = None
    first_line = None
    try:
        for number, cells in rows:
            if first is None and any(c.strip() for c in cells):
                first, first_line = cells, number
            index = match_header(cells, columns) if any(c.strip() for c in cells) else None
            if index is not None:
                return Table("xlsx", number, cells, index, _guarded(rows))
            if number >= HEADER_SEARCH_ROWS:
                break
    except XlsxError as exc:
        raise SheetError(str(exc), exc.row) from None
    if first is None:
        raise SheetError("the workbook's first sheet is empty")
    raise refusal(first, columns, first_line)


def _guarded(rows: Iterator[tuple[int, list[str]]]) -> Iterator[tuple[int, list[str]]]:
    try:
        yield from rows
    except XlsxError as exc:
        raise SheetError(str(exc), exc.row) from None


def _xlsx_rows(rows: Iterator[tuple[int, list[Any]]]) -> Iterator[tuple[int, list[str]]]:
    for number, values in rows:
        yield number, [cell_text(v) for v in values]


def cell_text(value: Any) -> str:
    """A cell's value as the text a CSV export would hold (``12.0`` → ``12``; dates ISO)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value)


def delimiter_name(delimiter: str | None) -> str:
    return _DELIMITER_NAMES.get(delimiter or "", "none")
