"""Import → EventLines → classification → report, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlmodel import select

from config.settings import load_settings
from outcomes.classify import classify_run
from outcomes.events.read import EventsFileError
from outcomes.events.store import import_file
from outcomes.report import COLUMNS, iter_rows, write_csv, write_json
from store.db import session_scope
from store.models import EventLine, Record, Verification
from store.runs import RunNotFound

A = (
    "Record 991011507293904641 was skipped. Reason: BIB record MMS ID 991011507293904641 already has "
    "a handle identifier 11084/1742400039"
)
SAME = (
    "Record 991011589491704641 was skipped. Reason: BIB record MMS ID 991011589491704641 already has "
    "a handle identifier 11084/88"
)
NO = (
    "Record 991011507142104641 was skipped. Reason: BIB record MMS ID 991011507142104641 does not "
    "have a handle identifier"
)
DATE = "09/30/2025 11:35:50 CDT"


def events_csv(tmp_path, *lines, name="events.csv"):
    path = tmp_path / name
    body = "".join(f'"{line}",{DATE},Information,Repository,System\n' for line in lines)
    path.write_text("Event Description,Event Date,Severity,Module,Creator\n" + body)
    return path


def run_import(engine, run_id, path):
    with session_scope(engine) as session:
        summary = import_file(session=session, run_id=run_id, path=path)
        classify_run(session=session, run_id=run_id, settings=load_settings())
    return summary


def records(engine, run_id):
    with session_scope(engine) as session:
        rows = session.exec(select(Record).where(Record.run_id == run_id).order_by(Record.position)).all()
        return {r.mms_id: (r.outcome, r.alma_handle, r.detail, r.updated_at) for r in rows}


def test_seed_events_classify_every_record(seeded, tmp_path):
    engine, run_id = seeded
    summary = run_import(engine, run_id, events_csv(tmp_path, A, SAME.replace("11084/88", "11084/88"), NO))
    assert (summary.lines, summary.new, summary.duplicates) == (3, 3, 0)
    got = records(engine, run_id)
    assert got["991011589491704641"][:2] == ("already_migrated", "11084/88")
    outcome, held, detail, _ = got["991011507293904641"]
    assert (outcome, held) == ("conflict", "11084/1742400039")
    assert "11084/99" in detail and A in detail  # both handles and Alma's text verbatim
    outcome, held, detail, _ = got["991011507142104641"]
    assert outcome == "malformed_identifier" and NO in detail and "dcterms:URI" in detail


def test_already_has_compares_ascii_case_insensitively(seeded, tmp_path):
    engine, run_id = seeded
    with session_scope(engine) as session:
        rec = session.exec(select(Record).where(Record.mms_id == "991011589491704641")).one()
        rec.expected_handle = "11084/abc"
    run_import(engine, run_id, events_csv(tmp_path, SAME.replace("11084/88", "11084/ABC")))
    assert records(engine, run_id)["991011589491704641"][0] == "already_migrated"


def test_reimport_identical_changes_nothing(seeded, tmp_path):
    engine, run_id = seeded
    path = events_csv(tmp_path, A, SAME, NO)
    run_import(engine, run_id, path)
    before = records(engine, run_id)
    with session_scope(engine) as session:
        count = len(session.exec(select(EventLine)).all())
    # the same report, as copied page text this time
    text = tmp_path / "events.txt"
    text.write_text(
        "".join(
            f"{i} {line}\t{DATE}\tInformation\tRepository\tSystem\n"
            for i, line in enumerate([A, SAME, NO], 1)
        )
    )
    summary = run_import(engine, run_id, text)
    assert (summary.new, summary.duplicates) == (0, 3)
    assert records(engine, run_id) == before  # updated_at too
    with session_scope(engine) as session:
        assert len(session.exec(select(EventLine)).all()) == count


def test_lines_about_other_records_are_reported_not_stored(seeded, tmp_path):
    engine, run_id = seeded
    stranger = A.replace("991011507293904641", "991099999999904641")
    summary = run_import(engine, run_id, events_csv(tmp_path, A, stranger))
    assert (summary.new, summary.not_in_set, summary.not_in_set_sample) == (1, 1, ["991099999999904641"])
    assert "not in the run's set" in summary.describe()
    with session_scope(engine) as session:
        assert session.exec(select(EventLine.mms_id)).all() == ["991011507293904641"]


def test_malformed_file_stores_nothing(seeded, tmp_path):
    engine, run_id = seeded
    run_import(engine, run_id, events_csv(tmp_path, A))
    before = records(engine, run_id)
    path = tmp_path / "bad.csv"
    path.write_text(f'Severity,Event Description\nInformation,"{SAME}"\nInformation\n')
    with pytest.raises(EventsFileError, match="line"):
        run_import(engine, run_id, path)
    with session_scope(engine) as session:
        assert [e.mms_id for e in session.exec(select(EventLine)).all()] == ["991011507293904641"]
    assert records(engine, run_id) == before


def test_unknown_run(engine, tmp_path):
    with pytest.raises(RunNotFound), session_scope(engine) as session:
        import_file(session=session, run_id=999, path=events_csv(tmp_path, A))


def test_reconciliation_without_events(seeded):
    engine, run_id = seeded
    with session_scope(engine) as session:
        rec = session.exec(select(Record).where(Record.mms_id == "991011589491704641")).one()
        rec.verification = Verification.OK
        classify_run(session=session, run_id=run_id, settings=None)
    got = records(engine, run_id)
    assert got["991011589491704641"][0] == "migrated"
    assert got["991011507293904641"][0] == "unknown"
    assert "import the Events Report" in got["991011507293904641"][2]
    assert got["991011507142104641"][0] == "malformed_identifier"


def test_failed_and_other_events(seeded, tmp_path):
    engine, run_id = seeded
    failed = "Record 991011589491704641 failed. Reason: Record is locked"
    other = "Record 991011507293904641 was skipped. Reason: something new"
    run_import(engine, run_id, events_csv(tmp_path, failed, other))
    got = records(engine, run_id)
    assert got["991011589491704641"][0] == "failed" and got["991011589491704641"][2] == failed
    assert got["991011507293904641"][0] == "unknown" and other in got["991011507293904641"][2]


def test_report_rows_csv_and_json(seeded, tmp_path):
    engine, run_id = seeded
    run_import(engine, run_id, events_csv(tmp_path, A, SAME, NO))
    with session_scope(engine) as session:
        out = io.StringIO()
        assert write_csv(iter_rows(session=session, run_id=run_id, settings=load_settings()), out) == 3
        js = io.StringIO()
        write_json(iter_rows(session=session, run_id=run_id), js)
    lines = out.getvalue().splitlines()
    assert lines[0] == (
        "mms_id,pid,expected_handle,alma_handle,outcome,verification,target_url,detail,verification_before"
    )
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["mms_id"] for r in rows] == ["991011589491704641", "991011507293904641", "991011507142104641"]
    assert rows[1]["alma_handle"] == "11084/1742400039" and rows[1]["outcome"] == "conflict"
    assert rows[0]["target_url"].endswith("/alma991011589491704641/01GCL_INST:GCL")
    assert [tuple(r) for r in json.loads(js.getvalue())] == [COLUMNS] * 3
