"""Hand an ended step to the workers, by task name, so that importing this imports no task.

The ended step's own ``handles.run_step`` comes first: it sees the step ended, frees its job
budget slot and continues the chain (the later steps, then ``handles.finish_run``) at once. Each
of those tasks decides by the database (exactly-once submission), so this message arriving beside
the run's own chain, or twice, never submits anything twice.
"""

from __future__ import annotations

from typing import Any

from store.runs import ALMA_STEPS

__all__ = ["celery_sender", "chain_from"]


def chain_from(kind: str) -> list[tuple[str, tuple[Any, ...]]]:
    """(task name, args without run_id) from step ``kind`` to the end of the run. The ended step's
    visit says it was woken by the event (``woken=True``): this chain now owns the run, and the
    run's older chain stops quietly where it meets a step this one has taken on
    (:func:`pipeline.steps.drive_step`)."""
    kinds = [str(k) for k in ALMA_STEPS]
    later = kinds[kinds.index(kind) :] if kind in kinds else []
    links: list[tuple[str, tuple[Any, ...]]] = [
        ("handles.run_step", (k, True) if k == kind else (k,)) for k in later
    ]
    return links + [("handles.finish_run", ())]


def celery_sender():  # type: ignore[no-untyped-def]
    """``send(run_id, kind)`` through the Celery app (``workers.app``), by task name."""
    from celery import chain

    from workers.app import app

    def send(run_id: int, kind: str) -> None:
        links = [app.signature(name, args=(run_id, *args), immutable=True) for name, args in chain_from(kind)]
        chain(*links).apply_async()

    return send
