"""The Events Report of a job instance as Alma's UI exports it: CSV, XLSX, or the text copied from the page.

Columns: Event Description, Event Date (``09/30/2025 11:35:50 CDT``), Severity, Module, Creator.
The copied text is tab-separated, a header line then one numbered line per event (seed 001).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

from sandbox.jobs import Instance

COLUMNS = ("Event Description", "Event Date", "Severity", "Module", "Creator")
CENTRAL = ZoneInfo("America/Chicago")


def ui_date(ts: float) -> str:
    """Alma UI's date form in the institution's time zone: ``09/30/2025 11:35:50 CDT``."""
    return datetime.fromtimestamp(ts, CENTRAL).strftime("%m/%d/%Y %H:%M:%S %Z")


def rows(inst: Instance) -> list[tuple[str, str, str, str, str]]:
    return [(e.description, ui_date(e.time), e.severity, "Repository", "System") for e in inst.events]


def as_csv(inst: Instance) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows(inst))
    return out.getvalue().encode("utf-8-sig")


def as_text(inst: Instance) -> bytes:
    lines = ["\t".join(COLUMNS)]
    lines += [f"{n} " + "\t".join(row) for n, row in enumerate(rows(inst), start=1)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def as_xlsx(inst: Instance) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Events Report"
    sheet.append(list(COLUMNS))
    for row in rows(inst):
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


FORMATS = {
    "csv": ("text/csv; charset=utf-8", as_csv),
    "txt": ("text/plain; charset=utf-8", as_text),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", as_xlsx),
}
