"""Polling as the webhook's fallback, and no duplicate work after a webhook ends a step.

The run's own chain keeps a visit pending for each step it submitted (its fallback poll); when a
JOB_END event ends the step, the listener sends a chain of its own (:mod:`webhook.send`). The older
chain's visit must then end quietly, without an Alma call, instead of driving the run a second time.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr

from alma.models import JobInstance
from pipeline import job_end
from pipeline.context import Next, poll_countdown
from pipeline.finish import finish_run
from pipeline.steps import drive_step
from store.db import session_scope
from store.models import RunState, StepKind, StepStatus
from tests.unit.alma.fakes import alma_error
from tests.unit.pipeline.conftest import World, instance, posted
from webhook.send import chain_from

COPY, MIGRATION, PROFILE = StepKind.COPY.value, StepKind.MIGRATION.value, StepKind.PROFILE.value


def with_webhook(world: World, fallback: float = 600.0) -> None:
    world.settings = world.ctx.settings = world.settings.model_copy(
        update={"alma_webhook_secret": SecretStr("s3cret"), "webhook_fallback_poll_seconds": fallback}
    )


def event_ends(world: World, kind: str, instance_id: str) -> list[tuple[int, str]]:
    """Alma's JOB_END event for ``instance_id`` applied as the listener applies it."""
    data = instance(instance_id, status="COMPLETED_SUCCESS", ended=world.clock[0])
    data["job_info"] = {"id": world.job(kind)}
    with session_scope(world.engine) as session:
        return job_end.apply_job_end(session, JobInstance.from_alma(data), world.job(kind))


# --- 1. one place decides when to look again ----------------------------------------------------
def test_without_the_webhook_polls_back_off_as_before(world: World) -> None:
    s = world.settings
    assert s.alma_webhook_secret is None
    assert poll_countdown(s, 0) == s.poll_min_seconds
    assert poll_countdown(s, 1) == min(s.poll_max_seconds, s.poll_min_seconds * 1.5)
    assert poll_countdown(s, 50) == s.poll_max_seconds


def test_with_the_webhook_every_look_is_the_fallback_interval(world: World) -> None:
    with_webhook(world, fallback=600.0)
    assert [poll_countdown(world.settings, n) for n in (0, 1, 7, 500)] == [600.0] * 4


def test_with_the_webhook_submission_and_polls_wait_the_fallback_interval(world: World) -> None:
    with_webhook(world, fallback=321.0)
    run_id = world.new_run()
    world.fake.on("POST", f"/conf/jobs/{world.job(COPY)}", posted("5551"))
    world.fake.on("GET", f"/conf/jobs/{world.job(COPY)}/instances/5551", instance("5551"))

    assert drive_step(world.ctx, run_id=run_id, kind=COPY) == Next.retry(321.0)  # after op=run
    for _ in range(3):  # still running: looked at again, never given up
        assert drive_step(world.ctx, run_id=run_id, kind=COPY) == Next.retry(321.0)
    assert world.step(run_id, COPY).polls == 3


def test_an_empty_secret_is_no_webhook(world: World) -> None:
    world.settings = world.settings.model_copy(update={"alma_webhook_secret": SecretStr("")})
    assert poll_countdown(world.settings, 0) == world.settings.poll_min_seconds


# --- 2. the older chain yields to the listener's ------------------------------------------------
def routes(world: World) -> None:
    for n, kind in enumerate((COPY, MIGRATION, PROFILE), start=1):
        world.fake.on("POST", f"/conf/jobs/{world.job(kind)}", posted(f"700{n}"))
    events = f"/conf/jobs/{world.job(MIGRATION)}/instances/7002/events"
    world.fake.on("GET", events, alma_error(400, "60332", "no events API"))


def finish(world: World, run_id: int) -> None:
    finish_run(ctx=world.ctx, run_id=run_id, verify=lambda **_: {}, classify=lambda **_: None)


def test_a_run_driven_by_webhook_while_its_older_chain_fires(world: World) -> None:
    with_webhook(world)
    routes(world)
    run_id = world.new_run(profile_mode="api")
    visits: list[tuple[str, str, str]] = []

    def visit(chain: str, kind: str, woken: bool = False) -> Next:
        nxt = drive_step(world.ctx, run_id=run_id, kind=kind, woken=woken)
        visits.append((chain, kind, nxt.action))
        return nxt

    # the run's own chain submits the copy; its fallback poll is pending
    assert visit("run", COPY).action == "retry"
    stale = ("run", COPY)
    for kind, iid in ((COPY, "7001"), (MIGRATION, "7002"), (PROFILE, "7003")):
        assert event_ends(world, kind, iid) == [(run_id, kind)]
        # the listener's chain: the ended step (woken), then the next step or the finish
        chain = chain_from(kind)
        assert chain[0] == ("handles.run_step", (kind, True))
        assert visit("webhook", kind, woken=True) == Next.cont()
        if kind != PROFILE:
            nxt_kind = chain[1][1][0]
            assert visit("webhook", nxt_kind).action == "retry"  # submitted; its fallback pending
        else:
            finish(world, run_id)
        # the older chain's pending visit fires: it ends quietly, without asking Alma anything
        calls = len(world.fake.requests)
        assert visit(*stale).action == "yield"
        assert len(world.fake.requests) == calls
        stale = ("webhook", chain[1][1][0]) if kind != PROFILE else stale

    assert world.run(run_id).state == RunState.SUCCEEDED
    # the minimum: one op=run per step and the migration's events; no instance GET at all
    paths = [(r.method, r.url.path.rsplit("/", 2)[-2:][-1]) for r in world.fake.requests]
    assert len(world.fake.requests) == 4, paths
    assert [world.posts(k) for k in (COPY, MIGRATION, PROFILE)] == [1, 1, 1]
    assert [v for v in visits if v[2] == "yield"] == [
        ("run", COPY, "yield"),
        ("webhook", MIGRATION, "yield"),
        ("webhook", PROFILE, "yield"),
    ]
    # every step was submitted by exactly one visit, and the run finished once
    assert [v for v in visits if v[2] == "retry"] == [
        ("run", COPY, "retry"),
        ("webhook", MIGRATION, "retry"),
        ("webhook", PROFILE, "retry"),
    ]


def test_the_older_chain_carries_on_when_the_listener_could_not_tell_the_workers(world: World) -> None:
    with_webhook(world)
    routes(world)
    run_id = world.new_run()
    drive_step(world.ctx, run_id=run_id, kind=COPY)
    event_ends(world, COPY, "7001")  # applied, but the listener's chain never reached a worker
    assert world.step(run_id, MIGRATION).status == StepStatus.PENDING
    assert drive_step(world.ctx, run_id=run_id, kind=COPY) == Next.cont()  # the run goes on


def test_a_step_ended_by_poll_continues_its_chain_as_before(world: World) -> None:
    routes(world)
    run_id = world.new_run()
    drive_step(world.ctx, run_id=run_id, kind=COPY)
    world.fake.on(
        "GET",
        f"/conf/jobs/{world.job(COPY)}/instances/7001",
        instance("7001", status="COMPLETED_SUCCESS", ended=world.clock[0]),
    )
    assert drive_step(world.ctx, run_id=run_id, kind=COPY) == Next.cont()
    world.set_step(run_id, MIGRATION, status=StepStatus.RUNNING)
    assert world.step(run_id, COPY).ended_via == "poll"
    assert drive_step(world.ctx, run_id=run_id, kind=COPY) == Next.cont()  # only webhook ends yield


@pytest.mark.parametrize("kind", [COPY, MIGRATION, PROFILE])
def test_the_listeners_chain_is_woken_only_for_the_ended_step(kind: str) -> None:
    links: list[tuple[str, tuple[Any, ...]]] = chain_from(kind)
    assert links[0] == ("handles.run_step", (kind, True))
    assert all(len(args) == 1 for name, args in links[1:-1])
    assert links[-1] == ("handles.finish_run", ())
