"""Before step 3: the order guard and the Events Report hold."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from pipeline.context import Next
from pipeline.operator import confirm_operator
from pipeline.steps import drive_step
from store.models import EventLine, RunState, StepKind, StepStatus
from tests.unit.alma.fakes import alma_error
from tests.unit.pipeline.conftest import World, posted

PROFILE = StepKind.PROFILE.value
MIGRATION = StepKind.MIGRATION.value


def _ready_for_profile(world: World, **kwargs) -> int:
    run_id = world.new_run(done=("copy", "migration"), **kwargs)
    migration = world.step(run_id, MIGRATION)
    # Alma does not serve the migration's events by API (60332)
    world.fake.on(
        "GET",
        f"/conf/jobs/{world.job(MIGRATION)}/instances/{migration.instance_id}/events",
        alma_error(400, "60332", "events are only for USERS/SIS jobs"),
    )
    world.fake.on("POST", f"/conf/jobs/{world.job(PROFILE)}", posted("6661"))
    return run_id


def test_the_profile_runs_after_its_own_migration(world: World) -> None:
    run_id = _ready_for_profile(world)

    assert drive_step(world.ctx, run_id=run_id, kind=PROFILE) == Next.retry(world.settings.poll_min_seconds)

    step = world.step(run_id, PROFILE)
    assert (step.status, step.instance_id) == (StepStatus.RUNNING, "6661")
    assert world.posts(PROFILE) == 1
    assert "60332" in (world.step(run_id, MIGRATION).error or "")  # the note tells how to import them


def test_the_profile_is_refused_after_a_later_copy_on_the_same_set(world: World) -> None:
    run_id = _ready_for_profile(world)
    other = world.new_run()
    world.set_step(other, "copy", status=StepStatus.SUCCEEDED, ended_at=world.clock[0] + timedelta(minutes=5))

    nxt = drive_step(world.ctx, run_id=run_id, kind=PROFILE)

    assert nxt.action == "stop" and "the migration must run again first" in (nxt.reason or "")
    step = world.step(run_id, PROFILE)
    assert step.status == StepStatus.REFUSED and (step.error or "").startswith("refused: a copy job on set")
    run = world.run(run_id)
    assert run.state == RunState.FAILED and "profile step refused" in (run.error or "")
    [sub] = world.submissions(run_id)
    assert sub.result == "refused" and sub.job_name == ""
    assert world.posts(PROFILE) == 0
    # refused stays refused
    assert drive_step(world.ctx, run_id=run_id, kind=PROFILE).action == "stop"
    assert world.posts(PROFILE) == 0


def test_the_profile_is_refused_while_a_copy_runs_on_the_same_set(world: World) -> None:
    run_id = _ready_for_profile(world)
    other = world.new_run()
    world.set_step(other, "copy", status=StepStatus.RUNNING)

    nxt = drive_step(world.ctx, run_id=run_id, kind=PROFILE)

    assert nxt.action == "stop" and "a copy job is running on set" in (nxt.reason or "")
    assert f"(run {other})" in (nxt.reason or "")
    assert world.step(run_id, PROFILE).status == StepStatus.REFUSED
    assert world.posts(PROFILE) == 0


def test_a_copy_on_another_set_does_not_block_the_profile(world: World) -> None:
    run_id = _ready_for_profile(world)
    other = world.new_run(set_id="1111")
    world.set_step(other, "copy", status=StepStatus.RUNNING)

    assert drive_step(world.ctx, run_id=run_id, kind=PROFILE).action == "retry"
    assert world.step(run_id, PROFILE).status == StepStatus.RUNNING


def _with_exceptions(world: World) -> int:
    run_id = _ready_for_profile(world)
    world.set_step(run_id, MIGRATION, counters={"Records with exceptions": "2", "Records processed": "9"})
    return run_id


def test_exceptions_without_events_hold_the_profile_until_the_report_is_imported(world: World) -> None:
    run_id = _with_exceptions(world)

    nxt = drive_step(world.ctx, run_id=run_id, kind=PROFILE)

    assert nxt == Next.retry(world.settings.poll_max_seconds, "waiting for the Events Report")
    run = world.run(run_id)
    assert run.state == RunState.WAITING_OPERATOR
    assert (run.wait_reason or "").startswith("waiting for the Events Report")
    assert f"handles events import {run_id} FILE" in (run.wait_reason or "")
    assert world.step(run_id, PROFILE).status == StepStatus.PENDING
    assert world.posts(PROFILE) == 0

    with Session(world.engine) as session:  # the operator imports the Events Report
        session.add(
            EventLine(
                run_id=run_id, kind="already_has", text="line", source="csv", fingerprint="f1", mms_id="99"
            )
        )
        session.commit()
    assert drive_step(world.ctx, run_id=run_id, kind=PROFILE).action == "retry"
    assert world.step(run_id, PROFILE).status == StepStatus.RUNNING
    assert world.posts(PROFILE) == 1


def test_confirm_waives_the_events_report(world: World) -> None:
    run_id = _with_exceptions(world)
    drive_step(world.ctx, run_id=run_id, kind=PROFILE)

    with Session(world.engine) as session:
        assert confirm_operator(session, run_id) == "going on without the Events Report"
        session.commit()
    run = world.run(run_id)
    assert run.events_waived_at is not None and run.operator_confirmed_at is None

    drive_step(world.ctx, run_id=run_id, kind=PROFILE)
    assert world.step(run_id, PROFILE).status == StepStatus.RUNNING
    assert world.posts(PROFILE) == 1
