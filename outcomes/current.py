"""What each record of a run is *now*: the one answer that status, the report and verify share.

A record that ``handles repair`` (or a re-run) took into a child run that has finished is what the
child run made of it: its outcome, handles, verification and target come from the child's record,
and ``record_id``/``source_run_id`` point there (so verifying it updates the row the report shows).
A child run that has not finished leaves the parent's record as it was. Everything else is the
run's own record.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from sqlmodel import Session, col, select

from store.models import Outcome, Record, Run, RunState

__all__ = ["CurrentRecord", "current_counts", "current_records"]

BATCH = 1000


@dataclass(frozen=True)
class CurrentRecord:
    """One member of the run's set as it stands now."""

    mms_id: str
    position: int
    pid: str | None
    expected_handle: str | None
    alma_handle: str | None
    outcome: str
    verification: str | None
    target_url: str | None
    detail: str | None
    record_id: int | None  # the Record row holding this state (the child's when repaired)
    source_run_id: int  # the run whose record this is
    before: tuple[str, str | None] | None = None  # (outcome, detail) before a child run re-ran it
    verification_before: str | None = None  # where the handle pointed before the run's jobs
    batch: tuple[int, int] | None = None  # (k, n) when a batch of a running parent holds the record
    suppressed: bool = False  # the bib is suppressed from publishing (read by preflight)


def _child_records(session: Session, run_id: int) -> dict[str, tuple[Run, Record]]:
    """MMS id → (finished child run, its record); the newest finished child run wins.

    Child runs hold only the records they re-ran, so this stays small whatever the set's size.
    Batches (``Run.batch_no``) count while their parent runs; once the parent has finished, its own
    records hold what the batches found.
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
            if child.state != RunState.SUCCEEDED or child.id is None:
                continue
            if child.batch_no is not None and parent_done:
                continue
            for record in session.exec(select(Record).where(Record.run_id == child.id)):
                found[record.mms_id] = (child, record)
        parents = [c.id for c in children if c.id is not None]
    return found


def current_records(session: Session, run_id: int) -> Iterator[CurrentRecord]:
    """The run's records in set order (``position``, then MMS id), each as it stands now."""
    children = _child_records(session, run_id)
    query = (
        select(Record)
        .where(Record.run_id == run_id)
        .order_by(col(Record.position), col(Record.mms_id), col(Record.id))
        .execution_options(yield_per=BATCH)
    )
    for record in session.exec(query):
        found = children.get(record.mms_id)
        if found is None:
            yield CurrentRecord(
                mms_id=record.mms_id,
                position=record.position,
                pid=record.pid,
                expected_handle=record.expected_handle,
                alma_handle=record.alma_handle,
                outcome=record.outcome or Outcome.UNKNOWN,
                verification=record.verification,
                target_url=record.target_url,
                detail=record.detail,
                record_id=record.id,
                source_run_id=run_id,
                verification_before=record.verification_before,
                suppressed=bool(record.suppressed),
            )
            continue
        child_run, child = found
        assert child_run.id is not None  # a stored run
        yield CurrentRecord(
            mms_id=record.mms_id,
            position=record.position,
            pid=child.pid or record.pid,
            expected_handle=child.expected_handle or record.expected_handle,
            alma_handle=child.alma_handle,
            outcome=child.outcome or Outcome.UNKNOWN,
            verification=child.verification,
            target_url=child.target_url or record.target_url,
            detail=child.detail,
            record_id=child.id,
            source_run_id=child_run.id,
            before=None if child_run.batch_no is not None else (record.outcome, record.detail),
            verification_before=record.verification_before,
            batch=(child_run.batch_no, child_run.batch_of or 0) if child_run.batch_no is not None else None,
            suppressed=bool(child.suppressed or record.suppressed),
        )


def current_counts(session: Session, run_id: int) -> dict[str, int]:
    """Records per outcome as they stand now, in the order of ``Outcome``; outcomes with none left out."""
    counts = Counter(r.outcome for r in current_records(session, run_id))
    known = [o.value for o in Outcome]
    ordered = {o: counts[o] for o in known if counts.get(o)}
    ordered.update({o: n for o, n in sorted(counts.items()) if o not in ordered})
    return ordered
