"""Hostile Events Report workbooks (issue 13 item 5), built small enough for tests and the bench."""

from __future__ import annotations

import io
import random
import zipfile

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
HEADER = ["Event Description", "Event Date", "Severity", "Module", "Creator"]
_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/></Types>'
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/workbook.xml": (
        f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN}" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="Events" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
    ),
}
EVENT = (
    "Record 991011507293904641 was skipped. Reason: BIB record MMS ID 991011507293904641 already has "
    "a handle identifier 11084/1742400039"
)


def _cells(row: int, values: list[str]) -> str:
    cells = "".join(
        f'<c r="{chr(65 + i)}{row}" t="inlineStr"><is><t>{v}</t></is></c>' for i, v in enumerate(values)
    )
    return f'<row r="{row}">{cells}</row>'


def _workbook(sheet_chunks) -> bytes:  # type: ignore[no-untyped-def]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in _PARTS.items():
            z.writestr(name, text)
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(
                f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{MAIN}"><sheetData>'.encode()
            )
            for chunk in sheet_chunks:
                sheet.write(chunk)
            sheet.write(b"</sheetData></worksheet>")
    return out.getvalue()


def zip_bomb(megabytes: int = 314) -> bytes:
    """A ~300 KB workbook whose one cell inflates to ``megabytes`` MB (the 311 KB → 314 MB file)."""

    def chunks():  # type: ignore[no-untyped-def]
        yield (_cells(1, HEADER) + '<row r="2"><c r="A2" t="inlineStr"><is><t>').encode()
        for _ in range(megabytes):
            yield b"x" * 1_000_000
        yield b"</t></is></c></row>"

    return _workbook(chunks())


def long_attribute(megabytes: int = 50, incompressible: bool = False) -> bytes:
    """A workbook with one attribute of ``megabytes`` MB (the 56 KB file that took 21 s)."""
    rng = random.Random(4641)
    letters = b"abcdefghijklmnopqrstuvwxyz0123456789"

    def chunks():  # type: ignore[no-untyped-def]
        yield (_cells(1, HEADER) + '<row r="2" x="').encode()
        for _ in range(megabytes):
            yield bytes(rng.choice(letters) for _ in range(1_000_000)) if incompressible else b"a" * 1_000_000
        yield ('">' + _cells(2, [EVENT])[len('<row r="2">') :]).encode()

    return _workbook(chunks())


def long_event(chars: int) -> bytes:
    """A workbook whose one event is ``chars`` characters long."""
    text = EVENT + " " + "x" * max(0, chars - len(EVENT) - 1)
    return _workbook([(_cells(1, HEADER) + _cells(2, [text])).encode()])
