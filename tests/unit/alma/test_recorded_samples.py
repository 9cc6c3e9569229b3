"""Alma's recorded answers are the contract (issue 10).

``tests/fixtures/alma-samples/`` holds answers recorded from real Alma tenants (see its SOURCES.md).
(a) Here, the product's own parsing reads every one of them. (b) In ``test_recorded_samples_sandbox``,
the sandbox, asked over real HTTP for the same kind of answer, gives the same keys, nesting and value
types. A new sample file that no test covers fails :func:`test_every_sample_is_covered`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from alma import AlmaAuthError, AlmaNotFound, AlmaRateLimited, JobInstance
from alma.client import run_answer_instance_id
from alma.errors import error_from_response, parse_error_body
from alma.naming import instance_matches
from alma.xmlshape import from_xml
from tests.unit.alma import test_recorded_samples_sandbox as compared
from tests.unit.alma.recorded_samples import (
    ACCEPTED,
    COVERED,
    RUN_NAME,
    SAMPLES,
    sample,
    sample_json,
)


# --- coverage ----------------------------------------------------------------------------------------
def test_every_sample_is_covered() -> None:
    on_disk = {p.name for p in SAMPLES.iterdir() if p.name != "SOURCES.md"}
    assert on_disk == set(COVERED), f"samples without a test: {sorted(on_disk - set(COVERED))}"
    sources = sample("SOURCES.md")
    assert all(name in sources for name in on_disk), "every sample says where it was recorded"
    here = [globals().items(), vars(compared).items()]
    tests = {name for items in here for name, value in items if name.startswith("test_") and callable(value)}
    for name, (parsing, comparing) in COVERED.items():
        assert parsing in tests and comparing in tests, name
    assert set(ACCEPTED) <= set(COVERED)


# --- (a) the product's own parsing ----------------------------------------------------------------
def test_job_instance_json() -> None:
    inst = JobInstance.from_alma(sample_json("S01_job_instance_completed.json"))
    assert inst.id == "9563643080000561"
    assert (inst.status, inst.status_desc) == ("COMPLETED_SUCCESS", "Completed Successfully")
    assert inst.is_terminal and inst.is_success and not inst.is_failure
    assert inst.progress == 100
    assert inst.end_time == datetime(2025, 10, 5, 9, 11, 36, 463000, tzinfo=UTC)
    assert inst.submit_time is not None and inst.submit_time < inst.end_time
    assert inst.submitted_by == "exl_api"
    assert len(inst.counters) == 6 and inst.counters["import_research_assets_files.asset_failed"] == "1"
    assert inst.counter_labels["import_research_assets_files.file_failed_to_upload"] == (
        "Number of files failed to upload"
    )
    assert inst.alerts == ["alert_general_success"]
    # Alma's naming: the run's job_name, then " - <local date time>"
    assert instance_matches(inst.name, RUN_NAME) and inst.matches_job_name(RUN_NAME)
    assert not instance_matches(inst.name, "Import Research Assets Files - via API - other")
    # a shorter name that Alma's name starts with is a "found" the caller then verifies: better
    # than a second submission of the same job
    assert instance_matches(inst.name, "Import Research Assets Files - via API")


def test_job_instance_xml() -> None:
    inst = JobInstance.from_alma_xml(sample("S02_job_instance_completed.xml"))
    assert (inst.id, inst.status, inst.progress) == ("9563643080000561", "COMPLETED_SUCCESS", 100)
    assert inst.is_terminal and inst.is_success
    assert inst.end_time == datetime(2025, 10, 5, 9, 11, 36, 463000, tzinfo=UTC)
    assert inst.counters == {
        "import_research_assets_files.asset_succeeded": "0",
        "import_research_assets_files.asset_failed": "1",
    }
    assert inst.counter_labels["import_research_assets_files.asset_failed"] == "Number of assets failed"
    assert inst.alerts == ["alert_general_success"] and inst.submitted_by == "exl_api"
    assert inst.matches_job_name(RUN_NAME)
    assert inst.raw["job_info"]["link"].endswith("/conf/jobs/M50173")
    # the XSD's example: a float progress, a non-terminal status with an end time, another naming
    fixture = JobInstance.from_alma_xml(sample("S14_job_instance_fixture.xml"))
    assert fixture.progress == 50 and fixture.status == "QUEUED" and not fixture.is_terminal
    assert fixture.end_time == datetime(2015, 4, 15, 13, 7, 44, 359000, tzinfo=UTC)
    assert fixture.counters == {"4": "It's at 4!"} and fixture.alerts == ["alert_general_success"]
    assert fixture.matches_job_name("Export Physical Items - war and love")


def test_run_answers() -> None:
    assert run_answer_instance_id(sample_json("S03_run_job_response.json")) == "9563643080000561"
    assert run_answer_instance_id(from_xml(sample("S04_run_job_response.xml"))) == "9563654220000561"
    assert run_answer_instance_id(sample_json("S15_run_job_additional_info_2017.json")) == "6289114830002456"
    # without the link, the "Job no. N triggered" text still gives the id
    text_only = {
        "additional_info": {"value": sample_json("S03_run_job_response.json")["additional_info"]["value"]}
    }
    assert run_answer_instance_id(text_only) == "9563643080000561"


def test_job_details_and_list() -> None:
    details = sample_json("S05_job_details.json")
    assert details["type"]["value"] == "MANUAL" and details["link"].endswith("/conf/jobs/M50173")
    listing = sample_json("S06_jobs_list_excerpt.json")
    assert listing["total_record_count"] == 439
    assert {tuple(sorted(job)) for job in listing["job"]} == {("category", "id", "link", "name", "type")}


def test_set_answer() -> None:
    the_set = sample_json("S07_set_after_add_members.json")
    assert int(the_set["number_of_members"]["value"]) == 2
    assert datetime.fromisoformat(the_set["created_date"]).tzinfo is not None  # a date-time


def response(status: int, name: str) -> httpx.Response:
    media = "application/xml" if name.endswith(".xml") else "application/json"
    request = httpx.Request("GET", "https://alma.test/almaws/v1/conf/jobs/M1")
    return httpx.Response(status, text=sample(name), headers={"Content-Type": media}, request=request)


def test_json_errors() -> None:
    limited = error_from_response(response(429, "S08_error_per_second_threshold.json"))
    assert isinstance(limited, AlmaRateLimited) and not limited.daily
    assert (limited.error_code, limited.tracking_id) == (
        "PER_SECOND_THRESHOLD",
        "E01-0101190932-VOBYO-AWAE1554214409",
    )
    assert limited.error_message == "HTTP requests are more than allowed per second"
    gateway = error_from_response(response(404, "S10_error_gateway_wrapped.json"))
    assert isinstance(gateway, AlmaNotFound)
    assert (gateway.error_code, gateway.tracking_id, gateway.error_message) == (
        "NOT_FOUND",
        "unknown",
        "Not Found",
    )
    user = error_from_response(response(400, "S12_error_401861.json"))
    assert isinstance(user, AlmaNotFound) and user.error_code == "401861"
    assert user.error_message == "User with identifier dfsfsfsdfaa was not found."
    assert user.tracking_id == "E01-0804072350-LLRHA-AWAE790016211"
    assert "\n" not in str(user)


def test_xml_errors() -> None:
    auth = error_from_response(response(400, "S09_error_unauthorized.xml"))
    assert isinstance(auth, AlmaAuthError) and auth.status_code == 400
    assert auth.error_code == "UNAUTHORIZED" and auth.tracking_id is None
    assert auth.error_message == "API-key not defined or not configured to allow this API."
    empty_ns = error_from_response(response(400, "S11_error_xml_empty_ns.xml"))
    assert isinstance(empty_ns, AlmaNotFound) and empty_ns.error_code == "402204"
    assert (
        empty_ns.error_message == "Input parameters mmsId mmsa is not numeric."
        and empty_ns.tracking_id is None
    )
    assert parse_error_body(sample("S13_error_xml_no_code.xml")) == (
        None,
        "Input parameters mmsId adsf is not numeric.",
        "E01-1412213335-METCK-AWAE1210089497",
    )
    no_code = error_from_response(response(400, "S13_error_xml_no_code.xml"))
    assert no_code.status_code == 400 and "not numeric" in str(no_code)
