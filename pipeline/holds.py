"""What holds or stops a whole run, whichever link of its chain met it.

* Alma's daily API quota spent (``DAILY_THRESHOLD``, or ``X-Exl-Api-Remaining`` under the floor):
  the run holds with :data:`pipeline.context.QUOTA_WAIT` and is visited again at the next hour;
  recovery (:mod:`pipeline.recovery`) leaves a held run alone for that long.
* Alma refuses the API key (:class:`~alma.errors.AlmaAuthError`: a wrong key, or one without the
  rights): retrying cannot help, so the run stops (``failed``) with one line naming ``ALMA_API_KEY``,
  and the budget slots its unfinished steps held are given back.

The tasks call these from their error mapping (:mod:`tasks.pipeline`).
"""

from __future__ import annotations

import logging

from sqlalchemy.engine import Engine

from pipeline.budget import JobBudget
from pipeline.context import QUOTA_WAIT, budget_member, quota_countdown, touch_run
from pipeline.runs import fail_run
from store.db import session_scope
from store.models import RunState, StepStatus, utcnow
from store.runs import RunNotFound, get_run, run_steps

log = logging.getLogger("handles.pipeline")

__all__ = ["hold_for_quota", "key_refused_reason", "stop_key_refused"]

_HELD_SLOTS = (StepStatus.SUBMITTING, StepStatus.RUNNING)


def hold_for_quota(engine: Engine, run_id: int, exc: Exception) -> float:
    """Record that the run waits for Alma's daily quota; the countdown to the next visit, in s."""
    countdown = quota_countdown(utcnow())
    try:
        with session_scope(engine) as session:
            run = get_run(session, run_id)
            if RunState(run.state).is_terminal:
                return countdown
            if run.wait_reason != QUOTA_WAIT:
                log.warning("run %s: %s (%s)", run_id, QUOTA_WAIT, exc)
            state = RunState.WAITING if run.state == RunState.RUNNING else None
            touch_run(session, run, state, QUOTA_WAIT)
    except RunNotFound:
        pass
    return countdown


def key_refused_reason(exc: Exception) -> str:
    """One line for a refused API key: what Alma said (its code) and the setting to check."""
    code = getattr(exc, "error_code", None) or getattr(exc, "status_code", None)
    said = f" ({code})" if code else ""
    return (
        f"Alma refused the API key{said}: check ALMA_API_KEY (a key with read/write rights to the "
        f"Bibs and Configuration APIs), then start a new run"
    )


def stop_key_refused(engine: Engine, budget: JobBudget, run_id: int, where: str, exc: Exception) -> str:
    """Stop the run (failed) because Alma refused the key; returns the one line recorded."""
    reason = key_refused_reason(exc)
    held: list[str] = []
    try:
        with session_scope(engine) as session:
            run = get_run(session, run_id)
            if not RunState(run.state).is_terminal:
                held = [budget_member(s.id) for s in run_steps(session, run_id) if s.status in _HELD_SLOTS]
                fail_run(session, run, f"{where}: {reason}")
    except RunNotFound:
        return reason
    for member in held:
        budget.release(member)
    log.error("run %s: %s: %s", run_id, where, reason)
    return reason
