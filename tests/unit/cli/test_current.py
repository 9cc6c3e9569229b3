"""Item 4 of issue 15: status, report and verify agree on what each record is now."""

from __future__ import annotations

import csv
import io
import json

from cli.main import main
from pipeline.runs import create_run
from store.db import session_scope
from store.models import EventLine, Record, RunState
from tests.unit.handles.test_verify_cli import fake_resolver  # noqa: F401 - a fixture
from workers import resources


def cli(capsys, *args: str) -> tuple[int, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().out


def repaired_run() -> int:
    """Run 1: 9901 migrated, 9902 malformed (no usable handle); its child run re-ran 9902 and succeeded."""
    resources.ensure_schema()
    with session_scope(resources.engine()) as session:
        parent = create_run(session=session, set_id="7593466560004641")
        parent.state = RunState.SUCCEEDED
        session.add(parent)
        session.add(
            Record(run_id=parent.id, position=0, mms_id="9901", outcome="migrated", expected_handle="11084/1")
        )
        session.add(Record(run_id=parent.id, position=1, mms_id="9902", outcome="malformed_identifier"))
        child = create_run(session=session, set_id="7593466560004642", parent_run_id=parent.id)
        child.state = RunState.SUCCEEDED
        session.add(child)
        session.add(
            Record(run_id=child.id, position=0, mms_id="9902", outcome="migrated", expected_handle="11084/2")
        )
        return int(parent.id)  # type: ignore[arg-type]


def test_status_counts_what_the_child_run_made_of_repaired_records(capsys) -> None:
    run_id = repaired_run()
    code, out = cli(capsys, "status", str(run_id), "--json")
    assert code == 0
    assert json.loads(out)["outcomes"] == {"migrated": 2}
    code, out = cli(capsys, "report", str(run_id))
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["outcome"] for r in rows] == ["migrated", "migrated"]
    code, out = cli(capsys, "status", str(run_id))
    assert "malformed_identifier" not in out and "handles repair" not in out


def test_verify_run_checks_the_handle_the_report_shows(fake_resolver, capsys) -> None:  # noqa: F811
    run_id = repaired_run()
    code, out = cli(capsys, "verify", "--run", str(run_id), "--json")
    checked = {r["handle"] for r in json.loads(out)["results"]}
    assert checked == {"11084/1", "11084/2"}
    assert "no expected handle" not in out
    # the result lands on the row the report shows (the child's), so the report agrees
    code, out = cli(capsys, "report", str(run_id))
    rows = {r["mms_id"]: r for r in csv.DictReader(io.StringIO(out))}
    assert rows["9902"]["verification"] == "wrong_target"  # 11084/2 points at mms 9 in the fake


def test_status_stops_asking_for_the_events_report_once_imported(capsys) -> None:
    resources.ensure_schema()
    with session_scope(resources.engine()) as session:
        run = create_run(session=session, set_id="7593466560004641")
        run.state = RunState.WAITING_OPERATOR
        run.wait_reason = "waiting for the Events Report: run `handles events import 1 FILE`"
        session.add(run)
        run_id = int(run.id)  # type: ignore[arg-type]
    code, out = cli(capsys, "status", str(run_id))
    assert "waiting for the Events Report" in out
    with session_scope(resources.engine()) as session:
        session.add(
            EventLine(run_id=run_id, mms_id="9901", kind="other", text="x", source="csv", fingerprint="f")
        )
    code, out = cli(capsys, "status", str(run_id))
    assert "waiting for the Events Report" not in out
    assert "Events Report is imported" in out
