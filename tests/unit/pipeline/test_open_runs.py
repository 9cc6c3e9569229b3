"""One open run per set (issue 15 item 1): refused, forced, and raced, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from pipeline.open_runs import SetHasOpenRun, force_notice, start_run
from pipeline.runs import create_run
from store.models import Run, RunState, StepStatus
from store.runs import run_steps, step_of

SET = "7593466560004641"


def _count(engine) -> int:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(Run)).one())


def _first(engine) -> int:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        run, _ = start_run(session, set_id=SET, set_name="Theses")
        assert run.id is not None
        return run.id


def test_a_second_migrate_on_an_open_set_is_refused_in_one_line_and_stores_nothing(engine) -> None:  # type: ignore[no-untyped-def]
    first = _first(engine)
    with Session(engine) as session:
        run = session.get(Run, first)
        assert run is not None
        run.state, run.wait_reason = RunState.WAITING, "Alma's job budget: 3 of 3 jobs in the last hour"
        session.add(run)
        session.commit()
    with Session(engine) as session, pytest.raises(SetHasOpenRun) as refused:
        start_run(session, set_id=SET)
    line = str(refused.value)
    assert "\n" not in line
    assert f"open run {first}" in line
    assert "job budget" in line  # what it waits for
    assert f"`handles status {first}`" in line
    assert _count(engine) == 1


def test_an_ended_run_or_a_child_run_does_not_hold_the_set(engine) -> None:  # type: ignore[no-untyped-def]
    first = _first(engine)
    with Session(engine) as session:
        # a child run on the same set (a batch's, say) is no second migrate
        create_run(session=session, set_id=SET, parent_run_id=first)
        session.commit()
        run = session.get(Run, first)
        assert run is not None
        run.state = RunState.SUCCEEDED
        session.add(run)
        session.commit()
    second = _first(engine)
    assert second != first
    with Session(engine) as session:
        assert session.get(Run, second).holds_set  # type: ignore[union-attr]


def test_force_marks_the_open_run_failed_and_skips_its_pending_steps(engine) -> None:  # type: ignore[no-untyped-def]
    first = _first(engine)
    with Session(engine) as session:
        copy = step_of(session, first, "copy")
        copy.status = StepStatus.SUCCEEDED
        session.add(copy)
        session.commit()
        notice = force_notice(session, SET)
        assert notice is not None and f"run {first}" in notice and "marked failed" in notice
        new, superseded = start_run(session, set_id=SET, force=True)
        new_id = new.id
    assert superseded is not None and superseded.run_id == first
    assert superseded.skipped_steps == ("migration", "profile", "verify")
    with Session(engine) as session:
        old = session.get(Run, first)
        assert old is not None
        assert old.state == RunState.FAILED
        assert old.error == f"superseded by run {new_id} (handles migrate --force)"
        assert [s.status for s in run_steps(session, first)] == ["succeeded", "skipped", "skipped", "skipped"]
        assert session.get(Run, new_id).state == RunState.QUEUED  # type: ignore[union-attr]


def test_force_is_refused_while_a_job_of_the_open_run_runs_in_alma(engine) -> None:  # type: ignore[no-untyped-def]
    first = _first(engine)
    with Session(engine) as session:
        migration = step_of(session, first, "migration")
        migration.status, migration.instance_id = StepStatus.RUNNING, "6302135460004641"
        session.add(migration)
        session.commit()
    with Session(engine) as session, pytest.raises(SetHasOpenRun) as refused:
        force_notice(session, SET)
    assert "cannot be stopped" in str(refused.value) and "6302135460004641" in str(refused.value)
    with Session(engine) as session, pytest.raises(SetHasOpenRun):
        start_run(session, set_id=SET, force=True)
    assert _count(engine) == 1
    with Session(engine) as session:
        assert session.get(Run, first).state == RunState.QUEUED  # type: ignore[union-attr]
        assert step_of(session, first, "profile").status == StepStatus.PENDING


def test_migrates_at_the_same_moment_make_exactly_one_run(engine) -> None:  # type: ignore[no-untyped-def]
    racers = 6
    barrier = threading.Barrier(racers)
    started: list[int] = []
    refused: list[str] = []
    lock = threading.Lock()

    def migrate() -> None:
        with Session(engine) as session:
            barrier.wait()
            try:
                run, _ = start_run(session, set_id=SET)
            except SetHasOpenRun as exc:
                with lock:
                    refused.append(str(exc))
            else:
                with lock:
                    started.append(run.id)  # type: ignore[arg-type]

    threads = [threading.Thread(target=migrate) for _ in range(racers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(started) == 1, (started, refused)
    assert len(refused) == racers - 1
    assert all(f"open run {started[0]}" in line or "same moment" in line for line in refused)
    assert _count(engine) == 1
