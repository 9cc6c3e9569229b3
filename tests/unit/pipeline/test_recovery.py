"""Recovery: claiming the runs whose heartbeat stopped, once each."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from pipeline.recovery import claim_stalled_runs
from store.models import Run, RunState, utcnow
from tests.unit.pipeline.conftest import World


def _beat(world: World, run_id: int, *, ago: float, state: RunState | None = None) -> None:
    with Session(world.engine) as session:
        run = session.get(Run, run_id)
        assert run is not None
        run.heartbeat_at = utcnow() - timedelta(seconds=ago)
        if state is not None:
            run.state = state
        session.add(run)
        session.commit()


def test_silent_runs_are_claimed_and_live_or_finished_ones_are_not(world: World) -> None:
    stalled, live, done = world.new_run(), world.new_run(), world.new_run()
    _beat(world, stalled, ago=600)
    _beat(world, live, ago=5)
    _beat(world, done, ago=600, state=RunState.SUCCEEDED)
    before, done_beat = world.run(stalled).heartbeat_at, world.run(done).heartbeat_at

    claimed = claim_stalled_runs(engine=world.engine, threshold=timedelta(seconds=300))

    assert [(run_id, state) for run_id, state, _ in claimed.runs] == [(stalled, RunState.RUNNING)]
    assert claimed.runs[0][2] == before
    assert claimed.fresh == 1
    assert world.run(stalled).heartbeat_at > before  # claiming is a beat
    assert world.run(done).heartbeat_at == done_beat


def test_a_claimed_run_is_not_claimed_twice(world: World) -> None:
    stalled = world.new_run()
    _beat(world, stalled, ago=600)

    first = claim_stalled_runs(engine=world.engine, threshold=timedelta(seconds=300))
    second = claim_stalled_runs(engine=world.engine, threshold=timedelta(seconds=300))

    assert [r[0] for r in first.runs] == [stalled]
    assert second.runs == [] and second.fresh == 1


def test_a_run_that_keeps_failing_unexpectedly_stops_at_the_third_error(world: World) -> None:
    from pipeline.budget import LocalJobBudget
    from pipeline.context import budget_member
    from pipeline.holds import UNEXPECTED_ERRORS_LIMIT, count_unexpected_error
    from store.models import StepStatus

    world.use_budget(LocalJobBudget(max_running=1))
    run_id = world.new_run(done=("copy",))
    world.set_step(run_id, "migration", status=StepStatus.RUNNING, instance_id="777")
    member = budget_member(world.step(run_id, "migration").id)
    assert world.budget.try_reserve(member, world.job("migration")).granted
    assert not world.budget.try_reserve("another run's step", "M2").granted
    bug = KeyError("job_instance")

    assert UNEXPECTED_ERRORS_LIMIT == 3
    for count in (1, 2):
        assert count_unexpected_error(world.engine, world.budget, run_id, "the migration step", bug) is False
        run = world.run(run_id)
        assert (run.state, run.unexpected_errors, run.error) == (RunState.RUNNING, count, None)
        assert f"({count} of 3 before it stops" in (run.wait_reason or "")
        assert "the migration step met an unexpected error (KeyError: 'job_instance')" in (
            run.wait_reason or ""
        )
    # still resumable: the stalled-run check claims it as before
    _beat(world, run_id, ago=600)
    assert [r[0] for r in claim_stalled_runs(engine=world.engine, threshold=timedelta(seconds=300)).runs] == [
        run_id
    ]

    assert count_unexpected_error(world.engine, world.budget, run_id, "the migration step", bug) is True
    run = world.run(run_id)
    assert run.state == RunState.FAILED and run.finished_at is not None
    assert run.error == (
        "the migration step: stopped after 3 unexpected errors (the last: KeyError: 'job_instance'); "
        "the worker log has each one's details; start a new run once the cause is mended"
    )
    assert world.step(run_id, "profile").status == StepStatus.SKIPPED
    assert world.budget.try_reserve("another run's step", "M2").granted  # the migration's slot given back
    # a failed run is never resumed, and a later error of a stale link changes nothing
    _beat(world, run_id, ago=600)
    assert claim_stalled_runs(engine=world.engine, threshold=timedelta(seconds=300)).runs == []
    assert count_unexpected_error(world.engine, world.budget, run_id, "the profile step", bug) is False
    assert world.run(run_id).unexpected_errors == 3
