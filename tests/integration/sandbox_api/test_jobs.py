"""The sandbox over real HTTP: Alma's shapes, codes and thresholds, and the jobs' effects."""

from __future__ import annotations

import asyncio
import io
import re
import time

import httpx
import pytest

from sandbox import seed
from sandbox.testing import configure, reset
from tests.integration.sandbox_api.support import (
    KEY,
    SET,
    assert_alma_error,
    events,
    instance_id,
    run,
    run_and_wait,
    wait,
)
from tests.support import wait_for

pytestmark = pytest.mark.integration

SEED_000_LINES = [
    "Record 991011589491704641 was skipped. Reason: BIB record MMS ID 991011589491704641 already has a "
    "handle identifier 11084/88",
    "Record 991011507293904641 was skipped. Reason: BIB record MMS ID 991011507293904641 already has a "
    "handle identifier 11084/1742400039",
    "Record 991011507142104641 was skipped. Reason: BIB record MMS ID 991011507142104641 does not have a "
    "handle identifier",
]


# --- auth, shapes, errors -------------------------------------------------------------------------
def test_auth_and_quota_header(url: str, alma: httpx.Client) -> None:
    no_key = httpx.get(url + "/almaws/v1/conf/jobs", headers={"Accept": "application/json"})
    assert no_key.status_code == 400 and no_key.json()["errorList"]["error"][0]["errorCode"] == "UNAUTHORIZED"
    bad = httpx.get(url + "/almaws/v1/conf/jobs", headers={"Authorization": "apikey nope"})
    assert bad.status_code == 400 and "X-Exl-Api-Remaining" in bad.headers  # Alma: 400 (S09)
    assert "<errorCode>UNAUTHORIZED</errorCode>" in bad.text  # XML when JSON is not asked for
    by_query = httpx.get(url + "/almaws/v1/conf/jobs", params={"apikey": "sandbox-key", "format": "json"})
    assert by_query.status_code == 200
    first = int(alma.get("/conf/jobs").headers["X-Exl-Api-Remaining"])
    second = int(alma.get("/conf/jobs").headers["X-Exl-Api-Remaining"])
    assert second == first - 1
    xml = httpx.get(url + "/almaws/v1/conf/jobs/M1", headers={**KEY, "Accept": "application/xml"})
    assert (
        xml.status_code == 400
        and "<web_service_result" in xml.text
        and "<errorCode>402216</errorCode>" in xml.text
    )


def test_jobs(alma: httpx.Client) -> None:
    page = alma.get("/conf/jobs").json()
    assert set(page) == {"job", "total_record_count"} and len(page["job"]) == 10
    assert page["total_record_count"] > 10
    names = set()
    offset = 0
    while offset < page["total_record_count"]:
        names |= {
            j["name"] for j in alma.get("/conf/jobs", params={"offset": offset, "limit": 5}).json()["job"]
        }
        offset += 5
    assert {
        "Copy dcterms to dc:identifier",
        "DG Handle Migration",
        "Persistent Handle Identifiers for Digital Resource",
    } <= names
    job = alma.get("/conf/jobs/M48402").json()
    assert job["id"] == "M48402" and job["name"] == "DG Handle Migration" and job["type"]["value"] == "MANUAL"
    assert_alma_error(alma.get("/conf/jobs/nonsense"), "402215")
    assert_alma_error(alma.get("/conf/jobs/M999"), "402216")
    assert all(
        j["type"]["value"] == "MANUAL"
        for j in alma.get("/conf/jobs", params={"type": "MANUAL", "limit": 100}).json()["job"]
    )


def test_run_errors(alma: httpx.Client) -> None:
    assert_alma_error(alma.post("/conf/jobs/M48401", json={"parameter": []}), "402220")
    assert_alma_error(alma.post("/conf/jobs/M48401", params={"op": "stop"}, json={}), "402221")
    assert_alma_error(alma.post("/conf/jobs/M48401", params={"op": "run"}, json={"parameter": []}), "402228")
    assert_alma_error(run(alma, "M48401", ""), "402229")
    assert_alma_error(run(alma, "M48401", "42"), "60107")
    assert_alma_error(alma.get("/conf/jobs/M48401/instances/123"), "402218")


def test_run_and_instance_shapes(url: str, alma: httpx.Client) -> None:
    response = run(alma, "M48402", name="DG Handle Migration - via API - batch 1")
    body = response.json()
    assert body["id"] == "M48402" and body["additional_info"]["value"].startswith("Job no. ")
    iid = instance_id(response)
    assert body["additional_info"]["value"].split()[2] == iid
    assert body["additional_info"]["link"].endswith(f"/conf/jobs/M48402/instances/{iid}")
    early = alma.get(f"/conf/jobs/M48402/instances/{iid}").json()
    assert early["status"]["value"] in ("QUEUED", "INITIALIZING", "RUNNING", "FINALIZING")
    done = wait(alma, "M48402", iid)
    for key in (
        "id",
        "name",
        "submitted_by",
        "submit_time",
        "start_time",
        "end_time",
        "progress",
        "status",
        "status_date",
        "alert",
        "counter",
        "job_info",
        "link",
    ):
        assert key in done, key
    assert re.fullmatch(
        r"DG Handle Migration - via API - batch 1 - \d{4}-\d\d-\d\d \d{1,2}:\d\d [AP]M", done["name"]
    )
    assert done["submitted_by"] == {"value": "exl_api", "desc": "Ex Libris, API"}
    assert done["status"] == {"value": "COMPLETED_SUCCESS", "desc": "Completed Successfully"}
    assert done["progress"] == 100 and done["end_time"].endswith("Z")
    counters = {c["type"]["desc"]: c["value"] for c in done["counter"]}
    assert counters["Records processed"] == "3" and counters["Records skipped"] == "3"
    assert all(isinstance(c["value"], str) for c in done["counter"])
    assert done["job_info"]["id"] == "M48402"
    listing = alma.get("/conf/jobs/M48402/instances").json()
    assert set(listing) == {"job_instance", "total_record_count"} and listing["job_instance"][0]["id"] == iid
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert (
        alma.get("/conf/jobs/M48402/instances", params={"submit_date_from": today}).json()[
            "total_record_count"
        ]
        == 1
    )
    assert (
        alma.get("/conf/jobs/M48402/instances", params={"submit_date_from": "2099-01-01"}).json()[
            "total_record_count"
        ]
        == 0
    )
    assert (
        alma.get("/conf/jobs/M48402/instances", params={"status": "FAILED"}).json()["total_record_count"] == 0
    )
    assert_alma_error(
        alma.get("/conf/jobs/M48402/instances", params={"submit_date_from": "10/01/2025"}), "402217"
    )
    log = httpx.get(url + "/sandbox/log").json()
    assert log == [
        {
            "job_id": "M48402",
            "set_id": SET,
            "job_name": "DG Handle Migration - via API - batch 1",
            "instance_name": done["name"],
            "instance_id": iid,
            "submitted_by": "exl_api",
            "time": log[0]["time"],
            "end_time": done["end_time"],  # what became of the instance, and who looked at it
            "gets_running": log[0]["gets_running"],
            "gets_ended": log[0]["gets_ended"],
            "events_sent": [],
        }
    ]
    assert log[0]["gets_ended"] >= 1


def test_events_60332_by_default_and_served_with_switch(url: str, alma: httpx.Client) -> None:
    iid, _ = run_and_wait(alma, "M48402")
    assert_alma_error(alma.get(f"/conf/jobs/M48402/instances/{iid}/events"), "60332")
    configure(url, events_api=True)
    body = alma.get(f"/conf/jobs/M48402/instances/{iid}/events", params={"limit": 2}).json()
    assert body["total_record_count"] == 3 and len(body["event"]) == 2
    codes = [k["code"] for k in body["event"][0]["event_key"]]
    assert codes == ["description", "mms_id", "date", "severity"] and body["event"][0]["event_id"]
    rest = alma.get(f"/conf/jobs/M48402/instances/{iid}/events", params={"limit": 2, "offset": 2}).json()
    assert len(rest["event"]) == 1


def test_three_jobs_in_order_give_seed_000(url: str, alma: httpx.Client) -> None:
    configure(url, events_api=True)
    copy_iid, copy = run_and_wait(alma, "M48401")
    assert copy["status"]["value"] == "COMPLETED_SUCCESS" and events(alma, "M48401", copy_iid) == []
    mig_iid, _ = run_and_wait(alma, "M48402")
    assert events(alma, "M48402", mig_iid) == SEED_000_LINES
    run_and_wait(alma, "M48403")
    resolve = httpx.get(url + "/api/handles/11084/88").json()
    assert resolve["values"][0]["data"]["value"] == (
        url + "/discovery/fulldisplay/alma991011589491704641/01GCL_INST:GCL"
    )
    assert httpx.get(url + "/api/handles/11084/99").status_code == 404  # the conflict stays
    record = httpx.get(url + f"/sandbox/records/{seed.SEED_32100}").json()
    assert record["alma_handle"].startswith("11084/17424") and record["alma_handle_url"].endswith(
        "alma991011507142104641/01GCL_INST:GCL"
    )
    # the Events Report as exported from the UI
    txt = httpx.get(url + f"/sandbox/events-report/M48402/{mig_iid}.txt").text.splitlines()
    assert txt[0] == "Event Description\tEvent Date\tSeverity\tModule\tCreator"
    assert txt[1].startswith("1 " + SEED_000_LINES[0] + "\t") and txt[1].endswith(
        "\tInformation\tRepository\tSystem"
    )
    csv_text = httpx.get(url + f"/sandbox/events-report/M48402/{mig_iid}.csv").content.decode("utf-8-sig")
    assert csv_text.splitlines()[0] == "Event Description,Event Date,Severity,Module,Creator"
    assert SEED_000_LINES[2] in csv_text
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(httpx.get(url + f"/sandbox/events-report/M48402/{mig_iid}.xlsx").content))
    rows = list(book.active.iter_rows(values_only=True))
    assert rows[0][0] == "Event Description" and [r[0] for r in rows[1:]] == SEED_000_LINES
    import re

    assert re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d:\d\d C[DS]T", rows[1][1])


def test_profile_before_migration(url: str, alma: httpx.Client) -> None:
    configure(url, events_api=True)
    run_and_wait(alma, "M48401")
    run_and_wait(alma, "M48403")
    mig_iid, _ = run_and_wait(alma, "M48402")
    lines = events(alma, "M48402", mig_iid)
    assert lines[2].startswith(
        "Record 991011507142104641 was skipped. Reason: BIB record MMS ID 991011507142104641 already has a "
        "handle identifier 11084/17424"
    )
    for handle in ("11084/99", "11084/32100"):
        response = httpx.get(url + f"/api/handles/{handle}")
        assert response.status_code == 404 and response.json() == {"responseCode": 100, "handle": handle}


def test_ui_run_and_profile_api_switch(url: str, alma: httpx.Client) -> None:
    configure(url, profile_api=False)
    assert_alma_error(run(alma, "M48403"), "402248")
    ui = httpx.post(url + "/sandbox/ui/run-profile", json={"set_id": SET}).json()
    done = wait(alma, "M48403", ui["instance_id"])
    assert done["submitted_by"]["value"] != "API" and done["status"]["value"] == "COMPLETED_SUCCESS"
    listed = alma.get("/conf/jobs/M48403/instances").json()["job_instance"]
    assert [i["id"] for i in listed] == [ui["instance_id"]]
    assert httpx.get(url + "/sandbox/log").json()[0]["submitted_by"] != "API"


def test_fail_job_switch(url: str, alma: httpx.Client) -> None:
    configure(url, fail_job={"M48401": "FAILED"})
    _, done = run_and_wait(alma, "M48401")
    assert done["status"]["value"] == "FAILED"


# --- thresholds -----------------------------------------------------------------------------------
def test_three_running_and_overlap(url: str, alma: httpx.Client) -> None:
    configure(url, job_seconds=5)
    instance_id(run(alma, "M48401", seed.SEED_SET_ID))
    assert_alma_error(run(alma, "M48401", seed.SEED_SET_ID), "60347")
    instance_id(run(alma, "M48401", seed.DEMO_SET_ID))
    instance_id(run(alma, "M48402", seed.SEED_SET_ID))
    assert_alma_error(run(alma, "M48402", seed.DEMO_SET_ID), "402222")


def test_five_per_hour(url: str, alma: httpx.Client) -> None:
    configure(url, job_seconds=0.05)
    for _ in range(5):
        wait(alma, "M48401", instance_id(run(alma, "M48401", seed.EMPTY_SET_ID)))
    assert_alma_error(run(alma, "M48401", seed.EMPTY_SET_ID), "402223")
    instance_id(run(alma, "M48402", seed.EMPTY_SET_ID))  # another job is not affected


def test_per_second_threshold(url: str) -> None:
    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url + "/almaws/v1", headers=KEY) as client:
            return await asyncio.gather(*(client.get("/conf/jobs/M48401") for _ in range(40)))

    responses = asyncio.run(burst())
    codes = [r.status_code for r in responses]
    assert codes.count(200) == 25 and codes.count(429) == 15
    limited = next(r for r in responses if r.status_code == 429)
    assert_alma_error(limited, "PER_SECOND_THRESHOLD", 429)
    # the next second's requests are served again
    wait_for(
        lambda: httpx.get(url + "/almaws/v1/conf/jobs/M48401", headers=KEY).status_code == 200,
        timeout=3,
        interval=0.25,
        what="the per-second window to pass",
    )


def test_daily_quota_and_bursts(url: str, alma: httpx.Client) -> None:
    configure(url, daily_quota=3)
    remaining = [int(alma.get("/conf/jobs").headers["X-Exl-Api-Remaining"]) for _ in range(3)]
    assert remaining == [2, 1, 0]
    exhausted = alma.get("/conf/jobs")
    assert_alma_error(exhausted, "DAILY_THRESHOLD", 429)
    assert exhausted.headers["X-Exl-Api-Remaining"] == "0"
    reset(url, burst_429=2, burst_5xx=1)
    assert alma.get("/conf/jobs").status_code == 429
    assert alma.get("/conf/jobs").status_code == 429
    assert alma.get("/conf/jobs").status_code == 500
    assert alma.get("/conf/jobs").status_code == 200
    configure(url, burst_5xx=1, burst_5xx_landed=True)
    assert run(alma, "M48401").status_code == 500
    assert len(httpx.get(url + "/sandbox/log").json()) == 1  # it landed all the same
