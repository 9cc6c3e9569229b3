"""kombu's Redis transport, with one fix so a worker outlives Redis going away while it holds messages.

Celery 5.7 / kombu 5.7 (the newest releases) end the worker with "Unrecoverable error:
AttributeError: 'NoneType' object has no attribute 'hostname'" when Redis goes away while the worker
holds unacknowledged messages — which it always does here: countdown retries wait in the worker,
unacknowledged (late acks). On the lost connection the consumer ``collect()``s the connection,
which detaches the transport from the channel (``transport.client = None``) before the channel has
finished closing; closing it again (Celery does, at once), or a task finishing afterwards and
acknowledging its message on that channel, then reads the broker's address from the missing client.

:class:`Channel` turns that into what it is — the connection is gone — by raising Redis's own
``ConnectionError``, which kombu and Celery already treat as a lost connection (ignored while
closing; the message is redelivered after the visibility timeout, or rebuilt from the database when
Redis restarted empty). :func:`install` makes ``redis://`` and ``rediss://`` URLs use it; URLs and
log lines are unchanged.
"""

from __future__ import annotations

from typing import Any

import redis.exceptions
from kombu import transport as kombu_transport
from kombu.transport import redis as kombu_redis

__all__ = ["Channel", "Transport", "install"]


class Channel(kombu_redis.Channel):  # type: ignore[misc]
    def _connparams(self, asynchronous: bool = False) -> Any:
        if getattr(self.connection, "client", None) is None:
            raise redis.exceptions.ConnectionError("the connection to the broker was closed")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):  # type: ignore[misc]
    Channel = Channel


def install() -> None:
    """Use :class:`Transport` for ``redis://`` and ``rediss://`` broker URLs in this process, and
    :class:`workers.embedded_broker.Transport` for the embedded SQLite broker (``sqla+…``)."""
    for scheme in ("redis", "rediss"):
        kombu_transport.TRANSPORT_ALIASES[scheme] = f"{__name__}:Transport"
    for scheme in ("sqla", "sqlalchemy"):
        kombu_transport.TRANSPORT_ALIASES[scheme] = "workers.embedded_broker:Transport"
