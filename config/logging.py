"""One logging setup for worker, beat and CLI: one readable line per event, no secrets."""

from __future__ import annotations

import logging

from config.redact import redact


class RedactSecrets(logging.Filter):
    """Last line of defence: masks anything that looks like a key in a formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


class DropPollRetries(logging.Filter):
    """Drops Celery's INFO line for each countdown retry (one per poll of an Alma job)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno == logging.INFO and "retry: Retry in" in record.getMessage())


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if getattr(root, "_handles_configured", False):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "urllib3", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Celery logs every poll's "retry: Retry in 5s" at INFO; the pipeline logs what matters itself
    # (step submitted with its instance, step finished with its counters), and Flower shows each task
    logging.getLogger("celery.app.trace").addFilter(DropPollRetries())
    root._handles_configured = True  # type: ignore[attr-defined]  # our marker on the stdlib root logger
