"""Stream the first worksheet of an XLSX workbook row by row, in memory that does not grow with rows.

openpyxl, even in read-only mode, keeps every parsed ``<row>`` (cleared but still attached) and the
whole shared-strings table in memory. Here each XML part is read from the zip as a stream with the C
``XMLPullParser`` and every finished element is detached at once; shared strings are first spooled
to two temporary files (the strings, and their offsets as fixed 8-byte records) and read back by
index with ``pread``, through a small bounded cache for the values that repeat (severity, module…).

XML safety: a part is parsed only if its prolog holds no document type declaration (so there are no
entities to expand and nothing external to fetch); an XLSX part never needs one.
Values follow openpyxl's ``values_only`` reading: text, ``int``/``float``, ``bool``, ``datetime``.
"""

from __future__ import annotations

import os
import posixpath
import re
import struct
import tempfile
import zipfile
from collections.abc import Iterator
from typing import IO, Any, cast
from xml.etree.ElementTree import Element, XMLPullParser, fromstring

__all__ = ["XlsxError", "XlsxLimitError", "iter_rows"]

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_PKG = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
_ROW, _C, _V, _IS, _T, _R, _SI = (f"{_MAIN}{t}" for t in ("row", "c", "v", "is", "t", "r", "si"))
_CHUNK = 65_536
_CACHE = 256  # shared strings kept in memory: values that repeat, such as "Information"
_OFFSET = struct.Struct("<QQ")
# an XML part's prolog up to the root element: declaration, comments, processing instructions only
_SAFE_PROLOG = re.compile(
    rb"(?:\xef\xbb\xbf)?(?:\s|<\?(?:(?!\?>).)*\?>|<!--(?:(?!-->).)*-->)*<[A-Za-z_]", re.DOTALL
)
_COLUMN = re.compile(r"[A-Za-z]{1,3}")

# Bounds (issue 13): a hostile 311 KB workbook once held a 314 MB cell. Each XML part's size is
# checked against its uncompressed size as the zip declares it, which zipfile then enforces while
# reading (it stops at that size and checks the CRC), so no part inflates beyond these figures.
# The worksheet: 200 MB holds ~600,000 Events Report rows as Excel writes them (~330 bytes each).
MAX_SHEET_BYTES = 200_000_000
# Shared strings: each event's text is unique (~200 bytes): 50 MB is ~250,000 events.
MAX_STRINGS_BYTES = 50_000_000
# The workbook, relationships and styles are parsed whole: a few KB in a real file.
MAX_SMALL_PART_BYTES = 10_000_000
# Zip-bomb guard: XML deflates ~5-20 times (a sheet of empty styled cells ~100); a part that claims
# more than 200 times its compressed size (and is over 1 MB) is refused before it is inflated.
MAX_RATIO = 200
RATIO_FLOOR_BYTES = 1_000_000
# Excel's own limit for a cell is 32,767 characters; no element's text or attribute (nor any run of
# bytes without '<' or '>') in a real workbook is longer than a cell's text escaped in UTF-8.
MAX_CELL_CHARS = 32_767
MAX_SPAN_BYTES = 256 * 1024


class XlsxError(ValueError):
    """The workbook cannot be read; ``row`` is the worksheet row, when known."""

    def __init__(self, message: str, row: int | None = None) -> None:
        super().__init__(message)
        self.row = row


class XlsxLimitError(XlsxError):
    """A part is over one of the size limits (about the whole part: no row)."""


def iter_rows(path: str | os.PathLike[str]) -> Iterator[tuple[int, list[Any]]]:
    """``(row number, values)`` for each ``<row>`` of the first worksheet, in file order.

    ``values[i]`` is column ``i + 1`` (``None`` where the cell is absent or empty). Rows the file does
    not contain are not yielded.
    """
    try:
        yield from _rows(path)
    except XlsxError:
        raise
    except Exception as exc:  # noqa: BLE001 - a corrupt zip member or XML part: one documented error
        raise XlsxError(f"not a readable XLSX workbook ({type(exc).__name__})") from None


def _rows(path: str | os.PathLike[str]) -> Iterator[tuple[int, list[Any]]]:
    archive = zipfile.ZipFile(path)
    with archive:
        sheet, strings_part, styles_part, date1904 = _locate(archive)
        dates = _date_styles(archive, styles_part)
        with _SharedStrings(archive, strings_part) as strings:
            yield from _sheet(archive, sheet, strings, dates, date1904)


# --- parts -------------------------------------------------------------------------------------


def _check_size(archive: zipfile.ZipFile, name: str, limit: int) -> None:
    """Refuse a part whose declared size exceeds ``limit`` or whose compression ratio is a bomb's."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise XlsxError(f"not a readable XLSX workbook (no part {name})") from None
    if info.file_size > limit:
        raise XlsxLimitError(f"workbook part {name} is over the {limit // 1_000_000} MB limit for it")
    if info.file_size > RATIO_FLOOR_BYTES and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        raise XlsxLimitError(
            f"workbook part {name} inflates over {MAX_RATIO} times its size (limit): a zip bomb?"
        )


def _small(archive: zipfile.ZipFile, name: str) -> Element:
    """A small part (workbook, relationships, styles) parsed whole."""
    _check_size(archive, name, MAX_SMALL_PART_BYTES)
    data = archive.read(name)
    if not _SAFE_PROLOG.match(data[:_CHUNK]):
        raise XlsxError(f"not a readable XLSX workbook ({name}: document type declaration or bad prolog)")
    return fromstring(data)


def _relationships(archive: zipfile.ZipFile, part: str) -> list[tuple[str, str, str]]:
    """(id, type, target part name) of ``part``'s relationships."""
    folder, name = posixpath.split(part)
    rels = posixpath.join(folder, "_rels", f"{name}.rels")
    if rels not in archive.NameToInfo:
        return []
    found = []
    for rel in _small(archive, rels).iter(_PKG):
        target = rel.get("Target") or ""
        if rel.get("TargetMode") == "External" or not target:
            continue
        target = (
            target.lstrip("/")
            if target.startswith("/")
            else posixpath.normpath(posixpath.join(folder, target))
        )
        found.append((rel.get("Id") or "", rel.get("Type") or "", target))
    return found


def _locate(archive: zipfile.ZipFile) -> tuple[str, str | None, str | None, bool]:
    """The first worksheet's part, the shared strings and styles parts, and the 1904 date system."""
    workbook = next(
        (t for _, kind, t in _relationships(archive, "") if kind.endswith("/officeDocument")),
        "xl/workbook.xml",
    )
    book = _small(archive, workbook)
    rels = _relationships(archive, workbook)
    by_id = {rid: (kind, target) for rid, kind, target in rels}
    sheet = None
    for node in book.iter(f"{_MAIN}sheet"):
        kind, target = by_id.get(node.get(_REL) or "", ("", ""))
        if kind.endswith("/worksheet") and target in archive.NameToInfo:
            sheet = target
            break
    if sheet is None:
        raise XlsxError("not a readable XLSX workbook (no worksheet)")
    strings = next((t for _, kind, t in rels if kind.endswith("/sharedStrings")), None)
    if strings is None and "xl/sharedStrings.xml" in archive.NameToInfo:
        strings = "xl/sharedStrings.xml"
    styles = next((t for _, kind, t in rels if kind.endswith("/styles")), None)
    props = book.find(f"{_MAIN}workbookPr")
    date1904 = props is not None and (props.get("date1904") or "").lower() in ("1", "true")
    return sheet, strings, styles, date1904


def _date_styles(archive: zipfile.ZipFile, part: str | None) -> dict[int, bool]:
    """Cell style index -> is a time delta, for the styles whose number format is a date (as openpyxl)."""
    if part is None or part not in archive.NameToInfo:
        return {}
    from openpyxl.styles.numbers import builtin_format_code, is_date_format, is_timedelta_format

    styles = _small(archive, part)
    custom = {n.get("numFmtId"): n.get("formatCode") or "" for n in styles.iter(f"{_MAIN}numFmt")}
    dates: dict[int, bool] = {}
    xfs = styles.find(f"{_MAIN}cellXfs")
    for index, xf in enumerate(xfs if xfs is not None else ()):
        number = xf.get("numFmtId") or "0"
        fmt = custom.get(number)
        if fmt is None:
            fmt = builtin_format_code(int(number)) if number.isdigit() else None
        if fmt and is_date_format(fmt):
            dates[index] = bool(is_timedelta_format(fmt))
    return dates


def _children(archive: zipfile.ZipFile, part: str, parent: str, child: str, limit: int) -> Iterator[Element]:
    """Each complete ``<child>`` of the first ``<parent>`` in ``part``, detached once yielded.

    Only start events are asked for: when the next ``<child>`` starts (or the part ends), the one
    before it is complete. Clearing ``parent`` then drops it, so the tree never grows. The part is
    at most ``limit`` bytes, and no text or tag in it longer than MAX_SPAN_BYTES reaches the parser.
    """
    _check_size(archive, part, limit)
    parser: XMLPullParser[Element] = XMLPullParser(events=("start",))
    holder: Element | None = None
    pending: Element | None = None
    spans = {b"<": 0, b">": 0}  # bytes since the last '<' and the last '>'
    with archive.open(part) as stream:
        head = stream.read(_CHUNK)
        if not _SAFE_PROLOG.match(head):
            raise XlsxError(f"not a readable XLSX workbook ({part}: document type declaration or bad prolog)")
        chunk = head
        while chunk:
            if not _spans_ok(spans, chunk):
                raise XlsxError(
                    f"a cell or attribute in {part} is longer than {MAX_CELL_CHARS:,} characters (the limit)"
                )
            parser.feed(chunk)
            # only "start" events are asked for, so every event carries an Element
            events = cast("Iterator[tuple[str, Element]]", parser.read_events())
            for _, elem in events:
                if elem.tag == child and holder is not None:
                    if pending is not None:
                        yield pending
                    holder.clear()  # the new child stays referenced by the parser and by `pending`
                    pending = elem
                elif elem.tag == parent and holder is None:
                    holder = elem
            chunk = stream.read(_CHUNK)
        parser.close()
    if pending is not None:
        yield pending


def _spans_ok(spans: dict[bytes, int], chunk: bytes) -> bool:
    """Update the bytes run since each mark; False once a run is longer than MAX_SPAN_BYTES."""
    for mark in spans:
        first = chunk.find(mark)
        if first < 0:
            spans[mark] += len(chunk)
        elif spans[mark] + first > MAX_SPAN_BYTES:
            return False
        else:
            spans[mark] = len(chunk) - chunk.rfind(mark) - 1
        if spans[mark] > MAX_SPAN_BYTES:
            return False
    return True


def _content(node: Element) -> str:
    """The text of an ``<si>`` or ``<is>``: its ``<t>``, then each run's ``<t>`` (openpyxl's Text.content)."""
    if len(node) == 1 and node[0].tag == _T:
        return _bounded(node[0].text or "")
    plain = None
    runs = []
    for part in node:
        if part.tag == _T and plain is None:
            plain = part.text or ""
        elif part.tag == _R:
            text = part.findtext(_T)
            if text is not None:
                runs.append(text)
    return _bounded((plain or "") + "".join(runs))


def _bounded(text: str) -> str:
    if len(text) > MAX_CELL_CHARS:
        raise XlsxError(f"a cell is longer than {MAX_CELL_CHARS:,} characters (Excel's own limit)")
    return text


# --- shared strings on disk ----------------------------------------------------------------------


class _SharedStrings:
    """The shared-strings table spooled to temporary files, read back by index."""

    def __init__(self, archive: zipfile.ZipFile, part: str | None) -> None:
        self._archive, self._part = archive, part
        self._data: IO[bytes] | None = None
        self._index: IO[bytes] | None = None
        self.count = 0
        self._cache: dict[int, str] = {}

    def __enter__(self) -> _SharedStrings:
        if self._part is None or self._part not in self._archive.NameToInfo:
            return self
        self._data = tempfile.TemporaryFile(prefix="xlsx-strings-")
        self._index = tempfile.TemporaryFile(prefix="xlsx-offsets-")
        write_data, write_index, pack = self._data.write, self._index.write, struct.Struct("<Q").pack
        offset = 0
        write_index(pack(0))
        for si in _children(self._archive, self._part, f"{_MAIN}sst", _SI, MAX_STRINGS_BYTES):
            raw = _content(si).replace("x005F_", "").encode("utf-8", "surrogatepass")
            write_data(raw)
            offset += len(raw)
            write_index(pack(offset))
            self.count += 1
        self._data.flush()
        self._index.flush()
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in (self._data, self._index):
            if handle is not None:
                handle.close()

    def __getitem__(self, number: int) -> str:
        text = self._cache.get(number)
        if text is not None:
            return text
        if not 0 <= number < self.count or self._data is None or self._index is None:
            raise IndexError(number)
        start, end = _OFFSET.unpack(_pread(self._index, 16, 8 * number))
        text = _pread(self._data, end - start, start).decode("utf-8", "surrogatepass")
        if len(self._cache) >= _CACHE:
            self._cache.clear()
        self._cache[number] = text
        return text


def _pread(handle: IO[bytes], size: int, offset: int) -> bytes:
    if hasattr(os, "pread"):
        data = os.pread(handle.fileno(), size, offset)
    else:  # pragma: no cover - Windows
        handle.seek(offset)
        data = handle.read(size)
    if len(data) != size:
        raise OSError("short read from the shared-strings spool")
    return data


# --- the worksheet ---------------------------------------------------------------------------------


def _sheet(
    archive: zipfile.ZipFile, part: str, strings: _SharedStrings, dates: dict[int, bool], date1904: bool
) -> Iterator[tuple[int, list[Any]]]:
    number, at = 0, 1  # `at`: the row an error is about (the one being read, or the next one)
    try:
        for row in _children(archive, part, f"{_MAIN}sheetData", _ROW, MAX_SHEET_BYTES):
            r = row.get("r")
            number = at = int(float(r)) if r else number + 1
            values: list[Any] = []
            column = 0
            for cell in row:
                if cell.tag != _C:
                    continue
                ref = cell.get("r")
                if ref:
                    letters = _COLUMN.match(ref)
                    column = _column_number(letters.group()) if letters else column + 1
                else:
                    column += 1
                value = _value(cell, strings, dates, date1904)
                if value is None:
                    continue
                if column > len(values):
                    values.extend([None] * (column - len(values)))
                values[column - 1] = value
            at = number + 1
            yield number, values
    except XlsxLimitError:
        raise
    except XlsxError as exc:
        raise XlsxError(str(exc), exc.row or at) from None
    except Exception as exc:  # noqa: BLE001 - broken XML, a bad number or string index
        raise XlsxError(f"unreadable XLSX row ({type(exc).__name__})", at) from None


def _column_number(letters: str) -> int:
    number = 0
    for char in letters.upper():
        number = number * 26 + ord(char) - 64
    return number


def _value(cell: Element, strings: _SharedStrings, dates: dict[int, bool], date1904: bool) -> Any:
    kind = cell.get("t", "n")
    if kind == "inlineStr":
        node = cell.find(_IS)
        return None if node is None else _content(node)
    text = cell.findtext(_V) or None
    if text is None:
        return None
    if kind == "s":
        try:
            return strings[int(text)]
        except (ValueError, IndexError):
            raise XlsxError(f"bad shared string index {text!r}") from None
    if kind == "n":
        number = float(text) if ("." in text or "E" in text or "e" in text) else int(text)
        style = cell.get("s")
        if style and dates and int(style) in dates:
            from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, from_excel

            epoch = CALENDAR_MAC_1904 if date1904 else CALENDAR_WINDOWS_1900
            try:
                return from_excel(number, epoch, timedelta=dates[int(style)])
            except (OverflowError, ValueError):
                return "#VALUE!"
        return number
    if kind == "b":
        return bool(int(text))
    if kind == "d":
        from openpyxl.utils.datetime import from_ISO8601

        return from_ISO8601(text)
    return text  # "str" (a formula's text result), "e" (an error such as #N/A)
