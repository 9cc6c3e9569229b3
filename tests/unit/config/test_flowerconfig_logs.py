"""Issue 13 item 8: Flower's own log lines (its banner, its settings at DEBUG) mask passwords."""

from __future__ import annotations

import logging
import runpy

from tests.support import ROOT


def test_flower_log_lines_are_redacted(monkeypatch, caplog) -> None:
    import flower.options  # noqa: F401 - defines the options flowerconfig.py reads

    monkeypatch.setenv("FLOWER_BASIC_AUTH", "admin:flowerpw77")
    runpy.run_path(str(ROOT / "flowerconfig.py"))
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("flower.command").info("Broker: %s", "amqp://guest:amqppw55@rabbit:5672//")
        logging.getLogger("flower.command").debug("Settings: %s", {"basic_auth": ["admin:flowerpw77"]})
    text = caplog.text
    assert "Broker: amqp://***@rabbit:5672//" in text
    assert "amqppw55" not in text and "flowerpw77" not in text
