"""Every transition of a step: pending → submitting → running → succeeded / failed, and the ways back."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlmodel import Session

from pipeline.budget import LocalJobBudget
from pipeline.context import Next, job_name_for, poll_countdown
from pipeline.runs import fail_run
from pipeline.steps import drive_step
from pipeline.submit import submit_step
from store.models import RunState, StepKind, StepStatus, Submission
from store.runs import ALMA_STEPS, get_run, step_of
from tests.unit.alma.fakes import alma_error, body
from tests.unit.pipeline.conftest import World, instance, posted

COPY = StepKind.COPY.value


def _instance_path(world: World, kind: str, instance_id: str) -> str:
    return f"/conf/jobs/{world.job(kind)}/instances/{instance_id}"


def test_pending_step_is_submitted_once_with_its_unique_name(world: World) -> None:
    run_id = world.new_run()
    seen: dict[str, object] = {}

    def accept(request: httpx.Request) -> httpx.Response:
        # the intent is committed before the POST: a crash from here is settled from Alma's list
        with Session(world.engine) as session:
            seen["status"] = step_of(session, run_id, COPY).status
            seen["audit"] = session.query(Submission).filter(Submission.run_id == run_id).count()
        seen["params"] = {p["name"]["value"]: p["value"] for p in body(request)["parameter"]}
        return httpx.Response(200, json=posted("5551"))

    world.fake.on("POST", f"/conf/jobs/{world.job(COPY)}", accept)

    nxt = drive_step(world.ctx, run_id=run_id, kind=COPY)

    assert nxt == Next.retry(world.settings.poll_min_seconds)
    assert seen["status"] == StepStatus.SUBMITTING and seen["audit"] == 1
    name = job_name_for(world.run(run_id), COPY)
    assert seen["params"]["job_name"] == name  # type: ignore[index]
    assert seen["params"]["set_id"] == "7593466560004641"  # type: ignore[index]
    step = world.step(run_id, COPY)
    assert (step.status, step.instance_id, step.job_name) == (StepStatus.RUNNING, "5551", name)
    assert step.deadline_at == world.clock[0] + timedelta(hours=world.settings.step_deadline_hours)
    [sub] = world.submissions(run_id)
    assert (sub.result, sub.instance_id, sub.job_name) == ("posted", "5551", name)
    assert world.run(run_id).state == RunState.RUNNING
    assert world.posts(COPY) == 1


def test_a_running_step_holds_its_budget_slot_until_it_ends(world: World) -> None:
    world.use_budget(LocalJobBudget(max_running=1))
    run_id = world.new_run()
    world.fake.on("POST", f"/conf/jobs/{world.job(COPY)}", posted("5551"))
    drive_step(world.ctx, run_id=run_id, kind=COPY)
    assert not world.budget.try_reserve("step:someone-else", world.job(COPY)).granted
    world.budget.cancel("step:someone-else", world.job(COPY))

    world.fake.on(
        "GET",
        _instance_path(world, COPY, "5551"),
        instance("5551", status="COMPLETED_SUCCESS", ended=world.clock[0]),
    )
    assert drive_step(world.ctx, run_id=run_id, kind=COPY) == Next.cont()
    assert world.budget.try_reserve("step:someone-else", world.job(COPY)).granted


def test_no_budget_slot_leaves_the_step_pending_and_says_why(world: World) -> None:
    world.use_budget(LocalJobBudget(max_running=0))
    run_id = world.new_run()

    nxt = drive_step(world.ctx, run_id=run_id, kind=COPY)

    assert nxt.action == "retry" and nxt.countdown == world.settings.poll_max_seconds
    assert "API-started Alma jobs are running" in (nxt.reason or "")
    assert world.step(run_id, COPY).status == StepStatus.PENDING
    run = world.run(run_id)
    assert run.state == RunState.WAITING and run.wait_reason == nxt.reason
    assert world.posts(COPY) == 0 and world.submissions(run_id) == []


def test_a_step_another_worker_is_submitting_is_not_posted_again(world: World) -> None:
    run_id = world.new_run()
    world.set_step(run_id, COPY, status=StepStatus.SUBMITTING, intent_at=world.clock[0])

    nxt = submit_step(world.ctx, run_id, COPY)

    assert nxt == Next.retry(world.settings.poll_min_seconds, "another worker is submitting this step")
    assert world.posts(COPY) == 0 and world.submissions(run_id) == []


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (alma_error(400, "402222", "The job execution threshold has been reached"), "402222"),
        (alma_error(400, "402223", "Too many runs of this job in the last hour"), "402223"),
        (alma_error(400, "60347", "The job overlaps with a running job"), "60347"),
        (alma_error(429, "PER_SECOND_THRESHOLD", "Too many requests"), "PER_SECOND_THRESHOLD"),
    ],
    ids=["threshold-running", "threshold-hourly", "overlap", "429"],
)
def test_alma_saying_not_now_puts_the_step_back_to_pending(
    world: World, answer: httpx.Response, words: str
) -> None:
    world.use_budget(LocalJobBudget(max_running=1))
    run_id = world.new_run()
    world.fake.on("POST", f"/conf/jobs/{world.job(COPY)}", answer)

    nxt = drive_step(world.ctx, run_id=run_id, kind=COPY)

    assert nxt.action == "retry" and nxt.countdown == world.settings.poll_max_seconds
    assert words in (nxt.reason or "")
    step = world.step(run_id, COPY)
    assert (step.status, step.intent_at, step.instance_id) == (StepStatus.PENDING, None, None)
    run = world.run(run_id)
    assert run.state == RunState.WAITING and words in (run.wait_reason or "")
    [sub] = world.submissions(run_id)
    assert sub.result == "refused" and words in (sub.detail or "")
    # the slot went back: another step can have it
    assert world.budget.try_reserve("step:someone-else", world.job(COPY)).granted


def test_a_definite_refusal_fails_the_step_and_the_run(world: World) -> None:
    run_id = world.new_run()
    world.fake.on(
        "POST", f"/conf/jobs/{world.job(COPY)}", alma_error(400, "402231", "Only single-task jobs can run")
    )

    nxt = drive_step(world.ctx, run_id=run_id, kind=COPY)

    assert nxt.action == "stop" and "402231" in (nxt.reason or "")
    step = world.step(run_id, COPY)
    assert step.status == StepStatus.FAILED and "Alma refused the job: 402231" in (step.error or "")
    run = world.run(run_id)
    assert run.state == RunState.FAILED and "copy step: Alma refused the job" in (run.error or "")
    assert world.step(run_id, StepKind.MIGRATION).status == StepStatus.SKIPPED
    assert [s.result for s in world.submissions(run_id)] == ["refused"]
    # a later visit (a redelivered message) does not post again
    assert drive_step(world.ctx, run_id=run_id, kind=COPY).action == "stop"
    assert world.posts(COPY) == 1


def _running(world: World, kind: str = COPY) -> int:
    earlier = [k.value for k in ALMA_STEPS]
    run_id = world.new_run(done=tuple(earlier[: earlier.index(kind)]))
    world.set_step(
        run_id,
        kind,
        status=StepStatus.RUNNING,
        alma_job_id=world.job(kind),
        instance_id="7771",
        deadline_at=world.clock[0] + timedelta(hours=1),
    )
    return run_id


def test_a_running_instance_is_polled_again_later_with_a_growing_wait(world: World) -> None:
    run_id = _running(world)
    world.fake.on("GET", _instance_path(world, COPY, "7771"), instance("7771", status="RUNNING"))

    first = drive_step(world.ctx, run_id=run_id, kind=COPY)
    second = drive_step(world.ctx, run_id=run_id, kind=COPY)

    assert first == Next.retry(poll_countdown(world.settings, 1))
    assert second == Next.retry(poll_countdown(world.settings, 2))
    assert second.countdown > first.countdown
    step = world.step(run_id, COPY)
    assert (step.status, step.polls, step.alma_status) == (StepStatus.RUNNING, 2, "RUNNING")


def test_a_finished_instance_succeeds_the_step_with_its_counters(world: World) -> None:
    run_id = _running(world)
    ended = world.clock[0] + timedelta(minutes=3)
    world.fake.on(
        "GET",
        _instance_path(world, COPY, "7771"),
        instance("7771", status="COMPLETED_SUCCESS", ended=ended, counters={"Records processed": "12"}),
    )

    assert drive_step(world.ctx, run_id=run_id, kind=COPY) == Next.cont()

    step = world.step(run_id, COPY)
    assert step.status == StepStatus.SUCCEEDED and step.ended_at == ended
    assert step.counters == {"Records processed": "12"}
    assert world.run(run_id).state == RunState.RUNNING
    # the next link finds it done without asking Alma again
    gets = world.fake.count("GET")
    assert drive_step(world.ctx, run_id=run_id, kind=COPY) == Next.cont()
    assert world.fake.count("GET") == gets


def test_a_failed_instance_fails_the_step_and_skips_the_later_ones(world: World) -> None:
    run_id = _running(world)
    failed = instance("7771", status="COMPLETED_FAILED", ended=world.clock[0])
    failed["alert"] = [{"value": "Set is empty"}]
    world.fake.on("GET", _instance_path(world, COPY, "7771"), failed)

    nxt = drive_step(world.ctx, run_id=run_id, kind=COPY)

    assert nxt.action == "stop" and "ended COMPLETED_FAILED (Set is empty)" in (nxt.reason or "")
    assert world.step(run_id, COPY).status == StepStatus.FAILED
    assert world.run(run_id).state == RunState.FAILED
    assert world.step(run_id, StepKind.PROFILE).status == StepStatus.SKIPPED


def test_a_step_still_running_after_its_deadline_fails(world: World) -> None:
    run_id = _running(world)
    world.fake.on("GET", _instance_path(world, COPY, "7771"), instance("7771", status="RUNNING"))
    world.advance(2 * 3600)

    nxt = drive_step(world.ctx, run_id=run_id, kind=COPY)

    assert nxt.action == "stop" and "still RUNNING after" in (nxt.reason or "")
    step = world.step(run_id, COPY)
    assert step.status == StepStatus.FAILED and step.ended_at == world.clock[0]
    assert world.run(run_id).state == RunState.FAILED


def test_a_later_step_waits_for_an_unfinished_earlier_one(world: World) -> None:
    run_id = world.new_run()

    nxt = drive_step(world.ctx, run_id=run_id, kind=StepKind.MIGRATION.value)

    assert nxt == Next.stop("migration waits for copy (pending)")
    assert world.step(run_id, StepKind.MIGRATION).status == StepStatus.PENDING
    assert world.fake.requests == []


def test_nothing_happens_on_a_failed_run(world: World) -> None:
    run_id = world.new_run()
    with Session(world.engine) as session:
        fail_run(session, get_run(session, run_id), "set is empty")
        session.commit()

    nxt = drive_step(world.ctx, run_id=run_id, kind=COPY)

    assert nxt == Next.stop(f"run {run_id} has failed: set is empty")
    assert world.fake.requests == []
