"""A fake Alma for httpx.MockTransport: canned answers, a request log, scripted failures."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from alma import AlmaClient, QuotaGuard, RetryPolicy

API_KEY = "s3cr3t-KEY-l8xx0000abcd"
BASE = "https://alma.test/almaws/v1"
FAST = RetryPolicy(attempts=4, initial=0.0, maximum=0.0, jitter=0.0, sleep=lambda s: None)


def alma_error(
    status: int,
    code: str,
    message: str = "boom",
    tracking: str = "E01-TRACK",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    body = {
        "errorsExist": True,
        "errorList": {"error": [{"errorCode": code, "errorMessage": message, "trackingId": tracking}]},
        "result": None,
    }
    return httpx.Response(status, json=body, headers=headers)


def alma_xml_error(
    status: int, code: str, message: str = "boom", tracking: str = "E01-TRACK"
) -> httpx.Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<web_service_result xmlns="http://com/exlibris/urm/general/xmlbeans">'
        f"<errorsExist>true</errorsExist><errorList><error><errorCode>{code}</errorCode>"
        f"<errorMessage>{message}</errorMessage><trackingId>{tracking}</trackingId></error></errorList>"
        "</web_service_result>"
    )
    return httpx.Response(status, text=body, headers={"Content-Type": "application/xml"})


class FakeAlma:
    """Routes by ``(method, path)``; each route is a response, a callable, or a list consumed in order."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Any] = {}
        self.requests: list[httpx.Request] = []

    def on(self, method: str, path: str, *answers: Any) -> FakeAlma:
        self.routes[(method, path)] = list(answers) if len(answers) > 1 else answers[0]
        return self

    def count(self, method: str, path: str | None = None) -> int:
        return sum(1 for r in self.requests if r.method == method and (path is None or r.url.path == path))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path.removeprefix("/almaws/v1")
        answer = self.routes.get((request.method, path))
        if answer is None:
            return alma_error(400, "402216", f"no route {request.method} {path}")
        if isinstance(answer, list):
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            answer = answer(request)
        if isinstance(answer, dict | list):
            answer = httpx.Response(200, json=answer)
        return answer


def make_client(fake: Callable[[httpx.Request], httpx.Response], **kwargs: Any) -> AlmaClient:
    http = httpx.Client(base_url=BASE, transport=httpx.MockTransport(fake))
    kwargs.setdefault("retry", FAST)
    kwargs.setdefault("quota", QuotaGuard(0))
    return AlmaClient(http, api_key=API_KEY, **kwargs)


def body(request: httpx.Request) -> Any:
    return json.loads(request.content)
