"""AlmaClient against a fake Alma (httpx.MockTransport): requests sent, retries, answers read."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import httpx
import pytest

from alma import (
    AlmaClient,
    AlmaConnectError,
    AlmaInvalidId,
    AlmaNotFound,
    AlmaRateLimited,
    AlmaTimeout,
    AlmaUnavailable,
    DublinCoreError,
    JobInstance,
)
from config.settings import load_settings

from .fakes import API_KEY, BASE, FakeAlma, alma_error, body, make_client

RUN_OK = {
    "id": "M48402",
    "name": "DG Handle Migration",
    "additional_info": {
        "value": "Job no. 777 triggered on Sun, 05 Oct 2025 09:11:32 GMT",
        "link": f"{BASE}/conf/jobs/M48402/instances/9563643080000561",
    },
}


def instance(iid: str, name: str, status: str = "RUNNING") -> dict:
    return {
        "id": iid,
        "name": name,
        "status": {"value": status, "desc": status.title()},
        "progress": 10,
        "submit_time": "2025-10-05T09:11:32.592Z",
    }


def test_requests_carry_the_key_header_json_accept_and_base_path() -> None:
    fake = FakeAlma().on("GET", "/conf/jobs/M48401", {"id": "M48401", "name": "Copy"})
    client = make_client(fake)
    assert client.get_job("M48401")["name"] == "Copy"
    sent = fake.requests[0]
    assert sent.headers["Authorization"] == f"apikey {API_KEY}"
    assert sent.headers["Accept"] == "application/json"
    assert str(sent.url) == f"{BASE}/conf/jobs/M48401"
    assert "apikey" not in str(sent.url)


def test_from_settings_builds_base_url_and_paces() -> None:
    settings = load_settings(alma_api_base_url="https://api-na.hosted.exlibrisgroup.com", alma_api_key="k")
    fake = FakeAlma().on("GET", "/conf/sets/1", {"id": "1"})
    client = AlmaClient.from_settings(settings, transport=httpx.MockTransport(fake))
    client.get_set("1")
    assert str(fake.requests[0].url) == "https://api-na.hosted.exlibrisgroup.com/almaws/v1/conf/sets/1"
    assert client.limiter is not None and client.limiter.rate == 25.0
    client.close()


def test_transient_failures_are_retried_then_succeed() -> None:
    fake = FakeAlma().on(
        "GET",
        "/conf/sets/5",
        httpx.ConnectError("down"),
        alma_error(503, "X"),
        httpx.ReadTimeout("slow"),
        {"id": "5"},
    )
    assert make_client(fake).get_set("5") == {"id": "5"}
    assert fake.count("GET") == 4


def test_retries_stop_after_the_policy_attempts() -> None:
    fake = FakeAlma().on("GET", "/conf/sets/5", alma_error(500, "X"))
    with pytest.raises(AlmaUnavailable):
        make_client(fake).get_set("5")
    assert fake.count("GET") == 4


def test_per_second_429_is_retried_but_daily_429_is_not() -> None:
    fake = FakeAlma().on("GET", "/conf/sets/5", alma_error(429, "PER_SECOND_THRESHOLD"), {"id": "5"})
    assert make_client(fake).get_set("5") == {"id": "5"}
    assert fake.count("GET") == 2
    daily = FakeAlma().on("GET", "/conf/sets/5", alma_error(429, "DAILY_THRESHOLD"))
    with pytest.raises(AlmaRateLimited):
        make_client(daily).get_set("5")
    assert daily.count("GET") == 1


def test_not_found_is_not_retried() -> None:
    fake = FakeAlma().on("GET", "/conf/sets/5", alma_error(400, "60107"))
    with pytest.raises(AlmaNotFound):
        make_client(fake).get_set("5")
    assert fake.count("GET") == 1


def test_run_job_posts_parameters_and_returns_the_instance_id_from_the_link() -> None:
    fake = FakeAlma().on("POST", "/conf/jobs/M48402", RUN_OK)
    iid = make_client(fake).run_job(
        "M48402",
        set_id="7593466560004641",
        job_name="run 1 migration",
        parameters=[{"name": {"value": "task_X"}, "value": "true"}],
    )
    assert iid == "9563643080000561"
    sent = fake.requests[0]
    assert sent.url.params["op"] == "run"
    assert body(sent) == {
        "parameter": [
            {"name": {"value": "task_X"}, "value": "true"},
            {"name": {"value": "set_id"}, "value": "7593466560004641"},
            {"name": {"value": "job_name"}, "value": "run 1 migration"},
        ]
    }


def test_run_job_falls_back_to_the_triggered_text() -> None:
    answer = {"additional_info": {"value": "Job no. 4242 triggered on Mon, 06 Oct 2025"}}
    fake = FakeAlma().on("POST", "/conf/jobs/M1", answer)
    assert make_client(fake).run_job("M1", set_id="1", job_name="n") == "4242"


def test_run_job_timeout_with_instance_present_does_not_post_again() -> None:
    # given the POST times out although Alma started the job
    fake = (
        FakeAlma()
        .on("POST", "/conf/jobs/M48402", httpx.ReadTimeout("slow"), RUN_OK)
        .on(
            "GET",
            "/conf/jobs/M48402/instances",
            {
                "job_instance": [instance("111", "someone else"), instance("222", "run 1 migration")],
                "total_record_count": 2,
            },
        )
    )
    # when
    iid = make_client(fake).run_job("M48402", set_id="1", job_name="run 1 migration")
    # then the existing instance is returned and no second POST was made
    assert iid == "222"
    assert fake.count("POST") == 1
    listing = [r for r in fake.requests if r.method == "GET"][0]
    assert listing.url.params["submit_date_from"] == datetime.now(UTC).date().isoformat()


def test_run_job_5xx_without_instance_raises_and_does_not_post_again() -> None:
    fake = (
        FakeAlma()
        .on("POST", "/conf/jobs/M48402", alma_error(500, "402224"), RUN_OK)
        .on("GET", "/conf/jobs/M48402/instances", {"job_instance": [], "total_record_count": 0})
    )
    with pytest.raises(AlmaUnavailable):
        make_client(fake).run_job("M48402", set_id="1", job_name="run 1 migration")
    assert fake.count("POST") == 1


def test_run_job_dropped_connection_is_ambiguous_too() -> None:
    fake = (
        FakeAlma()
        .on("POST", "/conf/jobs/M48402", httpx.RemoteProtocolError("Server disconnected"))
        .on("GET", "/conf/jobs/M48402/instances", {"job_instance": [], "total_record_count": 0})
    )
    with pytest.raises(Exception) as info:
        make_client(fake).run_job("M48402", set_id="1", job_name="x")
    assert not isinstance(info.value, AlmaTimeout | AlmaConnectError)
    assert fake.count("POST") == 1 and fake.count("GET") == 1


@pytest.mark.parametrize(
    "first",
    [httpx.ConnectError("refused"), alma_error(429, "PER_SECOND_THRESHOLD")],
    ids=["connect-error", "429"],
)
def test_run_job_reposts_only_failures_that_never_landed(first) -> None:
    fake = FakeAlma().on("POST", "/conf/jobs/M48402", first, RUN_OK)
    assert make_client(fake).run_job("M48402", set_id="1", job_name="x") == "9563643080000561"
    assert fake.count("POST") == 2
    assert fake.count("GET") == 0


def test_instances_are_read_into_models_across_pages() -> None:
    pages = [
        {"job_instance": [instance(str(i), f"n{i}") for i in range(100)], "total_record_count": 101},
        {"job_instance": [instance("100", "n100", "COMPLETED_SUCCESS")], "total_record_count": 101},
    ]
    fake = FakeAlma().on("GET", "/conf/jobs/M1/instances", *pages)
    found = make_client(fake).list_instances("M1")
    assert len(found) == 101 and isinstance(found[0], JobInstance)
    assert found[-1].is_success and found[-1].is_terminal
    assert [r.url.params["offset"] for r in fake.requests] == ["0", "100"]
    assert fake.requests[0].url.params["limit"] == "100"


def test_find_job_matches_name_over_pages() -> None:
    fake = FakeAlma().on(
        "GET",
        "/conf/jobs",
        {
            "job": [
                {"id": "M1", "name": "Copy dcterms to dc:identifier"},
                {"id": "M2", "name": "DG Handle Migration"},
            ],
            "total_record_count": 2,
        },
    )
    client = make_client(fake)
    assert client.find_job("DG Handle Migration")["id"] == "M2"
    assert client.find_job("nope") is None


def test_events_are_paged_and_60332_is_typed() -> None:
    fake = FakeAlma().on(
        "GET", "/conf/jobs/M1/instances/9/events", {"event": [{"event_id": "e1"}], "total_record_count": 1}
    )
    assert [e["event_id"] for e in make_client(fake).iter_events("M1", "9")] == ["e1"]
    from alma import AlmaEventsUnsupported

    refused = FakeAlma().on("GET", "/conf/jobs/M1/instances/9/events", alma_error(400, "60332"))
    with pytest.raises(AlmaEventsUnsupported):
        list(make_client(refused).iter_events("M1", "9"))


@pytest.mark.parametrize(
    ("call", "args"),
    [
        ("get_job", ("48401",)),
        ("get_job", ("M48401/../x",)),
        ("get_set", ("75934665600O4641",)),
        ("get_set", ("",)),
        ("get_instance", ("M1", "abc")),
        ("get_bib_xml", ("99 1",)),
    ],
)
def test_impossible_ids_fail_before_any_request(call, args) -> None:
    fake = FakeAlma()
    with pytest.raises(AlmaInvalidId) as info:
        getattr(make_client(fake), call)(*args)
    assert fake.requests == []
    assert isinstance(info.value, AlmaNotFound | ValueError)
    assert "not a valid Alma" in str(info.value)


def test_run_job_refuses_bad_set_or_job_locally() -> None:
    fake = FakeAlma()
    with pytest.raises(AlmaInvalidId):
        make_client(fake).run_job("M1", set_id="set-1", job_name="x")
    with pytest.raises(AlmaInvalidId):
        make_client(fake).run_job("X1", set_id="1", job_name="x")
    assert fake.requests == []


def test_set_members_are_read_in_pages_of_100() -> None:
    pages = [
        {
            "member": [{"id": str(i), "description": f"d{i}", "link": "x"} for i in range(100)],
            "total_record_count": 150,
        },
        {
            "member": [{"id": str(i), "description": f"d{i}"} for i in range(100, 150)],
            "total_record_count": 150,
        },
    ]
    fake = FakeAlma().on("GET", "/conf/sets/7/members", *pages)
    members = list(make_client(fake).iter_set_members("7"))
    assert len(members) == 150 and members[0] == {"id": "0", "description": "d0"}


def test_add_set_members_chunks_by_1000() -> None:
    fake = FakeAlma().on("POST", "/conf/sets/7", {"id": "7"})
    make_client(fake).add_set_members("7", [str(990000 + i) for i in range(2500)])
    sizes = [len(body(r)["members"]["member"]) for r in fake.requests]
    assert sizes == [1000, 1000, 500]
    assert all(r.url.params["op"] == "add_members" for r in fake.requests)


def test_create_itemized_set_is_not_reposted_after_a_timeout() -> None:
    fake = FakeAlma().on("POST", "/conf/sets", httpx.ReadTimeout("slow"), {"id": "8"})
    with pytest.raises(AlmaTimeout):
        make_client(fake).create_itemized_set("batch 1")
    assert fake.count("POST") == 1
    sent = body(fake.requests[0])
    assert sent["type"] == {"value": "ITEMIZED"} and sent["content"] == {"value": "IEP"}


def _bib(mms: str) -> dict:
    return {"mms_id": mms, "record_format": "dc", "title": f"t{mms}", "anies": [f"<record>{mms}</record>"]}


def test_get_bibs_chunks_by_100_and_keeps_input_order() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        ids = request.url.params["mms_id"].split(",")
        return httpx.Response(200, json={"bib": [_bib(m) for m in reversed(ids) if m != "9913"]})

    fake = FakeAlma().on("GET", "/bibs", answer)
    wanted = [str(9900 + i) for i in range(150)]
    bibs = make_client(fake).get_bibs(wanted)
    assert [b.mms_id for b in bibs] == [m for m in wanted if m != "9913"]
    assert [len(r.url.params["mms_id"].split(",")) for r in fake.requests] == [100, 50]
    assert bibs[0].record_xml == "<record>9900</record>" and bibs[0].record_format == "dc"


def test_bib_xml_get_and_put_use_xml_and_the_reference_parameters() -> None:
    doc = '<?xml version="1.0" encoding="UTF-16"?><bib><mms_id>991</mms_id><record/></bib>'
    fake = (
        FakeAlma()
        .on("GET", "/bibs/991", httpx.Response(200, text=doc))
        .on("PUT", "/bibs/991", lambda r: httpx.Response(200, content=r.content))
    )
    client = make_client(fake)
    assert client.get_bib_xml("991") == doc
    assert fake.requests[0].headers["Accept"] == "application/xml"
    echoed = client.put_bib_xml("991", doc)
    put = fake.requests[1]
    assert put.headers["Content-Type"] == "application/xml; charset=utf-8"
    assert dict(put.url.params) == {
        "validate": "true",
        "override_warning": "true",
        "override_lock": "true",
        "stale_version_check": "false",
        "check_match": "false",
    }
    assert put.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?><bib>')
    assert "<mms_id>991</mms_id>" in echoed


def test_put_bib_xml_refuses_broken_xml_before_sending() -> None:
    fake = FakeAlma()
    with pytest.raises(DublinCoreError):
        make_client(fake).put_bib_xml("991", "<bib><record></bib>")
    assert fake.requests == []


def test_the_api_key_never_appears_in_repr_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    # given a server that echoes the Authorization header in its error text, and a flaky one
    echo = FakeAlma().on(
        "GET", "/conf/sets/5", lambda r: alma_error(400, "60107", r.headers["Authorization"])
    )
    flaky = FakeAlma().on("POST", "/conf/jobs/M1", httpx.ConnectError("down"), alma_error(503, "X"))
    flaky.on("GET", "/conf/jobs/M1/instances", alma_error(500, "Y"))
    client, other = make_client(echo), make_client(flaky)
    texts = [repr(client), str(client), repr(client.limiter), repr(client.quota)]
    # when
    for call in (lambda: client.get_set("5"), lambda: other.run_job("M1", set_id="1", job_name="n")):
        with pytest.raises(Exception) as info:
            call()
        texts += [str(info.value), repr(info.value), str(info.value.args)]
    texts += [rec.getMessage() for rec in caplog.records]
    # then
    assert len(caplog.records) >= 2
    assert all(API_KEY not in text for text in texts)
    assert "***" in texts[0]


def test_close_closes_the_http_client() -> None:
    client = make_client(FakeAlma())
    client.close()
    assert client._http.is_closed


def test_retry_policy_backs_off_exponentially_with_jitter_and_a_cap() -> None:
    from alma import RetryPolicy

    policy = RetryPolicy(initial=1.0, maximum=5.0, jitter=0.5)
    waits = [policy.wait_seconds(n) for n in range(1, 6)]
    assert 1.0 <= waits[0] <= 1.5 and 2.0 <= waits[1] <= 2.5 and 4.0 <= waits[2] <= 4.5
    assert waits[3] == waits[4] == 5.0
    limited = AlmaRateLimited(429, "PER_SECOND_THRESHOLD", retry_after=3.0)
    assert policy.wait_seconds(1, limited) == 3.0


def test_retries_sleep_between_attempts() -> None:
    from alma import RetryPolicy

    slept: list[float] = []
    fake = FakeAlma().on("GET", "/conf/sets/5", alma_error(503, "X"), alma_error(503, "X"), {"id": "5"})
    policy = RetryPolicy(attempts=3, initial=0.25, maximum=1.0, jitter=0.0, sleep=slept.append)
    make_client(fake, retry=policy).get_set("5")
    assert slept == [0.25, 0.5]
