"""Per-process resources: built once per worker process (after the fork), closed at shutdown.

Tasks and the CLI get their engine, sessions, HTTP clients and Redis from here; domain code
receives them as arguments and never imports this module.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from config.celery import redis_url
from config.settings import Settings, get_settings
from store.db import make_engine, upgrade_schema
from store.db import session_scope as _session_scope

if TYPE_CHECKING:
    import redis

    from alma.client import AlmaClient

_lock = threading.Lock()
_cache: dict[str, Any] = {}


def settings() -> Settings:
    return get_settings()


def engine() -> Engine:
    with _lock:
        if "engine" not in _cache:
            _cache["engine"] = make_engine(settings().database_url)
        return _cache["engine"]


def ensure_schema() -> None:
    """Upgrade the schema once per process (Alembic; a no-op when it is current)."""
    with _lock:
        if _cache.get("schema_ready"):
            return
    upgrade_schema(engine())
    _cache["schema_ready"] = True


@contextmanager
def session_scope() -> Iterator[Session]:
    with _session_scope(engine()) as session:
        yield session


def redis_client() -> redis.Redis | None:
    """The Redis shared by all workers, or None when running on the embedded broker."""
    with _lock:
        if "redis" not in _cache:
            url = redis_url(settings())
            if url is None:
                _cache["redis"] = None
            else:
                import redis as redis_lib

                _cache["redis"] = redis_lib.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
        return _cache["redis"]


def alma_client() -> AlmaClient:
    from alma.client import AlmaClient

    if _cache.get("alma") is None:
        _cache["alma"] = AlmaClient.from_settings(settings(), redis=redis_client())
    return _cache["alma"]


def resolver():  # type: ignore[no-untyped-def]
    """This process's Handle resolver client: one keep-alive pool shared by its verification tasks."""
    from handles.resolver import BlockingResolver
    from handles.verify import make_client

    if _cache.get("resolver") is None:
        s = settings()
        _cache["resolver"] = BlockingResolver(lambda: make_client(s))
    return _cache["resolver"]


def reset() -> None:
    """Drop everything built so far (after a fork, at shutdown, and in tests)."""
    with _lock:
        items = dict(_cache)
        _cache.clear()
    for name, value in items.items():
        if value is None or name == "schema_ready":
            continue
        close = getattr(value, "close", None) or getattr(value, "dispose", None)
        if callable(close):
            try:
                close()
            except Exception:  # noqa: BLE001 - closing must never stop a shutdown
                pass


def job_budget():  # type: ignore[no-untyped-def]
    """Alma's job budget: in Redis for all workers, or local to this process without Redis."""
    from pipeline.budget import LocalJobBudget, RedisJobBudget

    if "budget" not in _cache:
        s, client = settings(), redis_client()
        limits = {"max_running": s.alma_max_api_jobs_running, "max_per_hour": s.alma_max_runs_per_job_hour}
        _cache["budget"] = (
            RedisJobBudget(client, **limits) if client is not None else LocalJobBudget(**limits)
        )
    return _cache["budget"]


def pipeline_context():  # type: ignore[no-untyped-def]
    from pipeline.steps import PipelineContext

    return PipelineContext(engine=engine(), alma=alma_client(), settings=settings(), budget=job_budget())
