"""Following a submitted step: read its Alma instance until it ends, then succeed or fail the step.

Each visit reads the instance once and stores what Alma says (status, progress, alerts, counters);
the next visit comes later, with a backoff (:func:`pipeline.context.poll_countdown`). A step still
running after ``STEP_DEADLINE_HOURS`` fails. The budget slot is released when the step ends.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlmodel import Session

from pipeline.context import Next, PipelineContext, budget_member, poll_countdown, touch_run
from pipeline.operator import operator_wait
from pipeline.runs import fail_run
from store.db import session_scope
from store.models import Run, RunState, Step, StepKind, StepStatus
from store.runs import get_run, step_of

log = logging.getLogger("handles.pipeline")

__all__ = ["end_step", "poll_step", "record_instance_state"]


def poll_step(ctx: PipelineContext, run_id: int, kind: str) -> Next:
    """One look at the step's Alma instance (RUNNING, or operator mode's profile not yet found)."""
    with session_scope(ctx.engine) as session:
        step = step_of(session, run_id, kind)
        job_id, instance_id, step_id = step.alma_job_id, step.instance_id, step.id
        run = get_run(session, run_id)
        if step.instance_id is None and run.profile_mode == "operator" and kind == StepKind.PROFILE:
            return operator_wait(ctx, session, run, step)
    assert job_id and instance_id and step_id
    instance = ctx.alma.get_instance(job_id, instance_id)
    with session_scope(ctx.engine) as session:
        polled = session.get(Step, step_id)
        run = get_run(session, run_id)
        assert polled is not None
        step = polled
        record_instance_state(step, instance)
        step.polls += 1
        if not instance.is_terminal:
            if step.deadline_at and ctx.now() > step.deadline_at:
                reason = (
                    f"{kind} job {job_id} instance {instance_id} still {instance.status} after "
                    f"{ctx.settings.step_deadline_hours:g} h"
                )
                step.status, step.error, step.ended_at = StepStatus.FAILED, reason, ctx.now()
                session.add(step)
                fail_run(session, run, reason)
                ctx.budget.release(budget_member(step.id))
                log.error("run %s: %s", run_id, reason)
                return Next.stop(reason)
            session.add(step)
            touch_run(session, run, RunState.RUNNING)
            return Next.retry(poll_countdown(ctx.settings, step.polls))
        result = end_step(session, run, step, instance, now=ctx.now(), via="poll")
    ctx.budget.release(budget_member(step_id))
    return result


def record_instance_state(step: Step, instance: Any) -> None:
    """Write what Alma says of ``instance`` (an ``alma.JobInstance``) into ``step``: poll or webhook."""
    step.alma_status, step.alma_status_desc = instance.status, instance.status_desc
    step.progress, step.alerts = instance.progress, list(instance.alerts)
    step.counters = {instance.counter_labels.get(k, k): v for k, v in instance.counters.items()}
    step.started_at = instance.start_time.replace(tzinfo=None) if instance.start_time else step.started_at


def end_step(session: Session, run: Run, step: Step, instance: Any, *, now: datetime, via: str) -> Next:
    """``instance`` is terminal: the step succeeded or failed (and with it the run); ``via`` says
    how the end was learned ("poll" | "webhook"). The caller releases the job budget."""
    run_id, kind, job_id, instance_id = run.id, step.kind, step.alma_job_id, step.instance_id
    step.ended_via = step.ended_via or via
    step.ended_at = instance.end_time.replace(tzinfo=None) if instance.end_time else now
    if instance.is_success:
        step.status = StepStatus.SUCCEEDED
        session.add(step)
        touch_run(session, run, RunState.RUNNING)
        log.info(
            "run %s: %s finished (learned by %s): instance %s %s, counters %s",
            run_id,
            kind,
            via,
            instance_id,
            instance.status,
            _counters_text(step.counters),
        )
        return Next.cont()
    reason = f"{kind} job {job_id} instance {instance_id} ended {instance.status}"
    if instance.alerts:
        reason += f" ({'; '.join(str(a) for a in instance.alerts)})"
    step.status, step.error = StepStatus.FAILED, reason
    session.add(step)
    fail_run(session, run, reason)
    log.error("run %s: %s; later steps are not submitted", run_id, reason)
    return Next.stop(reason)


def _counters_text(counters: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in counters.items()) or "none"
