"""The pipeline tasks' mapping of a visit's answer to return / retry / stop, without a broker."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session

from alma.errors import AlmaAuthError, AlmaQuotaLow, AlmaRateLimited, AlmaTimeout
from config.settings import get_settings
from pipeline.budget import LocalJobBudget
from pipeline.context import QUOTA_WAIT, Next
from pipeline.runs import create_run
from store.models import RunState, StepKind, StepStatus
from store.runs import step_of


def test_continue_returns_retry_waits_and_stop_raises() -> None:
    from tasks.pipeline import RunStopped, retry_countdown

    assert retry_countdown(Next.cont(), 3) is None
    assert retry_countdown(Next.retry(42.5, "waiting"), 3) == 42.5
    with pytest.raises(RunStopped, match=r"^run 3: copy waits for nothing$"):
        retry_countdown(Next.stop("copy waits for nothing"), 3)


def test_transient_errors_wait_as_alma_asks() -> None:
    from tasks.pipeline import transient_countdown

    settings = get_settings()
    limited = AlmaRateLimited(429, "PER_SECOND_THRESHOLD", "slow down", retry_after=7)
    assert transient_countdown(limited, settings) == 7.0
    # the day's quota spent (either way Alma says it): the next visit at the next hour, 5–45 min away
    daily = AlmaRateLimited(429, "DAILY_THRESHOLD", "daily limit reached", daily=True)
    for spent in (AlmaQuotaLow(10, 100), daily):
        assert 5 * 60.0 <= transient_countdown(spent, settings) <= 45 * 60.0
    assert transient_countdown(AlmaTimeout("read timed out"), settings) == settings.poll_max_seconds


class Retried(Exception):
    """Stands in for celery.exceptions.Retry: what ``self.retry`` raises."""


@pytest.fixture
def observed(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """run_step with its visit and its self.retry replaced: what it asked for is recorded."""
    import tasks.pipeline as module

    seen: dict[str, Any] = {"answer": Next.cont()}

    def drive(ctx: Any, *, run_id: int, kind: str, woken: bool = False) -> Next:
        seen["visit"] = (run_id, kind)
        seen["woken"] = woken
        answer = seen["answer"]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def retry(countdown: float, exc: Exception | None = None, **_: Any) -> Exception:
        seen["retry"] = countdown
        return Retried()

    monkeypatch.setattr(module.steps, "drive_step", drive)
    monkeypatch.setattr(module.resources, "pipeline_context", lambda: None)
    monkeypatch.setattr(module.run_step, "retry", retry)
    return seen


def test_run_step_returns_when_the_step_is_done(observed: dict[str, Any]) -> None:
    from tasks.pipeline import run_step

    assert run_step.run(5, "copy") is None
    assert observed["visit"] == (5, "copy") and "retry" not in observed


def test_run_step_retries_after_the_countdown_asked_for(observed: dict[str, Any]) -> None:
    from tasks.pipeline import run_step

    observed["answer"] = Next.retry(12.0)
    with pytest.raises(Retried):
        run_step.run(5, "migration")
    assert observed["retry"] == 12.0


def test_run_step_sends_the_profile_set_task_when_the_visit_asks(
    observed: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import tasks.pipeline as module

    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        module.prepare_profile_set, "apply_async", lambda args, countdown: sent.append((args, countdown))
    )
    observed["answer"] = Next.retry(600.0, prepare_after=60.0)
    with pytest.raises(Retried):
        module.run_step.run(5, "migration")
    assert sent == [((5,), 60.0)] and observed["retry"] == 600.0

    observed["answer"] = Next.retry(600.0)
    with pytest.raises(Retried):
        module.run_step.run(5, "migration")
    assert len(sent) == 1


def test_the_profile_set_task_is_only_a_head_start(monkeypatch: pytest.MonkeyPatch) -> None:
    import tasks.pipeline as module

    def refused(ctx: Any, run_id: int) -> str:
        raise AlmaTimeout("read timed out")

    monkeypatch.setattr(module.resources, "pipeline_context", lambda: None)
    monkeypatch.setattr(module.profile_set, "prepare_profile_set_ahead", refused)
    said = module.prepare_profile_set.run(5)
    assert said.startswith("not made ahead (AlmaTimeout") and "step 3 makes it" in said


def test_run_step_retries_on_a_transient_alma_error(observed: dict[str, Any]) -> None:
    from tasks.pipeline import run_step

    observed["answer"] = AlmaTimeout("read timed out")
    with pytest.raises(Retried):
        run_step.run(5, "copy")
    assert observed["retry"] == get_settings().poll_max_seconds


def test_run_step_ends_its_chain_quietly_when_another_chain_drives_the_run(
    observed: dict[str, Any],
) -> None:
    from celery.exceptions import Ignore

    from tasks.pipeline import run_step

    observed["answer"] = Next.yield_to("migration is already running")
    with pytest.raises(Ignore):  # no failure recorded, the chain goes no further
        run_step.run(5, "copy")
    assert observed["woken"] is False and "retry" not in observed


def test_run_step_passes_on_that_the_webhook_woke_it(observed: dict[str, Any]) -> None:
    from tasks.pipeline import run_step

    assert run_step.run(5, "copy", True) is None
    assert observed["woken"] is True


def test_run_step_stops_the_chain_with_the_reason(observed: dict[str, Any]) -> None:
    from tasks.pipeline import RunStopped, run_step

    observed["answer"] = Next.stop("profile step refused")
    with pytest.raises(RunStopped, match="run 5: profile step refused"):
        run_step.run(5, "profile")
    assert "retry" not in observed


def test_the_chain_leaves_out_what_is_done() -> None:
    from tasks.pipeline import build_chain
    from workers import resources

    resources.ensure_schema()
    with Session(resources.engine()) as session:
        fresh = create_run(session=session, set_id="123")
        started = create_run(session=session, set_id="456")
        started.state = RunState.RUNNING
        assert fresh.id is not None and started.id is not None
        step_of(session, started.id, StepKind.COPY).status = StepStatus.SKIPPED
        step_of(session, started.id, StepKind.MIGRATION).status = StepStatus.SUCCEEDED
        session.commit()
        fresh_id, started_id = fresh.id, started.id

    def links(run_id: int) -> list[tuple[str, tuple[Any, ...]]]:
        return [(sig.task, tuple(sig.args)) for sig in build_chain(run_id).tasks]

    assert links(fresh_id) == [
        ("handles.preflight", (fresh_id,)),
        ("handles.run_step", (fresh_id, "copy")),
        ("handles.run_step", (fresh_id, "migration")),
        ("handles.run_step", (fresh_id, "profile")),
        ("handles.finish_run", (fresh_id,)),
    ]
    assert links(started_id) == [
        ("handles.run_step", (started_id, "profile")),
        ("handles.finish_run", (started_id,)),
    ]


def _running_run() -> int:
    """A run whose copy step is running in Alma."""
    from workers import resources

    resources.ensure_schema()
    with Session(resources.engine()) as session:
        run = create_run(session=session, set_id="789")
        run.state = RunState.RUNNING
        assert run.id is not None
        step_of(session, run.id, StepKind.COPY).status = StepStatus.RUNNING
        session.commit()
        return run.id


def _copy_member(run_id: int) -> str:
    from pipeline.context import budget_member
    from workers import resources

    with Session(resources.engine()) as session:
        return budget_member(step_of(session, run_id, StepKind.COPY).id)


def _stored(run_id: int) -> tuple[str, str | None, str | None]:
    from store.models import Run
    from workers import resources

    with Session(resources.engine()) as session:
        run = session.get(Run, run_id)
        assert run is not None
        return run.state, run.wait_reason, run.error


@pytest.mark.parametrize(
    "spent",
    [AlmaRateLimited(429, "DAILY_THRESHOLD", "daily limit reached", daily=True), AlmaQuotaLow(10, 100)],
    ids=["daily-threshold", "remaining-under-floor"],
)
def test_a_spent_daily_quota_holds_the_run_with_one_reason(
    observed: dict[str, Any], spent: Exception
) -> None:
    from tasks.pipeline import run_step

    run_id = _running_run()
    observed["answer"] = spent
    with pytest.raises(Retried):
        run_step.run(run_id, "copy")
    assert 5 * 60.0 <= observed["retry"] <= 45 * 60.0
    assert _stored(run_id) == (RunState.WAITING, QUOTA_WAIT, None)  # held, not failed


@pytest.mark.parametrize("task", ["preflight", "run_step", "finish_run"])
def test_a_refused_key_stops_the_run_with_one_line_and_no_retry(
    observed: dict[str, Any], monkeypatch: pytest.MonkeyPatch, task: str
) -> None:
    import tasks.pipeline as module

    refused = AlmaAuthError(400, "UNAUTHORIZED", "API-key not defined or not configured to allow this API.")

    def refuse(*_: Any, **__: Any) -> None:
        raise refused

    observed["answer"] = refused
    monkeypatch.setattr(module.preflight, "preflight", refuse)
    monkeypatch.setattr(module.finish, "finish_run", refuse)
    budget = LocalJobBudget(max_running=1)
    monkeypatch.setattr(module.resources, "job_budget", lambda: budget)
    for name in ("preflight_task", "finish_run"):
        monkeypatch.setattr(getattr(module, name), "retry", observed_retry(observed))
    run_id = _running_run()
    assert budget.try_reserve(_copy_member(run_id), "M1").granted
    assert not budget.try_reserve("another run's step", "M2").granted

    with pytest.raises(module.RunStopped) as stopped:
        getattr(module, {"preflight": "preflight_task"}.get(task, task)).run(
            *((run_id, "copy") if task == "run_step" else (run_id,))
        )

    line = str(stopped.value)
    assert "\n" not in line and "ALMA_API_KEY" in line and "UNAUTHORIZED" in line
    assert "retry" not in observed
    state, _, error = _stored(run_id)
    assert state == RunState.FAILED and "ALMA_API_KEY" in (error or "")
    assert budget.try_reserve("another run's step", "M2").granted  # the slot it held is given back


def observed_retry(seen: dict[str, Any]):  # type: ignore[no-untyped-def]
    def retry(countdown: float, exc: Exception | None = None, **_: Any) -> Exception:
        seen["retry"] = countdown
        return Retried()

    return retry


def test_an_error_no_task_maps_is_counted_on_the_run_and_the_database_away_is_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import redis.exceptions
    import sqlalchemy.exc
    from kombu.exceptions import OperationalError as BrokerError

    import tasks.pipeline as module
    from store.models import Run
    from workers import resources

    monkeypatch.setattr(module.resources, "job_budget", lambda: LocalJobBudget())
    run_id = _running_run()

    def counted() -> tuple[int, str | None]:
        with Session(resources.engine()) as session:
            run = session.get(Run, run_id)
            assert run is not None
            return run.unexpected_errors, run.wait_reason

    away = [
        module.RunStopped(f"run {run_id}: copy failed"),  # expected: the run already says why
        sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection")),
        redis.exceptions.ConnectionError("Connection refused"),
        BrokerError("the broker is away"),
        ConnectionResetError(104, "Connection reset by peer"),
    ]
    for exc in away:
        module.run_step.on_failure(exc, "task-id", (run_id, "copy"), {}, None)
    assert counted() == (0, None)

    module.run_step.on_failure(KeyError("job_instance"), "task-id", (run_id, "copy"), {}, None)
    errors, reason = counted()
    assert errors == 1 and (reason or "").startswith("the copy step met an unexpected error (KeyError")
    module.finish_run.on_failure(ValueError("bad date"), "task-id", (run_id,), {}, None)
    errors, reason = counted()
    assert errors == 2 and (reason or "").startswith("verify and finish met an unexpected error")
    module.preflight_task.on_failure(TypeError("None"), "task-id", (), {"run_id": run_id}, None)
    assert _stored(run_id)[0] == RunState.FAILED
    assert "preflight: stopped after 3 unexpected errors (the last: TypeError: None)" in (
        _stored(run_id)[2] or ""
    )
