"""Item 3/8 of issue 15: `handles status` fits 80 columns, never cuts an identifier, exits for cron."""

from __future__ import annotations

import pytest

from cli.main import main
from tests.unit.cli.conftest import LONG_NOTE


def cli(capsys, *args: str) -> tuple[int, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().out


def assert_fits(out: str) -> None:
    too_wide = [line for line in out.splitlines() if len(line) > 80]
    assert not too_wide, too_wide


def test_status_run_fits_and_shows_whole_ids(big_run, capsys) -> None:
    run_id, records = big_run
    code, out = cli(capsys, "status", str(run_id))
    assert code == 0
    assert_fits(out)
    problems = [r for r in records if r[2] != "migrated" or r[0] in {records[n][0] for n in range(0, 60, 4)}]
    for mms_id, handle, _ in problems[:20]:
        assert f"  {mms_id}  " in out and handle in out
    assert f"… and {len(problems) - 20} more" in out
    for n in range(4):  # Alma instance ids, whole
        assert f"{n}8290133900004641" in out
    # a summary first, with the next step for each outcome
    assert out.index("outcomes (60 records)") < out.index("records that need attention")
    assert f"handles repair {run_id}" in out
    # a long note is capped, not a tall column
    assert out.count("Alma says the job ended") < 40
    assert LONG_NOTE not in out


def test_status_all_lists_every_problem(big_run, capsys) -> None:
    run_id, records = big_run
    code, out = cli(capsys, "status", str(run_id), "--all")
    assert code == 0
    assert_fits(out)
    for mms_id, handle, outcome in records:
        if outcome != "migrated":
            assert mms_id in out and handle in out
    assert "more (" not in out


def test_recent_runs_fit(big_run, capsys) -> None:
    run_id, _ = big_run
    code, out = cli(capsys, "status")
    assert code == 0
    assert_fits(out)
    assert "7593466560004641" in out and "Europe/London" in out


def test_regressions_fit_and_exit_1(big_run, capsys) -> None:
    _, records = big_run
    code, out = cli(capsys, "status", "--regressions")
    assert code == 1
    assert_fits(out)
    regressed = [records[n] for n in range(0, 60, 4)]
    assert f"{len(regressed)} regression(s)" in out
    for mms_id, handle, _ in regressed[:15]:
        assert handle in out and mms_id in out


def test_no_regressions_exit_0(capsys) -> None:
    assert cli(capsys, "db", "upgrade")[0] == 0  # a database where nothing has regressed
    code, out = cli(capsys, "status", "--regressions")
    assert code == 0 and "no regressions" in out


@pytest.mark.parametrize("args", [["status", "--help"], ["--help"]])
def test_help_fits(args, capsys) -> None:
    code, out = cli(capsys, *args)
    assert code == 0
