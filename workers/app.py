"""The Celery app: ``celery -A workers.app worker|beat|flower``.

Importing this module is cheap: nothing reads the settings, configures logging or probes Redis
until a worker, beat or the CLI first reads ``app.conf`` (:class:`_LazyConfig`). Workers find the
tasks by module name (``include``) and never import them here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cached_property
from typing import Any

from celery import Celery

from config.celery import celery_config
from config.logging import configure_logging
from config.settings import load_or_exit
from workers.broker import install as install_broker_transport
from workers.signals import ResumeOnConnect

TASK_MODULES = ["tasks.pipeline", "tasks.verify", "tasks.requests", "tasks.maintenance"]


class _LazyConfig(Mapping[str, Any]):
    """Celery's configuration, built from the settings the first time Celery reads it."""

    @cached_property
    def _conf(self) -> dict[str, Any]:
        settings = load_or_exit("celery")  # a bad setting: one line naming it, exit 2
        configure_logging(settings.log_level)
        return celery_config(settings)

    def __getitem__(self, key: str) -> Any:
        return self._conf[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._conf)

    def __len__(self) -> int:
        return len(self._conf)


install_broker_transport()  # redis:// through workers.broker (survives Redis going away)
app = Celery("handles", include=TASK_MODULES)
app.config_from_object(_LazyConfig())
app.steps["consumer"].add(ResumeOnConnect)

__all__ = ["app"]
