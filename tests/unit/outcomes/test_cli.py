"""The CLI: `handles events import` and `handles report`, including bad input as one line."""

from __future__ import annotations

import csv
import io

import pytest

from cli.main import main
from store.db import session_scope
from store.models import EventLine, Record, Run
from workers import resources

A = (
    "Record 991011507293904641 was skipped. Reason: BIB record MMS ID 991011507293904641 already has "
    "a handle identifier 11084/1742400039"
)


@pytest.fixture
def run_id():  # type: ignore[no-untyped-def]
    resources.ensure_schema()
    with session_scope(resources.engine()) as session:
        run = Run(set_id="7593466560004641")
        session.add(run)
        session.flush()
        for position, (mms, handle) in enumerate(
            [("991011589491704641", "11084/88"), ("991011507293904641", "11084/99")]
        ):
            session.add(Record(run_id=run.id, position=position, mms_id=mms, expected_handle=handle))
        return run.id


def cli(*args: str) -> int:
    try:
        main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_import_then_report(run_id, tmp_path, capsys):
    path = tmp_path / "events.csv"
    path.write_text(f'Event Description,Event Date\n"{A}",09/30/2025 11:35:50 CDT\n')
    assert cli("events", "import", str(run_id), str(path)) == 0
    assert "1 new" in capsys.readouterr().out
    out = tmp_path / "report.csv"
    assert cli("report", str(run_id), "--output", str(out)) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [(r["mms_id"], r["outcome"]) for r in rows] == [
        ("991011589491704641", "unknown"),
        ("991011507293904641", "conflict"),
    ]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty"),
        (b"\x00\x01\x02\x03", "binary"),
        (b"mms_id,title\n1,x\n", "not an Events Report"),
        (
            b"Event Description\n" + A.replace("991011507293904641", "991000000000004641").encode() + b"\n",
            "not about a record of run|none of its 1 event lines",
        ),
        (b'Severity,Event Description\nInformation,"' + A.encode() + b'"\nInformation\n', "line 3"),
    ],
)
def test_bad_files_one_line_nothing_stored(run_id, tmp_path, capsys, content, message):
    path = tmp_path / "bad"
    path.write_bytes(content)
    assert cli("events", "import", str(run_id), str(path)) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert any(m in err for m in message.split("|")), err
    with session_scope(resources.engine()) as session:
        assert session.query(EventLine).count() == 0


def test_unknown_run_and_missing_file(run_id, tmp_path, capsys):
    assert cli("report", "999") != 0
    assert "no run 999" in capsys.readouterr().err
    assert cli("events", "import", str(run_id), str(tmp_path / "nope.csv")) != 0
    assert "no such file" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [
        ("events", "import", "999"),
        ("repair", "999"),
        ("repair", "999", "--apply"),
        ("restore", "999"),
        ("repair-conflicts", "999"),
    ],
)
def test_unknown_run_is_one_line(run_id, tmp_path, capsys, args):
    """Every command that takes a run id says "there is no run" in one line (store.runs.RunNotFound)."""
    if args[0] == "events":
        path = tmp_path / "events.csv"
        path.write_text("Event Description\n" + A + "\n", encoding="utf-8")
        args = (*args, str(path))
    assert cli(*args) != 0
    err = capsys.readouterr().err.strip()
    assert err == "handles: error: there is no run 999", err
