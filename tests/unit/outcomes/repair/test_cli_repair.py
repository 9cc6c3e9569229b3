"""The repair commands as an operator sees them: the error line after a PUT whose fate is unknown,
what restore says about handles already registered, and the support case without a Handle server."""

from __future__ import annotations

import pytest

from cli import repair as repair_cli
from cli.main import main
from store.db import session_scope
from store.models import BibBackup, Outcome, Record, Run
from tests.unit.outcomes.repair.alma_bibs import MMS, ORIGINAL, AlmaBibs
from tests.unit.outcomes.repair.test_support_case import MMS_99, Titles, resolver
from workers import resources


@pytest.fixture(autouse=True)
def _alma_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """ALMA_API_BASE_URL given, so the commands print no "using the built-in sandbox" notice."""
    monkeypatch.setenv("ALMA_API_BASE_URL", "http://127.0.0.1:8780")


def cli(*args: str) -> int:
    try:
        main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def stored(*records: Record) -> int:
    resources.ensure_schema()
    with session_scope(resources.engine()) as session:
        run = Run(set_id="7593466560004641")
        session.add(run)
        session.flush()
        for record in records:
            record.run_id = run.id  # type: ignore[assignment]
            session.add(record)
        return int(run.id)  # type: ignore[arg-type]


def test_a_put_whose_fate_is_unknown_says_restore_checks(monkeypatch, capsys):
    run_id = stored(
        Record(
            mms_id=MMS, pid="grinnell:32100", expected_handle="11084/32100", outcome="malformed_identifier"
        )
    )
    fake = AlmaBibs()
    fake.misbehave = ["timeout"]
    monkeypatch.setattr(repair_cli, "_alma", fake.client)
    assert cli("repair", str(run_id), "--apply") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("handles: error: Alma error during the repair: ")
    assert (
        f"Alma may or may not have taken the change; `handles restore {run_id}` checks and puts it back "
        "if it did" in err[0]
    )
    assert cli("restore", str(run_id)) == 0
    assert f"{MMS}  restored" in capsys.readouterr().out and fake.bibs[MMS] == ORIGINAL


@pytest.mark.parametrize(
    "server, advice", [("", "handles request delete HANDLE --yes"), ("none", "Ex Libris")]
)
def test_restore_lists_the_handles_the_child_run_registered(monkeypatch, capsys, server, advice):
    if server:
        monkeypatch.setenv("HANDLE_SERVER_URL", server)
    run_id = stored(Record(mms_id=MMS, expected_handle="11084/32100", outcome="malformed_identifier"))
    fake = AlmaBibs()
    repaired = ORIGINAL.replace(' xsi:type="dcterms:URI"', "")
    fake.bibs[MMS] = repaired
    with session_scope(resources.engine()) as session:
        child = Run(set_id="7600000000100000", parent_run_id=run_id, skip_copy=True)
        session.add(child)
        session.flush()
        session.add(
            Record(run_id=child.id, mms_id=MMS, expected_handle="11084/32100", outcome=Outcome.MIGRATED)
        )
        session.add(
            BibBackup(
                run_id=run_id,
                child_run_id=child.id,
                mms_id=MMS,
                original_xml=ORIGINAL,
                repaired_xml=repaired,
                state="applied",
                applied_at=child.created_at,
            )
        )
    monkeypatch.setattr(repair_cli, "_alma", fake.client)
    assert cli("restore", str(run_id)) == 0
    out = capsys.readouterr().out
    assert fake.bibs[MMS] == ORIGINAL
    assert "1 handle(s) the repair's child run registered still resolve" in out
    assert max(len(line.expandtabs()) for line in out.splitlines()) <= 80
    assert f"{MMS}\t11084/32100" in out and advice in out
    assert "does not remove a handle Alma already registered" in out


def test_repair_conflicts_without_own_handle_server_writes_a_support_case(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("HANDLE_SERVER_URL", "none")
    run_id = stored(
        Record(mms_id=MMS_99, expected_handle="11084/99", alma_handle="11084/1742400039", outcome="conflict")
    )
    monkeypatch.setattr(repair_cli, "_alma", Titles)
    monkeypatch.setattr(repair_cli, "make_client", lambda config: resolver())
    assert cli("repair-conflicts", str(run_id)) == 0
    out = capsys.readouterr().out
    folder = tmp_path / f"handles-support-case-run-{run_id}"
    csv_path, text_path = (folder / f"support-case-run-{run_id}.{ext}" for ext in ("csv", "txt"))
    assert csv_path.is_file() and text_path.is_file()
    assert str(csv_path.relative_to(tmp_path)) in out and str(text_path.relative_to(tmp_path)) in out
    assert "Ex Libris hosts your" in out and max(len(line) for line in out.splitlines()) <= 80
    assert MMS_99 in csv_path.read_text()


def test_repair_conflicts_output_that_is_a_file_is_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("HANDLE_SERVER_URL", "none")
    (tmp_path / "case.txt").write_text("x")
    assert cli("repair-conflicts", "1", "--output", "case.txt") == 1
    assert capsys.readouterr().err.strip() == "handles: error: --output case.txt is a file, not a directory"
