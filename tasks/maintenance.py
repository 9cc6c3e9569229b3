"""Housekeeping on the beat schedule: resume runs that a dead worker or a lost message left behind."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import select

from store.models import Run, RunState, utcnow
from workers import resources
from workers.app import app

log = logging.getLogger("handles.tasks")

ACTIVE = [s.value for s in RunState if not s.is_terminal]


@app.task(name="handles.resume_stalled", acks_late=True)
def resume_stalled(force: bool = False, rechecks: int = 3) -> int:
    """Re-enqueue every unfinished run whose heartbeat is older than STALL_SECONDS.

    A live run beats at every poll (at most POLL_MAX_SECONDS apart), so a silent run has lost its
    messages (a killed worker, a restarted broker). ``force`` (a worker starting up) uses a shorter
    threshold and looks again a few times, so recovery does not wait for the beat. Claiming a run is a
    conditional UPDATE of its heartbeat: two resumers never both re-enqueue it.
    """
    from tasks.pipeline import enqueue_run

    settings = resources.settings()
    quick = 2 * settings.poll_max_seconds + 5
    threshold = timedelta(seconds=min(quick, settings.stall_seconds) if force else settings.stall_seconds)
    now = utcnow()
    resumed = 0
    fresh = 0
    with resources.session_scope() as session:
        runs = list(session.exec(select(Run).where(Run.state.in_(ACTIVE))))  # type: ignore[attr-defined]
    for run in runs:
        if now - run.heartbeat_at < threshold:
            fresh += 1
            continue
        with resources.session_scope() as session:
            claimed = session.execute(update(Run).where(Run.id == run.id, Run.heartbeat_at == run.heartbeat_at)
                                      .values(heartbeat_at=now)).rowcount
        if claimed:
            log.warning("run %s: no progress since %s UTC (%s); resuming it from the database",
                        run.id, run.heartbeat_at.strftime("%H:%M:%S"), run.state)
            enqueue_run(run.id)  # type: ignore[arg-type]
            resumed += 1
    if force and fresh and rechecks > 0:
        resume_stalled.apply_async(kwargs={"force": True, "rechecks": rechecks - 1}, countdown=threshold.total_seconds())
    return resumed
