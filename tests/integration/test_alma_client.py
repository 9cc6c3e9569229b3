"""The Alma client against the sandbox over real HTTP: the three jobs end to end, and the failures."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from alma import (
    AlmaAuthError,
    AlmaClient,
    AlmaEventsUnsupported,
    AlmaNotFound,
    AlmaQuotaLow,
    JobInstance,
    QuotaGuard,
    RetryPolicy,
    parse_dc,
)
from config.settings import load_settings

pytestmark = pytest.mark.integration

SET_ID = "7593466560004641"
SEED_88, SEED_99, SEED_32100 = "991011589491704641", "991011507293904641", "991011507142104641"
COPY, MIGRATION, PROFILE = "M48401", "M48402", "M48403"
QUICK = RetryPolicy(attempts=4, initial=0.05, maximum=0.2, jitter=0.05)


@pytest.fixture
def sandbox(sandbox_url: str) -> Iterator[str]:
    """The shared sandbox, back to its seed with quick jobs; reset again afterwards."""
    from sandbox.testing import reset

    reset(sandbox_url, job_seconds=0.3, profile_api=True)  # until ALMA_PROFILE_MODE=auto lands
    yield sandbox_url
    reset(sandbox_url)


def client_for(url: str, *, api_key: str = "sandbox-key", **kwargs) -> AlmaClient:
    kwargs.setdefault("retry", QUICK)
    return AlmaClient(httpx.Client(base_url=f"{url}/almaws/v1", timeout=10), api_key=api_key, **kwargs)


def wait_terminal(client: AlmaClient, job_id: str, instance_id: str, timeout: float = 20) -> JobInstance:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        inst = client.get_instance(job_id, instance_id)
        if inst.is_terminal:
            return inst
        time.sleep(0.1)
    raise AssertionError(f"{job_id}/{instance_id} not finished after {timeout}s")


def sandbox_log(url: str) -> list[dict]:
    data = httpx.get(f"{url}/sandbox/log", timeout=10).json()
    return data if isinstance(data, list) else data.get("log", data.get("entries", []))


def test_three_jobs_run_end_to_end_on_the_seed_set(sandbox: str) -> None:
    settings = load_settings(alma_api_base_url=sandbox, alma_api_key="sandbox-key")
    client = AlmaClient.from_settings(settings)
    # given the seed set of three records
    the_set = client.get_set(SET_ID)
    assert int(the_set["number_of_members"]["value"]) == 3
    members = [m["id"] for m in client.iter_set_members(SET_ID)]
    assert members == [SEED_88, SEED_99, SEED_32100]
    before = {b.mms_id: parse_dc(b.record_xml) for b in client.get_bibs(members)}
    assert list(before) == members
    assert before[SEED_99].pid == "grinnell:99"
    assert before[SEED_99].expected_handle("11084") == "11084/99"
    assert before[SEED_88].problem("11084") is None
    assert before[SEED_32100].problem("11084") == 'malformed: xsi:type="dcterms:URI" on dc:identifier'
    # when the three jobs run in order, each waited for
    tag = uuid.uuid4().hex[:8]
    finished = {}
    for job_id in (COPY, MIGRATION, PROFILE):
        iid = client.run_job(job_id, set_id=SET_ID, job_name=f"it {tag} {job_id}")
        finished[job_id] = wait_terminal(client, job_id, iid)
    # then each ended successfully, was posted once, and is listed under its name
    assert all(inst.is_success for inst in finished.values()), finished
    ours = [e for e in sandbox_log(sandbox) if tag in str(e.get("job_name", ""))]
    assert [e["job_id"] for e in ours] == [COPY, MIGRATION, PROFILE]
    listed = client.list_instances(MIGRATION, submitted_since=finished[MIGRATION].submit_time.date())
    assert finished[MIGRATION].id in {i.id for i in listed}
    assert finished[MIGRATION].name.startswith(f"it {tag} {MIGRATION} - ")  # Alma's naming (S01)
    assert finished[MIGRATION].matches_job_name(f"it {tag} {MIGRATION}")
    # and the records read after the jobs still parse, with the copy's dc:identifier in place
    after = {b.mms_id: parse_dc(b.record_xml) for b in client.get_bibs(list(reversed(members)))}
    assert list(after) == list(reversed(members))
    assert after[SEED_32100].expected_handle("11084") == "11084/32100"
    assert sum(i.element == "dc:identifier" for i in after[SEED_32100].identifiers) >= 2
    client.close()


def test_ambiguous_5xx_after_the_run_landed_returns_that_instance_without_reposting(sandbox: str) -> None:
    from sandbox.testing import configure

    configure(sandbox, burst_5xx=1, burst_5xx_landed=True)
    client = client_for(sandbox)
    name = f"ambiguous {uuid.uuid4().hex[:8]}"
    iid = client.run_job(COPY, set_id=SET_ID, job_name=name)
    assert [e["instance_id"] for e in sandbox_log(sandbox) if e.get("job_name") == name] == [iid]
    assert client.get_instance(COPY, iid).matches_job_name(name)


def test_per_second_429s_are_waited_out(sandbox: str) -> None:
    from sandbox.testing import configure

    configure(sandbox, burst_429=2)
    assert client_for(sandbox).get_set(SET_ID)["id"] == SET_ID


def test_events_are_unsupported_unless_switched_on(sandbox: str) -> None:
    from sandbox.testing import configure

    client = client_for(sandbox)
    iid = client.run_job(MIGRATION, set_id=SET_ID, job_name=f"events {uuid.uuid4().hex[:8]}")
    wait_terminal(client, MIGRATION, iid)
    with pytest.raises(AlmaEventsUnsupported):
        list(client.iter_events(MIGRATION, iid))
    configure(sandbox, events_api=True)
    texts = [str(e) for e in client.iter_events(MIGRATION, iid)]
    assert any("already has a handle identifier" in t for t in texts)


def test_unknown_ids_and_bad_key_are_typed(sandbox: str) -> None:
    client = client_for(sandbox)
    with pytest.raises(AlmaNotFound):
        client.get_set("1234567890")
    with pytest.raises(AlmaNotFound):
        client.get_job("M999999")
    with pytest.raises(AlmaNotFound):
        client.get_instance(COPY, "42")
    with pytest.raises(AlmaAuthError) as info:
        client_for(sandbox, api_key="wrong-key-123").get_set(SET_ID)
    assert "wrong-key-123" not in str(info.value)


def test_bib_xml_round_trip_repairs_the_typed_identifier(sandbox: str) -> None:
    client = client_for(sandbox)
    doc = client.get_bib_xml(SEED_32100)
    assert parse_dc(doc).problem("11084").startswith("malformed")
    repaired = re.sub(r'<dc:identifier xsi:type="dcterms:URI">', "<dc:identifier>", doc)
    assert repaired != doc
    client.put_bib_xml(SEED_32100, repaired)
    (bib,) = client.get_bibs([SEED_32100])
    assert parse_dc(bib.record_xml).problem("11084") is None


def test_quota_floor_pauses_calls_before_alma_refuses_them(sandbox: str) -> None:
    from sandbox.testing import configure

    configure(sandbox, daily_quota=20)
    client = client_for(sandbox, quota=QuotaGuard(15))
    with pytest.raises(AlmaQuotaLow) as info:
        for _ in range(20):
            client.get_set(SET_ID)
    assert info.value.remaining < 15
    assert "calls paused" in str(info.value)
