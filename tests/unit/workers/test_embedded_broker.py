"""The embedded SQLite broker is looked at five times a second, not once (kombu's default)."""

from __future__ import annotations

from kombu import Connection
from kombu.transport import resolve_transport
from kombu.transport.sqlalchemy import Transport as KombuSqlaTransport

from workers.broker import install


def test_sqla_urls_use_the_faster_transport_and_still_carry_messages(tmp_path) -> None:
    install()
    transport = resolve_transport("sqla")
    assert issubclass(transport, KombuSqlaTransport)
    assert transport.polling_interval == 0.2 < KombuSqlaTransport.polling_interval

    with Connection(f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}") as conn:
        assert conn.transport.polling_interval == 0.2
        queue = conn.SimpleQueue("handles-test")
        queue.put({"run": 7})
        message = queue.get(timeout=5)
        assert message.payload == {"run": 7}
        message.ack()
        queue.close()
