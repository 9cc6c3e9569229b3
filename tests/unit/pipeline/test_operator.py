"""Operator mode: step 3 run by hand in Alma's UI, found in the job's instance list, or confirmed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session

from pipeline.context import Next
from pipeline.errors import NotWaiting
from pipeline.operator import confirm_operator
from pipeline.steps import drive_step
from store.models import RunState, StepKind, StepStatus
from tests.unit.alma.fakes import alma_error
from tests.unit.pipeline.conftest import World, instance, instances

PROFILE = StepKind.PROFILE.value
MIGRATION = StepKind.MIGRATION.value


@pytest.fixture
def paused(world: World) -> int:
    """An operator-mode run paused before step 3."""
    run_id = world.new_run(done=("copy", "migration"), profile_mode="operator")
    migration = world.step(run_id, MIGRATION)
    world.fake.on(
        "GET",
        f"/conf/jobs/{world.job(MIGRATION)}/instances/{migration.instance_id}/events",
        alma_error(400, "60332", "events are only for USERS/SIS jobs"),
    )
    older = instance("8880", name="last week's run", submitted=world.clock[0] - timedelta(days=1))
    world.fake.on("GET", f"/conf/jobs/{world.job(PROFILE)}/instances", instances(older))
    nxt = drive_step(world.ctx, run_id=run_id, kind=PROFILE)
    assert nxt == Next.retry(world.settings.poll_max_seconds, "waiting for the operator")
    return run_id


def test_the_run_pauses_with_instructions_and_posts_nothing(world: World, paused: int) -> None:
    run = world.run(paused)
    assert run.state == RunState.WAITING_OPERATOR and run.operator_paused_at == world.clock[0]
    reason = run.wait_reason or ""
    assert "'Create and Update'" in reason and f"(set {run.set_id})" in reason
    assert f"`handles confirm {paused}`" in reason
    step = world.step(paused, PROFILE)
    assert (step.status, step.alma_job_id) == (StepStatus.PENDING, world.job(PROFILE))
    assert world.posts(PROFILE) == 0
    # visited again: still waiting, the pause time kept, the old instance still not taken
    world.advance(60)
    assert drive_step(world.ctx, run_id=paused, kind=PROFILE).reason == "waiting for the operator"
    assert world.run(paused).operator_paused_at == world.clock[0] - timedelta(seconds=60)
    assert world.step(paused, PROFILE).instance_id is None


def test_a_new_instance_after_the_pause_is_adopted(world: World, paused: int) -> None:
    world.advance(120)
    ours = instance("8881", name="Persistent handles", submitted=world.clock[0])
    ours["submitted_by"] = {"value": "jdoe"}
    world.fake.on("GET", f"/conf/jobs/{world.job(PROFILE)}/instances", instances(ours))

    nxt = drive_step(world.ctx, run_id=paused, kind=PROFILE)

    assert nxt == Next.retry(world.settings.poll_min_seconds)
    step = world.step(paused, PROFILE)
    assert (step.status, step.instance_id) == (StepStatus.RUNNING, "8881")
    [sub] = world.submissions(paused)
    assert (sub.result, sub.instance_id) == ("adopted", "8881") and "jdoe" in (sub.detail or "")
    assert world.run(paused).state == RunState.RUNNING
    # from now on it is followed like any other instance
    world.fake.on(
        "GET",
        f"/conf/jobs/{world.job(PROFILE)}/instances/8881",
        instance("8881", status="COMPLETED_SUCCESS", ended=world.clock[0]),
    )
    assert drive_step(world.ctx, run_id=paused, kind=PROFILE) == Next.cont()
    assert world.posts(PROFILE) == 0


def test_confirm_lets_the_run_go_on_without_an_instance(world: World, paused: int) -> None:
    with Session(world.engine) as session:
        assert confirm_operator(session, paused) == "the profile was run in Alma's UI"
        session.commit()

    assert drive_step(world.ctx, run_id=paused, kind=PROFILE) == Next.cont()

    step = world.step(paused, PROFILE)
    assert step.status == StepStatus.SUCCEEDED and "confirmed by the operator" in (step.error or "")
    assert world.run(paused).state == RunState.RUNNING
    assert world.posts(PROFILE) == 0


def test_confirm_refuses_a_run_that_is_not_waiting(world: World) -> None:
    run_id = world.new_run()
    with Session(world.engine) as session, pytest.raises(NotWaiting, match="not waiting for the operator"):
        confirm_operator(session, run_id)
    assert world.run(run_id).operator_confirmed_at is None


def test_an_instance_submitted_by_an_application_or_followed_by_another_run_is_not_adopted(
    world: World, paused: int
) -> None:
    # given another run already follows instance 8882, and 8883 was submitted through the API
    other = world.new_run(done=("copy", "migration"))
    with Session(world.engine) as session:
        step = world.step(other, PROFILE)
        step.alma_job_id, step.instance_id, step.status = world.job(PROFILE), "8882", StepStatus.RUNNING
        session.add(step)
        session.commit()
    world.advance(120)
    theirs = instance("8882", name="handles run 2 profile", submitted=world.clock[0])
    by_api = instance("8883", name="some other application", submitted=world.clock[0])
    by_api["submitted_by"] = {"value": "exl_api", "desc": "Ex Libris, API"}
    world.fake.on("GET", f"/conf/jobs/{world.job(PROFILE)}/instances", instances(theirs, by_api))

    nxt = drive_step(world.ctx, run_id=paused, kind=PROFILE)

    # then the run keeps waiting: neither is the operator's run of its profile
    assert nxt.reason == "waiting for the operator"
    assert world.step(paused, PROFILE).instance_id is None


def test_with_two_runs_waiting_neither_guesses_the_operators_instance(world: World, paused: int) -> None:
    # given a second operator-mode run paused before step 3 too
    second = world.new_run(done=("copy", "migration"), profile_mode="operator")
    migration = world.step(second, MIGRATION)
    world.fake.on(
        "GET",
        f"/conf/jobs/{world.job(MIGRATION)}/instances/{migration.instance_id}/events",
        alma_error(400, "60332", "events are only for USERS/SIS jobs"),
    )
    drive_step(world.ctx, run_id=second, kind=PROFILE)
    world.advance(120)
    ui_run = instance("8884", name="Persistent handles", submitted=world.clock[0])
    ui_run["submitted_by"] = {"value": "jdoe"}
    world.fake.on("GET", f"/conf/jobs/{world.job(PROFILE)}/instances", instances(ui_run))

    # when both are visited, then neither adopts it, and each says how to go on
    for run_id in (paused, second):
        drive_step(world.ctx, run_id=run_id, kind=PROFILE)
        assert world.step(run_id, PROFILE).instance_id is None
        assert f"`handles confirm {run_id}`" in (world.run(run_id).wait_reason or "")
        assert "Other runs also wait" in (world.run(run_id).wait_reason or "")
    # and the operator's confirmation of one lets that one go on
    with Session(world.engine) as session:
        confirm_operator(session, second)
        session.commit()
    assert drive_step(world.ctx, run_id=second, kind=PROFILE) == Next.cont()
