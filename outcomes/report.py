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

from sqlmodel import Session, col, select

from store.models import Record, Run, RunState

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
BATCH = 1000


def _repairs(session: Session, run_id: int) -> dict[str, tuple[Run, Record]]:
    """MMS id → (child run, its record) for records that a repair re-ran (newest child run wins).

    Child runs hold only the repaired records, so this stays small whatever the set's size. Batches
    (``Run.batch_no``) count while their parent runs; once it has finished, its own records hold
    what they found.
    """
    found: dict[str, tuple[Run, Record]] = {}
    top = session.get(Run, run_id)
    parent_done = top is not None and RunState(top.state).is_terminal
    parents = [run_id]
    while parents:
        children = list(
            session.exec(select(Run).where(col(Run.parent_run_id).in_(parents)).order_by(col(Run.id)))
        )
        for child in children:
            if child.batch_no is not None and parent_done:
                continue
            for record in session.exec(select(Record).where(Record.run_id == child.id)):
                found[record.mms_id] = (child, record)
        parents = [c.id for c in children if c.id is not None]
    return found


def iter_rows(*, session: Session, run_id: int, settings: Any = None) -> Iterator[dict[str, str]]:
    """Rows of the report ordered by ``Record.position`` then ``mms_id``; empty strings for unknowns.

    A record that ``handles repair`` re-ran in a child run that has finished is shown as the child
    run left it, with what it was before in ``detail``.
    """
    repairs = _repairs(session, run_id)
    query = (
        select(Record)
        .where(Record.run_id == run_id)
        .order_by(col(Record.position), col(Record.mms_id), col(Record.id))
        .execution_options(yield_per=BATCH)
    )
    for record in session.exec(query):
        target = record.target_url or (settings.target_url(record.mms_id) if settings is not None else None)
        repaired = repairs.get(record.mms_id)
        if repaired is not None and repaired[0].state == RunState.SUCCEEDED:
            child_run, child = repaired
            yield {
                "mms_id": record.mms_id,
                "pid": child.pid or record.pid or "",
                "expected_handle": child.expected_handle or record.expected_handle or "",
                "alma_handle": child.alma_handle or "",
                "outcome": child.outcome or "unknown",
                "verification": child.verification or "",
                "target_url": child.target_url or target or "",
                "detail": (
                    f"batch {child_run.batch_no} of {child_run.batch_of} (run {child_run.id}): "
                    f"{child.detail or 'no detail'}"
                    if child_run.batch_no is not None
                    else f"repaired and re-run in run {child_run.id}: {child.detail or 'no detail'}; before "
                    f"the repair: {record.outcome}: {record.detail or ''}"
                ).rstrip(": "),
                "verification_before": record.verification_before or "",
            }
            continue
        yield {
            "mms_id": record.mms_id,
            "pid": record.pid or "",
            "expected_handle": record.expected_handle or "",
            "alma_handle": record.alma_handle or "",
            "outcome": record.outcome or "unknown",
            "verification": record.verification or "",
            "target_url": target or "",
            "detail": record.detail or "",
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
