"""The step state machine's entry point: one visit to one step of a run.

Each call of :func:`drive_step` does one short piece of work and says what should happen next
(:class:`~pipeline.context.Next`): the Celery task maps that to "continue the chain", "retry in N
seconds" or "stop". Nothing here sleeps, so no worker is held while Alma works.

A step goes PENDING → SUBMITTING → RUNNING → SUCCEEDED or FAILED (or REFUSED, or SKIPPED). Where
each part lives:

* :mod:`pipeline.context`: :class:`Next`, :class:`PipelineContext`, the job name and the one
  "is this instance ours?" test;
* :mod:`pipeline.order`: the order guard;
* :mod:`pipeline.submit`: PENDING (exactly-once submission) and SUBMITTING (settling a lost answer);
* :mod:`pipeline.poll`: RUNNING (following the Alma instance to its end);
* :mod:`pipeline.operator`: step 3 run in Alma's UI, and ``handles confirm``.
"""

from __future__ import annotations

import logging

from pipeline.context import Next, PipelineContext, budget_member, job_name_for, poll_countdown
from pipeline.operator import confirm_operator
from pipeline.order import earlier_unfinished
from pipeline.poll import poll_step
from pipeline.submit import settle_submission, submit_step
from store.db import session_scope
from store.models import RunState, Step, StepStatus
from store.runs import get_run, run_steps, step_of

log = logging.getLogger("handles.pipeline")

# Next, PipelineContext, confirm_operator, job_name_for and poll_countdown are re-exported: callers
# (the CLI's `confirm`, workers.resources) name them from here.
__all__ = ["Next", "PipelineContext", "confirm_operator", "drive_step", "job_name_for", "poll_countdown"]


def drive_step(ctx: PipelineContext, *, run_id: int, kind: str, woken: bool = False) -> Next:
    """One visit to step ``kind`` of run ``run_id``; see the module docstring.

    ``woken``: the visit comes from the webhook listener's chain (:mod:`webhook.send`), sent as the
    step's JOB_END event was applied. That chain owns the rest of the run.
    """
    with session_scope(ctx.engine) as session:
        run = get_run(session, run_id)
        step = step_of(session, run_id, kind)
        if run.state == RunState.FAILED:
            return Next.stop(f"run {run_id} has failed: {run.error}")
        if step.status in (StepStatus.SUCCEEDED, StepStatus.SKIPPED):
            ctx.budget.release(budget_member(step.id))  # ended by a webhook: its slot is freed here
            if not woken and step.ended_via == "webhook":
                driven = _next_driven(run_steps(session, run_id), step)
                if driven is not None:
                    # the run's older chain (its pending fallback poll): the listener's chain has
                    # already taken the run on; carrying on beside it would only repeat its work
                    log.info("run %s: %s ended by webhook; %s", run_id, kind, driven)
                    return Next.yield_to(driven)
            return Next.cont()
        if step.status in (StepStatus.FAILED, StepStatus.REFUSED):
            ctx.budget.release(budget_member(step.id))  # idempotent
            return Next.stop(step.error or f"step {kind} {step.status}")
        blocker = earlier_unfinished(run_steps(session, run_id), step)
        if blocker is not None:
            # a duplicate or early message: the legitimate chain will get here in order
            log.info("run %s: %s not started, %s is %s", run_id, kind, blocker.kind, blocker.status)
            return Next.stop(f"{kind} waits for {blocker.kind} ({blocker.status})")
        status = step.status
    if status == StepStatus.PENDING:
        return submit_step(ctx, run_id, kind)
    if status == StepStatus.SUBMITTING:
        return settle_submission(ctx, run_id, kind)
    return poll_step(ctx, run_id, kind)


def _next_driven(steps: list[Step], ended: Step) -> str | None:
    """Whether what follows ``ended`` is already under way (another chain drives the run): the
    first later step that is neither done nor still PENDING, named; None when nothing is."""
    for later in steps:
        if later.position <= ended.position or later.status == StepStatus.SKIPPED:
            continue
        if later.status == StepStatus.PENDING:
            return None
        return f"{later.kind} is already {later.status} (driven by the webhook's chain)"
    return None
