"""Flower (issue 15, item 9): tasks readable as `run 8 migration on set …`, and why a task waits."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session

from pipeline.context import Next
from pipeline.runs import create_run


def test_the_chain_names_each_task_for_flower() -> None:
    from tasks.pipeline import build_chain
    from workers import resources

    resources.ensure_schema()
    with Session(resources.engine()) as session:
        run = create_run(session=session, set_id="7593466560004641")
        session.commit()
        run_id = run.id
    shown = [(sig.options["shadow"], sig.options["argsrepr"]) for sig in build_chain(run_id).tasks]
    assert shown == [
        (f"run {run_id} preflight on set 7593466560004641", f"(run {run_id})"),
        (f"run {run_id} copy on set 7593466560004641", f"(run {run_id})"),
        (f"run {run_id} migration on set 7593466560004641", f"(run {run_id})"),
        (f"run {run_id} profile on set 7593466560004641", f"(run {run_id})"),
        (f"run {run_id} verify and finish on set 7593466560004641", f"(run {run_id})"),
    ]


def test_a_waiting_step_says_why_in_its_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    import tasks.pipeline as module

    seen: dict[str, Any] = {}

    def retry(countdown: float, exc: Exception | None = None, **_: Any) -> Exception:
        seen["exc"] = exc
        return RuntimeError("retried")

    monkeypatch.setattr(module.steps, "drive_step", lambda ctx, **kw: Next.retry(30, "Alma job at 40%"))
    monkeypatch.setattr(module.resources, "pipeline_context", lambda: None)
    monkeypatch.setattr(module.run_step, "retry", retry)
    with pytest.raises(RuntimeError):
        module.run_step.run(8, "migration")
    assert isinstance(seen["exc"], module.Waiting)
    assert str(seen["exc"]) == "run 8 migration: Alma job at 40%; next look in 30 s"
