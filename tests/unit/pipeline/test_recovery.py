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
