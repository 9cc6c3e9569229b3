"""Celery tasks: thin adapters (ids in, call a service, map errors to retry or fail).

Task names are ``handles.<verb>`` so that moving a module never orphans queued messages.
"""
