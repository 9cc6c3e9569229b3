"""The sandbox over real HTTP: Alma's shapes, codes and thresholds, the jobs' effects, the proxy."""

from __future__ import annotations

import asyncio
import io
import re
import time
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest

from sandbox import seed
from sandbox.testing import configure, reset, running_sandbox
from tests.support import wait_for

pytestmark = pytest.mark.integration

SET = seed.SEED_SET_ID
KEY = {"Authorization": "apikey sandbox-key", "Accept": "application/json"}
SEED_000_LINES = [
    "Record 991011589491704641 was skipped. Reason: BIB record MMS ID 991011589491704641 already has a "
    "handle identifier 11084/88",
    "Record 991011507293904641 was skipped. Reason: BIB record MMS ID 991011507293904641 already has a "
    "handle identifier 11084/1742400039",
    "Record 991011507142104641 was skipped. Reason: BIB record MMS ID 991011507142104641 does not have a "
    "handle identifier",
]


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with running_sandbox(job_seconds=0.3, profile_api=True) as url:
        yield url


@pytest.fixture
def url(base: str) -> str:
    reset(base)
    return base


@pytest.fixture
def alma(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url + "/almaws/v1", headers=KEY, timeout=10) as client:
        yield client


def assert_alma_error(response: httpx.Response, code: str, status: int = 400) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"errorsExist", "errorList", "result"}
    assert body["errorsExist"] is True and body["result"] is None
    (error,) = body["errorList"]["error"]
    assert set(error) == {"errorCode", "errorMessage", "trackingId"}
    assert error["errorCode"] == code and error["trackingId"].startswith("E01-")


def run(alma: httpx.Client, job_id: str, set_id: str = SET, name: str | None = None) -> httpx.Response:
    params = [{"name": {"value": "set_id"}, "value": set_id}]
    if name:
        params.append({"name": {"value": "job_name"}, "value": name})
    return alma.post(f"/conf/jobs/{job_id}", params={"op": "run"}, json={"parameter": params})


def instance_id(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return response.json()["additional_info"]["link"].rsplit("/", 1)[1]


def wait(alma: httpx.Client, job_id: str, iid: str, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = alma.get(f"/conf/jobs/{job_id}/instances/{iid}").json()
        if body["status"]["value"] not in ("QUEUED", "INITIALIZING", "RUNNING", "FINALIZING"):
            return body
        time.sleep(0.1)
    raise AssertionError("instance did not finish")


def run_and_wait(alma: httpx.Client, job_id: str, set_id: str = SET) -> tuple[str, dict]:
    iid = instance_id(run(alma, job_id, set_id))
    return iid, wait(alma, job_id, iid)


def events(alma: httpx.Client, job_id: str, iid: str) -> list[str]:
    body = alma.get(f"/conf/jobs/{job_id}/instances/{iid}/events", params={"limit": 100}).json()
    return [next(k["value"] for k in e["event_key"] if k["code"] == "description") for e in body["event"]]


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


# --- sets and bibs --------------------------------------------------------------------------------
def test_sets(alma: httpx.Client) -> None:
    the_set = alma.get(f"/conf/sets/{SET}").json()
    assert the_set["name"] == "Collembola Handle test" and the_set["content"]["value"] == "IEP"
    assert the_set["number_of_members"]["value"] == 3
    assert_alma_error(alma.get("/conf/sets/12345"), "60107")
    assert_alma_error(alma.get("/conf/sets/abc"), "60107")
    members = alma.get(f"/conf/sets/{seed.FIRST_BATCH_SET_ID}/members", params={"limit": 100, "offset": 6000})
    body = members.json()
    assert body["total_record_count"] == 6040 and len(body["member"]) == 40
    assert set(body["member"][0]) == {"id", "description", "link"}
    assert_alma_error(alma.get(f"/conf/sets/{SET}/members", params={"limit": 101}), "40166410")
    assert alma.get(f"/conf/sets/{seed.USER_SET_ID}").json()["content"]["value"] == "USER"
    created = alma.post(
        "/conf/sets", json={"name": "batch 1", "type": {"value": "ITEMIZED"}, "content": {"value": "IEP"}}
    ).json()
    assert_alma_error(
        alma.post("/conf/sets", json={"name": "batch 1", "type": {"value": "ITEMIZED"}}), "402263"
    )
    sid = created["id"]
    add = {"members": {"member": [{"id": seed.SEED_88}, {"id": seed.SEED_99}]}}
    assert (
        alma.post(f"/conf/sets/{sid}", params={"op": "add_members"}, json=add).json()["number_of_members"][
            "value"
        ]
        == 2
    )
    assert_alma_error(alma.post(f"/conf/sets/{sid}", params={"op": "add_members"}, json=add), "60115")
    too_many = {"members": {"member": [{"id": str(i)} for i in range(1001)]}}
    assert_alma_error(alma.post(f"/conf/sets/{sid}", params={"op": "add_members"}, json=too_many), "60118")


def test_bibs(alma: httpx.Client) -> None:
    body = alma.get("/bibs", params={"mms_id": f"{seed.SEED_88},{seed.SEED_99}"}).json()
    assert body["total_record_count"] == 2 and [b["mms_id"] for b in body["bib"]] == [
        seed.SEED_88,
        seed.SEED_99,
    ]
    assert body["bib"][0]["anies"][0].startswith("<record ")
    assert_alma_error(alma.get("/bibs", params={"mms_id": ",".join(["1"] * 101)}), "40166410")
    assert_alma_error(alma.get("/bibs/991234"), "402203")
    xml = alma.get(f"/bibs/{seed.SEED_32100}", headers={"Accept": "application/xml"})
    assert xml.headers["content-type"].startswith("application/xml")
    assert (
        "<bib>" in xml.text
        and 'xsi:type="dcterms:URI">http://hdl.handle.net/11084/32100</dc:identifier>' in xml.text
    )
    assert_alma_error(alma.put(f"/bibs/{seed.SEED_32100}", json={"x": 1}), "60105")
    bad = alma.put(
        f"/bibs/{seed.SEED_32100}", content=b"<bib><record>", headers={"Content-Type": "application/xml"}
    )
    assert bad.status_code == 400 and bad.json()["errorsExist"] is True
    repaired = xml.text.replace(
        '<dc:identifier xsi:type="dcterms:URI">http://hdl.handle.net/11084/32100</dc:identifier>',
        "<dc:identifier>http://hdl.handle.net/11084/32100</dc:identifier>",
    )
    put = alma.put(
        f"/bibs/{seed.SEED_32100}",
        content=repaired.encode(),
        headers={"Content-Type": "application/xml; charset=utf-8", "Accept": "application/xml"},
    )
    assert put.status_code == 200 and "<bib>" in put.text
    anies = alma.get(f"/bibs/{seed.SEED_32100}").json()["anies"][0]
    assert "<dc:identifier>http://hdl.handle.net/11084/32100</dc:identifier>" in anies


def test_repair_then_migration_takes_the_handle(url: str, alma: httpx.Client) -> None:
    xml = alma.get(f"/bibs/{seed.SEED_32100}", headers={"Accept": "application/xml"}).text
    fixed = xml.replace(
        ' xsi:type="dcterms:URI">http://hdl.handle.net/11084/32100</dc:identifier>',
        ">http://hdl.handle.net/11084/32100</dc:identifier>",
    )
    assert (
        alma.put(
            f"/bibs/{seed.SEED_32100}", content=fixed.encode(), headers={"Content-Type": "application/xml"}
        ).status_code
        == 200
    )
    run_and_wait(alma, "M48402")
    run_and_wait(alma, "M48403")
    assert httpx.get(url + "/api/handles/11084/32100").status_code == 200


# --- Handle proxy, target pages, control ----------------------------------------------------------
def test_proxy(url: str) -> None:
    found = httpx.get(url + "/api/handles/11084/88")
    assert found.status_code == 200
    body = found.json()
    assert body["responseCode"] == 1 and body["handle"] == "11084/88"
    assert {"index", "type", "data", "ttl", "timestamp"} <= set(body["values"][0])
    types = {v["type"] for v in body["values"]}
    assert types == {"URL", "HS_ADMIN"}
    only_url = httpx.get(url + "/api/handles/11084/88", params={"type": "URL"}).json()["values"]
    assert [v["type"] for v in only_url] == ["URL"]
    assert (
        httpx.get(url + "/api/handles/11084/88", params={"index": "100"}).json()["values"][0]["type"]
        == "HS_ADMIN"
    )
    missing = httpx.get(url + "/api/handles/11084/99", params={"auth": "true"})
    assert missing.status_code == 404 and missing.json() == {"responseCode": 100, "handle": "11084/99"}
    httpx.post(url + "/sandbox/registry", json={"handle": "11084/AbC", "url": "https://example.org/x"})
    assert (
        httpx.get(url + "/api/handles/11084/abc").json()["values"][0]["data"]["value"]
        == "https://example.org/x"
    )
    configure(url, resolver_fail_every=2)
    statuses = [httpx.get(url + "/api/handles/11084/88") for _ in range(4)]
    assert [r.status_code for r in statuses] == [200, 500, 200, 500]
    assert statuses[1].json()["responseCode"] == 2


def test_proxy_latency_overlaps(url: str) -> None:
    configure(url, resolver_latency_ms=100)

    async def lookups() -> float:
        async with httpx.AsyncClient(base_url=url) as client:
            start = time.monotonic()
            responses = await asyncio.gather(*(client.get("/api/handles/11084/88") for _ in range(20)))
            assert all(r.status_code == 200 for r in responses)
            return time.monotonic() - start

    elapsed = asyncio.run(lookups())
    assert 0.1 <= elapsed < 1.0


def test_target_pages(url: str) -> None:
    page = httpx.get(url + f"/discovery/fulldisplay/alma{seed.SEED_88}/01GCL_INST:GCL")
    assert page.status_code == 200 and "Tomocerus flavescens" in page.text
    assert httpx.get(url + "/discovery/fulldisplay/alma123/01GCL_INST:GCL").status_code == 404


def test_control(url: str) -> None:
    assert httpx.post(url + "/sandbox/config", json={"nonsense": 1}).status_code == 400
    assert httpx.post(url + "/sandbox/config", json={"job_seconds": "x"}).status_code == 400
    assert httpx.get(url + "/sandbox/config").json()["job_seconds"] == 0.3
    assert httpx.get(url + "/sandbox/records/1").status_code == 404
    record = httpx.get(url + f"/sandbox/records/{seed.SEED_99}").json()
    assert record["alma_handle"] == "11084/1742400039" and "<record" in record["metadata"]


def test_handle_server_is_mounted(url: str) -> None:
    response = httpx.get(url + "/handle-server/api/handles/11084/88")
    assert response.status_code != 500


def test_put_bib_namespace_pitfalls(alma: httpx.Client) -> None:
    xml = alma.get(f"/bibs/{seed.SEED_88}", headers={"Accept": "application/xml"}).text
    prefixed = xml.replace("<record xmlns=", "<ns0:record xmlns:ns0=").replace("</record>", "</ns0:record>")
    response = alma.put(
        f"/bibs/{seed.SEED_88}", content=prefixed.encode(), headers={"Content-Type": "application/xml"}
    )
    assert response.status_code == 400 and "ns0" in response.json()["errorList"]["error"][0]["errorMessage"]
    default_ns = xml.replace("<bib>", '<bib xmlns="http://alma.exlibrisgroup.com/dc/01GCL_INST">')
    assert (
        alma.put(
            f"/bibs/{seed.SEED_88}", content=default_ns.encode(), headers={"Content-Type": "application/xml"}
        ).status_code
        == 400
    )


def test_run_with_xml_body_and_profile_lookup(alma: httpx.Client) -> None:
    body = (
        f"<job><parameters><parameter><name>set_id</name><value>{SET}</value></parameter>"
        "<parameter><name>job_name</name><value>xml run</value></parameter></parameters></job>"
    )
    response = alma.post(
        "/conf/jobs/M48401",
        params={"op": "run"},
        content=body.encode(),
        headers={"Content-Type": "application/xml"},
    )
    assert wait(alma, "M48401", instance_id(response))["name"].startswith("xml run - ")
    profile = alma.get("/conf/jobs/M48403").json()["related_profile"]["value"]
    found = alma.get("/conf/jobs", params={"profile_id": profile}).json()
    assert [j["id"] for j in found["job"]] == ["M48403"]


def test_registry_bulk_preload(url: str) -> None:
    entries = [{"handle": f"11084/bulk{i}", "url": f"https://example.org/{i}"} for i in range(50)]
    assert httpx.post(url + "/sandbox/registry", json={"entries": entries}).json() == {"loaded": 50}
    assert (
        httpx.get(url + "/api/handles/11084/BULK49").json()["values"][0]["data"]["value"]
        == "https://example.org/49"
    )
    assert httpx.post(url + "/sandbox/registry", json={"handle": "11084/bulk1", "delete": True}).json()[
        "deleted"
    ]
    assert httpx.get(url + "/api/handles/11084/bulk1").status_code == 404


# --- as recorded Alma answers (issue 10) -----------------------------------------------------------
def test_xml_unless_json_is_asked_for_and_format_wins(url: str) -> None:
    job = url + "/almaws/v1/conf/jobs/M48401"
    plain = httpx.get(job, headers={"Authorization": "apikey sandbox-key"})  # as a plain curl
    assert plain.headers["content-type"].startswith("application/xml")
    assert plain.text.startswith("<?xml") and f'<job link="{job}">' in plain.text
    assert '<type desc="Manual">MANUAL</type>' in plain.text
    by_format = httpx.get(job, params={"format": "json"}, headers={"Authorization": "apikey sandbox-key"})
    assert by_format.json()["id"] == "M48401"
    overruled = httpx.get(job, params={"format": "xml"}, headers=KEY)  # KEY asks for JSON
    assert overruled.text.startswith("<?xml")
    assert httpx.get(job, params={"format": "json"}, headers={**KEY, "Accept": "application/xml"}).json()


def test_instance_xml_has_alma_wrappers_and_attributes(url: str, alma: httpx.Client) -> None:
    iid, _ = run_and_wait(alma, "M48402")
    xml = alma.get(f"/conf/jobs/M48402/instances/{iid}", headers={"Accept": "application/xml"}).text
    assert "<alerts><alert desc=" in xml and "<counters><counter><type desc=" in xml
    assert '<submitted_by desc="Ex Libris, API">exl_api</submitted_by>' in xml
    assert '<status desc="Completed Successfully">COMPLETED_SUCCESS</status>' in xml
    assert f'<job_info link="{url}/almaws/v1/conf/jobs/M48402">' in xml


def test_unknown_path_is_the_gateways_404(url: str) -> None:
    json_404 = httpx.get(url + "/almaws/v1/conf/nothing", headers=KEY)
    assert json_404.status_code == 404
    error = json_404.json()["web_service_result"]["errorList"]["error"]
    assert isinstance(error, dict) and error["errorCode"] == "NOT_FOUND"
    xml_404 = httpx.delete(url + "/almaws/v1/conf/jobs", headers={"Authorization": "apikey sandbox-key"})
    assert xml_404.status_code == 404 and "<errorCode>NOT_FOUND</errorCode>" in xml_404.text


def test_profile_run_refused_by_default(url: str, alma: httpx.Client) -> None:
    with running_sandbox(job_seconds=0.3) as fresh:
        refused = httpx.post(
            fresh + "/almaws/v1/conf/jobs/M48403",
            params={"op": "run"},
            json={"parameter": [{"name": {"value": "set_id"}, "value": SET}]},
            headers=KEY,
        )
        assert_alma_error(refused, "402248")
        assert refused.json()["errorList"]["error"][0]["errorMessage"] == "Cannot submit scheduled job."
        assert httpx.get(fresh + "/sandbox/log").json() == []


def test_hold_run_answer_starts_the_job_before_answering(url: str, alma: httpx.Client) -> None:
    configure(url, hold_run_answer_seconds=1.0)
    response = run(alma, "M48401", name="held")
    answered = time.time()
    (entry,) = httpx.get(url + "/sandbox/log").json()
    assert entry["instance_id"] == instance_id(response) and entry["job_name"] == "held"
    # the job was started when op=run arrived, a second before the answer
    submitted = alma.get(f"/conf/jobs/M48401/instances/{entry['instance_id']}").json()["submit_time"]
    started = datetime.fromisoformat(submitted.replace("Z", "+00:00")).timestamp()
    assert answered - started >= 1.0
