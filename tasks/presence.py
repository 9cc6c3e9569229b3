"""Is a worker there? The CLI asks after enqueueing, so that a run nobody will take says so at once."""

from __future__ import annotations

import logging

from workers.app import app

__all__ = ["workers_answering"]

log = logging.getLogger("handles.tasks")

# brokers that can broadcast a ping to every worker (the embedded SQLite broker cannot)
_BROADCASTING = ("redis", "rediss", "amqp", "amqps", "pyamqp", "sentinel")


def workers_answering(timeout: float = 2.0) -> int | None:
    """How many workers answer a ping within ``timeout`` seconds; None when the broker cannot tell."""
    url = str(app.conf.broker_url or "")
    if url.partition("://")[0].split("+", 1)[0].lower() not in _BROADCASTING:
        return None
    try:
        replies = app.control.ping(timeout=timeout, limit=1)
    except Exception as exc:  # noqa: BLE001 - the broker went away: the enqueue said so already
        log.debug("worker ping failed: %s", exc)
        return None
    return len(replies or [])
