"""``handles rerun RUN_ID --outcome OUTCOME`` (issue 15 item 5): a child run of exactly those records.

Alma is an ``httpx.MockTransport``; the set it is asked to make is read from the requests it received.
"""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from outcomes.next_steps import next_step_lines
from pipeline.rerun import RerunRefused, start_rerun
from pipeline.runs import create_run
from store.models import Record, Run, RunState
from store.runs import RunNotFound, run_steps
from tests.unit.alma.fakes import FakeAlma, body, make_client

SET = "7593466560004641"
NEW_SET = "7700000000004641"
OUTCOMES = {
    "991001": "migrated",
    "991002": "failed",
    "991003": "malformed_identifier",
    "991004": "failed",
    "991005": "unknown",
}


@pytest.fixture
def parent(engine) -> int:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        run = create_run(session=session, set_id=SET, skip_copy=True, holds_set=True)
        run.state, run.set_content = RunState.SUCCEEDED, "IEP"
        for position, (mms, outcome) in enumerate(OUTCOMES.items()):
            session.add(Record(run_id=run.id, mms_id=mms, position=position, outcome=outcome))
        session.commit()
        assert run.id is not None
        return run.id


def alma() -> tuple[FakeAlma, object]:
    fake = FakeAlma()
    fake.on("POST", "/conf/sets", {"id": NEW_SET, "name": "Handles rerun"})
    fake.on("POST", f"/conf/sets/{NEW_SET}", {"id": NEW_SET})
    return fake, make_client(fake)


def test_rerun_makes_a_child_run_of_exactly_the_failed_records(engine, parent: int) -> None:  # type: ignore[no-untyped-def]
    fake, client = alma()
    with Session(engine) as session:
        child, ids = start_rerun(
            session, run_id=parent, outcome="failed", alma=client, profile_mode="operator"
        )
        child_id = child.id
    assert ids == ["991002", "991004"]
    created = [r for r in fake.requests if r.url.path.endswith("/conf/sets")]
    assert len(created) == 1
    assert body(created[0])["content"] == {"value": "IEP"}
    assert f"run {parent}" in body(created[0])["name"]
    added = [r for r in fake.requests if r.url.path.endswith(f"/conf/sets/{NEW_SET}")]
    assert [m["id"] for r in added for m in body(r)["members"]["member"]] == ["991002", "991004"]
    assert all(r.url.params.get("op") == "add_members" for r in added)
    with Session(engine) as session:
        run = session.get(Run, child_id)
        assert run is not None
        assert (run.parent_run_id, run.set_id, run.member_count) == (parent, NEW_SET, 2)
        assert run.profile_mode == "operator"  # the configured ALMA_PROFILE_MODE, not a default
        assert run.skip_copy is True and run.holds_set is False
        assert run.state == RunState.QUEUED
        assert [s.status for s in run_steps(session, child_id)] == ["pending"] * 4  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "outcome, says",
    [
        ("malformed_identifier", "handles repair"),
        ("missing_identifier", "handles repair"),
        ("duplicate_handle", "decide which record keeps the handle"),
        ("wrong_format", "remove it from the set"),
        ("conflict", "handles repair-conflicts"),
        ("migrated", "need nothing more"),
        ("lost", "not an outcome"),
    ],
)
def test_outcomes_a_rerun_cannot_change_are_refused_with_what_to_do(  # type: ignore[no-untyped-def]
    engine, parent: int, outcome: str, says: str
) -> None:
    fake, client = alma()
    with Session(engine) as session, pytest.raises(RerunRefused) as refused:
        start_rerun(session, run_id=parent, outcome=outcome, alma=client, profile_mode="auto")
    assert says in str(refused.value) and "\n" not in str(refused.value)
    assert fake.requests == []


def test_refused_for_an_unknown_run_no_records_or_an_open_parent(engine, parent: int) -> None:  # type: ignore[no-untyped-def]
    fake, client = alma()
    with Session(engine) as session:
        with pytest.raises(RunNotFound):
            start_rerun(session, run_id=parent + 50, outcome="failed", alma=client, profile_mode="auto")
        for record in session.exec(select(Record).where(Record.outcome == "unknown")):
            record.outcome = "migrated"
            session.add(record)
        session.commit()
        with pytest.raises(RerunRefused, match="no `unknown` records"):
            start_rerun(session, run_id=parent, outcome="unknown", alma=client, profile_mode="auto")
        run = session.get(Run, parent)
        assert run is not None
        run.state = RunState.WAITING
        session.add(run)
        session.commit()
        with pytest.raises(RerunRefused, match=f"run {parent} is still open"):
            start_rerun(session, run_id=parent, outcome="failed", alma=client, profile_mode="auto")
        assert len(session.exec(select(Run)).all()) == 1
    assert fake.requests == []


def test_a_second_rerun_waits_for_the_first_child(engine, parent: int) -> None:  # type: ignore[no-untyped-def]
    _, client = alma()
    with Session(engine) as session:
        child, _ = start_rerun(session, run_id=parent, outcome="failed", alma=client, profile_mode="auto")
        with pytest.raises(RerunRefused, match=f"open child run {child.id}"):
            start_rerun(session, run_id=parent, outcome="failed", alma=client, profile_mode="auto")


def test_status_lines_give_each_outcome_its_next_step_within_80_columns() -> None:
    counts = {"migrated": 3, "failed": 2, "malformed_identifier": 1, "unknown": 0}
    lines = next_step_lines(counts, 12)
    assert lines[0] == "next steps:"
    text = " ".join(line.strip() for line in lines)
    assert "failed (2): re-run only these records with `handles rerun 12 --outcome failed`." in text
    assert "malformed_identifier (1):" in text and "`handles repair 12`" in text
    assert "migrated" not in text and "unknown" not in text  # nothing to do / no records
    assert all(len(line) <= 80 for line in lines)
    assert next_step_lines({"migrated": 5}, 12) == []
