"""The fast paths give what the tolerant code gives: parse_event's exact match, clean_description's
white-space test, and the streaming XLSX reader against openpyxl."""

from __future__ import annotations

import re
import zipfile
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook

from outcomes.events import parse as events
from outcomes.events.read import EventsFileError, read_events
from outcomes.events.xlsx import iter_rows

MMS = "991011507293904641"


def slow_parse(text: str) -> events.ParsedEvent:
    """parse_event without its exact-match shortcut."""
    original = events._EXACT
    events._EXACT = re.compile(r"(?!)")
    try:
        return events.parse_event(text)
    finally:
        events._EXACT = original


def old_clean(text: str) -> str:
    if re.search(r"\s\s|[^\S ]|^\s|\s$", text):
        text = " ".join(text.split())
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = " ".join(text[1:-1].replace('""', '"').split())
    if text[:1].isdigit():
        text = events._ROW_NUMBER.sub("", text)
    return text


usual = st.builds(
    lambda pre, mms, tail, post: (
        f"{pre}Record {mms} was skipped. Reason: BIB record MMS ID {mms} {tail}{post}"
    ),
    st.sampled_from(["", " ", "1 ", '"']),
    st.from_regex(r"\A\d{3,20}\Z"),
    st.sampled_from(["does not have a handle identifier"])
    | st.builds(
        "already has a handle identifier {}".format,
        st.from_regex(r"\A[0-9A-Za-z.]{1,6}/[0-9A-Za-z._-]{0,8}[.,;)]?\Z") | st.text(max_size=12),
    ),
    st.sampled_from(["", " ", ".", " 05/08/2025", "\n", '"', "x"]),
)


@settings(max_examples=400, deadline=None)
@given(usual | st.text(max_size=60))
def test_exact_match_agrees_with_the_tolerant_path(text):
    assert events.parse_event(text) == slow_parse(text)


@settings(max_examples=400, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list(' \t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u2028\u3000"1aR\x00é')), max_size=20
    )
    | st.text(max_size=40)
)
def test_clean_description_agrees_with_the_regex_test(text):
    assert events.clean_description(text) == old_clean(text)


def test_fingerprint_is_blake2b_of_step_and_casefolded_text():
    import hashlib

    text = "Record 1 Failed"
    for step in (None, "migration", "profile"):
        key = f"{step or ''}\x1f{text.casefold()}".encode()
        assert events.fingerprint(text, step, clean=True) == hashlib.blake2b(key, digest_size=16).hexdigest()


def openpyxl_rows(path):
    wb = load_workbook(path, read_only=True, data_only=True)
    try:
        return [
            ["" if v is None else str(v) for v in row] for row in wb.worksheets[0].iter_rows(values_only=True)
        ]
    finally:
        wb.close()


def our_rows(path):
    rows, expected = [], 1
    for number, values in iter_rows(path):
        rows += [[]] * (number - expected)
        rows.append(["" if v is None else str(v) for v in values])
        expected = number + 1
    return rows


def same(rows):
    trim = [list(row) for row in rows]
    for row in trim:
        while row and row[-1] == "":
            row.pop()
    return trim


def test_xlsx_values_match_openpyxl(tmp_path):
    wb = Workbook()
    sheet = wb.active
    sheet.append(["Event Description", "Event Date", "n", "f", "b", "d"])
    sheet.append(
        [f"Record {MMS} failed", "09/30/2025 11:35:50 CDT", 5, 2.5, True, datetime(2025, 5, 8, 13, 21)]
    )
    sheet.append([None, None, None])
    sheet.cell(row=6, column=3, value="gap before")
    sheet.append(["x005F_escaped é <&>", "  spaced  "])
    path = tmp_path / "v.xlsx"
    wb.save(path)
    assert same(our_rows(path)) == same(openpyxl_rows(path))


def shared_strings_workbook(path, rows, *, sheet_prolog=""):
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    strings: list[str] = []
    cells = []
    for number, row in enumerate(rows, 1):
        out = []
        for col, value in enumerate(row):
            if value is not None:
                strings.append(value)
                out.append(f'<c r="{chr(65 + col)}{number}" t="s"><v>{len(strings) - 1}</v></c>')
        cells.append(f'<row r="{number}">{"".join(out)}</row>')
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    types = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(
            "[Content_Types].xml",
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{types}.sheet.main+xml"/>'
            f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{types}.worksheet+xml"/>'
            f'<Override PartName="/xl/sharedStrings.xml" ContentType="{types}.sharedStrings+xml"/></Types>',
        )
        z.writestr(
            "_rels/.rels",
            f'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        z.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{main}" xmlns:r="{rel}"><sheets>'
            '<sheet name="E" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{rel}/sharedStrings" Target="sharedStrings.xml"/></Relationships>',
        )
        z.writestr(
            "xl/worksheets/sheet1.xml",
            f'{sheet_prolog}<worksheet xmlns="{main}"><sheetData>{"".join(cells)}</sheetData></worksheet>',
        )
        z.writestr(
            "xl/sharedStrings.xml",
            f'<sst xmlns="{main}">'
            + "".join(
                f"<si><t>{s[:3]}</t><r><t>{s[3:]}</t></r><rPh sb='0' eb='1'><t>ignored</t></rPh></si>"
                for s in strings
            )
            + "</sst>",
        )
    return path


def test_xlsx_shared_strings_with_rich_text_match_openpyxl(tmp_path):
    rows = [["Events Report"], ["Creator", "Event Description"]]
    rows += [["System", f"Record {MMS[:-3]}{i:03d} failed"] for i in range(600)]
    path = shared_strings_workbook(tmp_path / "s.xlsx", rows)
    assert same(our_rows(path)) == same(openpyxl_rows(path))
    _, found = read_events(path)
    found = list(found)
    assert len(found) == 600 and found[0].line == 3 and found[-1].description.endswith("599 failed")


def test_xlsx_with_a_document_type_declaration_is_refused(tmp_path):
    path = shared_strings_workbook(
        tmp_path / "dtd.xlsx",
        [["Event Description"], ["Record 123 failed"]],
        sheet_prolog='<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>',
    )
    with pytest.raises(EventsFileError, match="document type declaration"):
        list(read_events(path)[1])


def test_xlsx_bad_shared_string_index_names_the_row(tmp_path):
    path = shared_strings_workbook(tmp_path / "bad.xlsx", [["Event Description"], ["Record 123 failed"]])
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    parts["xl/worksheets/sheet1.xml"] = parts["xl/worksheets/sheet1.xml"].replace(b"<v>1</v>", b"<v>7</v>")
    with zipfile.ZipFile(path, "w") as z:
        for name, data in parts.items():
            z.writestr(name, data)
    with pytest.raises(EventsFileError, match=r"^line 2: bad shared string index"):
        list(read_events(path)[1])
