"""The embedded SQLite broker (``sqla+sqlite://``), looked at five times a second.

kombu's SQLAlchemy transport sleeps a whole second between empty looks at its queue table, so on a
machine without Redis every hop of a run's chain (a step's next look, the next step) waited up to a
second more. Its ``polling_interval`` cannot travel in ``broker_transport_options``: that transport
hands those options to ``create_engine``. A query on a local SQLite file is cheap, so this subclass
looks every 0.2 s. :func:`workers.broker.install` makes ``sqla+`` URLs use it; nothing imports this
module unless the embedded broker is in use.
"""

from __future__ import annotations

from kombu.transport import sqlalchemy as kombu_sqla

__all__ = ["POLLING_INTERVAL", "Transport"]

POLLING_INTERVAL = 0.2


class Transport(kombu_sqla.Transport):  # type: ignore[misc]
    polling_interval = POLLING_INTERVAL
