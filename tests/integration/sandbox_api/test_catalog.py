"""The sandbox over real HTTP: sets and bibs, the Handle proxy, target pages, control, recorded shapes."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import httpx
import pytest

from sandbox import seed
from sandbox.testing import configure, running_sandbox
from tests.integration.sandbox_api.support import (
    KEY,
    SET,
    assert_alma_error,
    instance_id,
    run,
    run_and_wait,
    wait,
)

pytestmark = pytest.mark.integration


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
    # 20 lookups of 200 ms each: one after another they take 4 s; overlapped, well under 2 s even on
    # a machine busy with other tests
    configure(url, resolver_latency_ms=200)

    async def lookups() -> float:
        async with httpx.AsyncClient(base_url=url) as client:
            start = time.monotonic()
            responses = await asyncio.gather(*(client.get("/api/handles/11084/88") for _ in range(20)))
            assert all(r.status_code == 200 for r in responses)
            return time.monotonic() - start

    elapsed = asyncio.run(lookups())
    assert 0.2 <= elapsed < 2.0


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
