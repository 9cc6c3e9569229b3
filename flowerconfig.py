"""Flower's configuration, read by ``celery -A workers.app flower`` from the working directory.

Flower runs this file (tornado ``parse_config_file``) after applying its ``FLOWER_*`` environment
variables and command-line options, and takes every module-level name that is one of its options.

Flower can revoke tasks and shut workers down, so it never starts open:

* ``FLOWER_BASIC_AUTH`` (``user:password``, several separated by commas; read through
  ``config.settings``, never logged) sets ``basic_auth``. OAuth given on the command line
  (``--auth=…``) or ``--basic_auth=…`` is also accepted. Without any of them this file prints one
  line and Flower exits with status 2.
* ``FLOWER_UNAUTHENTICATED_API`` is left alone: with authentication on, Flower's API requires it.
* ``max_tasks`` is 10,000 (Flower 2's default of 100,000 costs RAM, mher/flower #1305); Flower is
  an ephemeral view, the audit trail is the database.
* ``address`` is 127.0.0.1 unless given (``--address=0.0.0.0`` in docker-compose, where the port
  is published on the host's loopback only).
* Flower's own log lines (its banner, and its settings at DEBUG) go through
  ``config.logging.RedactSecrets``: URL passwords, keys and the configured secrets are masked. The
  workers' configuration that Flower shows comes from ``celery inspect conf``, censored by Celery
  (``config.celery.redbeat_redis`` keeps RedBeat's password where Celery censors it).
"""

from __future__ import annotations

import sys as _sys

from tornado.options import options as _options

_FLOWER_DEFAULT_MAX_TASKS = 100_000
_REFUSAL = (
    "flower: refusing to start without authentication: set FLOWER_BASIC_AUTH=user:password "
    "(or pass --auth=… for OAuth)"
)


def _refuse(message: str) -> None:
    print(message, file=_sys.stderr, flush=True)
    raise SystemExit(2)


def _basic_auth() -> list[str] | None:
    """The ``user:password`` pairs from FLOWER_BASIC_AUTH, checked; None when unset."""
    from config.settings import SettingsError, get_settings

    try:
        secret = get_settings().flower_basic_auth
    except SettingsError as exc:
        _refuse(f"flower: {exc}")
        return None
    if secret is None or not secret.get_secret_value().strip():
        return None
    pairs = [item.strip() for item in secret.get_secret_value().split(",") if item.strip()]
    for number, pair in enumerate(pairs, 1):
        user, sep, password = pair.partition(":")
        if not sep or not user.strip() or not password:
            _refuse(f"flower: FLOWER_BASIC_AUTH entry {number} is not user:password")
    return pairs


_pairs = _basic_auth()
if _pairs:
    basic_auth = _pairs
elif not (_options.basic_auth or _options.auth):
    _refuse(_REFUSAL)

if _options.max_tasks == _FLOWER_DEFAULT_MAX_TASKS:
    max_tasks = 10_000

if not _options.address:
    address = "127.0.0.1"


def _redact_flower_logs() -> None:
    import logging

    from config.logging import RedactSecrets

    for name in (
        "flower",
        "flower.command",
        "flower.app",
        "flower.events",
        "flower.inspector",
        "flower.api.control",
        "flower.views",
        "flower.views.workers",
        "flower.utils.broker",
    ):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())


_redact_flower_logs()
