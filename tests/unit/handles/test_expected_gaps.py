"""Expected gaps and false alarms (issue 11): unpublished records, retried lookups, stray characters."""

from __future__ import annotations

import httpx
import pytest
from sqlmodel import Session, select

from alma.dc import parse_dc
from alma.models import Bib
from config.settings import load_settings
from handles.resolver import Resolution
from handles.syntax import strip_trailing
from handles.verdict import VerifyItem, VerifyResult, judge
from handles.verify import run_verification, verify_run
from store.models import Record, Run

TEMPLATE = "https://primo.example/discovery/fulldisplay/alma{mms_id}/01GCL_INST:GCL"


@pytest.fixture
def settings():
    return load_settings(handle_resolver_url="http://resolver.test", handle_target_template=TEMPLATE)


def test_not_found_on_a_suppressed_record_is_unpublished(settings) -> None:
    gone = Resolution(handle="11084/4", status="not_found", detail="handle not found")
    assert judge(VerifyItem("11084/4", "9904", suppressed=True), gone, settings).verification == "unpublished"
    assert judge(VerifyItem("11084/4", "9904"), gone, settings).verification == "not_found"
    # an error stays an error, suppressed or not: no answer is no evidence
    err = Resolution(handle="11084/4", status="error", detail="timeout")
    assert judge(VerifyItem("11084/4", "9904", suppressed=True), err, settings).verification == "error"


def test_verify_run_reports_unpublished_for_a_suppressed_record(engine, settings) -> None:
    with Session(engine) as session:
        run = Run(set_id="1")
        session.add(run)
        session.commit()
        assert run.id is not None
        run_id = run.id
        for mms, sup in (("9901", True), ("9902", False)):
            session.add(Record(run_id=run_id, mms_id=mms, expected_handle=f"11084/{mms}", suppressed=sup))
        session.commit()

    def missing(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"responseCode": 100})

    with Session(engine) as session:
        summary = verify_run(
            session=session, run_id=run_id, settings=settings, transport=httpx.MockTransport(missing)
        )
        got = {r.mms_id: r.verification for r in session.exec(select(Record).where(Record.run_id == run_id))}
    assert got == {"9901": "unpublished", "9902": "not_found"}
    assert summary.counts["unpublished"] == 1 and not summary.all_ok


def test_a_lookup_that_times_out_is_retried_before_it_is_concluded(settings) -> None:
    calls: list[int] = []

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) < 3:
            raise httpx.ReadTimeout("slow", request=request)
        url = TEMPLATE.format(mms_id="9901")
        values = [{"index": 1, "type": "URL", "data": {"format": "string", "value": url}}]
        return httpx.Response(200, json={"responseCode": 1, "values": values})

    seen: list[VerifyResult] = []
    run_verification(
        [VerifyItem("11084/1", "9901")],
        settings=settings,
        sink=seen.extend,
        transport=httpx.MockTransport(flaky),
        client_options={"backoff": 0.01},
    )
    assert [r.verification for r in seen] == ["ok"] and seen[0].attempts == 3 and len(calls) == 3


@pytest.mark.parametrize(
    ("text", "core", "removed"),
    [
        ("http://hdl.handle.net/11084/99.", "http://hdl.handle.net/11084/99", "."),
        ("http://hdl.handle.net/11084/99 ;", "http://hdl.handle.net/11084/99", " ;"),
        ("http://hdl.handle.net/11084/99", "http://hdl.handle.net/11084/99", ""),
    ],
)
def test_strip_trailing(text: str, core: str, removed: str) -> None:
    assert strip_trailing(text) == (core, removed)


def test_dc_reads_the_handle_without_trailing_punctuation_and_says_so() -> None:
    xml = (
        '<record xmlns:dc="http://purl.org/dc/elements/1.1/">'
        "<dc:identifier>http://hdl.handle.net/11084/99.</dc:identifier></record>"
    )
    dc = parse_dc(xml)
    assert dc.expected_handle("11084") == "11084/99"
    assert dc.handle_note("11084") == "handle in the metadata had a trailing '.', read as 11084/99"
    clean = parse_dc(xml.replace("99.<", "99<"))
    assert clean.handle_note("11084") is None


def test_bib_says_whether_it_is_suppressed_and_dublin_core() -> None:
    marc = Bib.from_alma({"mms_id": "1", "record_format": "marc21", "suppress_from_publishing": "true"})
    assert marc.suppress_from_publishing and not marc.is_dublin_core
    dc = Bib.from_alma(
        {"mms_id": "2", "record_format": {"value": "DCAP01"}, "suppress_from_publishing": "false"}
    )
    assert not dc.suppress_from_publishing and dc.is_dublin_core
    for fmt in ("dc", "dcap02", "dcap-etd"):
        assert Bib.from_alma({"mms_id": "3", "record_format": fmt}).is_dublin_core
    for fmt in ("unimarc", "mods"):
        assert not Bib.from_alma({"mms_id": "3", "record_format": fmt}).is_dublin_core
