"""Worker signals: per-process resources and the start-up resume of unfinished runs."""

from __future__ import annotations

import logging

from celery.signals import worker_process_init, worker_process_shutdown, worker_ready

from workers import resources

log = logging.getLogger("handles.worker")


@worker_process_init.connect
def _process_init(**_: object) -> None:
    # connections made before the fork must not be shared with the child
    resources.reset()


@worker_process_shutdown.connect
def _process_shutdown(**_: object) -> None:
    resources.reset()


@worker_ready.connect
def _ready(sender: object = None, **_: object) -> None:
    """A new worker looks for runs that a dead worker or a lost message left behind."""
    resources.ensure_schema()
    try:
        from tasks.maintenance import resume_stalled

        resume_stalled.apply_async(kwargs={"force": True})
    except Exception:  # noqa: BLE001 - a broker hiccup here must not stop the worker
        log.exception("could not enqueue the start-up resume")
