"""Issue 15 items 1, 5 and 7 through the real command line: one open run per set, rerun, honest defaults.

Real Redis as the broker, the sandbox over HTTP, real worker processes where a run must move.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from sandbox.testing import reset, running_sandbox
from tests.support import ROOT, sandbox_env, wait_for, worker_process
from tests.support import handles as run_handles

pytestmark = pytest.mark.integration

SEED_SET = "7593466560004641"
DEMO_SET = "7600000000004641"
NOTICE = "handles: no ALMA_API_BASE_URL set: using the built-in sandbox at http://127.0.0.1:8780"


@pytest.fixture(scope="module")
def sandbox():  # type: ignore[no-untyped-def]
    with running_sandbox(job_seconds=0.5, profile_api=True) as url:
        yield url


@pytest.fixture
def env(sandbox: str, redis_url: str, tmp_path: Path) -> dict[str, str]:
    reset(sandbox)
    return sandbox_env(
        sandbox,
        database_url=f"sqlite:///{tmp_path / 'handles.db'}",
        broker_url=redis_url,
        REDIS_URL=redis_url,
    )


def handles(
    env: dict[str, str], *args: str, cwd: Path = ROOT, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """As an operator at an 80-column terminal."""
    return run_handles({**env, "COLUMNS": "80"}, *args, cwd=cwd, timeout=timeout)


def lines(stream: str) -> list[str]:
    return [line for line in stream.splitlines() if line.strip()]


def runs(db_url: str) -> list[tuple[int, str, str | None]]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text("select id, state, error from run order by id"))]  # type: ignore[misc]
    finally:
        engine.dispose()


def bare_env(tmp_path: Path) -> dict[str, str]:
    """A host that lost its settings: no ALMA_*, no DATABASE_URL, no .env in the working directory."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ALMA_", "HANDLE_", "CELERY_", "DATABASE_", "REDIS_", "TEST_"))
    }
    env["PYTHONPATH"] = str(ROOT)
    return env


def test_a_command_using_the_sandbox_default_says_so_once(tmp_path: Path) -> None:
    result = handles(bare_env(tmp_path), "migrate", "75934x", cwd=tmp_path)
    assert result.returncode == 2
    assert lines(result.stderr)[0] == NOTICE
    assert result.stderr.count("ALMA_API_BASE_URL") == 1
    assert lines(result.stderr)[1].startswith("handles: error: ")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args", [["status"], ["status", "3"], ["report", "3"], ["verify", "--run", "3"]])
def test_reading_commands_on_a_fresh_directory_create_no_database(tmp_path: Path, args: list[str]) -> None:
    result = handles(bare_env(tmp_path), *args, cwd=tmp_path)
    assert result.returncode != 0
    assert lines(result.stderr)[-1] == (
        "handles: error: no database at ./var/handles.db (DATABASE_URL): nothing has run here yet"
    )
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # no var/, no handles.db


def test_migrate_without_a_worker_says_so_and_a_second_migrate_is_refused_until_forced(
    env: dict[str, str],
) -> None:
    # given no worker: the run stays queued
    started = time.monotonic()
    first = handles(env, "migrate", SEED_SET)
    elapsed = time.monotonic() - started
    assert first.returncode == 0, first.stderr
    first_id = int(first.stdout.strip())
    assert "no worker is running: start `celery -A workers.app worker`" in first.stderr
    assert f"run {first_id} stays queued and starts when a worker comes" in first.stderr
    assert elapsed < 20  # returns after its 2 s ping; 20 s leaves room for a machine busy with other tests
    # when a second migrate on the same set: refused in one line, nothing stored
    second = handles(env, "migrate", SEED_SET)
    assert second.returncode == 1
    assert len(lines(second.stderr)) == 1, second.stderr
    assert f"open run {first_id}" in second.stderr and f"`handles status {first_id}`" in second.stderr
    assert second.stdout == ""
    assert runs(env["DATABASE_URL"]) == [(first_id, "queued", None)]
    # --force: says what it does to the open run, then does it
    forced = handles(env, "migrate", SEED_SET, "--force")
    assert forced.returncode == 0, forced.stderr
    new_id = int(forced.stdout.strip())
    assert lines(forced.stderr)[0].startswith(
        f"handles: --force: run {first_id} (queued) will be marked failed"
    )
    assert runs(env["DATABASE_URL"]) == [
        (first_id, "failed", f"superseded by run {new_id} (handles migrate --force)"),
        (new_id, "queued", None),
    ]


def test_two_migrates_at_the_same_moment_make_one_run(env: dict[str, str], engine, db_url: str) -> None:  # type: ignore[no-untyped-def]
    env = {**env, "DATABASE_URL": db_url, "COLUMNS": "80"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "cli.main", "migrate", SEED_SET],
            cwd=ROOT,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    done = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in done)
    assert codes == [0, 1], done
    assert len(runs(db_url)) == 1
    loser = next(err for code, _, err in done if code == 1)
    assert "open run" in loser or "same moment" in loser


def test_ctrl_c_on_wait_says_the_run_goes_on(env: dict[str, str], tmp_path: Path) -> None:
    err_path = tmp_path / "stderr.txt"
    with open(err_path, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "migrate", SEED_SET, "--wait"],
            cwd=ROOT,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=err,
        )
        try:
            wait_for(lambda: "queued" in err_path.read_text(), timeout=30, what="the run to be queued")
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    run_id = int(out.strip())
    stderr = err_path.read_text()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert lines(stderr)[-1] == (
        f"handles: stopped watching; run {run_id} goes on: follow it with `handles status {run_id}`"
    )
    assert runs(env["DATABASE_URL"]) == [(run_id, "queued", None)]


def snapshot(env: dict[str, str], run_id: int) -> dict:
    result = handles(env, "status", str(run_id), "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def stored(db_url: str, run_id: int) -> tuple[str, str]:
    """The run's state and wait as stored (watched between the status commands asked once)."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text("select state, wait_reason from run where id = :id"), {"id": run_id}
            ).one()
            return row[0], row[1] or ""
    finally:
        engine.dispose()


def ended(env: dict[str, str], run_id: int) -> str:
    """How the run ended, as ``handles status`` says once the database shows it ended."""
    wait_for(
        lambda: stored(env["DATABASE_URL"], run_id)[0] in ("succeeded", "failed"),
        timeout=180,
        what=f"run {run_id} to end",
    )
    return str(snapshot(env, run_id)["state"])


def report_rows(env: dict[str, str], run_id: int) -> dict[str, dict[str, str]]:
    result = handles(env, "report", str(run_id), "--format", "csv")
    assert result.returncode == 0, result.stderr
    return {row["mms_id"]: row for row in csv.DictReader(io.StringIO(result.stdout))}


def test_rerun_of_the_failed_records_folds_into_the_parents_report(
    sandbox: str, env: dict[str, str], tmp_path: Path
) -> None:
    with worker_process(env, log_path=tmp_path / "worker.log"):
        # given the demo set's run, where a locked record failed (read from the Events Report, which
        # the sandbox, like Alma, serves only as the UI's export)
        result = handles(env, "migrate", DEMO_SET)
        assert result.returncode == 0, result.stderr
        parent = int(result.stdout.strip())
        wait_for(
            lambda: stored(env["DATABASE_URL"], parent)[1].startswith("waiting for the Events Report"),
            timeout=120,
            what="the run to ask for the Events Report",
        )
        asked = snapshot(env, parent)
        assert asked["wait_reason"].startswith("waiting for the Events Report"), asked
        migration = asked["steps"][1]
        exported = httpx.get(
            f"{sandbox}/sandbox/events-report/{migration['alma_job_id']}/{migration['instance_id']}.csv",
            timeout=30,
        )
        (tmp_path / "events.csv").write_bytes(exported.content)
        imported = handles(env, "events", "import", str(parent), str(tmp_path / "events.csv"))
        assert imported.returncode == 0, imported.stderr
        assert ended(env, parent) == "succeeded"
        failed = [m for m, row in report_rows(env, parent).items() if row["outcome"] == "failed"]
        assert failed, report_rows(env, parent)
        status = handles(env, "status", str(parent))
        said = " ".join(status.stdout.split())
        assert f"failed {len(failed)} " in said and "next: re-run only these records with" in said
        # when
        rerun = handles(env, "rerun", str(parent), "--outcome", "failed")
        assert rerun.returncode == 0, rerun.stderr
        child = int(rerun.stdout.strip())

        # then the child runs exactly those records, and the parent's report shows what it did
        assert ended(env, child) == "succeeded"
    snap = snapshot(env, child)
    assert snap["parent_run_id"] == parent and snap["members"] == len(failed)
    rows = report_rows(env, parent)
    for mms in failed:
        assert rows[mms]["outcome"] == "migrated", rows[mms]
        assert f"run {child}" in rows[mms]["detail"]
    again = handles(env, "rerun", str(parent), "--outcome", "failed")
    assert again.returncode == 1 and "no `failed` records" in again.stderr
