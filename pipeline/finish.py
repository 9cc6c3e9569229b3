"""The last link of a run: read Alma's events where it serves them, verify, classify, close the run.

A batch parent (:mod:`pipeline.batches`) finishes only once every batch has ended: the batches'
evidence is folded into the parent's own records first, so that verification and classification
run over every record of the set; the parent then fails, naming them, if any batch failed.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from pipeline.batch_progress import batch_children, batches_ended, failed_batches
from pipeline.batches import is_batch_parent
from pipeline.context import PipelineContext
from pipeline.migration_events import ingest_api_events
from pipeline.runs import outcome_counts
from store.db import session_scope
from store.models import EventLine, Record, Run, RunState, Step, StepKind, StepStatus, utcnow
from store.runs import get_run, step_of

log = logging.getLogger("handles.pipeline")

__all__ = ["finish_run", "fold_batches", "remove_created_sets"]


def remove_created_sets(ctx: PipelineContext, run_id: int, set_ids: list[str]) -> list[str]:
    """Delete the sets this run created in Alma, unless ``ALMA_KEEP_SETS``; returns those removed.

    A set that cannot be removed is one log line: the run has succeeded and stays so.
    """
    if ctx.settings.alma_keep_sets:
        return []
    removed = []
    for set_id in set_ids:
        try:
            ctx.alma.delete_set(set_id)
        except Exception as exc:  # noqa: BLE001 - never fail a finished run over a leftover set
            log.warning(
                "run %s: could not remove its set %s from Alma (%s); remove it by hand", run_id, set_id, exc
            )
            continue
        removed.append(set_id)
    if removed:
        log.info("run %s: removed the set(s) it created in Alma: %s", run_id, ", ".join(removed))
    return removed


def finish_run(*, ctx: PipelineContext, run_id: int, verify: Any = None, classify: Any = None) -> None:
    """Verify every expected handle, classify every record, and mark the run succeeded. Idempotent.

    A batch parent: only once its batches have all ended; failed when any of them failed.
    """
    from handles.verify import verify_run
    from outcomes.classify import classify_run

    verify = verify or verify_run
    classify = classify or classify_run
    with session_scope(ctx.engine) as session:
        run = get_run(session, run_id)
        if run.state in (RunState.SUCCEEDED, RunState.FAILED):
            return
        batched = is_batch_parent(run)
        if batched and not batches_ended(session, run):
            # an early or duplicate message: the batch driver's chain finishes the parent later
            log.info("run %s: not finished: its batches have not all ended", run_id)
            return
        step = step_of(session, run_id, StepKind.VERIFY)
        session.execute(
            update(Step)
            .where(col(Step.id) == step.id, col(Step.status) == StepStatus.PENDING)
            .values(status=StepStatus.RUNNING, started_at=utcnow())
        )
        run.state, run.heartbeat_at, run.wait_reason = RunState.VERIFYING, utcnow(), None
        session.add(run)
    if batched:
        with session_scope(ctx.engine) as session:
            copied = fold_batches(session, run_id)
        log.info("run %s: %s event lines from its batches", run_id, copied)
    ingest_api_events(ctx, run_id)  # a no-op when the profile step already read them
    with session_scope(ctx.engine) as session:
        summary = verify(session=session, run_id=run_id, settings=ctx.settings)
    with session_scope(ctx.engine) as session:
        classify(session=session, run_id=run_id, settings=ctx.settings)
        step = step_of(session, run_id, StepKind.VERIFY)
        step.status, step.ended_at = StepStatus.SUCCEEDED, utcnow()
        session.add(step)
        run = get_run(session, run_id)
        run.state, run.finished_at, run.heartbeat_at = RunState.SUCCEEDED, utcnow(), utcnow()
        run.wait_reason = None
        failed = failed_batches(session, run_id) if batched else []
        if failed:
            run.state = RunState.FAILED
            run.error = _failed_batches_reason(failed, run.batch_of or len(failed))
        session.add(run)
        counts = outcome_counts(session, run_id)
        total = session.query(Record).filter(col(Record.run_id) == run_id).count()
        # the sets this run made in Alma: its profile set, its jobs set, and a batch's own set
        # (a child run — a batch, a repair, a rerun — runs on a set the product made for it)
        made = [run.profile_set_id, run.jobs_set_id, run.set_id if run.parent_run_id is not None else None]
        created_sets = list(dict.fromkeys(s for s in made if s))
    remove_created_sets(ctx, run_id, created_sets)
    log.info(
        "run %s: finished: %s records; outcomes %s; verification %s",
        run_id,
        total,
        ", ".join(f"{k}={v}" for k, v in counts.items()) or "none",
        summary,
    )


def _failed_batches_reason(failed: list[Run], of: int) -> str:
    named = ", ".join(f"batch {c.batch_no} (run {c.id})" for c in failed[:5])
    more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
    return (
        f"{len(failed)} of {of} batches failed: {named}{more}; the other batches ran, and every record "
        f"is verified and accounted for (handles status on a batch's run says why it failed)"
    )


def fold_batches(session: Session, parent_id: int) -> int:
    """Bring what the batches learnt into the parent's own records; how many event lines.

    Alma's event lines (read from its API or imported from its Events Report) are copied to the
    parent (the same fingerprint is never copied twice), and each record's metadata problem as its
    batch re-read it after the copy job. The parent's classification then has all the evidence.
    """
    copied = 0
    for child in batch_children(session, parent_id):
        have = set(session.exec(select(EventLine.fingerprint).where(EventLine.run_id == parent_id)))
        for line in session.exec(select(EventLine).where(EventLine.run_id == child.id)):
            if line.fingerprint in have:
                continue
            session.add(
                EventLine(
                    run_id=parent_id,
                    step_kind=line.step_kind,
                    mms_id=line.mms_id,
                    kind=line.kind,
                    handle=line.handle,
                    text=line.text,
                    event_date=line.event_date,
                    severity=line.severity,
                    source=line.source,
                    fingerprint=line.fingerprint,
                )
            )
            have.add(line.fingerprint)
            copied += 1
        problems = {
            r.mms_id: r.metadata_problem
            for r in session.exec(select(Record).where(Record.run_id == child.id))
        }
        ids = list(problems)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for record in session.exec(
                select(Record).where(Record.run_id == parent_id, col(Record.mms_id).in_(chunk))
            ):
                if record.metadata_problem != problems[record.mms_id]:
                    record.metadata_problem = problems[record.mms_id]
                    session.add(record)
        session.flush()
    return copied
