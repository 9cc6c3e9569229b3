"""One logging setup for worker, beat and CLI: one readable line per event, no secrets."""

from __future__ import annotations

import logging
import os
import sys

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


#: console lines the CLI keeps to itself: retries it rides out, and what its own output already says
_CLI_QUIET = ("trying again", "retrying", "retry in", "handle regression:")


class QuietConsole(logging.Filter):
    """For the CLI's console: drops retry lines (the command rides them out or fails in one line)
    and warnings its own output already prints (regressions), unless debugging."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True
        message = record.getMessage().lower()
        return not any(word in message for word in _CLI_QUIET)


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (a test's capture, a redirected stream)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self):  # type: ignore[no-untyped-def]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # type: ignore[no-untyped-def]
        pass


class _OneLine(logging.Formatter):
    """``handles: warning: message`` on one line; no traceback on the console (the CLI says why)."""

    def format(self, record: logging.LogRecord) -> str:
        return f"handles: {record.levelname.lower()}: {' '.join(record.getMessage().split())}"


def configure_cli_logging(level: str | None = None) -> None:
    """The command line's logging: warnings and errors as ``handles: warning: …`` on stderr, no retries.

    With ``LOG_LEVEL=DEBUG`` (or ``level="DEBUG"``) everything is shown, with the logger's name, for
    a support case.
    """
    root = logging.getLogger()
    if getattr(root, "_handles_cli_configured", False):
        return
    handler = _CurrentStderr()
    debugging = (level or os.environ.get("LOG_LEVEL", "")).strip().upper() == "DEBUG"
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s") if debugging else _OneLine()
    )
    handler.addFilter(RedactSecrets())
    if not debugging:
        handler.addFilter(QuietConsole())
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debugging else logging.WARNING)
    for noisy in ("httpx", "httpcore", "urllib3", "alembic", "tenacity"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if debugging else logging.ERROR)
    root._handles_cli_configured = True  # type: ignore[attr-defined]  # our marker on the stdlib root logger
