"""The resolver client against httpx.MockTransport: every responseCode path, retries, politeness."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from handles import resolver as resolver_mod
from handles.resolver import USER_AGENT, BlockingResolver, HostRateLimiter, ResolverClient, first_url

BASE = "http://resolver.test"
URL = "https://primo.example/discovery/fulldisplay/alma99/V"


def ok_body(handle: str, url: str = URL) -> dict:
    return {
        "responseCode": 1,
        "handle": handle,
        "values": [
            {"index": 100, "type": "HS_ADMIN", "data": {"format": "admin", "value": {}}},
            {"index": 1, "type": "URL", "data": {"format": "string", "value": url}},
        ],
    }


def client_for(handler, **kw) -> ResolverClient:
    kw.setdefault("backoff", 0)
    kw.setdefault("rate_per_host", 0)
    return ResolverClient(BASE, transport=httpx.MockTransport(handler), **kw)


def check(handler, handle: str = "11084/99", **kw):
    async def go():
        async with client_for(handler, **kw) as client:
            return await client.check(handle)

    return asyncio.run(go())


def test_response_code_1_is_ok_with_the_url_and_the_request_is_polite() -> None:
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=ok_body("11084/99"))

    res = check(handler)
    assert (res.status, res.url, res.response_code, res.attempts) == ("ok", URL, 1, 1)
    assert res.latency_ms is not None
    request = seen[0]
    assert request.url.path == "/api/handles/11084/99"
    assert request.url.params["type"] == "URL" and request.url.params["auth"] == "true"
    assert request.headers["User-Agent"] == USER_AGENT


def test_handle_is_percent_encoded_where_needed() -> None:
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path.decode())
        return httpx.Response(200, json=ok_body("x"))

    check(handler, "11084/a b?c#d%é/x")
    assert seen[0].startswith("/api/handles/11084/a%20b%3Fc%23d%25%C3%A9/x?")


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(404, json={"responseCode": 100, "handle": "11084/99"}),
        httpx.Response(404, text="<html>Not found</html>"),
        httpx.Response(200, json={"responseCode": 100, "handle": "11084/99"}),
    ],
)
def test_not_found(response: httpx.Response) -> None:
    res = check(lambda request: response)
    assert res.status == "not_found" and res.attempts == 1


def test_values_not_found_is_ok_without_url() -> None:
    res = check(lambda r: httpx.Response(200, json={"responseCode": 200, "handle": "11084/99", "values": []}))
    assert res.status == "ok" and res.url is None


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(500, json={"responseCode": 2, "message": "Cannot connect to server"}),
        httpx.Response(503, json={"responseCode": 3}),
        httpx.Response(502, text="bad gateway"),
        httpx.Response(429, text="slow down"),
        httpx.Response(200, json={"responseCode": 2}),
    ],
)
def test_transient_failures_are_retried_then_error_never_not_found(response: httpx.Response) -> None:
    calls = []

    def handler(request):
        calls.append(1)
        return response

    res = check(handler, retries=2)
    assert res.status == "error" and len(calls) == 3 and res.attempts == 3
    assert "not found" not in (res.detail or "")


def test_timeout_is_retried_and_then_succeeds() -> None:
    calls = []

    def handler(request):
        calls.append(1)
        if len(calls) < 3:
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(200, json=ok_body("11084/99"))

    res = check(handler, retries=3)
    assert res.status == "ok" and res.attempts == 3


def test_connect_errors_end_as_error() -> None:
    def handler(request):
        raise httpx.ConnectError("refused", request=request)

    res = check(handler, retries=1)
    assert res.status == "error" and res.detail.startswith("transport")


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(400, json={"responseCode": 102, "message": "Invalid handle"}),
        httpx.Response(200, text="not json"),
        httpx.Response(405, json={"responseCode": 4}),
    ],
)
def test_other_answers_are_errors_without_retry(response: httpx.Response) -> None:
    calls = []

    def handler(request):
        calls.append(1)
        return response

    res = check(handler, retries=3)
    assert res.status == "error" and len(calls) == 1


def test_retry_after_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    delays = []
    real_sleep = asyncio.sleep

    async def fake_sleep(seconds):
        delays.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(resolver_mod.asyncio, "sleep", fake_sleep)
    answers = [httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json=ok_body("h"))]
    res = check(lambda r: answers.pop(0), backoff=1)
    assert res.status == "ok" and delays == [7.0]


def test_concurrency_is_bounded() -> None:
    state = {"now": 0, "peak": 0}

    async def handler(request):
        state["now"] += 1
        state["peak"] = max(state["peak"], state["now"])
        await asyncio.sleep(0.005)
        state["now"] -= 1
        return httpx.Response(200, json=ok_body("h"))

    async def go():
        async with client_for(handler, concurrency=3) as client:
            return await asyncio.gather(*(client.check(f"11084/{i}") for i in range(20)))

    results = asyncio.run(go())
    assert all(r.status == "ok" for r in results)
    assert state["peak"] == 3


def test_rate_limiter_spaces_request_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = {"t": 100.0}
    slept = []

    async def fake_sleep(seconds):
        slept.append(round(seconds, 6))
        clock["t"] += seconds

    monkeypatch.setattr(resolver_mod.time, "monotonic", lambda: clock["t"])
    monkeypatch.setattr(resolver_mod.asyncio, "sleep", fake_sleep)
    limiter = HostRateLimiter(4.0)

    async def go():
        for _ in range(3):
            await limiter.wait("a")
        await limiter.wait("b")  # another host is not held back

    asyncio.run(go())
    assert slept == [0.25, 0.25]


def test_first_url_takes_the_lowest_index() -> None:
    values = [{"index": 2, "type": "URL", "data": {"value": "b"}}, {"index": 1, "type": "url", "data": "a"}]
    assert first_url(values) == "a"
    assert first_url([{"index": 1, "type": "EMAIL", "data": {"value": "x"}}]) is None


def test_blocking_resolver_reuses_one_client_across_calls() -> None:
    opened = []

    def handler(request):
        return httpx.Response(200, json=ok_body("h"))

    resolver = BlockingResolver(lambda: opened.append(1) or client_for(handler))
    try:
        first = resolver.run(lambda c: c.check("11084/1"))
        second = resolver.run(lambda c: c.check("11084/2"))
    finally:
        resolver.close()
    assert first.status == second.status == "ok" and opened == [1]
    json.dumps(first.__dict__)
