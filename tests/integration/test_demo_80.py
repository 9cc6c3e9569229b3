"""Issue 15's "done when": the demo's output fits 80 columns, never cuts an identifier, ends with what to
do next (a real sandbox, a real worker, the operator's own commands, as `handles demo` runs them)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.timeout(600)
def test_the_demo_fits_80_columns(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALMA_", "HANDLE", "DATABASE_URL"))}
    env["COLUMNS"] = "80"
    # the demo verifies its 44 handles five times; the sandbox's resolver needs no 50-a-second courtesy
    env["VERIFY_RATE_PER_HOST"] = "1000"
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "demo", "--embedded-broker"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=580,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-2000:]
    too_wide = [line for line in output.splitlines() if len(line) > 80]
    assert too_wide == []
    # identifiers whole: every 18-digit MMS id the report lists, every Alma instance id
    assert re.search(r"(?m)^  99\d{16}  11084/\d+ ", output)
    assert not re.search(r"\d…|…\d", output)  # nothing cut in the middle of a number
    assert "outcomes (44 records)" in output and "records that need attention" in output
    assert (tmp_path / "var/demo/report.xlsx").is_file()
    ending = " ".join(output.rstrip().splitlines()[-4:])
    assert "next: open var/demo/report.xlsx" in ending and ending.endswith("`handles status RUN_ID`")
