"""What holds or stops a whole run, whichever link of its chain met it.

* Alma's daily API quota spent (``DAILY_THRESHOLD``, or ``X-Exl-Api-Remaining`` under the floor):
  the run holds with :data:`pipeline.context.QUOTA_WAIT` and is visited again at the next hour;
  recovery (:mod:`pipeline.recovery`) leaves a held run alone for that long.
* Alma refuses the API key (:class:`~alma.errors.AlmaAuthError`: a wrong key, or one without the
  rights): retrying cannot help, so the run stops (``failed``) with one line naming ``ALMA_API_KEY``,
  and the budget slots its unfinished steps held are given back.
* An error no task foresaw (a bug, an answer nobody declared) ends that link of the chain, and the
  stalled-run check resumes the run later. Each one is counted on the run; the
  :data:`UNEXPECTED_ERRORS_LIMIT`-th stops it (``failed``, one line naming the error), so that a run
  that fails the same way is not resumed, spending Alma's calls, every ``STALL_SECONDS`` for ever.

The tasks call these from their error mapping (:mod:`tasks.pipeline`).
"""

from __future__ import annotations

import logging

from sqlalchemy.engine import Engine
from sqlmodel import Session

from config.redact import scrub
from pipeline.budget import JobBudget
from pipeline.context import QUOTA_WAIT, budget_member, quota_countdown, touch_run
from pipeline.runs import fail_run
from store.db import session_scope
from store.models import Run, RunState, StepStatus, utcnow
from store.runs import RunNotFound, get_run, run_steps

log = logging.getLogger("handles.pipeline")

__all__ = [
    "UNEXPECTED_ERRORS_LIMIT",
    "count_unexpected_error",
    "hold_for_quota",
    "key_refused_reason",
    "stop_key_refused",
]

_HELD_SLOTS = (StepStatus.SUBMITTING, StepStatus.RUNNING)
#: unexpected errors a run may meet; the next one stops it
UNEXPECTED_ERRORS_LIMIT = 3


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
    try:
        with session_scope(engine) as session:
            run = get_run(session, run_id)
            if RunState(run.state).is_terminal:
                return reason
            held = _stop(session, run, f"{where}: {reason}")
    except RunNotFound:
        return reason
    for member in held:
        budget.release(member)
    log.error("run %s: %s: %s", run_id, where, reason)
    return reason


def count_unexpected_error(
    engine: Engine,
    budget: JobBudget,
    run_id: int,
    where: str,
    exc: BaseException,
    *,
    limit: int = UNEXPECTED_ERRORS_LIMIT,
) -> bool:
    """Count an error no task foresaw on the run; the ``limit``-th stops it. True when it stopped.

    Before the limit, ``handles status`` says what happened and that the run will be tried again.
    """
    error = scrub(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, limit=300)
    with session_scope(engine) as session:
        try:
            run = get_run(session, run_id)
        except RunNotFound:
            return False
        if RunState(run.state).is_terminal:
            return False
        run.unexpected_errors += 1
        count = run.unexpected_errors
        if count < limit:
            run.wait_reason = (
                f"{where} met an unexpected error ({error}); the run is tried again when it is "
                f"resumed ({count} of {limit} before it stops; the worker log has the details)"
            )
            run.updated_at = utcnow()
            session.add(run)
            held: list[str] = []
        else:
            held = _stop(
                session,
                run,
                f"{where}: stopped after {count} unexpected errors (the last: {error}); the worker "
                "log has each one's details; start a new run once the cause is mended",
            )
    for member in held:
        budget.release(member)
    if count >= limit:
        log.error(
            "run %s: %s: stopped after %s unexpected errors (the last: %s)", run_id, where, count, error
        )
    else:
        log.warning("run %s: %s: unexpected error %s of %s: %s", run_id, where, count, limit, error)
    return count >= limit


def _stop(session: Session, run: Run, reason: str) -> list[str]:
    """Fail ``run`` with ``reason``; the budget members its unfinished steps held (to give back)."""
    held = [budget_member(s.id) for s in run_steps(session, run.id) if s.status in _HELD_SLOTS]  # type: ignore[arg-type]
    fail_run(session, run, reason)
    return held
