"""Fuzz (issue 13): the Events Report readers and the sheets reader let only their documented errors out.

Bounded: ``max_examples`` per test and a deadline per example. CSV and copied text are generated
from Events Report pieces (headers, delimiters, quotes, encodings, NULs, dates); XLSX from small
workbooks written by openpyxl, then their bytes mutated (and their XML parts, re-zipped).
``pytest -s`` prints the examples run at the end of the module.
"""

from __future__ import annotations

import io
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from outcomes import sheets
from outcomes.events.read import EventsFileError, read_events
from tests import hostile

EXAMPLES: Counter[str] = Counter()
FUZZ = settings(
    max_examples=300,
    # no per-example deadline: on a loaded 2-core machine one slow example is not a finding (a hang
    # is still caught by pytest-timeout); derandomized, so CI meets the same examples every run
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)
PIECES = [
    "Event Description",
    "Event Date",
    "Severity",
    "Description",
    "Date",
    "MMS ID",
    "Handle URL",
    "dc:identifier",
    hostile.EVENT,
    "Record 991011507142104641 failed",
    "1 Record 991 was skipped",
    "05/08/2025 15:58:23 CDT",
    "30/11/2026",
    "Information",
    "11084/88",
    "http://hdl.handle.net/11084/1",
    ",",
    ";",
    "\t",
    "|",
    '"',
    '""',
    "\n",
    "\r\n",
    "\x00",
    "\ufeff",
    "é",
    "“",
]
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-be", "cp1252", "latin-1"]


@st.composite
def text_files(draw: st.DrawFn) -> bytes:
    parts = draw(st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=20)), max_size=40))
    text = "".join(parts)
    encoding = draw(st.sampled_from(ENCODINGS))
    data = (
        text.encode(encoding, errors="replace")
        if encoding != "utf-16-be"
        else b"\xfe\xff" + text.encode("utf-16-be", errors="replace")
    )
    if draw(st.booleans()):
        data = draw(st.binary(max_size=40)) + data
    return data


def _workbook(rows: list[list[object]]) -> bytes:
    wb = Workbook()
    sheet = wb.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


BASE = _workbook(
    [
        ["Events Report"],
        ["Event Description", "Event Date", "Severity", "Module", "Creator", "Handle URL", "MMS ID"],
        [hostile.EVENT, "05/08/2025 15:58:23 CDT", "Information", "Repository", "System", "11084/1", "991"],
        ["Record 991011507142104641 failed", 45000.5, True, None, 3, "hdl:11084/2", 992],
    ]
)


def _rezip(data: bytes, name: str, replace) -> bytes:  # type: ignore[no-untyped-def]
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in source.infolist():
            body = source.read(info)
            z.writestr(info.filename, replace(body) if info.filename == name else body)
    return out.getvalue()


@st.composite
def xlsx_files(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 2))
    if kind == 0:  # a small workbook of generated cells
        cells = st.one_of(
            st.none(),
            st.sampled_from(PIECES[:16]),
            st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=30),
            st.integers(-(10**18), 10**18),
            st.floats(allow_nan=False, allow_infinity=False),
        )
        return _workbook(draw(st.lists(st.lists(cells, max_size=6), max_size=6)))
    if kind == 1:  # the file's bytes mutated
        data = bytearray(BASE)
        for _ in range(draw(st.integers(1, 8))):
            at = draw(st.integers(0, len(data) - 1))
            data[at] = draw(st.integers(0, 255))
        return bytes(data)
    # an XML part's text mutated, re-zipped (the zip stays valid, the XML does not)
    part = draw(st.sampled_from(["xl/worksheets/sheet1.xml", "xl/workbook.xml", "xl/styles.xml"]))
    cut = draw(st.integers(0, 400))
    insert = draw(
        st.sampled_from(["<", "&x;", '<!DOCTYPE r [<!ENTITY x "y">]>', "</row>", "\x00", 'r="Z0"', ""])
    )
    return _rezip(BASE, part, lambda body: body[:cut] + insert.encode() + body[cut + len(insert) :])


def _read_events(tmp_path: Path, data: bytes, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    try:
        _, rows = read_events(path)
        for _ in rows:
            pass
    except EventsFileError as exc:
        assert "\n" not in str(exc)


def _read_sheet(tmp_path: Path, data: bytes, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    try:
        table = sheets.read_table(path, (sheets.HANDLE, sheets.MMS_ID))
        for _ in table.rows:
            pass
    except sheets.SheetError as exc:
        assert "\n" not in str(exc)


@FUZZ
@given(text_files())
def test_fuzz_events_csv_and_text(tmp_path: Path, data: bytes) -> None:
    EXAMPLES["events csv/text"] += 1
    _read_events(tmp_path, data, "events.csv")


@FUZZ
@given(xlsx_files())
def test_fuzz_events_xlsx(tmp_path: Path, data: bytes) -> None:
    EXAMPLES["events xlsx"] += 1
    _read_events(tmp_path, data, "events.xlsx")


@FUZZ
@given(st.one_of(text_files(), xlsx_files()))
def test_fuzz_sheets_reader(tmp_path: Path, data: bytes) -> None:
    EXAMPLES["sheets"] += 1
    _read_sheet(tmp_path, data, "sheet")


@pytest.fixture(scope="module", autouse=True)
def _report_examples():  # type: ignore[no-untyped-def]
    yield
    print(f"\nfuzz examples run: {dict(EXAMPLES)} (total {sum(EXAMPLES.values())})")
