"""Issue 11 end to end: a set with two records claiming one handle and a MARC 21 record migrates
the rest (real worker, sandbox over HTTP) and reports those three, none of them in any job.

That no job saw them is read from the sandbox's own log of ``op=run`` calls and the members of the
sets those calls named, not from our database.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import httpx
import pytest

from alma import AlmaClient
from sandbox import seed
from tests.integration.pipeline_support import COPY, MIGRATION, PROFILE, submissions
from tests.support import handles, worker_process

pytestmark = pytest.mark.integration

HEADER = "mms_id,pid,expected_handle,alma_handle,outcome,verification,target_url,detail,verification_before"


def _by_case() -> dict[str, str]:
    return {
        seed.case_for(seed.GROUP_DEMO, i): seed.mms_for(seed.GROUP_DEMO, i) for i in range(seed.DEMO_SIZE)
    }


def _members(sandbox_url: str, set_id: str) -> list[str]:  # noqa: F811
    body = httpx.get(
        f"{sandbox_url}/almaws/v1/conf/sets/{set_id}/members",
        params={"limit": 100},
        headers={"Authorization": "apikey sandbox-key", "Accept": "application/json"},
        timeout=10,
    ).json()
    return sorted(m["id"] for m in body.get("member", []))


def test_shared_handle_and_marc_records_are_kept_out_of_every_job(
    sandbox: str,  # noqa: F811
    env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    # given a set of digital titles: three fine records, a suppressed one, two records claiming
    # 11084/DupA and 11084/dupa (one handle: the Handle System ignores ASCII case), a MARC 21 record
    cases = _by_case()
    fine = [seed.mms_for(seed.GROUP_DEMO, i) for i in (0, 1, 18)]
    held = {cases["dup_a"], cases["dup_b"], cases["marc21"]}
    alma = AlmaClient(httpx.Client(base_url=f"{sandbox}/almaws/v1", timeout=10), api_key="sandbox-key")
    set_id = str(alma.create_itemized_set("issue 11 set", content="IEP")["id"])
    alma.add_set_members(set_id, [*fine, cases["unpublished"], *sorted(held)])
    alma.close()
    # when it is migrated by a real worker (keeping the sets it makes, to read their members after)
    env = {**env, "ALMA_KEEP_SETS": "true"}
    with worker_process(env, log_path=tmp_path / "worker.log"):
        result = handles(env, "migrate", set_id, "--wait", timeout=240)
    # then the run ends well, each job once and in order
    assert result.returncode == 0, result.stderr
    run_id = result.stdout.strip().splitlines()[0]
    sent = submissions(sandbox)
    assert [e["job_id"] for e in sent] == [COPY, MIGRATION, PROFILE]
    # and no job ran on a set holding any of the three (the sandbox's own log and sets)
    assert all(e["set_id"] != set_id for e in sent)
    for entry in sent:
        members = _members(sandbox, entry["set_id"])
        assert members == sorted([*fine, cases["unpublished"]]), entry
        assert not held & set(members)
    # and the report says what happened to each, with the before and after columns
    report = handles(env, "report", run_id)
    assert report.returncode == 0, report.stderr
    assert report.stdout.splitlines()[0] == HEADER
    rows = {r["mms_id"]: r for r in csv.DictReader(io.StringIO(report.stdout))}
    assert rows[cases["dup_a"]]["outcome"] == rows[cases["dup_b"]]["outcome"] == "duplicate_handle"
    assert f"MMS {cases['dup_b']} (this set)" in rows[cases["dup_a"]]["detail"]
    assert f"MMS {cases['dup_a']} (this set)" in rows[cases["dup_b"]]["detail"]
    assert rows[cases["marc21"]]["outcome"] == "wrong_format"
    assert rows[cases["marc21"]]["detail"].startswith(
        "MARC 21 record (record_format marc21): not Dublin Core"
    )
    for mms in fine:
        assert rows[mms]["outcome"] == "migrated", rows[mms]
        assert (rows[mms]["verification_before"], rows[mms]["verification"]) == ("not_found", "ok")
    assert rows[cases["unpublished"]]["verification"] == "unpublished"
    assert rows[cases["dup_a"]]["verification_before"] == "not_found"
