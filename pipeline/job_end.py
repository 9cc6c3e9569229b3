"""What one of Alma's JOB_END events does to the runs: the webhook's seam into the pipeline.

Alma sends every job end of the institution to every listener, so most events concern instances
nobody here follows: they are counted (:data:`counts`) and dropped. An event for a step we follow
ends that step exactly as a poll would (:func:`pipeline.steps.record_instance_state` and
:func:`pipeline.steps.end_step`), with ``ended_via="webhook"``, and names the step to drive next.

Harmless in every order, because the database decides: the step's row is locked (PostgreSQL) and
only a step still RUNNING on that very instance is ended. The same event twice, an event after a
poll already saw the end, or an event before the submission recorded the instance id (the poll
will find the end) change nothing. Nothing here submits: the caller sends ``handles.run_step``
for the step, whose exactly-once machinery decides what to do.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter

from sqlmodel import Session, col, select

from alma.models import JobInstance
from pipeline.poll import end_step, record_instance_state
from store.models import Step, StepStatus, utcnow
from store.runs import get_run

__all__ = ["apply_job_end", "counts"]

log = logging.getLogger("handles.webhook")

# what became of the events seen by this process: applied, unknown (nobody follows the instance),
# already (the step had ended), not_ended (the instance is not terminal), not_running (not yet
# recorded as running, e.g. still submitting)
counts: Counter[str] = Counter()
_lock = threading.Lock()


def _count(what: str) -> None:
    with _lock:
        counts[what] += 1


def apply_job_end(
    session: Session, instance: JobInstance, job_id: str, *, source: str = "webhook"
) -> list[tuple[int, str]]:
    """Apply the end of ``instance`` (of Alma job ``job_id``) to the step that follows it.

    Returns the (run_id, step kind) to drive next: the step just ended, whose task continues the
    run's chain (empty when the event changed nothing). The caller commits.
    """
    if not instance.id:
        _count("unknown")
        return []
    query = select(Step).where(col(Step.instance_id) == instance.id).with_for_update()
    steps = [s for s in session.exec(query).all() if not job_id or s.alma_job_id in (None, job_id)]
    if not steps:
        _count("unknown")
        return []
    drive: list[tuple[int, str]] = []
    for step in steps:
        if step.status in (StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.REFUSED):
            _count("already")
            continue
        if step.status != StepStatus.RUNNING:
            _count("not_running")
            continue
        if not instance.is_terminal:
            record_instance_state(step, instance)
            session.add(step)
            _count("not_ended")
            continue
        run = get_run(session, step.run_id)
        record_instance_state(step, instance)
        end_step(session, run, step, instance, now=utcnow(), via=source)
        _count("applied")
        drive.append((step.run_id, step.kind))
    return drive
