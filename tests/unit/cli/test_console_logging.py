"""Item 8 of issue 15: no library retry lines on the console at the default level."""

from __future__ import annotations

import logging

from config.logging import configure_cli_logging


def test_retry_lines_stay_off_the_console_and_warnings_are_one_line(capsys, monkeypatch) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", logging.WARNING)
    monkeypatch.delattr(root, "_handles_cli_configured", raising=False)
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    for name in ("httpx", "httpcore", "urllib3", "alembic", "tenacity"):
        monkeypatch.setattr(logging.getLogger(name), "level", logging.getLogger(name).level)
    configure_cli_logging()
    try:
        logging.getLogger("alma.client").warning("Alma call failed (HTTP 429); trying again in 1.0 s")
        logging.getLogger("tenacity").warning("Retrying handles.server.call in 2 seconds")
        logging.getLogger("httpx").info("HTTP Request: GET https://x/ 200 OK")
        logging.getLogger("handles.verify").warning("handle regression: 11084/1 was ok, now not_found ()")
        logging.getLogger("alma.ratelimit").warning("Alma's daily API quota is nearly spent:\n 10 calls left")
    finally:
        handlers = list(root.handlers)
        root.__dict__.pop("_handles_cli_configured", None)
    err = capsys.readouterr().err
    assert err == "handles: warning: Alma's daily API quota is nearly spent: 10 calls left\n"
    assert handlers  # the console handler was installed
