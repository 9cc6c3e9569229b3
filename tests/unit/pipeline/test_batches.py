"""Batches: the plan's arithmetic, making the batches, and the parent ending only after all of them."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from pipeline.batch_plan import batch_sizes, format_duration, least_seconds, plan_batches, time_left_seconds
from pipeline.batch_progress import batch_children, batch_progress
from pipeline.batches import drive_batches
from pipeline.finish import finish_run
from pipeline.runs import create_run
from store.models import EventLine, Record, Run, RunState, StepKind, StepStatus, utcnow
from store.runs import run_steps
from tests.unit.alma.fakes import body

HOUR = 3600
PARENT_SET = "7600000000000250"


# --- the plan -----------------------------------------------------------------------------------
def test_the_library_set_in_batches_of_100_needs_at_least_24_4_hours() -> None:
    # 12,102 records in batches of 100: 122 batches, each job run 122 times at 5 an hour
    plan = plan_batches(12_102, 100)
    assert (plan.batches, plan.jobs) == (122, 366)
    # ceil(122/5) - 1 = 24 full hours between the first and the last run of one job ...
    assert plan.least_hours_between == 24
    assert least_seconds(122) == 24 * HOUR
    # ... plus the last batch's own jobs: with 8-minute jobs, 24.4 hours
    assert least_seconds(122, job_seconds=8 * 60) == pytest.approx(24.4 * HOUR)
    assert format_duration(least_seconds(122, job_seconds=8 * 60)) == "24.4 hours"


def test_the_plan_counts_two_jobs_a_batch_without_the_copy_and_the_running_limit_when_jobs_are_long() -> None:
    assert plan_batches(12_102, 100, skip_copy=True).jobs == 244
    assert batch_sizes(250, 100) == [100, 100, 50]
    assert batch_sizes(200, 100) == [100, 100]
    # 5 batches or fewer: every run of a job fits in one hour; one batch is its three jobs in a row,
    # five are 15 jobs, 3 at a time
    assert least_seconds(1, job_seconds=60) == 3 * 60
    assert least_seconds(5, job_seconds=60) == 5 * 60
    # 30-minute jobs: 3 at a time is the limit, not 5 an hour (366 jobs / 3 slots × 30 min = 61 h)
    assert least_seconds(122, job_seconds=30 * 60) == math.ceil(366 / 3) * 30 * 60
    assert least_seconds(0) == 0


def test_the_plan_is_told_in_lines_that_fit_80_columns() -> None:
    lines = plan_batches(12_102, 100, job_seconds=8 * 60).lines()
    text = " ".join(lines)
    assert "12,102 records in 122 batches of at most 100" in text
    assert "366 Alma jobs" in text and "24 full hours" in text and "about 24.4 hours" in text
    assert all(len(line) <= 80 for line in lines)
    unmeasured = " ".join(plan_batches(12_102, 100).lines())
    assert "24 hours plus the jobs' own time (not measured yet" in unmeasured


def test_time_left_uses_the_measured_pace_or_else_the_limits() -> None:
    # 10 batches left, 3 at a time, 40 minutes each: 4 rounds of 40 minutes
    assert time_left_seconds(10, window=3, mean_batch_seconds=40 * 60) == 4 * 40 * 60
    # 20 quick batches left: Alma's 5 runs an hour rule (3 full hours + the last batch)
    assert time_left_seconds(20, window=3, mean_batch_seconds=60) == 3 * HOUR + 60
    assert time_left_seconds(0, window=3, mean_batch_seconds=None) == 0


# --- making the batches -------------------------------------------------------------------------
class Sets:
    """Alma's sets API as the fake serves it: created sets and their members, by id."""

    def __init__(self, world: Any) -> None:
        self.created: list[dict[str, Any]] = []
        self.members: dict[str, list[str]] = {}
        world.fake.on("POST", "/conf/sets", self.create)
        for n in range(1, 10):
            world.fake.on("POST", f"/conf/sets/{self.id(n)}", self.add)

    @staticmethod
    def id(n: int) -> str:
        return f"77000000000{n:02d}"

    def create(self, request: httpx.Request) -> httpx.Response:
        data = body(request)
        set_id = self.id(len(self.created) + 1)
        self.created.append({"id": set_id, "name": data["name"], "content": data["content"]["value"]})
        self.members[set_id] = []
        return httpx.Response(200, json={"id": set_id, "name": data["name"]})

    def add(self, request: httpx.Request) -> httpx.Response:
        set_id = request.url.path.rsplit("/", 1)[-1]
        self.members[set_id] += [m["id"] for m in body(request)["members"]["member"]]
        return httpx.Response(200, json={"id": set_id})


def mms(i: int) -> str:
    return f"99{21:02d}{i:09d}04641"


HELD = {5: "duplicate_handle", 6: "duplicate_handle", 200: "wrong_format"}


def parent_run(world: Any, records: int, batch_size: int, *, held: dict[int, str] | None = None) -> int:
    """A batch parent past preflight with ``records`` records; ``held`` ones kept out of every job."""
    with Session(world.engine) as session:
        run = create_run(session=session, set_id=PARENT_SET, batch_size=batch_size, profile_mode="api")
        run.state, run.set_content = RunState.RUNNING, "IEP"
        session.add(run)
        assert run.id is not None
        for i in range(records):
            outcome = (held or {}).get(i, "unknown")
            session.add(
                Record(
                    run_id=run.id,
                    position=i,
                    mms_id=mms(i),
                    expected_handle=f"11084/{40000 + i}",
                    outcome=outcome,
                )
            )
        session.commit()
        return run.id


@pytest.fixture
def sets(world: Any) -> Iterator[Sets]:
    yield Sets(world)


def test_250_records_in_batches_of_100_are_three_itemized_sets_of_the_records_preflight_keeps(
    world: Any, sets: Sets
) -> None:
    # given a parent whose preflight read 253 records and kept 3 out of every job
    parent = parent_run(world, 253, 100, held=HELD)
    # when the parent is visited
    visit = drive_batches(world.ctx, run_id=parent)
    # then three itemized sets of 100, 100 and 50 of the kept records, in the set's order
    kept = [mms(i) for i in range(253) if i not in HELD]
    assert [s["name"] for s in sets.created] == [f"handles run {parent} batch {k} of 3" for k in (1, 2, 3)]
    assert all(s["content"] == "IEP" for s in sets.created)
    assert [len(sets.members[s["id"]]) for s in sets.created] == [100, 100, 50]
    assert [m for s in sets.created for m in sets.members[s["id"]]] == kept
    assert not {mms(i) for i in HELD} & {m for ms in sets.members.values() for m in ms}
    # and one child run per batch, on its set, started for the task to enqueue
    with Session(world.engine) as session:
        children = batch_children(session, parent)
        assert [(c.batch_no, c.batch_of, c.set_id, c.member_count) for c in children] == [
            (k, 3, sets.id(k), n) for k, n in ((1, 100), (2, 100), (3, 50))
        ]
        assert all(c.parent_run_id == parent and c.batch_size is None for c in children)
        assert visit.started == [c.id for c in children]
        # the children run the three jobs; the parent none
        assert [s.status for s in run_steps(session, children[0].id)] == ["pending"] * 4  # type: ignore[arg-type]
        assert [s.status for s in run_steps(session, parent)][:3] == ["skipped"] * 3
        assert session.get(Run, parent).batch_of == 3  # type: ignore[union-attr]
    assert visit.next.action == "retry"


def test_a_batch_another_visit_started_first_leaves_no_set_behind_in_alma(world: Any, sets: Sets) -> None:
    from pipeline.batches import create_batch

    parent = parent_run(world, 150, 100)
    drive_batches(world.ctx, run_id=parent)  # batches 1 and 2 of 2, on sets 01 and 02
    deleted: list[str] = []
    world.fake.on(
        "DELETE", f"/conf/sets/{sets.id(3)}", lambda r: deleted.append(sets.id(3)) or httpx.Response(204)
    )
    # a second visit, unaware of the first, makes batch 1 again: its new set (03) is used by nothing
    assert create_batch(world.ctx, parent, 1) is None
    assert deleted == [sets.id(3)]
    assert [c.set_id for c in children_of(world, parent)] == [sets.id(1), sets.id(2)]


def set_state(world: Any, run_id: int | None, state: RunState, **values: Any) -> None:
    with Session(world.engine) as session:
        run = session.get(Run, run_id)
        assert run is not None
        run.state = state
        for key, value in values.items():
            setattr(run, key, value)
        if state.is_terminal:
            run.finished_at = utcnow()
        session.add(run)
        session.commit()


def children_of(world: Any, parent: int) -> list[Run]:
    with Session(world.engine) as session:
        return batch_children(session, parent)


def test_no_more_than_three_batches_run_at_once_the_next_starts_when_one_ends(world: Any, sets: Sets) -> None:
    parent = parent_run(world, 450, 100)  # 5 batches
    assert len(drive_batches(world.ctx, run_id=parent).started) == 3
    assert drive_batches(world.ctx, run_id=parent).started == []  # none ended: none more
    first = children_of(world, parent)[0]
    set_state(world, first.id, RunState.SUCCEEDED)
    started = drive_batches(world.ctx, run_id=parent).started
    assert [c.batch_no for c in children_of(world, parent) if c.id in started] == [4]
    assert len(sets.created) == 4
    summary = world.run(parent).wait_reason
    assert summary.startswith("batches: 1 of 5 done, 3 running, 1 not started")


def test_a_failed_batch_does_not_stop_the_others(world: Any, sets: Sets) -> None:
    parent = parent_run(world, 450, 100)
    drive_batches(world.ctx, run_id=parent)
    set_state(
        world, children_of(world, parent)[1].id, RunState.FAILED, error="copy step: Alma refused the job"
    )
    drive_batches(world.ctx, run_id=parent)
    assert [c.batch_no for c in children_of(world, parent)] == [1, 2, 3, 4]


# --- the parent finishes only when every batch has ended ----------------------------------------
def no_verify(*, session: Any, run_id: int, settings: Any) -> str:
    return "not checked in this test"


def test_the_parent_finishes_only_when_every_batch_has_ended_and_says_which_failed(
    world: Any, sets: Sets
) -> None:
    parent = parent_run(world, 250, 100)
    drive_batches(world.ctx, run_id=parent)
    one, two, three = children_of(world, parent)
    # a batch found that record 0 already had its handle in Alma (its event line)
    with Session(world.engine) as session:
        session.add(
            EventLine(
                run_id=one.id,  # type: ignore[arg-type]
                step_kind="migration",
                mms_id=mms(0),
                kind="already_has",
                handle="11084/40000",
                text=f"Record {mms(0)} was skipped. Reason: already has a handle identifier 11084/40000",
                source="api",
                fingerprint="fp-0",
            )
        )
        session.commit()
    set_state(world, one.id, RunState.SUCCEEDED)
    set_state(world, two.id, RunState.FAILED, error="migration step: the Alma job failed")
    # while batch 3 runs, the parent neither goes on nor finishes
    assert drive_batches(world.ctx, run_id=parent).next.action == "retry"
    finish_run(ctx=world.ctx, run_id=parent, verify=no_verify)
    assert world.run(parent).state == RunState.RUNNING
    assert world.step(parent, StepKind.VERIFY).status == StepStatus.PENDING
    # once it has ended, the chain goes on, and the parent finishes over every record
    set_state(world, three.id, RunState.SUCCEEDED)
    assert drive_batches(world.ctx, run_id=parent).next.action == "continue"
    finish_run(ctx=world.ctx, run_id=parent, verify=no_verify)
    run = world.run(parent)
    assert run.state == RunState.FAILED
    assert run.error.startswith(f"1 of 3 batches failed: batch 2 (run {two.id})")
    assert world.step(parent, StepKind.VERIFY).status == StepStatus.SUCCEEDED
    with Session(world.engine) as session:
        records = list(session.exec(select(Record).where(Record.run_id == parent)))
        assert len(records) == 250
        first = next(r for r in records if r.mms_id == mms(0))
        assert (first.outcome, first.alma_handle) == ("already_migrated", "11084/40000")


def test_a_parent_whose_batches_all_succeed_succeeds(world: Any, sets: Sets) -> None:
    parent = parent_run(world, 150, 100)
    drive_batches(world.ctx, run_id=parent)
    for child in children_of(world, parent):
        set_state(world, child.id, RunState.SUCCEEDED)
    assert drive_batches(world.ctx, run_id=parent).next.action == "continue"
    finish_run(ctx=world.ctx, run_id=parent, verify=no_verify)
    assert (world.run(parent).state, world.run(parent).error) == (RunState.SUCCEEDED, None)


def test_a_visit_before_preflight_starts_nothing(world: Any, sets: Sets) -> None:
    parent = parent_run(world, 150, 100)
    set_state(world, parent, RunState.QUEUED)
    assert drive_batches(world.ctx, run_id=parent).next.action == "stop"
    assert sets.created == [] and world.run(parent).batch_of is None


def test_progress_says_why_batches_wait_and_how_long_is_left(world: Any, sets: Sets) -> None:
    parent = parent_run(world, 1200, 100)  # 12 batches
    drive_batches(world.ctx, run_id=parent)
    one, two, three = children_of(world, parent)
    set_state(world, two.id, RunState.WAITING, wait_reason="waiting: 3 API-started Alma jobs are running")
    with Session(world.engine) as session:
        progress = batch_progress(session, parent, window=3, settings=world.settings)
    assert (progress.total, progress.running, progress.not_started) == (12, 3, 9)
    assert progress.batches[1]["note"] == "waiting: 3 API-started Alma jobs are running"
    # nothing finished yet: what the limits allow (12 batches at 5 an hour: 2 full hours at least)
    assert progress.mean_seconds is None and progress.time_left_seconds == 2 * HOUR
    assert "at least 2 hours left" in progress.summary()


def test_one_batch_per_number_per_parent_in_the_migrated_schema(engine: Any) -> None:
    # the Alembic schema on SQLite and PostgreSQL: two repair children (no number) are fine, a
    # second batch 1 of the same parent is refused
    from sqlalchemy.exc import IntegrityError

    with Session(engine) as session:
        parent = create_run(session=session, set_id=PARENT_SET, batch_size=100)
        for _ in range(2):
            create_run(session=session, set_id="7700000000001", parent_run_id=parent.id)
        create_run(session=session, set_id="7700000000002", parent_run_id=parent.id, batch_no=1, batch_of=2)
        session.commit()
        with pytest.raises(IntegrityError):
            create_run(
                session=session, set_id="7700000000003", parent_run_id=parent.id, batch_no=1, batch_of=2
            )
