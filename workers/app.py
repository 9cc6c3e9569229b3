"""The Celery app: ``celery -A workers.app worker|beat|flower``."""

from __future__ import annotations

from celery import Celery

from config.celery import celery_config
from config.logging import configure_logging
from config.settings import get_settings

settings = get_settings()
configure_logging(settings.log_level)

app = Celery("handles", include=["tasks.pipeline", "tasks.verify", "tasks.requests", "tasks.maintenance"])
app.conf.update(celery_config(settings))

from workers.signals import ResumeOnConnect  # noqa: E402  (per-process resources, resume on connect)

app.steps["consumer"].add(ResumeOnConnect)

__all__ = ["app"]
