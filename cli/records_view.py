"""Record lists for the console, shared by ``status RUN_ID`` and ``report --format text``.

One record per line (MMS id, expected handle, outcome, verification), each identifier whole; what
Alma holds when it differs, and with ``wide`` the evidence, on indented lines below.
"""

from __future__ import annotations

from collections.abc import Iterable

from cli import render
from outcomes.current import CurrentRecord

__all__ = ["SAME", "alma_shown", "is_problem", "record_lines"]

SAME = "same as expected"
FINE_OUTCOMES = {"migrated", "already_migrated"}
FINE_VERIFICATIONS = {"", "ok"}


def is_problem(record: CurrentRecord) -> bool:
    """Whether the record needs the librarian: an outcome other than migrated, or a failed check."""
    return record.outcome not in FINE_OUTCOMES or (record.verification or "") not in FINE_VERIFICATIONS


def alma_shown(outcome: str, expected: str | None, alma: str | None) -> str:
    """``alma_handle`` for people: "same as expected" for a migrated record, else what Alma holds."""
    if outcome in FINE_OUTCOMES and (not alma or alma == expected):
        return SAME
    return alma or ""


def record_lines(records: Iterable[CurrentRecord], *, wide: bool = False) -> list[str]:
    """Aligned record lines under a header; what does not fit goes below each record, indented."""
    rows: list[list[str]] = []
    extra: list[list[str]] = []
    for r in records:
        rows.append([r.mms_id, r.expected_handle or "-", r.outcome, r.verification or "-"])
        below = []
        alma = alma_shown(r.outcome, r.expected_handle, r.alma_handle)
        if alma and (alma != SAME or wide):
            below.append(f"Alma holds {alma}")
        if r.before is not None:
            below.append(f"re-run in run {r.source_run_id}; was {r.before[0]}")
        more: list[str] = render.wrapped("; ".join(below)) if below else []
        if wide and r.detail:
            more += render.wrapped(r.detail)
        extra.append(more)
    if not rows:
        return []
    header, *blocks = render.aligned_blocks(rows, ["mms_id", "expected handle", "outcome", "verified"])
    out = list(header)
    for block, more in zip(blocks, extra, strict=True):
        out += block + more
    return out
