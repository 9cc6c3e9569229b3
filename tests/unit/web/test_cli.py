"""``handles web`` refuses to start without HANDLES_WEB_AUTH, or on a database that is not there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT


def handles_web(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HANDLES_", "DATABASE_"))}
    clean.update(PYTHONPATH=str(ROOT), **env)
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "web", "--port", "1"],
        cwd=tmp_path,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_refuses_to_start_without_auth(tmp_path: Path) -> None:
    done = handles_web(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'h.db'}")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "handles: error: HANDLES_WEB_AUTH is not set: set it to user:password "
        "(the page never starts without a password)"
    ]
    assert (
        handles_web(tmp_path, HANDLES_WEB_AUTH="nopassword")
        .stderr.strip()
        .endswith("HANDLES_WEB_AUTH is not user:password")
    )


def test_refuses_a_database_that_is_not_there_and_creates_none(tmp_path: Path) -> None:
    db = tmp_path / "var" / "handles.db"
    done = handles_web(tmp_path, HANDLES_WEB_AUTH="a:secret-word", DATABASE_URL=f"sqlite:///{db}")
    assert done.returncode == 2 and "no database at" in done.stderr and "Traceback" not in done.stderr
    assert "secret-word" not in done.stderr + done.stdout
    assert not db.exists()
