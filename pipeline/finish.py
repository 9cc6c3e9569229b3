"""The last link of a run: read Alma's events where it serves them, verify, classify, close the run."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import update
from sqlmodel import col

from pipeline.context import PipelineContext
from pipeline.profile_set import ingest_api_events
from pipeline.runs import outcome_counts
from store.db import session_scope
from store.models import Record, RunState, Step, StepKind, StepStatus, utcnow
from store.runs import get_run, step_of

log = logging.getLogger("handles.pipeline")

__all__ = ["finish_run", "remove_created_sets"]


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
    """Verify every expected handle, classify every record, and mark the run succeeded. Idempotent."""
    from handles.verify import verify_run
    from outcomes.classify import classify_run

    verify = verify or verify_run
    classify = classify or classify_run
    with session_scope(ctx.engine) as session:
        run = get_run(session, run_id)
        if run.state in (RunState.SUCCEEDED, RunState.FAILED):
            return
        step = step_of(session, run_id, StepKind.VERIFY)
        session.execute(
            update(Step)
            .where(col(Step.id) == step.id, col(Step.status) == StepStatus.PENDING)
            .values(status=StepStatus.RUNNING, started_at=utcnow())
        )
        run.state, run.heartbeat_at, run.wait_reason = RunState.VERIFYING, utcnow(), None
        session.add(run)
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
        session.add(run)
        counts = outcome_counts(session, run_id)
        total = session.query(Record).filter(col(Record.run_id) == run_id).count()
        created_sets = [run.profile_set_id] if run.profile_set_id else []
    remove_created_sets(ctx, run_id, created_sets)
    log.info(
        "run %s: finished: %s records; outcomes %s; verification %s",
        run_id,
        total,
        ", ".join(f"{k}={v}" for k, v in counts.items()) or "none",
        summary,
    )
