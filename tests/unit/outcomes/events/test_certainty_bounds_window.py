"""Issue 13 items 3 and 5, issue 15 item 2: one format or refused; size bounds; another run's report."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from outcomes.events.read import MAX_EVENT_CHARS, EventRow, EventsFileError, detect_format, read_events
from outcomes.events.store import import_file
from outcomes.events.window import EventsWindowError, Window, event_times
from store.db import session_scope
from store.models import EventLine, Record, Step
from tests import hostile

CHICAGO = ZoneInfo("America/Chicago")
A = hostile.EVENT  # about 991011507293904641, a record of the seeded run
HEADER = "Event Description,Event Date,Severity,Module,Creator\n"


def write(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def stored(engine, run_id):
    with session_scope(engine) as session:
        lines = session.exec(select(EventLine).where(EventLine.run_id == run_id)).all()
        outcomes = dict(
            session.exec(select(Record.mms_id, Record.outcome).where(Record.run_id == run_id)).all()
        )
        return len(lines), outcomes


def test_other_headers_are_refused_not_read_as_copied_text(seeded, tmp_path):
    # issue 13's case: "Description,Date" rows once turned already_migrated into a conflict, exit 0
    engine, run_id = seeded
    text = "Description,Date\n" + A.replace("11084/1742400039", "11084/88") + ",30/11/2026\n"
    path = write(tmp_path, "other.csv", text.encode())
    with pytest.raises(EventsFileError) as info:
        detect_format(path)
    assert str(info.value) == (
        "line 1: not an Events Report: found columns Description, Date; wanted 'Event Description' "
        "(and Event Date, Severity, Module, Creator)"
    )
    before = stored(engine, run_id)
    with pytest.raises(EventsFileError), session_scope(engine) as session:
        import_file(session=session, run_id=run_id, path=path)
    assert stored(engine, run_id) == before == (0, before[1])


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (f"{HEADER}{A},05/08/2025 15:58:23 CDT,Information,Repository,System\n".encode(), "csv"),
        (f"Events Report\n1 - 1 of 1\n1 {A}\t05/08/2025 15:58:23 CDT\n".encode(), "text"),
        (f"{A} 05/08/2025\n".encode("utf-16"), "text"),
        (
            f"Event Description|Event Date\n{A}|05/08/2025\n".encode("utf-16-be").join([b"\xfe\xff", b""]),
            "csv",
        ),
    ],
)
def test_each_format_from_its_content(tmp_path, data, fmt):
    assert detect_format(write(tmp_path, "e", data)) == fmt
    assert [r.description for r in read_events(tmp_path / "e")[1]] == [A]


def test_a_handle_that_cannot_be_read_refuses_the_import(seeded, tmp_path):
    engine, run_id = seeded
    path = write(tmp_path, "e.txt", (A.replace("11084/1742400039", "11084/88,30/11/2026") + "\n").encode())
    with pytest.raises(EventsFileError, match="cannot read the handle"), session_scope(engine) as session:
        import_file(session=session, run_id=run_id, path=path)
    assert stored(engine, run_id)[0] == 0


@pytest.mark.parametrize("fmt", ["csv", "text", "xlsx"])
def test_one_event_length_limit_for_all_three_formats(tmp_path, fmt):
    long = A + " " + "x" * MAX_EVENT_CHARS
    data = {
        "csv": f"{HEADER}{long},05/08/2025\n".encode(),
        "text": f"{long}\n".encode(),
        "xlsx": hostile.long_event(MAX_EVENT_CHARS + 10),
    }[fmt]
    with pytest.raises(EventsFileError, match=r"^line 2: event longer than 8,192 characters|^line 1: event"):
        list(read_events(write(tmp_path, f"e.{fmt}", data))[1])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: hostile.zip_bomb(314), "over the 200 MB limit"),
        (lambda: hostile.zip_bomb(150), "inflates over 200 times"),
        (lambda: hostile.long_attribute(50), "inflates over 200 times"),
        (lambda: hostile.long_attribute(1, incompressible=True), "longer than 32,767 characters"),
    ],
)
def test_hostile_workbooks_are_refused_quickly(tmp_path, make, message):
    path = write(tmp_path, "e.xlsx", make())
    start = time.perf_counter()
    with pytest.raises(EventsFileError, match=message) as info:
        list(read_events(path)[1])
    assert time.perf_counter() - start < 2
    assert "\n" not in str(info.value)


def test_event_dates_read_in_the_reports_zone():
    # Alma writes local time; an abbreviation after it is honoured; day/month both tried when ambiguous
    got = event_times("05/08/2025 15:58:23 CDT", CHICAGO)
    assert [t.astimezone(CHICAGO).strftime("%m-%d %H:%M") for t in got] == ["05-08 15:58", "08-05 15:58"]
    assert event_times("09/30/2025 03:35 PM", CHICAGO)[0].hour == 15
    assert event_times("2025-09-30 20:35:50Z", CHICAGO)[0].astimezone(CHICAGO).hour == 15
    assert event_times("30/11/2026 10:00", CHICAGO)[0].month == 11
    assert event_times("yesterday", CHICAGO) == []


def _window(start: datetime, minutes: int) -> Window:
    utc = ZoneInfo("UTC")
    return Window(
        7, start.replace(tzinfo=utc), (start + timedelta(minutes=minutes)).replace(tzinfo=utc), CHICAGO
    )


def test_window_check_names_the_window_in_the_operators_zone():
    window = _window(datetime(2025, 9, 30, 16, 30), 20)  # 11:30-11:50 CDT
    window.check(EventRow(2, A, "09/30/2025 11:35:50 CDT"))
    window.check(EventRow(2, A, "09/30/2025 11:54:00"))  # within the 5-minute margin
    window.check(EventRow(2, A, None))  # undated: nothing to compare
    with pytest.raises(EventsWindowError) as info:
        window.check(EventRow(3, A, "09/30/2025 11:20:00 CDT"))
    assert str(info.value) == (
        "line 3: event dated 2025-09-30 11:20 CDT is outside run 7's migration "
        "(2025-09-30 11:30–11:50 CDT, ±5 min): another run's Events Report?"
    )
    with pytest.raises(EventsWindowError, match="cannot read the event date"):
        window.check(EventRow(4, A, "soon"))


def test_another_runs_report_is_refused_and_nothing_stored(seeded, tmp_path):
    engine, run_id = seeded
    with session_scope(engine) as session:
        session.add(
            Step(
                run_id=run_id,
                kind="migration",
                position=1,
                status="succeeded",
                started_at=datetime(2025, 9, 30, 16, 30),
                ended_at=datetime(2025, 9, 30, 16, 50),
            )
        )
    ours = f"{HEADER}{A},09/30/2025 11:35:50 CDT,Information,Repository,System\n"
    theirs = ours + f"{A.replace('1742400039', '1')},09/30/2025 11:20:00 CDT,Information,Repository,System\n"
    with pytest.raises(EventsWindowError, match="outside run"), session_scope(engine) as session:
        import_file(
            session=session, run_id=run_id, path=write(tmp_path, "t.csv", theirs.encode()), zone=CHICAGO
        )
    assert stored(engine, run_id)[0] == 0
    with session_scope(engine) as session:
        summary = import_file(
            session=session, run_id=run_id, path=write(tmp_path, "o.csv", ours.encode()), zone=CHICAGO
        )
    assert summary.new == 1 and stored(engine, run_id)[0] == 1


def test_no_window_known_no_date_checked(seeded, tmp_path):
    engine, run_id = seeded  # no migration step recorded (e.g. adopted by an operator path)
    data = f"{HEADER}{A},01/01/2020 00:00,Information,Repository,System\n".encode()
    with session_scope(engine) as session:
        assert (
            import_file(session=session, run_id=run_id, path=write(tmp_path, "e.csv", data), zone=CHICAGO).new
            == 1
        )
