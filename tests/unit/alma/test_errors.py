"""Error mapping: every Alma code and transport failure lands on its class of the tree."""

from __future__ import annotations

import httpx
import pytest

from alma import (
    AlmaApiError,
    AlmaAuthError,
    AlmaConnectError,
    AlmaError,
    AlmaEventsUnsupported,
    AlmaJobOverlap,
    AlmaJobThreshold,
    AlmaNotFound,
    AlmaRateLimited,
    AlmaTimeout,
    AlmaTransportError,
    AlmaUnavailable,
)
from alma._retry import RetryPolicy
from alma.errors import AlmaJobNotSubmittable, parse_error_body

from .fakes import alma_error, alma_xml_error, make_client

NO_RETRY = RetryPolicy(attempts=1, throttle_patience=0, sleep=lambda s: None)

CASES = [
    (429, "PER_SECOND_THRESHOLD", AlmaRateLimited),
    (429, "DAILY_THRESHOLD", AlmaRateLimited),
    (400, "402222", AlmaJobThreshold),
    (400, "402223", AlmaJobThreshold),
    (400, "60347", AlmaJobOverlap),
    (400, "60332", AlmaEventsUnsupported),
    (400, "402215", AlmaNotFound),
    (400, "402216", AlmaNotFound),
    (400, "402218", AlmaNotFound),
    (400, "60107", AlmaNotFound),
    (400, "402203", AlmaNotFound),
    (400, "402204", AlmaNotFound),
    (400, "401861", AlmaNotFound),
    (400, "402219", AlmaNotFound),
    (401, "UNAUTHORIZED", AlmaAuthError),
    (403, "FORBIDDEN", AlmaAuthError),
    (400, "UNAUTHORIZED", AlmaAuthError),
    (500, "402224", AlmaUnavailable),
    (503, "GENERAL_ERROR", AlmaUnavailable),
    (400, "402231", AlmaJobNotSubmittable),  # multi-task job: not runnable by API
    (400, "402248", AlmaJobNotSubmittable),  # a scheduled job (the Handle profile's)
    (400, "402249", AlmaJobNotSubmittable),
]


@pytest.mark.parametrize("shape", [alma_error, alma_xml_error], ids=["json", "xml"])
@pytest.mark.parametrize(("status", "code", "cls"), CASES, ids=[f"{s}-{c}" for s, c, _ in CASES])
def test_alma_error_bodies_map_to_their_class(shape, status, code, cls) -> None:
    # given Alma answering with an error body
    client = make_client(lambda request: shape(status, code, "it went wrong", "E01-42"), retry=NO_RETRY)
    # when / then
    with pytest.raises(cls) as info:
        client.get_job("M1")
    err = info.value
    assert type(err) is cls
    assert (err.status_code, err.error_code, err.error_message, err.tracking_id) == (
        status,
        code,
        "it went wrong",
        "E01-42",
    )
    assert "GET /conf/jobs/M1" in str(err) and code in str(err) and "\n" not in str(err)


def test_daily_threshold_is_flagged_daily_and_per_second_is_not() -> None:
    daily = make_client(lambda r: alma_error(429, "DAILY_THRESHOLD"), retry=NO_RETRY)
    per_second = make_client(
        lambda r: alma_error(429, "PER_SECOND_THRESHOLD", headers={"Retry-After": "2"}), retry=NO_RETRY
    )
    with pytest.raises(AlmaRateLimited) as d:
        daily.get_job("M1")
    with pytest.raises(AlmaRateLimited) as s:
        per_second.get_job("M1")
    assert d.value.daily is True
    assert s.value.daily is False and s.value.retry_after == 2.0


@pytest.mark.parametrize(
    ("status", "text", "cls"),
    [
        (502, "<html><body>Bad gateway</body></html>", AlmaUnavailable),
        (500, "", AlmaUnavailable),
        (404, "<html>not here</html>", AlmaNotFound),
        (401, "", AlmaAuthError),
        (400, "{not json", AlmaApiError),
    ],
)
def test_html_or_empty_bodies_still_give_a_typed_error(status, text, cls) -> None:
    client = make_client(lambda r: httpx.Response(status, text=text), retry=NO_RETRY)
    with pytest.raises(cls) as info:
        client.get_set("1")
    assert info.value.error_code is None
    assert str(status) in str(info.value)


@pytest.mark.parametrize(
    ("exc", "cls", "landed"),
    [
        (httpx.ConnectError("refused"), AlmaConnectError, False),
        (httpx.ConnectTimeout("slow connect"), AlmaConnectError, False),
        (httpx.ReadTimeout("slow read"), AlmaTimeout, True),
        (httpx.WriteTimeout("slow write"), AlmaTimeout, True),
        (httpx.RemoteProtocolError("Server disconnected"), AlmaTransportError, True),
        (httpx.ReadError("reset"), AlmaTransportError, True),
    ],
)
def test_httpx_exceptions_are_translated_and_chained(exc, cls, landed) -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise exc

    client = make_client(boom, retry=NO_RETRY)
    with pytest.raises(AlmaError) as info:
        client.get_job("M1")
    assert type(info.value) is cls
    assert info.value.__cause__ is exc
    assert info.value.may_have_landed is landed
    assert not isinstance(info.value, httpx.HTTPError)


def test_parse_error_body_tolerates_junk() -> None:
    assert parse_error_body("") == (None, None, None)
    assert parse_error_body("<html><p>errorList</p>") == (None, None, None)
    assert parse_error_body('{"errorList": {"error": []}}') == (None, None, None)
    assert parse_error_body('{"errorList": {"error": {"errorCode": "1", "errorMessage": "m"}}}') == (
        "1",
        "m",
        None,
    )
