"""Events Reports generated for ``bench/events.py``: CSV, XLSX as openpyxl or as Excel writes it."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

HEADER = ["Event Description", "Event Date", "Severity", "Module", "Creator"]


def _line(i: int) -> list[str]:
    mms = f"9910{i:010d}04641"
    if i % 10 == 0:
        text = f"Record {mms} was skipped. Reason: BIB record MMS ID {mms} does not have a handle identifier"
    else:
        text = (
            f"Record {mms} was skipped. Reason: BIB record MMS ID {mms} already has a handle "
            f"identifier 11084/{1742400000 + i}"
        )
    return [text, "05/08/2025 15:58:23 CDT", "Information", "Repository", "System"]


MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def write_shared_strings_xlsx(path, rows):
    """An XLSX as Excel writes it: every text cell a shared string (rows: lists of str/None)."""
    index = {}
    strings = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "[Content_Types].xml",
            (
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                '<Default Extension="xml" ContentType="application/xml"/>'
                '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
                '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
                "</Types>"
            ),
        )
        z.writestr(
            "_rels/.rels",
            (
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
                "</Relationships>"
            ),
        )
        z.writestr(
            "xl/workbook.xml",
            (
                f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="{MAIN}" '
                'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
                '<sheets><sheet name="Events Report" sheetId="1" r:id="rId1"/></sheets></workbook>'
            ),
        )
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            (
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
                '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
                "</Relationships>"
            ),
        )
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as out:
            out.write(
                f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="{MAIN}"><sheetData>'.encode()
            )
            for number, row in enumerate(rows, 1):
                cells = []
                for col, value in enumerate(row):
                    if value is None:
                        continue
                    i = index.get(value)
                    if i is None:
                        i = index[value] = len(strings)
                        strings.append(value)
                    cells.append(f'<c r="{chr(65 + col)}{number}" t="s"><v>{i}</v></c>')
                out.write(f'<row r="{number}">{"".join(cells)}</row>'.encode())
            out.write(b"</sheetData></worksheet>")
        with z.open("xl/sharedStrings.xml", "w", force_zip64=True) as out:
            out.write(
                f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><sst xmlns="{MAIN}" count="{len(strings)}" uniqueCount="{len(strings)}">'.encode()
            )
            for s in strings:
                out.write(f'<si><t xml:space="preserve">{escape(s)}</t></si>'.encode())
            out.write(b"</sst>")


def generate(path: Path, fmt: str, lines: int) -> None:
    if fmt == "xlsx-sst":
        write_shared_strings_xlsx(path, [HEADER, *(_line(i) for i in range(lines))])
        return
    if fmt == "csv":
        with path.open("w", encoding="utf-8-sig", newline="") as out:
            writer = csv.writer(out, lineterminator="\r\n")
            writer.writerow(HEADER)
            for i in range(lines):
                writer.writerow(_line(i))
        return
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    sheet = wb.create_sheet()
    sheet.append(HEADER)
    for i in range(lines):
        sheet.append(_line(i))
    wb.save(path)
