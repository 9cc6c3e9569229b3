"""``handles migrate --batch-size`` refusing bad input, and ``handles status`` showing a parent's batches."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from sqlmodel import select

from cli.main import main
from pipeline.runs import create_run
from store.db import session_scope
from store.models import Record, Run, RunState, utcnow
from workers import resources

PARENT_SET = "7600000000000250"


def cli(*args: str) -> int:
    try:
        main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.mark.parametrize(
    "value, says",
    [
        ("0", "--batch-size 0: a batch holds at least 1 record"),
        ("-5", "--batch-size -5: a batch holds at least 1 record"),
        ("abc", "--batch-size 'abc' is not a number"),
        ("1.5", "--batch-size '1.5' is not a number"),
    ],
)
def test_a_bad_batch_size_is_one_line_and_nothing_is_stored(value: str, says: str, capsys) -> None:  # type: ignore[no-untyped-def]
    code = cli("migrate", PARENT_SET, f"--batch-size={value}")
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("handles: error: ") and says in err
    resources.ensure_schema()
    with session_scope(resources.engine()) as session:
        assert session.exec(select(Run)).first() is None


def test_a_bad_alma_batch_size_setting_is_one_line(monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ALMA_BATCH_SIZE", "0")
    assert cli("migrate", PARENT_SET) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ALMA_BATCH_SIZE" in err


def mms(i: int) -> str:
    return f"9921{i:09d}04641"


@pytest.fixture
def parent() -> int:
    """A parent of 12 batches of 100: batch 1 succeeded (40 minutes), 2 failed, 3 waits for Alma's
    budget, 4 waits for the operator; 5–12 not started."""
    resources.ensure_schema()
    now = utcnow()
    with session_scope(resources.engine()) as session:
        run = create_run(session=session, set_id=PARENT_SET, batch_size=100)
        run.state, run.batch_of, run.set_name = RunState.RUNNING, 12, "Handle batch test"
        session.add(run)
        session.flush()
        for i in range(3):
            session.add(Record(run_id=run.id, position=i, mms_id=mms(i), expected_handle=f"11084/{i}"))
        states = [
            (RunState.SUCCEEDED, None, None),
            (RunState.FAILED, None, "migration step: the Alma job failed"),
            (RunState.WAITING, "waiting: job M48401 already started 5 times in the past hour", None),
            (RunState.WAITING_OPERATOR, "run the profile in Alma's UI, then handles confirm", None),
        ]
        for number, (state, reason, error) in enumerate(states, start=1):
            child = create_run(
                session=session,
                set_id=f"770000000000{number}",
                parent_run_id=run.id,
                batch_no=number,
                batch_of=12,
                member_count=100,
            )
            child.state, child.wait_reason, child.error = state, reason, error
            child.created_at = now - timedelta(minutes=50)
            if state == RunState.SUCCEEDED:
                child.finished_at = child.created_at + timedelta(minutes=40)
            session.add(child)
        session.flush()
        first = session.exec(select(Run).where(Run.batch_no == 1)).one()
        session.add(
            Record(run_id=first.id, mms_id=mms(0), outcome="migrated", verification="ok", detail="no event")
        )
        return run.id  # type: ignore[return-value]


def test_status_shows_the_batches_why_they_wait_and_the_time_left(parent: int, capsys) -> None:  # type: ignore[no-untyped-def]
    assert cli("status", str(parent), "--json") == 0
    snap = json.loads(capsys.readouterr().out)
    batches = snap["batches"]
    assert (batches["total"], batches["succeeded"], batches["failed"]) == (12, 1, 1)
    assert (batches["running"], batches["not_started"]) == (2, 8)
    assert [b["state"] for b in batches["batches"]] == ["succeeded", "failed", "waiting", "waiting_operator"]
    assert batches["batches"][2]["note"] == "waiting: job M48401 already started 5 times in the past hour"
    assert batches["batches"][1]["note"] == "migration step: the Alma job failed"
    assert "3 batches run at a time" in batches["not_started_why"]
    # 10 batches left, 3 at a time, 40 minutes each (the one finished): 4 rounds
    assert batches["mean_batch_seconds"] == 40 * 60
    assert batches["time_left_seconds"] == 4 * 40 * 60 and batches["time_left_measured"] is True
    assert batches["summary"] == (
        "batches: 2 of 12 done (1 failed), 2 running, 8 not started; about 2.7 hours left"
    )

    assert cli("status", str(parent)) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert "batches: 2 of 12 done (1 failed), 2 running, 8 not started; about 2.7" in out
    assert any("5–12" in line and "not started" in line for line in lines)
    # the note column wraps: each batch's reason is there, in its words
    assert "waiting: job M48401 already" in out and "started 5 times in the past hour" in out
    assert "run the profile in Alma's UI," in out and "migration step: the Alma job" in out
    assert "a batch takes about 40 minutes" in out


def test_the_recent_runs_list_the_parent_not_its_batches(parent: int, capsys) -> None:  # type: ignore[no-untyped-def]
    assert cli("status", "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in rows] == [parent]


def test_the_report_has_one_row_per_record_of_the_parent_set_with_what_finished_batches_found(
    parent: int, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "report.csv"
    assert cli("report", str(parent), "--output", str(out)) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["mms_id"] for r in rows] == [mms(0), mms(1), mms(2)]
    first = rows[0]
    assert (first["outcome"], first["verification"]) == ("migrated", "ok")
    assert first["detail"].startswith("batch 1 of 12 (run ")
    assert rows[1]["outcome"] == "unknown"
