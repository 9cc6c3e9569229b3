"""Worker signals and steps: per-process resources, and resuming runs whenever the broker (re)connects."""

from __future__ import annotations

import logging

from celery import bootsteps
from celery.signals import worker_init, worker_process_init, worker_process_shutdown

from workers import resources
from workers.health import warn_unless_noeviction

log = logging.getLogger("handles.worker")


@worker_process_init.connect
def _process_init(**_: object) -> None:
    # connections made before the fork must not be shared with the child
    resources.reset()


@worker_process_shutdown.connect
def _process_shutdown(**_: object) -> None:
    resources.reset()


@worker_init.connect
def _worker_init(sender: object = None, **_: object) -> None:
    """Upgrade the schema once per worker, before its pool forks (then drop the connections used);
    warn once when the broker's Redis may evict keys (see workers.health)."""
    resources.ensure_schema()
    resources.reset()
    broker = str(getattr(getattr(sender, "app", None), "conf", {}).get("broker_url") or "")
    if broker.startswith(("redis://", "rediss://")):
        import redis

        client = redis.Redis.from_url(broker, socket_timeout=3, socket_connect_timeout=2)
        try:
            warn_unless_noeviction(lambda: client, broker, who="worker")
        finally:
            client.close()


class ResumeOnConnect(bootsteps.StartStopStep):
    """Each time the worker's consumer starts — at start-up and after every broker reconnection —
    look for runs that a dead worker or a lost message left behind.

    A Redis that restarts empty loses every queued and scheduled message, including the countdown
    retries that carry a run forward and the beat's own schedule. The database still knows the run,
    so the check is enqueued on the fresh connection (see ``handles.resume_stalled``).
    """

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def start(self, parent: object) -> None:
        try:
            # by name: workers never import tasks (see tasks/maintenance.py)
            parent.app.send_task("handles.resume_stalled", kwargs={"force": True})  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - a broker hiccup here must not stop the worker
            log.exception("could not enqueue the resume check")
