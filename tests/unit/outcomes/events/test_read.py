"""read_events: CSV, XLSX and copied-page text, real-world variants, and bad files."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from outcomes.events.parse import parse_event
from outcomes.events.read import EventsFileError, read_events

A = (
    "Record 991011507293904641 was skipped. Reason: BIB record MMS ID 991011507293904641 already has "
    "a handle identifier 11084/1742400039"
)
B = (
    "Record 991011507142104641 was skipped. Reason: BIB record MMS ID 991011507142104641 already has "
    "a handle identifier 11084/1742400245"
)
DATE = "09/30/2025 11:35:50 CDT"


def read(path):
    fmt, rows = read_events(path)
    return fmt, list(rows)


def write(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_csv_plain(tmp_path):
    text = f"Event Description,Event Date,Severity,Module,Creator\n{A},{DATE},Information,Repository,System\n"
    fmt, rows = read(write(tmp_path, "e.csv", text.encode()))
    assert fmt == "csv"
    assert [(r.line, r.description, r.date, r.severity) for r in rows] == [(2, A, DATE, "Information")]


def test_csv_bom_crlf_quoted_reordered_spaces(tmp_path):
    text = (
        f'\ufeffSeverity,"Event Description" ,Creator,Event Date,Module\r\n'
        f'Information,"  {A}  ",System,{DATE},Repository\r\n'
        f"\r\n"
        f'Information,"{B.replace("MMS ID", "MMS ID,")}",System,{DATE},Repository\r\n'
    )
    fmt, rows = read(write(tmp_path, "e.csv", text.encode("utf-8")))
    assert fmt == "csv"
    assert rows[0].description == A and rows[0].date == DATE and rows[0].severity == "Information"
    assert rows[1].line == 4 and "MMS ID," in rows[1].description
    assert parse_event(rows[1].description).handle == "11084/1742400245"


def test_csv_quoted_field_with_newline_counts_physical_lines(tmp_path):
    wrapped = A.replace(" MMS ID ", " MMS ID\n")
    text = f'Event Description,Event Date\n"{wrapped}",{DATE}\n"{B}",{DATE}\n'
    _, rows = read(write(tmp_path, "e.csv", text.encode()))
    assert [r.description for r in rows] == [A, B]
    assert [r.line for r in rows] == [3, 4]  # csv line_num: where the row ends


def test_csv_semicolon_and_title_row(tmp_path):
    text = f"Events Report\nEvent Description;Event Date\n{A};{DATE}\n"
    _, rows = read(write(tmp_path, "e.csv", text.encode()))
    assert rows[0].description == A and rows[0].date == DATE


def test_csv_malformed_row_names_the_line(tmp_path):
    text = f"Severity,Event Description\nInformation,{A}\nonly-one-column\n"
    with pytest.raises(EventsFileError, match=r"^line 3: expected 2 or more columns"):
        read(write(tmp_path, "e.csv", text.encode()))


def test_csv_undecodable_and_nul_name_the_line(tmp_path):
    bad = f"Event Description\n{A}\n".encode() + b"Record 1\x00\n"
    with pytest.raises(EventsFileError, match=r"^line 3: "):
        read(write(tmp_path, "e.csv", bad))


def test_xlsx_written_by_openpyxl(tmp_path):
    wb = Workbook()
    sheet = wb.active
    sheet.append(["Events Report"])
    sheet.append(["Creator", "Event Description", "Event Date", "Severity", "Module"])
    sheet.append(["System", A, DATE, "Information", "Repository"])
    sheet.append([None, None, None, None, None])
    sheet.append(["System", B, DATE, "Information", "Repository"])
    path = tmp_path / "e.xlsx"
    wb.save(path)
    fmt, rows = read(path)
    assert fmt == "xlsx"
    assert [(r.line, r.description, r.creator) for r in rows] == [(3, A, "System"), (5, B, "System")]


def test_copied_page_text_seed_001(tmp_path):
    text = (
        "Events Report\n1 - 2 of 2\n"
        "Event Description\tEvent Date\tSeverity\tModule\tCreator\n"
        f"1 {A}\t{DATE}\tInformation\tRepository\tSystem\n"
        f"2 {B}\t{DATE}\tInformation\tRepository\tSystem\n"
    )
    fmt, rows = read(write(tmp_path, "e.txt", text.encode()))
    assert fmt == "text"
    assert [(r.line, r.description, r.date, r.severity) for r in rows] == [
        (4, A, DATE, "Information"),
        (5, B, DATE, "Information"),
    ]


def test_copied_page_text_wrapped_without_tabs(tmp_path):
    # seed 001 as it was pasted: wrapped, date glued on, next row number at the end of the line
    text = (
        "Record 991011592644004641 was skipped. Reason: BIB record MMS ID 991011592644004641 already has "
        "a handle identifier 11084/34662 05/08/2025\n"
        "13:21:24 CDT      Information Repository System 2\n"
        "Record 991011592643604641 was skipped. Reason: BIB record MMS ID\n"
        "991011592643604641 already has a handle identifier 11084/34664 05/08/2025\n"
        "13:21:24 CDT      Information Repository System 3\n"
    )
    _, rows = read(write(tmp_path, "e.txt", text.encode()))
    assert [r.line for r in rows] == [1, 3]
    assert rows[1].description.endswith("already has a handle identifier 11084/34664")
    assert rows[1].date == "05/08/2025 13:21:24 CDT" and rows[1].severity == "Information"
    assert [parse_event(r.description).handle for r in rows] == ["11084/34662", "11084/34664"]


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"\xef\xbb\xbf\r\n  \n", "empty"),
        (b"\x00\x01\x02binary\xff", "binary"),
        (b"mms_id,title\n991,Some title\n", "not an Events Report"),
        (b"PK\x03\x04not really a zip", "not a readable XLSX"),
    ],
)
def test_bad_files_give_one_clear_line(tmp_path, data, message):
    with pytest.raises(EventsFileError, match=message) as info:
        read(write(tmp_path, "bad", data))
    assert "\n" not in str(info.value)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400) | st.text(max_size=400).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_reader_never_raises_anything_but_eventsfileerror(tmp_path, data):
    path = write(tmp_path, "fuzz", data)
    try:
        read(path)
    except EventsFileError as exc:
        assert "\n" not in str(exc)
