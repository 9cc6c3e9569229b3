"""Celery wiring: the app, per-process resources, signals. Domain packages never import this."""
