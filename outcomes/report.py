"""The run report: one row per member of the set, in the set's order, with the evidence.

Columns (CONTRACT.md): ``mms_id,pid,expected_handle,alma_handle,outcome,verification,target_url,detail,
verification_before`` (where the expected handle pointed before the run's jobs, read by preflight).
Rows are streamed from the database, so a large set does not have to fit in memory.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any, TextIO

from sqlmodel import Session

from outcomes.current import current_records

__all__ = ["COLUMNS", "iter_rows", "write_csv", "write_json"]

COLUMNS = (
    "mms_id",
    "pid",
    "expected_handle",
    "alma_handle",
    "outcome",
    "verification",
    "target_url",
    "detail",
    "verification_before",
)


def iter_rows(*, session: Session, run_id: int, settings: Any = None) -> Iterator[dict[str, str]]:
    """Rows of the report ordered by ``Record.position`` then ``mms_id``; empty strings for unknowns.

    Each record as it stands now (:func:`outcomes.current.current_records`): a record that
    ``handles repair`` re-ran in a child run that has finished is shown as the child run left it,
    with what it was before in ``detail``.
    """
    for record in current_records(session, run_id):
        target = record.target_url or (settings.target_url(record.mms_id) if settings is not None else None)
        detail = record.detail or ""
        if record.before is not None:
            outcome_before, detail_before = record.before
            detail = (
                f"repaired and re-run in run {record.source_run_id}: {record.detail or 'no detail'}; before "
                f"the repair: {outcome_before}: {detail_before or ''}"
            ).rstrip(": ")
        if record.batch is not None:
            detail = f"batch {record.batch[0]} of {record.batch[1]} (run {record.source_run_id}): {detail or 'no detail'}"
        yield {
            "mms_id": record.mms_id,
            "pid": record.pid or "",
            "expected_handle": record.expected_handle or "",
            "alma_handle": record.alma_handle or "",
            "outcome": record.outcome or "unknown",
            "verification": record.verification or "",
            "target_url": target or "",
            "detail": detail,
            "verification_before": record.verification_before or "",
        }


def write_csv(rows: Iterator[dict[str, str]], out: TextIO) -> int:
    """Write the header and ``rows`` as CSV; returns the number of rows."""
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    return count


def write_json(rows: Iterator[dict[str, str]], out: TextIO) -> int:
    """Write ``rows`` as one JSON array, a row per line; returns the number of rows."""
    count = 0
    out.write("[")
    for row in rows:
        out.write(",\n" if count else "\n")
        out.write(json.dumps(row, ensure_ascii=False))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count
