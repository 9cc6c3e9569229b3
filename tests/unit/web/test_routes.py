"""The web page's routes through Starlette's TestClient: auth, 404, filters, downloads, times."""

from __future__ import annotations

import csv
import io
import json

import pytest
from starlette.testclient import TestClient

from config.settings import load_settings
from outcomes.next_steps import NEXT_STEPS, next_step
from store.db import make_engine, upgrade_schema
from tests.web_data import MMS, small_database
from web.app import create_app
from web.auth import AuthNotConfigured, parse_credentials

AUTH = ("operator", "s3cret:with-colon")


@pytest.fixture
def built(tmp_path):  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'web.db'}")
    upgrade_schema(engine)
    data = small_database(engine)
    yield engine, data
    engine.dispose()


@pytest.fixture
def client(built):  # type: ignore[no-untyped-def]
    engine, _ = built
    settings = load_settings(HANDLES_WEB_AUTH=":".join(AUTH), HANDLES_TIMEZONE="America/Chicago")
    with TestClient(create_app(settings=settings, engine=engine), raise_server_exceptions=False) as c:
        yield c


def test_every_page_needs_the_credentials(client: TestClient) -> None:
    for path in (
        "/",
        "/runs/1",
        "/runs/1/records",
        "/runs/1/records.csv",
        "/verification",
        "/requests",
        "/static/style.css",
    ):
        answer = client.get(path)
        assert answer.status_code == 401, path
        assert answer.headers["www-authenticate"].startswith("Basic ")
    assert client.get("/", auth=("operator", "wrong")).status_code == 401
    assert client.get("/", auth=("someone", AUTH[1])).status_code == 401
    assert client.get("/", headers={"Authorization": "Basic !!notbase64"}).status_code == 401
    assert client.get("/", auth=AUTH).status_code == 200


def test_the_app_is_not_built_without_auth() -> None:
    with pytest.raises(AuthNotConfigured, match="HANDLES_WEB_AUTH is not set"):
        create_app(settings=load_settings(), engine=None)  # type: ignore[arg-type]
    with pytest.raises(AuthNotConfigured, match="not user:password"):
        parse_credentials("no-colon")
    assert "s3cret" not in repr(parse_credentials(":".join(AUTH)))


def test_runs_page_shows_state_set_progress_and_why_it_waits(client: TestClient, built) -> None:  # type: ignore[no-untyped-def]
    _, data = built
    page = client.get("/", auth=AUTH).text
    assert f"run {data.finished_run}" in page and f"run {data.waiting_run}" in page
    assert "7600000000004641" in page and "Digital collections sample" in page
    assert "3 of 3 Alma jobs done" in page and "0 of 3 Alma jobs done" in page
    assert "you: run the Handle profile in Alma" in page and "handles confirm 2" in page
    assert "Times in America/Chicago" in page


def test_a_missing_run_is_a_404_page(client: TestClient) -> None:
    for path in ("/runs/999", "/runs/999/records", "/runs/999/records.csv"):
        answer = client.get(path, auth=AUTH)
        assert answer.status_code == 404, path
        assert "There is no run 999." in answer.text and "Traceback" not in answer.text
    assert client.get("/nowhere", auth=AUTH).status_code == 404


def test_run_page_shows_steps_instances_counters_and_next_steps(client: TestClient, built) -> None:  # type: ignore[no-untyped-def]
    _, data = built
    page = client.get(f"/runs/{data.finished_run}", auth=AUTH).text
    assert "60123451" + "0004641" in page and "M48402" in page
    assert "Records processed" in page and "<b>250</b>" in page
    assert "<code>handles repair-conflicts 1</code>" in page  # the conflict row's next step, run id filled
    assert "<code>handles rerun 1 --outcome failed</code>" in page
    assert 'data-outcome="conflict"' in page and ">3</a>" in page and ">245</a>" in page
    waiting = client.get(f"/runs/{data.waiting_run}", auth=AUTH).text
    assert 'id="operator"' in waiting and "Integration Profiles" in waiting


def test_record_filters_search_and_pagination(client: TestClient) -> None:
    first = client.get("/runs/1/records", auth=AUTH).text
    assert "250 of 250 records" in first and "page 1 of 3" in first
    assert MMS[0] in first and MMS[150] not in first
    second = client.get("/runs/1/records?page=2", auth=AUTH).text
    assert MMS[150] in second and MMS[0] not in second
    conflicts = client.get("/runs/1/records?outcome=conflict", auth=AUTH).text
    assert "3 of 250 records" in conflicts and MMS[2] in conflicts and MMS[3] not in conflicts
    wrong = client.get("/runs/1/records?verification=wrong_target", auth=AUTH).text
    assert "3 of 250 records" in wrong
    found = client.get(f"/runs/1/records?q={MMS[42]}", auth=AUTH).text
    assert "1 of 250 records" in found and MMS[42] in found
    by_handle = client.get("/runs/1/records?q=11084/1007", auth=AUTH).text
    assert "1 of 250 records" in by_handle and MMS[7] in by_handle
    none = client.get("/runs/1/records?q=nothing-like-this", auth=AUTH).text
    assert "0 of 250 records" in none and "No record matches" in none


def test_downloads_are_the_report_with_the_same_filters(client: TestClient) -> None:
    answer = client.get("/runs/1/records.csv?outcome=failed", auth=AUTH)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert 'filename="run-1-records.csv"' in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [r["mms_id"] for r in rows] == MMS[3:5] and {r["outcome"] for r in rows} == {"failed"}
    everything = json.loads(client.get("/runs/1/records.json", auth=AUTH).text)
    assert len(everything) == 250 and everything[0]["mms_id"] == MMS[0]
    assert client.get("/runs/1/records.pdf", auth=AUTH).status_code == 404


def test_verification_history_regressions_and_requests(client: TestClient) -> None:
    page = client.get("/verification", auth=AUTH).text
    assert "1</b> regression" in page and "11084/1249" in page and "page 1 of 3" in page
    only = client.get("/verification?regressions=1", auth=AUTH).text
    assert only.count('class="regression"') == 1 and "11084/1000" in only and "11084/1249" not in only
    assert "11084/1000" in client.get("/verification?page=3&run=1", auth=AUTH).text
    requests = client.get("/requests", auth=AUTH).text
    assert "the Handle server refused the secret key" in requests and "11084/1000" in requests
    assert "No requests with status success" in client.get("/requests?status=success", auth=AUTH).text


def test_times_are_shown_in_the_operators_zone(built) -> None:  # type: ignore[no-untyped-def]
    engine, _ = built
    pages = {}
    for zone in ("UTC", "Asia/Tokyo"):
        settings = load_settings(HANDLES_WEB_AUTH="a:b", HANDLES_TIMEZONE=zone)
        with TestClient(create_app(settings=settings, engine=engine)) as c:
            pages[zone] = c.get("/runs/1", auth=("a", "b")).text
    assert f"({'Asia/Tokyo'})" in pages["Asia/Tokyo"]
    import re

    stamp = re.compile(r"Started</dt><dd class=\"time\">(\d\d\d\d-\d\d-\d\d \d\d):")
    utc, tokyo = (stamp.search(pages[z]).group(1) for z in ("UTC", "Asia/Tokyo"))  # type: ignore[union-attr]
    from datetime import datetime

    hours = (
        datetime.strptime(tokyo, "%Y-%m-%d %H") - datetime.strptime(utc, "%Y-%m-%d %H")
    ).total_seconds() / 3600
    assert hours == 9


def test_every_outcome_has_a_next_step_sentence() -> None:
    from store.models import Outcome

    contract = {o.value for o in Outcome} | {"duplicate_handle", "wrong_format"}
    assert contract <= set(NEXT_STEPS)
    assert next_step("failed", 12) == "re-run only these records with `handles rerun 12 --outcome failed`."
    assert next_step("migrated", 12) == ""
    assert "handles events import 3 FILE" in next_step("unknown", 3)


def test_a_bad_time_zone_is_one_line() -> None:
    from config.settings import SettingsError

    with pytest.raises(SettingsError, match="^HANDLES_TIMEZONE: 'Mars/Olympus' is not a time zone"):
        load_settings(HANDLES_TIMEZONE="Mars/Olympus")
