"""Stream the rows of an Events Report exported from Alma's UI: CSV, XLSX, or the page's text.

:func:`read_events` chooses the format from the content with certainty (:func:`detect_format`) or
refuses the file, and yields :class:`EventRow` one at a time, so memory does not grow with the
number of lines. Tables are read by :mod:`outcomes.sheets` (encodings, delimiters, XLSX, bounds).
Unreadable input raises :class:`EventsFileError`, whose message is one line naming the line.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from outcomes import sheets
from outcomes.events.parse import clean_description
from outcomes.sheets import Column

__all__ = ["EventRow", "EventsFileError", "detect_format", "read_events"]

HEADER = ("event description", "event date", "severity", "module", "creator")
# The Events Report's own columns; only "Event Description" must be there. No looser synonym
# ("Description", "Date"): a table with other columns is another file, refused.
COLUMNS = (
    Column("Event Description"),
    Column("Event Date", required=False),
    Column("Severity", required=False),
    Column("Module", required=False),
    Column("Creator", required=False),
)
# One event's text, in every format: Alma's lines are ~200 characters; 8 KB is forty times that.
MAX_EVENT_CHARS = 8_192
HEADER_SEARCH_ROWS = sheets.HEADER_SEARCH_ROWS
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


def detect_format(path: str | Path) -> str:
    """``xlsx``, ``csv`` or ``text``, chosen from the content with certainty; else EventsFileError.

    XLSX: the zip signature and a workbook part. CSV: a header row naming the Events Report's columns
    (comma, semicolon or pipe). Copied text: the page's own shape, a ``[n] Record <MMS ID> …`` line
    (or the page's tab-separated header) with no other table's header before it.
    """
    return _open(Path(path))[0]


def read_events(path: str | Path) -> tuple[str, Iterator[EventRow]]:
    """The detected format and a lazy iterator of the file's events."""
    fmt, table, encoding = _open(Path(path))
    if table is not None:
        return fmt, _table_rows(table)
    return fmt, _text_rows(Path(path), encoding or "utf-8")


def _open(path: Path) -> tuple[str, sheets.Table | None, str | None]:
    try:
        if sheets.file_kind(path) == "xlsx":
            return "xlsx", _events_table(lambda: sheets.read_table(path, COLUMNS)), None
        encoding = sheets.text_encoding(path)
        other: tuple[int, str] | None = None  # the first line that looks like another table's header
        for number, line in enumerate(sheets.text_lines(path, encoding), 1):
            text = (line.lstrip("\ufeff") if number == 1 else line).rstrip("\r\n")
            if not text.strip():
                continue
            found = sheets.header_of(text, COLUMNS)
            if found is not None and found[0] == "\t":  # the page's own header, copied with its tabs
                return "text", None, encoding
            if found is not None:
                return "csv", _events_table(lambda: sheets.csv_table(path, encoding, COLUMNS)), encoding
            if _EVENT_START.match(text):
                if other is not None:
                    break
                return "text", None, encoding
            if other is None and any(d in text for d in sheets.DELIMITERS):
                other = (number, text)
            if number >= HEADER_SEARCH_ROWS:
                break
    except sheets.SheetError as exc:
        raise EventsFileError(_unprefixed(exc), exc.line) from None
    if other is not None:
        number, text = other
        delimiter = max(sheets.DELIMITERS, key=text.count)
        cells = next(csv.reader([text], delimiter=delimiter), [text])
        names = ", ".join(" ".join(c.split())[:40] for c in cells if c.strip())[:200]
        raise EventsFileError(
            f"not an Events Report: found columns {names}; wanted 'Event Description' "
            "(and Event Date, Severity, Module, Creator)",
            number,
        )
    raise EventsFileError(
        "not an Events Report: no 'Event Description' header and no 'Record <MMS ID> …' line"
    )


def _unprefixed(exc: sheets.SheetError) -> str:
    text = str(exc)
    prefix = f"line {exc.line}: "
    return text[len(prefix) :] if exc.line and text.startswith(prefix) else text


def _events_table(make) -> sheets.Table:  # type: ignore[no-untyped-def]
    try:
        return make()
    except sheets.SheetError as exc:
        if str(exc).startswith(("no ", f"line {exc.line}: no ")):
            raise EventsFileError(f"not an Events Report: {_unprefixed(exc)}", exc.line) from None
        raise EventsFileError(_unprefixed(exc), exc.line) from None


def _table_rows(table: sheets.Table) -> Iterator[EventRow]:
    """Events from a CSV or XLSX table whose header names the Events Report's columns."""
    need = table.index["Event Description"]
    others = [table.index.get(c.name, -1) for c in COLUMNS[1:]]
    clean, new = clean_description, tuple.__new__  # locals: this loop runs once per line
    try:
        for number, row in table.rows:
            if len(row) <= need:
                if not "".join(row).strip():
                    continue
                raise EventsFileError(f"expected {need + 1} or more columns, found {len(row)}", number)
            raw = row[need]
            if len(raw) > MAX_EVENT_CHARS:
                raise EventsFileError(f"event longer than {MAX_EVENT_CHARS:,} characters (the limit)", number)
            description = clean(raw)
            if not description:
                if not "".join(row).strip():
                    continue
                raise EventsFileError("empty Event Description", number)
            yield new(
                EventRow,
                (
                    number,
                    description,
                    *((row[i].strip() or None) if 0 <= i < len(row) else None for i in others),
                ),
            )
    except sheets.SheetError as exc:
        raise EventsFileError(_unprefixed(exc), exc.line) from None


def _text_rows(path: Path, encoding: str) -> Iterator[EventRow]:
    """Text copied from Alma's page: one event per ``[n] Record …`` line, wrapped lines joined."""
    found = False
    start = 0
    parts: list[str] = []
    size = 0
    try:
        for number, raw in enumerate(sheets.text_lines(path, encoding), 1):
            line = (raw.lstrip("\ufeff") if number == 1 else raw).rstrip("\r\n")
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
                parts.append(line)
            else:
                continue
            if size > MAX_EVENT_CHARS:
                raise EventsFileError(f"event longer than {MAX_EVENT_CHARS:,} characters (the limit)", start)
    except sheets.SheetError as exc:
        raise EventsFileError(_unprefixed(exc), exc.line) from None
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
