"""Issue 13 items 6 and 8: a refused key is one line naming ALMA_API_KEY; Alma's own text is scrubbed."""

from __future__ import annotations

import httpx
import pytest

from alma import AlmaAuthError
from alma._retry import RetryPolicy
from alma.errors import AlmaApiError, error_from_response

from .fakes import API_KEY, alma_error, alma_xml_error, make_client

NO_RETRY = RetryPolicy(attempts=1, sleep=lambda s: None)


@pytest.mark.parametrize(
    ("status", "code"), [(401, "UNAUTHORIZED"), (403, "FORBIDDEN"), (400, "INVALID_API_KEY")]
)
def test_a_refused_key_is_one_line_that_names_the_setting(status, code) -> None:
    client = make_client(lambda r: alma_error(status, code, "API-key not defined"), retry=NO_RETRY)
    with pytest.raises(AlmaAuthError) as info:
        client.get_set("7593466560004641")
    text = str(info.value)
    assert "\n" not in text
    assert "ALMA_API_KEY refused by Alma" in text
    assert "check the key and its API areas/permissions" in text
    assert API_KEY not in text


HOSTILE = "bad \x1b[2J\x1b[31mkey\x1b[0m\r\nForged line apikey=l7xxLEAKED01 " + "A" * 5000
# XML 1.0 cannot carry escape characters: a body with them is not XML, and gives no fields at all
HOSTILE_XML = "bad key\r\nForged line apikey=l7xxLEAKED01 \u202e" + "A" * 5000


@pytest.mark.parametrize(
    ("make", "message", "code", "tracking"),
    [
        (alma_error, HOSTILE, "CODE\x1b[31m" + API_KEY, "E01\x07-" + "T" * 500),
        (alma_xml_error, HOSTILE_XML, "CODE " + API_KEY, "E01\n-" + "T" * 500),
    ],
)
def test_alma_error_fields_are_scrubbed_before_they_are_kept(make, message, code, tracking) -> None:
    response = make(400, code, message, tracking)
    response.request = httpx.Request("GET", "https://alma.example/almaws/v1/conf/sets/1")
    exc = error_from_response(response, operation="reading set 1", scrub=API_KEY)
    for value in (exc.error_code, exc.error_message, exc.tracking_id, str(exc)):
        assert value is not None
        assert "\x1b" not in value and "\n" not in value and "\x07" not in value
        assert "\u202e" not in value
        assert "l7xxLEAKED01" not in value and API_KEY not in value
    assert len(exc.error_message or "") <= 300
    assert len(exc.tracking_id or "") <= 80
    assert len(str(exc)) < 600


def test_errors_built_directly_are_scrubbed_too() -> None:
    exc = AlmaApiError(400, "X", "line one\nline two \x1b[1m", "T\x00")
    assert exc.error_message == "line one line two"
    assert exc.tracking_id == "T"
