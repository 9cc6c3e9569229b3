"""The bad-input table (issue 13): each bad input through the real command line gives the expected
exit status, one line on stderr (never a traceback, never a secret), and stores nothing it should not.

The cases are in tests/bad_input_cases.py. Each runs ``python -m cli.main …`` as a subprocess with an
environment from :func:`tests.support.sandbox_env` (the sandbox over real HTTP, real Redis as the
broker, a fresh SQLite database per case).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, inspect, text

from tests.bad_input_cases import CASES, SECRET, Case, prepare_run
from tests.support import ROOT, sandbox_env

pytestmark = pytest.mark.integration


def _rows(db: Path) -> dict[str, int]:
    if not db.exists():
        return {}
    engine = create_engine(f"sqlite:///{db}")
    try:
        tables = [t for t in inspect(engine).get_table_names() if t != "alembic_version"]
        with engine.connect() as conn:
            counts = {t: conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in tables}
        return {t: n for t, n in counts.items() if n}
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def registered(sandbox_url: str) -> str:
    """Three handles in the sandbox's resolver: 991 and 993 correct, 992 pointing to http://[x."""
    template = sandbox_url + "/discovery/fulldisplay/alma{}/01GCL_INST:GCL"
    for n, to in [(1, template.format(991)), (2, "http://[x"), (3, template.format(993))]:
        body = {"handle": f"11084/bad{n}", "url": to}
        httpx.post(f"{sandbox_url}/sandbox/registry", json=body, timeout=10).raise_for_status()
    return sandbox_url


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, registered: str, redis_url: str, tmp_path: Path) -> None:
    db = tmp_path / "bad.db"
    env = sandbox_env(registered, database_url=f"sqlite:///{db}", broker_url=redis_url, **case.env)
    if case.run:
        prepare_run(db)
    for name, content in case.files.items():
        content = content() if callable(content) else content
        if isinstance(content, bytes):
            (tmp_path / name).write_bytes(content)
        else:
            (tmp_path / name).write_text(content)
    if case.seed is not None:
        case.seed(f"sqlite:///{db}")
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", *case.args],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT), "COLUMNS": "80"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    err_lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == case.code, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert SECRET not in proc.stderr + proc.stdout
    assert "\x1b" not in proc.stderr + proc.stdout  # no terminal escape sequence from the input
    assert len(proc.stdout) <= case.output_max and len(proc.stderr) <= case.output_max
    if case.says:
        # one error line, the last; a log line before it (the Alma client's retries) is allowed
        errors = [line for line in err_lines if line.startswith("handles: error: ")]
        assert errors == err_lines[-1:], proc.stderr
        assert case.says in errors[0]
        assert len(err_lines) == 1 or case.retries_logged, proc.stderr
    if case.stdout_has:
        assert case.stdout_has in proc.stdout
    assert _rows(db) == case.stored
    if case.no_database:
        assert not db.exists()
