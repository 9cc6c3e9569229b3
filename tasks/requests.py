"""Handle server request tasks: ``handles.run_request`` and ``handles.dispatch_requests``.

Thin adapters over :mod:`handles.requests`. Arguments are request ids only (never URLs of the
server, identities or secrets). ``run_request`` retries later when the service says the request is
deferred (a transient server failure, or an earlier request for the same handle still pending);
everything else is final and already recorded on the request row. Beat sends
``handles.dispatch_requests`` every two minutes: it re-queues requests that a lost worker left
``running`` for longer than ``STALL_SECONDS`` and enqueues every queued request (duplicates are
harmless: a request is claimed by compare-and-set).
"""

from __future__ import annotations

import logging

from handles import requests as service
from handles.server import HandleServerClient
from workers import resources
from workers.app import app

log = logging.getLogger("handles.tasks")

MAX_TASK_RETRIES = 20  # the service itself gives up after MAX_ATTEMPTS server attempts


@app.task(name="handles.run_request", bind=True, acks_late=True, max_retries=MAX_TASK_RETRIES)
def run_request(self, request_id: int) -> str:  # type: ignore[no-untyped-def]
    """Run one handle request; returns its status."""
    settings = resources.settings()
    with HandleServerClient.from_settings(settings) as client:
        try:
            row = service.run_request(
                engine=resources.engine(), request_id=int(request_id), client=client, settings=settings
            )
        except service.UnknownRequest:
            log.warning("handle request %s does not exist; dropped", request_id)
            return "unknown"
        except service.RequestDeferred as exc:
            if self.request.retries >= MAX_TASK_RETRIES:
                log.warning("handle request %s still deferred; the dispatcher will pick it up", request_id)
                return "queued"
            raise self.retry(countdown=exc.countdown) from None
    log.info("handle request %s: %s %s → %s", row.id, row.op, row.handle, row.status)
    return str(row.status)


@app.task(name="handles.dispatch_requests", acks_late=True)
def dispatch_requests() -> int:
    """Re-queue stalled requests and enqueue every queued one; returns how many were enqueued."""
    ids = service.dispatch_requests(engine=resources.engine(), stale_after=resources.settings().stall_seconds)
    for request_id in ids:
        run_request.delay(request_id)
    return len(ids)


def enqueue(request_id: int) -> None:
    """Send ``handles.run_request`` for ``request_id`` (used by the CLI after the row is committed)."""
    run_request.delay(request_id)
