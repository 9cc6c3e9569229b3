"""Stream the rows of an Events Report exported from Alma's UI: CSV, XLSX, or the page's text.

:func:`read_events` detects the format (XLSX by its zip signature, CSV by its header, else text
copied from the page) and yields :class:`EventRow` one at a time, so memory does not grow with the
number of lines. Unreadable input raises :class:`EventsFileError`, whose message names the line.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple

from outcomes.events.parse import clean_description

__all__ = ["EventRow", "EventsFileError", "detect_format", "read_events"]

HEADER = ("event description", "event date", "severity", "module", "creator")
MAX_EVENT_CHARS = 65_536
HEADER_SEARCH_ROWS = 20
_ZIP = b"PK\x03\x04"
_DATE = re.compile(
    r"\b(\d{1,2}/\d{1,2}/\d{4}\s+\d{1,2}:\d{2}(?::\d{2})?(?:\s*[AP]M)?(?:\s+[A-Z]{2,5}\b)?)",
    re.IGNORECASE,
)
_BARE_DATE = re.compile(r"\s+\d{1,2}/\d{1,2}/\d{4}\s*$")
_SEVERITY = re.compile(r"^\s*(Information|Info|Warning|Error|Critical|Fatal|Debug)\b", re.IGNORECASE)
_EVENT_START = re.compile(r"^\s*(?:\d{1,9}\s+)?Record\s+\d{3,30}\b", re.IGNORECASE)


class EventsFileError(ValueError):
    """The file cannot be read as an Events Report; ``str()`` is one line naming the line."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line


class EventRow(NamedTuple):
    """One event as the report gives it; ``line`` is where it starts in the file (1-based)."""

    line: int
    description: str
    date: str | None = None
    severity: str | None = None
    module: str | None = None
    creator: str | None = None


def detect_format(head: bytes) -> str:
    """``xlsx``, ``csv`` or ``text`` from the first bytes; raises for binary or empty input."""
    if head.startswith(_ZIP):
        return "xlsx"
    if not head.strip(b"\xef\xbb\xbf \t\r\n"):
        raise EventsFileError("the file is empty")
    if b"\x00" in head[:1024].split(b"\n", 1)[0]:  # later NULs are reported with their line
        raise EventsFileError("binary file, not an Events Report (CSV, XLSX or the page's text)")
    for raw in head.splitlines()[:HEADER_SEARCH_ROWS]:
        line = raw.decode("utf-8", "replace").lower()
        if "event description" in line:
            return "text" if "\t" in line else "csv"
    return "text"


def read_events(path: str | Path) -> tuple[str, Iterator[EventRow]]:
    """The detected format and a lazy iterator of the file's events."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(65_536)
    except OSError as exc:
        raise EventsFileError(f"{path}: {exc.strerror or exc}") from None
    fmt = detect_format(head)
    reader = {"xlsx": _xlsx_rows, "csv": _csv_rows, "text": _text_rows}[fmt]
    return fmt, reader(path)


def _decoded_lines(fh: BinaryIO) -> Iterator[str]:
    for number, raw in enumerate(fh, 1):
        if b"\x00" in raw:
            raise EventsFileError("binary data (NUL byte); not an Events Report", number)
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            try:
                line = raw.decode("cp1252")
            except UnicodeDecodeError:
                raise EventsFileError("not UTF-8 text", number) from None
        if number == 1:
            line = line.lstrip("\ufeff")
        yield line


def _header_index(cells: list[str], line: int) -> dict[str, int]:
    names = [c.strip().strip('"').lower() for c in cells]
    index = {name: names.index(name) for name in HEADER if name in names}
    if "event description" not in index:
        found = ", ".join(c for c in cells if c.strip())[:120] or "nothing"
        raise EventsFileError(f"not an Events Report: no 'Event Description' column (found: {found})", line)
    return index


def _cell(row: list, index: dict[str, int], name: str) -> str | None:
    i = index.get(name)
    if i is None or i >= len(row) or row[i] is None:
        return None
    return str(row[i]).strip() or None


def _csv_rows(path: Path) -> Iterator[EventRow]:
    with path.open("rb") as fh:
        delimiter = _csv_delimiter(fh.read(65_536))
    try:
        with path.open("r", encoding="utf-8-sig", newline="") as text:
            yield from _csv_records(csv.reader(text, delimiter=delimiter))
    except UnicodeDecodeError:
        raise EventsFileError("not UTF-8 text", _first_undecodable_line(path)) from None


def _first_undecodable_line(path: Path) -> int | None:
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return None


def _csv_records(reader) -> Iterator[EventRow]:  # type: ignore[no-untyped-def]
    clean, new = clean_description, tuple.__new__  # locals: this loop runs once per line
    try:
        index: dict[str, int] | None = None
        for row in reader:
            if index is None:
                if any(cell.strip().strip('"').lower() == "event description" for cell in row):
                    index = _header_index(row, reader.line_num)
                    need = index["event description"]
                    date, severity, module, creator = (index.get(n, -1) for n in HEADER[1:])
                    width = max(index.values()) + 1
                elif reader.line_num > HEADER_SEARCH_ROWS:
                    raise EventsFileError("no 'Event Description' header", reader.line_num)
                continue
            if len(row) < width:
                if not "".join(row).strip():
                    continue
                if len(row) <= need:
                    raise EventsFileError(
                        f"expected {need + 1} or more columns, found {len(row)}", reader.line_num
                    )
                row = row + [""] * (width - len(row))
            description = clean(row[need])
            if not description or "\x00" in description:
                if "\x00" in description:
                    raise EventsFileError("binary data (NUL byte); not an Events Report", reader.line_num)
                if not "".join(row).strip():
                    continue
                raise EventsFileError("empty Event Description", reader.line_num)
            yield new(
                EventRow,
                (
                    reader.line_num,
                    description,
                    row[date].strip() or None if date >= 0 else None,
                    row[severity].strip() or None if severity >= 0 else None,
                    row[module].strip() or None if module >= 0 else None,
                    row[creator].strip() or None if creator >= 0 else None,
                ),
            )
        if index is None:
            raise EventsFileError("not an Events Report: no 'Event Description' header")
    except csv.Error as exc:
        raise EventsFileError(f"unreadable CSV ({exc})", reader.line_num + 1) from None


def _csv_delimiter(head: bytes) -> str:
    for raw in head.splitlines():
        line = raw.decode("utf-8", "replace")
        if "event description" in line.lower():
            return ";" if line.count(";") > line.count(",") else ","
    return ","


def _xlsx_rows(path: Path) -> Iterator[EventRow]:
    from outcomes.events.xlsx import XlsxError, iter_rows

    try:
        yield from _sheet_rows(iter_rows(path))
    except EventsFileError:
        raise
    except XlsxError as exc:
        raise EventsFileError(str(exc), exc.row) from None
    except Exception as exc:  # noqa: BLE001 - a corrupt zip member or XML part
        raise EventsFileError(f"not a readable XLSX workbook ({type(exc).__name__})") from None


def _sheet_rows(rows: Iterator[tuple[int, list]]) -> Iterator[EventRow]:  # type: ignore[type-arg]
    """Events from ``(row number, values)``; rows the sheet leaves out count as empty (as openpyxl)."""
    index: dict[str, int] | None = None
    expected = 1
    for number, values in rows:
        if number < expected:  # a row number going backwards: openpyxl skips it too
            continue
        if index is None and number > HEADER_SEARCH_ROWS >= expected:  # missing rows are empty rows
            raise EventsFileError("no 'Event Description' header in the first rows", HEADER_SEARCH_ROWS)
        expected = number + 1
        row = ["" if v is None else str(v) for v in values]
        if index is None:
            if any(cell.strip().lower() == "event description" for cell in row):
                index = _header_index(row, number)
                need = index["event description"]
            elif number >= HEADER_SEARCH_ROWS:
                raise EventsFileError("no 'Event Description' header in the first rows", number)
            continue
        if need >= len(row) or not row[need].strip():
            if any(cell.strip() for cell in row):
                raise EventsFileError("empty Event Description", number)
            continue
        yield EventRow(
            number,
            clean_description(row[need]),
            _cell(row, index, "event date"),
            _cell(row, index, "severity"),
            _cell(row, index, "module"),
            _cell(row, index, "creator"),
        )
    if index is None:
        raise EventsFileError("not an Events Report: no 'Event Description' header")


def _text_rows(path: Path) -> Iterator[EventRow]:
    """Text copied from Alma's page: one event per ``[n] Record …`` line, wrapped lines joined."""
    found = False
    with path.open("rb") as fh:
        start = 0
        parts: list[str] = []
        size = 0
        for number, line in enumerate(_decoded_lines(fh), 1):
            if _EVENT_START.match(line):
                if parts:
                    found = True
                    yield _split_text_event(start, parts)
                start, parts, size = number, [line], len(line)
            elif parts:
                if not line.strip():
                    found = True
                    yield _split_text_event(start, parts)
                    parts, size = [], 0
                    continue
                size += len(line)
                if size > MAX_EVENT_CHARS:
                    raise EventsFileError(f"event longer than {MAX_EVENT_CHARS} characters", start)
                parts.append(line)
        if parts:
            found = True
            yield _split_text_event(start, parts)
    if not found:
        raise EventsFileError(
            "not an Events Report: no 'Event Description' header and no 'Record <MMS ID> …' line"
        )


def _split_text_event(line: int, parts: list[str]) -> EventRow:
    text = " ".join(parts)
    cells = [c.strip() for c in text.split("\t")]
    if len(cells) >= 2 and _DATE.search(cells[1] or ""):
        cells += [""] * 5
        return EventRow(
            line,
            clean_description(cells[0]),
            cells[1] or None,
            cells[2] or None,
            cells[3] or None,
            cells[4] or None,
        )
    match = None
    for found in _DATE.finditer(text):
        match = found
    if match is None:
        return EventRow(line, clean_description(_BARE_DATE.sub("", text)))
    tail = text[match.end() :]
    severity = _SEVERITY.match(tail)
    return EventRow(
        line,
        clean_description(text[: match.start()]),
        " ".join(match.group(1).split()),
        severity.group(1) if severity else None,
    )
