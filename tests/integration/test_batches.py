"""A 250-record set run as batches of at most 100: real Redis broker, a real worker, the sandbox over HTTP.

Order and sizes are read from the sandbox's own log of ``op=run`` calls and its sets, not from our
database. The sandbox serves the migration's events by API (else batches holding records the
migration cannot take would wait for an imported Events Report) and runs the profile by API
(``profile_api``). Alma's limits stay as they are: 3 batches run each job 3 times, under 5 an hour.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from pathlib import Path

import httpx
import pytest

from sandbox.seed import BATCH_SET_ID
from sandbox.testing import reset, running_sandbox
from tests.support import handles, sandbox_env, worker_process

pytestmark = pytest.mark.integration

COPY, MIGRATION, PROFILE = "M48401", "M48402", "M48403"
AUTH = {"Authorization": "apikey sandbox-key"}
JOB_NAME = re.compile(r"^handles run (\d+) (copy|migration|profile) - set (\d+)$")


@pytest.fixture(scope="module")
def sandbox():  # type: ignore[no-untyped-def]
    with running_sandbox(job_seconds=0.5, profile_api=True, events_api=True) as url:
        yield url


@pytest.fixture
def env(sandbox: str, redis_url: str, tmp_path: Path) -> dict[str, str]:
    reset(sandbox, profile_api=True, events_api=True)
    return sandbox_env(
        sandbox,
        database_url=f"sqlite:///{tmp_path / 'handles.db'}",
        broker_url=redis_url,
        REDIS_URL=redis_url,
        ALMA_KEEP_SETS="true",  # the batches' sets are read after the run (else removed at its end)
    )


def members(sandbox: str, set_id: str) -> list[str]:
    found: list[str] = []
    while True:
        page = httpx.get(
            f"{sandbox}/almaws/v1/conf/sets/{set_id}/members",
            params={"limit": 100, "offset": len(found), "format": "json"},
            headers=AUTH,
            timeout=10,
        ).json()
        found += [m["id"] for m in page.get("member") or []]
        if len(found) >= page["total_record_count"]:
            return found


def test_a_250_record_set_runs_as_three_batches_each_in_order(
    sandbox: str, env: dict[str, str], tmp_path: Path
) -> None:
    # given a worker
    with worker_process(env, log_path=tmp_path / "worker.log", concurrency=3):
        # when the set is migrated in batches of at most 100
        result = handles(env, "migrate", BATCH_SET_ID, "--batch-size", "100", "--wait")
    # then the plan came first, and the run ended well
    assert result.returncode == 0, result.stderr + (tmp_path / "worker.log").read_text()[-3000:]
    parent = int(result.stdout.strip())
    plan = result.stderr.split(f"run {parent}:")[0]
    assert "plan: 250 records in 3 batches of at most 100" in plan
    assert "9 Alma jobs: copy → migration → profile for each batch" in plan
    assert all(len(line) <= 80 for line in plan.splitlines())

    # each batch ran copy → migration → profile, once each, in that order, on its own set
    log = httpx.get(f"{sandbox}/sandbox/log", timeout=10).json()
    entries = log["entries"] if isinstance(log, dict) else log
    by_run: dict[int, list[dict]] = defaultdict(list)
    for entry in entries:
        match = JOB_NAME.match(entry.get("job_name") or "")
        assert match, entry
        by_run[int(match.group(1))].append(entry)
    assert len(by_run) == 3 and parent not in by_run
    batch_sets = []
    for _run_id, sent in sorted(by_run.items()):
        assert [e["job_id"] for e in sent] == [COPY, MIGRATION, PROFILE], sent
        assert sent[0]["set_id"] == sent[1]["set_id"] != BATCH_SET_ID
        batch_sets.append(sent[0]["set_id"])
    # of at most 100 records each: the parent set's records, each in one batch, in the set's order
    sizes = [len(members(sandbox, s)) for s in batch_sets]
    assert sizes == [100, 100, 50]
    assert [m for s in batch_sets for m in members(sandbox, s)] == members(sandbox, BATCH_SET_ID)

    # status shows the three batches done
    status = json.loads(handles(env, "status", str(parent), "--json").stdout)
    assert status["state"] == "succeeded"
    batches = status["batches"]
    assert (batches["total"], batches["succeeded"], batches["failed"], batches["not_started"]) == (3, 3, 0, 0)
    assert sorted(b["run_id"] for b in batches["batches"]) == sorted(by_run)

    # and the report has one row per record of the parent set, each accounted for
    report = handles(env, "report", str(parent))
    assert report.returncode == 0, report.stderr
    rows = list(csv.DictReader(io.StringIO(report.stdout)))
    assert [r["mms_id"] for r in rows] == members(sandbox, BATCH_SET_ID)
    outcomes = {r["outcome"] for r in rows}
    assert "migrated" in outcomes and "already_migrated" in outcomes and "conflict" in outcomes
    migrated = [r for r in rows if r["outcome"] == "migrated"]
    assert all(r["verification"] == "ok" for r in migrated)
