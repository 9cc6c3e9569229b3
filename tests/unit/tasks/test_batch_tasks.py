"""The batch parent's task and chain, without a broker: what it enqueues, when it retries."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session

from pipeline.batches import BatchVisit
from pipeline.context import Next
from pipeline.runs import create_run
from store.models import RunState


class Retried(Exception):
    """Stands in for celery.exceptions.Retry."""


def test_a_batch_parent_s_chain_is_preflight_batches_finish_also_when_resumed() -> None:
    from tasks.pipeline import build_chain
    from workers import resources

    resources.ensure_schema()
    with Session(resources.engine()) as session:
        fresh = create_run(session=session, set_id="7600000000000250", batch_size=100)
        resumed = create_run(session=session, set_id="7600000000000250", batch_size=100)
        resumed.state = RunState.RUNNING
        session.commit()
        fresh_id, resumed_id = fresh.id, resumed.id
    assert fresh_id is not None and resumed_id is not None

    def links(run_id: int) -> list[tuple[str, tuple[Any, ...]]]:
        return [(sig.task, tuple(sig.args)) for sig in build_chain(run_id).tasks]

    assert links(fresh_id) == [
        ("handles.preflight", (fresh_id,)),
        ("handles.run_batches", (fresh_id,)),
        ("handles.finish_run", (fresh_id,)),
    ]
    assert links(resumed_id) == [
        ("handles.run_batches", (resumed_id,)),
        ("handles.finish_run", (resumed_id,)),
    ]


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    import pipeline.batches
    import tasks.pipeline as module

    seen: dict[str, Any] = {"visit": BatchVisit(Next.cont()), "enqueued": []}

    def retry(countdown: float, exc: Exception | None = None, **_: Any) -> Exception:
        seen["retry"] = countdown
        return Retried()

    monkeypatch.setattr(pipeline.batches, "drive_batches", lambda ctx, *, run_id: seen["visit"])
    monkeypatch.setattr(module.resources, "pipeline_context", lambda: None)
    monkeypatch.setattr(module, "enqueue_run", seen["enqueued"].append)
    monkeypatch.setattr(module.run_batches, "retry", retry)
    return seen


def test_run_batches_enqueues_the_batches_it_started_and_visits_again(seen: dict[str, Any]) -> None:
    from tasks.pipeline import run_batches

    seen["visit"] = BatchVisit(Next.retry(7.0, "batches: 0 of 3 done"), [11, 12, 13])
    with pytest.raises(Retried):
        run_batches.run(10)
    assert seen["enqueued"] == [11, 12, 13] and seen["retry"] == 7.0


def test_run_batches_returns_when_every_batch_has_ended(seen: dict[str, Any]) -> None:
    from tasks.pipeline import run_batches

    assert run_batches.run(10) is None
    assert seen["enqueued"] == [] and "retry" not in seen
