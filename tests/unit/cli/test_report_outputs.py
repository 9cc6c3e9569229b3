"""Items 3 and 6 of issue 15: the report for people (80 columns) and as a workbook Excel keeps whole."""

from __future__ import annotations

import csv
import io

from openpyxl import load_workbook

from cli.main import main
from outcomes.report import COLUMNS
from outcomes.report_xlsx import SAME, SUMMARY


def cli(capsys, *args: str) -> tuple[int, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().out


def test_report_as_xlsx_keeps_ids_as_text(big_run, tmp_path, capsys) -> None:
    run_id, records = big_run
    path = tmp_path / "report.xlsx"
    code, _ = cli(capsys, "report", str(run_id), "--format", "xlsx", "--output", str(path))
    assert code == 0
    book = load_workbook(path)
    assert book.sheetnames == [SUMMARY, "Migrated", "Conflicts", "Fix metadata", "Failed", "No evidence yet"]
    summary = book[SUMMARY]
    title = summary["A1"].value
    assert f"run {run_id}" in title and "set 7593466560004641" in title and "GMT" in title
    assert [summary.cell(row=4, column=n).value for n in (1, 2)] == ["outcome", "records"]
    totals = {summary.cell(row=r, column=1).value: summary.cell(row=r, column=2).value for r in range(5, 12)}
    assert totals["conflict"] == 10 and totals["total"] == 60
    migrated = book["Migrated"]
    assert [c.value for c in migrated[2]][: len(COLUMNS)] == list(COLUMNS)
    first = migrated[3]
    assert first[0].value == records[0][0] and len(first[0].value) == 18  # the 18-digit MMS id intact
    assert first[0].data_type == "s" and first[0].number_format == "@"
    assert first[2].value == records[0][1] and first[2].number_format == "@"
    assert first[3].value == SAME  # alma_handle for people
    assert first[len(COLUMNS)].value == "Alma took the expected handle"
    conflicts = book["Conflicts"]
    assert conflicts[3][3].value.startswith("11084/1742401")
    assert "repair-conflicts" in conflicts[3][len(COLUMNS) + 1].value
    rows = sum(book[name].max_row - 2 for name in book.sheetnames[1:])
    assert rows == 60


def test_csv_keeps_its_contract_columns(big_run, capsys) -> None:
    run_id, records = big_run
    code, out = cli(capsys, "report", str(run_id), "--format", "csv")
    assert code == 0
    reader = csv.DictReader(io.StringIO(out))
    assert tuple(reader.fieldnames or ()) == COLUMNS
    first = next(reader)
    assert first["mms_id"] == records[0][0] and first["alma_handle"] == ""  # blank, as before


def test_report_text_fits_80_columns(big_run, capsys) -> None:
    run_id, records = big_run
    code, out = cli(capsys, "report", str(run_id), "--format", "text")
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "outcomes (60 records)" in out and f"handles repair {run_id}" in out
    for mms_id, handle, outcome in records[1:20]:
        if outcome != "migrated":
            assert mms_id in out and handle in out
    code, out = cli(capsys, "report", str(run_id), "--format", "text", "--all", "--wide")
    assert max(len(line) for line in out.splitlines()) <= 80
    assert all(mms_id in out and handle in out for mms_id, handle, _ in records)
    assert "Alma holds same as expected" in out  # a migrated record, for people


def test_bad_format_is_one_line(big_run, capsys) -> None:
    run_id, _ = big_run
    try:
        main(["report", str(run_id), "--format", "pdf"])
    except SystemExit as exc:
        assert exc.code == 1
    err = capsys.readouterr().err
    assert "csv, json, xlsx or text" in err and len(err.strip().splitlines()) == 1
