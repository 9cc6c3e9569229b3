"""The run report as an Excel workbook that survives Excel: ids as text, outcomes in words.

* a summary sheet first: the title (set, run, date), records per outcome with what each means and
  the next step;
* one sheet per outcome group (:data:`GROUPS`), each with the report's columns plus the outcome in
  words and the next step;
* MMS ids, PIDs and handles are text cells with the ``@`` (Text) number format, so Excel never turns
  ``991011589491704641`` into ``9.91012E+17``;
* ``alma_handle`` reads "same as expected" for a migrated record where the CSV leaves it as Alma
  reported it (the CSV and JSON columns are a contract for scripts and stay as they are).

Written in openpyxl's write-only mode: rows stream to disk, memory does not grow with the set.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, tzinfo
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font

from outcomes.next_steps import MEANINGS, next_step
from outcomes.report import COLUMNS
from store.models import Run

__all__ = ["GROUPS", "SAME", "SUMMARY", "alma_for_people", "report_title", "write_xlsx"]

SUMMARY = "Summary"
SAME = "same as expected"
#: sheet name → the outcomes it holds (Excel allows 31 characters, no ``/`` in a sheet name)
GROUPS: dict[str, tuple[str, ...]] = {
    "Migrated": ("migrated", "already_migrated"),
    "Conflicts": ("conflict",),
    "Fix metadata": ("missing_identifier", "malformed_identifier", "duplicate_handle", "wrong_format"),
    "Failed": ("failed",),
    "No evidence yet": ("unknown",),
}
TEXT_COLUMNS = {"mms_id", "pid", "expected_handle", "alma_handle"}
HEADERS = (*COLUMNS, "outcome in words", "next step")
WIDTHS = {"mms_id": 21, "pid": 16, "expected_handle": 22, "alma_handle": 22, "outcome": 20, "detail": 60}


def alma_for_people(row: dict[str, str]) -> str:
    """``alma_handle`` as people read it: "same as expected" for a migrated record."""
    alma = row.get("alma_handle") or ""
    if row.get("outcome") in GROUPS["Migrated"] and (not alma or alma == row.get("expected_handle")):
        return SAME
    return alma


def _group(outcome: str) -> str:
    for name, outcomes in GROUPS.items():
        if outcome in outcomes:
            return name
    return "No evidence yet"


def _letter(n: int) -> str:
    return chr(ord("A") + n) if n < 26 else "A" + chr(ord("A") + n - 26)


def report_title(session: Any, run_id: int, zone: tzinfo) -> str:
    """``Handles report · set 7593466560004641 (name) · run 8 · 2026-11-30 18:40 GMT``."""
    run = session.get(Run, run_id)
    now = datetime.now(UTC).astimezone(zone)
    name = f" ({run.set_name})" if run is not None and run.set_name else ""
    set_id = run.set_id if run is not None else "?"
    return f"Handles report · set {set_id}{name} · run {run_id} · {now:%Y-%m-%d %H:%M} {now.tzname()}"


def write_xlsx(
    rows: Iterable[dict[str, str]],
    out: str | IO[bytes],
    *,
    title: str,
    run_id: int,
    counts: dict[str, int],
) -> int:
    """Write the workbook to ``out`` (a path or a binary stream); returns the number of rows.

    ``counts`` (records per outcome, e.g. :func:`outcomes.current.current_counts`) decides which
    outcome sheets exist; a row whose group has no sheet goes to the last one made for it anyway.
    """
    book = Workbook(write_only=True)
    summary = book.create_sheet(SUMMARY)
    wanted = [name for name, outcomes in GROUPS.items() if any(counts.get(o) for o in outcomes)]
    sheets: dict[str, Any] = {}
    bold = Font(bold=True)

    def cell(sheet: Any, value: Any, *, text: bool = False, font: Font | None = None) -> WriteOnlyCell:
        c = WriteOnlyCell(sheet, value=value)
        if text:
            c.number_format = "@"
        if font is not None:
            c.font = font
        return c

    def sheet_for(name: str) -> Any:
        if name not in sheets:
            sheet = book.create_sheet(name)
            for n, column in enumerate(HEADERS):
                sheet.column_dimensions[_letter(n)].width = WIDTHS.get(column, 18)
            sheet.freeze_panes = "A3"
            sheet.append([cell(sheet, f"{title} · {name}", font=bold)])
            sheet.append([cell(sheet, h, font=bold) for h in HEADERS])
            sheets[name] = sheet
        return sheets[name]

    for name in wanted:
        sheet_for(name)
    count = 0
    for row in rows:
        outcome = row.get("outcome") or "unknown"
        sheet = sheet_for(_group(outcome))
        values = {**row, "alma_handle": alma_for_people(row)}
        line = [cell(sheet, str(values.get(c) or ""), text=c in TEXT_COLUMNS) for c in COLUMNS]
        line.append(cell(sheet, MEANINGS.get(outcome, "")))
        line.append(cell(sheet, next_step(outcome, run_id)))
        sheet.append(line)
        count += 1

    summary.column_dimensions["A"].width = 22
    summary.column_dimensions["B"].width = 10
    summary.column_dimensions["C"].width = 50
    summary.column_dimensions["D"].width = 70
    summary.append([cell(summary, title, font=Font(bold=True, size=14))])
    summary.append([cell(summary, f"{count} records; one sheet per group of outcomes")])
    summary.append([])
    summary.append(
        [cell(summary, h, font=bold) for h in ("outcome", "records", "what it means", "next step")]
    )
    wrap = Alignment(wrap_text=True, vertical="top")
    for outcome, number in counts.items():
        step = cell(summary, next_step(outcome, run_id) or "nothing: done")
        step.alignment = wrap
        summary.append(
            [cell(summary, outcome), cell(summary, number), cell(summary, MEANINGS.get(outcome, "")), step]
        )
    summary.append([cell(summary, "total", font=bold), cell(summary, count, font=bold)])
    book.save(out)
    return count
