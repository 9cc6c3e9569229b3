"""Celery configuration derived from :class:`config.settings.Settings`.

Reliability settings follow ``shared/reference/peers-and-pitfalls.md`` §3: late acks, reject on
worker lost, prefetch 1, JSON only, and every countdown far below the Redis visibility timeout.

Outliving a Redis restart (issue 13 item 10): the worker reconnects for as long as it takes
(``broker_connection_max_retries=None``; Celery's default gives up after 100 tries and exits),
its Redis transport is :mod:`workers.broker`'s (survives losing Redis while holding messages, a
kombu 5.7 ``AttributeError``), publishing waits out a short outage
(``task_publish_retry_policy``), the connection is pinged (``health_check_interval``, effective
with redis-py >= 7 since kombu 5.7), and the beat is :class:`workers.beat.SurvivingRedBeatScheduler`,
which takes its lock again instead of dying. On shutdown the worker finishes running tasks for
``worker_soft_shutdown_timeout`` seconds, then hands back what it holds (late acks: redelivered);
``worker_eta_task_limit`` bounds the countdown retries a worker keeps in memory.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from celery.schedules import crontab

from config.redact import mask_url
from config.settings import Settings

DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
EMBEDDED_BROKER_PATH = Path("var/broker.sqlite")
VISIBILITY_TIMEOUT = 3600
#: beat's ``--schedule`` default (Celery's); the heartbeat file sits next to it (workers.health)
DEFAULT_BEAT_SCHEDULE_FILE = "celerybeat-schedule"
#: the scheduler that outlives a Redis restart (a RedBeat subclass, workers/beat.py)
BEAT_SCHEDULER = "workers.beat:SurvivingRedBeatScheduler"


def reachable(url: str, timeout: float = 0.3) -> bool:
    """Whether something accepts TCP connections at the host and port of ``url``."""
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout):
            return True
    except OSError:
        return False


_DEFAULT_PORTS = {"redis": 6379, "rediss": 6379, "amqp": 5672, "amqps": 5671, "pyamqp": 5672}
_LOCAL_TRANSPORTS = ("sqla", "sqlalchemy", "memory", "filesystem")


def broker_reachable(url: str, timeout: float = 2.0) -> bool:
    """Whether the broker at ``url`` accepts connections (any of ``url1;url2`` failover URLs).

    Brokers that need no server (the embedded SQLite broker, memory, filesystem) are reachable.
    A URL that cannot be read is not.
    """
    for part in url.split(";"):
        part = part.strip()
        scheme = part.partition("://")[0].lower()
        transport = scheme.split("+", 1)[0]
        if transport in _LOCAL_TRANSPORTS:
            return True
        try:
            port = urlparse(part).port or _DEFAULT_PORTS.get(transport, 6379)
        except ValueError:
            continue
        if reachable(f"{scheme}://{urlparse(part).hostname or '127.0.0.1'}:{port}", timeout):
            return True
    return False


def broker_url(settings: Settings) -> str:
    """CELERY_BROKER_URL; else local Redis where reachable; else an embedded SQLite broker."""
    if settings.celery_broker_url:
        return settings.celery_broker_url
    if reachable(DEFAULT_REDIS):
        return DEFAULT_REDIS
    EMBEDDED_BROKER_PATH.parent.mkdir(parents=True, exist_ok=True)
    return f"sqla+sqlite:///{EMBEDDED_BROKER_PATH.resolve()}"


def redis_url(settings: Settings) -> str | None:
    """The Redis that holds the limits shared by all workers, or None when there is no Redis."""
    if settings.redis_url:
        return settings.redis_url
    url = broker_url(settings)
    return url if url.startswith(("redis://", "rediss://")) else None


def _crontab(expr: str) -> crontab:
    minute, hour, day_of_month, month_of_year, day_of_week = expr.split()
    return crontab(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
    )


def celery_config(settings: Settings) -> dict[str, Any]:
    broker = broker_url(settings)
    conf: dict[str, Any] = {
        "broker_url": broker,
        "result_backend": None,
        "task_ignore_result": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_max_tasks_per_child": 500,
        "task_default_queue": "handles",
        "broker_connection_retry_on_startup": True,
        "broker_connection_retry": True,
        "broker_connection_max_retries": None,
        "broker_transport_options": {
            "visibility_timeout": VISIBILITY_TIMEOUT,
            "health_check_interval": 25,
            "socket_keepalive": True,
        },
        # a task that publishes (a countdown retry, the next step) while Redis restarts waits
        # about ten seconds for it instead of failing at once (Celery's default: under a second)
        "task_publish_retry_policy": {
            "max_retries": 5,
            "interval_start": 0,
            "interval_step": 1,
            "interval_max": 4,
        },
        "worker_soft_shutdown_timeout": 30.0,
        "worker_enable_soft_shutdown_on_idle": True,
        "worker_eta_task_limit": 1000,
        "beat_max_loop_interval": 60,
        "worker_hijack_root_logger": False,
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "timezone": "UTC",
        "beat_schedule": beat_schedule(settings),
    }
    if broker.startswith(("redis://", "rediss://")):
        conf.update(redbeat_redis(redis_url(settings) or broker))
        conf["redbeat_key_prefix"] = "handles:redbeat"
        conf["redbeat_lock_timeout"] = 300
        conf["beat_scheduler"] = BEAT_SCHEDULER
    if broker.startswith("sqla+"):
        # kombu's SQLAlchemy transport hands its options to create_engine: give it none
        conf["broker_transport_options"] = {}
    return conf


def redbeat_redis(url: str) -> dict[str, Any]:
    """RedBeat's Redis settings with its password out of the URL.

    Celery censors settings whose names look secret (``celery inspect conf``, Flower's worker
    page), and ``redbeat_redis_url`` is not one of them; ``redbeat_redis_options`` is a mapping
    whose ``password`` key is. So the URL keeps no password and the password travels in the options
    (RedBeat hands them to ``redis.Redis.from_url``).
    """
    parsed = urlparse(url)
    options: dict[str, Any] = {}
    if parsed.password:
        options["password"] = unquote(parsed.password)
        user = f"{parsed.username}@" if parsed.username else ""
        url = mask_url(url).replace("***@", user, 1)
    return {"redbeat_redis_url": url, "redbeat_redis_options": options}


def beat_schedule(settings: Settings) -> dict[str, Any]:
    return {
        "handles.resume_stalled": {
            "task": "handles.resume_stalled",
            "schedule": settings.resume_interval_seconds,
        },
        "handles.verify_known": {
            "task": "handles.verify_known",
            "schedule": _crontab(settings.verify_schedule),
        },
        "handles.dispatch_requests": {
            "task": "handles.dispatch_requests",
            "schedule": 120.0,
        },
    }
