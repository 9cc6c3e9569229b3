"""The parent run's report shows what its repair child run made of the repaired records."""

from __future__ import annotations

from outcomes.report import iter_rows
from pipeline.runs import create_run
from store.db import session_scope
from store.models import Record, RunState


def _run_with(
    session, set_id: str, records: dict[str, str], parent: int | None = None, state=RunState.SUCCEEDED
):  # type: ignore[no-untyped-def]
    run = create_run(session=session, set_id=set_id, parent_run_id=parent)
    run.state = state
    session.add(run)
    for position, (mms, outcome) in enumerate(records.items()):
        session.add(
            Record(
                run_id=run.id,
                mms_id=mms,
                position=position,
                outcome=outcome,
                expected_handle=f"11084/{position}",
                detail=f"{outcome} evidence",
            )
        )
    session.flush()
    return run


def test_a_finished_child_run_replaces_the_repaired_rows(engine) -> None:  # type: ignore[no-untyped-def]
    # given run 1 with a malformed record, repaired and re-run by a child run that succeeded
    with session_scope(engine) as session:
        parent = _run_with(session, "1", {"9901": "migrated", "9902": "malformed_identifier"})
        _run_with(session, "2", {"9902": "migrated"}, parent=parent.id)
        parent_id = parent.id
    # when
    with session_scope(engine) as session:
        rows = {r["mms_id"]: r for r in iter_rows(session=session, run_id=parent_id)}
    # then the repaired record shows the child's outcome, with the history in detail
    assert rows["9902"]["outcome"] == "migrated"
    assert "re-run in run 2" in rows["9902"]["detail"] and "malformed_identifier" in rows["9902"]["detail"]
    assert rows["9901"]["detail"] == "migrated evidence"
    assert list(rows) == ["9901", "9902"]


def test_an_unfinished_child_run_leaves_the_parent_rows_alone(engine) -> None:  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        parent = _run_with(session, "1", {"9902": "malformed_identifier"})
        _run_with(session, "2", {"9902": "unknown"}, parent=parent.id, state=RunState.RUNNING)
        parent_id = parent.id
    with session_scope(engine) as session:
        rows = list(iter_rows(session=session, run_id=parent_id))
    assert rows[0]["outcome"] == "malformed_identifier"
