"""Housekeeping on the beat schedule: resume runs that a dead worker or a lost message left behind."""

from __future__ import annotations

import logging
from datetime import timedelta

from pipeline.recovery import claim_stalled_runs
from tasks.pipeline import enqueue_run
from workers import resources
from workers.app import app

log = logging.getLogger("handles.tasks")


@app.task(name="handles.resume_stalled", acks_late=True)
def resume_stalled(force: bool = False, rechecks: int = 3) -> int:
    """Re-enqueue every unfinished run whose heartbeat is older than STALL_SECONDS.

    ``force`` (a worker's consumer starting or reconnecting) uses a shorter threshold and looks again
    a few times, so recovery does not wait for the beat. See :mod:`pipeline.recovery`.
    """
    settings = resources.settings()
    quick = 2 * settings.poll_max_seconds + 5
    threshold = timedelta(seconds=min(quick, settings.stall_seconds) if force else settings.stall_seconds)
    claimed = claim_stalled_runs(engine=resources.engine(), threshold=threshold)
    for run_id, state, heartbeat in claimed.runs:
        log.warning(
            "run %s: no progress since %s UTC (%s); resuming it from the database",
            run_id,
            heartbeat.strftime("%H:%M:%S"),
            state,
        )
        enqueue_run(run_id)
    if force and claimed.fresh and rechecks > 0:
        resume_stalled.apply_async(
            kwargs={"force": True, "rechecks": rechecks - 1}, countdown=threshold.total_seconds()
        )
    return len(claimed.runs)
