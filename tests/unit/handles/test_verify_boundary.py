"""Issue 13 item 4: each handle's verdict has its own error boundary."""

from __future__ import annotations

import httpx

from config.settings import load_settings
from handles.targets import parse_target, url_problem
from handles.verdict import VerifyItem
from handles.verify import run_verification

TEMPLATE = "https://primo.example/discovery/fulldisplay/alma{mms_id}/01GCL_INST:GCL"


def _answer(request: httpx.Request) -> httpx.Response:
    handle = request.url.path.removeprefix("/api/handles/")
    mms = handle.rsplit("/", 1)[-1]
    url = "http://[x" if mms == "2" else TEMPLATE.replace("{mms_id}", mms)
    values = [{"index": 1, "type": "URL", "data": {"format": "string", "value": url}}]
    return httpx.Response(200, json={"responseCode": 1, "handle": handle, "values": values})


def test_an_unreadable_url_value_is_that_handles_error_and_the_others_are_checked() -> None:
    settings = load_settings(handle_resolver_url="http://resolver.test", handle_target_template=TEMPLATE)
    items = [VerifyItem(handle=f"11084/{n}", mms_id=str(n)) for n in range(1, 6)]
    seen = []
    summary = run_verification(
        items, settings=settings, sink=seen.extend, transport=httpx.MockTransport(_answer)
    )
    by_handle = {r.handle: r for r in seen}
    assert len(by_handle) == 5
    assert by_handle["11084/2"].verification == "error"
    assert "cannot be read" in (by_handle["11084/2"].detail or "")
    assert "http://[x" in (by_handle["11084/2"].detail or "")
    assert [h for h, r in by_handle.items() if r.verification == "ok"] == [
        "11084/1",
        "11084/3",
        "11084/4",
        "11084/5",
    ]
    assert summary.counts["error"] == 1 and summary.counts["ok"] == 4


def test_parse_target_never_raises_and_url_problem_says_why() -> None:
    assert parse_target("http://[x") is None
    assert url_problem("http://[x") is not None
    assert url_problem("http://host:99999/x") is not None
    assert url_problem("https://primo.example/discovery/fulldisplay/alma1/V") is None
    assert url_problem("ftp://elsewhere/x") is None  # a URL, only not a Primo page
