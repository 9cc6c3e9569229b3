"""Async client of the Handle proxy's JSON API: ``GET {resolver}/api/handles/{handle}?type=URL&auth=true``.

One :class:`ResolverClient` per process: one keep-alive connection pool, at most ``concurrency``
requests in flight, and request starts spaced to at most ``rate_per_host`` per second per host.
``auth=true`` asks a primary server, bypassing the proxy's 24-hour cache
(``shared/reference/handle-system.md`` §1.5).

Mapping (§1.3–1.4): responseCode 1 → ``ok`` (with the first URL value, if any); responseCode 100
or HTTP 404 → ``not_found``; responseCode 2/3/7, HTTP 5xx/429, timeouts and connection errors →
retried with exponential backoff, then ``error``, never ``not_found``; anything else → ``error``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar
from urllib.parse import quote, urlsplit

import httpx

from config.redact import scrub

__all__ = ["USER_AGENT", "BlockingResolver", "HostRateLimiter", "Resolution", "ResolverClient"]

USER_AGENT = (
    f"alma-handles/0.1 (Alma handle migration: verification of handle targets; httpx/{httpx.__version__})"
)
RETRYABLE_CODES = {2, 3, 7}  # ERROR, SERVER_TOO_BUSY, SERVER_BACKUP
T = TypeVar("T")


@dataclass(frozen=True)
class Resolution:
    """What the proxy said about one handle."""

    handle: str
    status: Literal["ok", "not_found", "error"]
    url: str | None = None
    response_code: int | None = None
    http_status: int | None = None
    latency_ms: float | None = None
    attempts: int = 1
    detail: str | None = None


class _Retryable(Exception):
    def __init__(self, resolution: Resolution, retry_after: float | None = None) -> None:
        super().__init__(resolution.detail)
        self.resolution = resolution
        self.retry_after = retry_after


class HostRateLimiter:
    """Spaces request starts to at most ``rate`` per second per host (no bursts)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate and rate > 0 else 0.0
        self._next: dict[str, float] = {}
        self._lock = asyncio.Lock()

    async def wait(self, host: str) -> None:
        if not self.interval:
            return
        async with self._lock:
            now = time.monotonic()
            start = max(now, self._next.get(host, now))
            self._next[host] = start + self.interval
        if start > now:
            await asyncio.sleep(start - now)


def handle_path(handle: str) -> str:
    """The handle as a URL path segment: ``/`` kept, ``? # % space`` and non-ASCII encoded."""
    return quote(handle, safe="/:@!$&'()*+,;=-._~")


def first_url(values: Any) -> str | None:
    """The first value of type URL, by index (what the proxy redirects to)."""
    if not isinstance(values, list):
        return None
    urls = [v for v in values if isinstance(v, dict) and str(v.get("type", "")).upper() == "URL"]
    for value in sorted(urls, key=lambda v: i if isinstance(i := v.get("index"), int) else 0):
        data = value.get("data")
        text = data.get("value") if isinstance(data, dict) else data
        if isinstance(text, str) and text.strip():
            return text.strip()
    return None


class ResolverClient:
    """Resolves handles against one Handle proxy; use ``async with`` or call :meth:`aclose`."""

    def __init__(
        self,
        base_url: str,
        *,
        concurrency: int = 8,
        rate_per_host: float = 50.0,
        timeout: float = 20.0,
        transport: httpx.AsyncBaseTransport | None = None,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 10.0,
        user_agent: str = USER_AGENT,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.host = urlsplit(self.base_url).netloc.lower()
        self.concurrency = concurrency
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._semaphore = asyncio.Semaphore(concurrency)
        self._limiter = HostRateLimiter(rate_per_host)
        self._http = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            headers={"User-Agent": user_agent, "Accept": "application/json"},
            follow_redirects=False,
        )

    async def __aenter__(self) -> ResolverClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def check(self, handle: str) -> Resolution:
        """Resolve ``handle`` (``prefix/suffix``), retrying transient failures with backoff."""
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self._semaphore:
                    await self._limiter.wait(self.host)
                    resolution = await self._once(handle)
                return _with_attempts(resolution, attempt)
            except _Retryable as exc:
                if attempt > self.retries:
                    return _with_attempts(exc.resolution, attempt)
                await asyncio.sleep(self._delay(attempt, exc.retry_after))

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_backoff)
        base = min(self.backoff * 2 ** (attempt - 1), self.max_backoff)
        return base * (0.5 + random.random() / 2)  # jitter: retries of many handles do not align

    async def _once(self, handle: str) -> Resolution:
        url = f"{self.base_url}/api/handles/{handle_path(handle)}"
        started = time.perf_counter()
        try:
            response = await self._http.get(url, params={"type": "URL", "auth": "true"})
        except httpx.TimeoutException as exc:
            raise _Retryable(_error(handle, started, f"timeout: {type(exc).__name__}")) from None
        except httpx.TransportError as exc:
            reason = scrub(f"transport: {type(exc).__name__}: {exc}", limit=300)
            raise _Retryable(_error(handle, started, reason)) from None
        return _interpret(handle, response, started)


def _elapsed(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _error(handle: str, started: float, detail: str, **extra: Any) -> Resolution:
    return Resolution(handle=handle, status="error", latency_ms=_elapsed(started), detail=detail, **extra)


def _with_attempts(resolution: Resolution, attempts: int) -> Resolution:
    if attempts == resolution.attempts:
        return resolution
    return Resolution(**{**resolution.__dict__, "attempts": attempts})


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


def _interpret(handle: str, response: httpx.Response, started: float) -> Resolution:
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    code = body.get("responseCode") if isinstance(body, dict) else None
    code = code if isinstance(code, int) else None
    message = body.get("message") if isinstance(body, dict) else None
    extra: dict[str, Any] = {"response_code": code, "http_status": status}
    if code == 100 or (status == 404 and code in (None, 100)):
        return Resolution(
            handle=handle,
            status="not_found",
            latency_ms=_elapsed(started),
            detail="handle not found",
            **extra,
        )
    if status == 200 and code == 1:
        url = first_url(body.get("values"))
        detail = None if url else "the handle has no URL value"
        return Resolution(
            handle=handle, status="ok", url=url, latency_ms=_elapsed(started), detail=detail, **extra
        )
    if status == 200 and code == 200:  # VALUES_NOT_FOUND: the handle exists, but has no URL
        return Resolution(
            handle=handle,
            status="ok",
            url=None,
            latency_ms=_elapsed(started),
            detail="the handle has no URL value",
            **extra,
        )
    detail = f"HTTP {status}" + (f", responseCode {code}" if code is not None else "")
    detail += f": {scrub(message, limit=300)}" if message else ""
    if status >= 500 or status == 429 or code in RETRYABLE_CODES:
        raise _Retryable(_error(handle, started, detail, **extra), _retry_after(response))
    return _error(handle, started, detail, **extra)


class BlockingResolver:
    """A :class:`ResolverClient` on its own event loop, for synchronous callers (a worker process).

    The client (and its keep-alive connections) lives as long as this object, across calls.
    """

    def __init__(self, factory: Callable[[], ResolverClient]) -> None:
        self._loop = asyncio.new_event_loop()
        self.client = self._loop.run_until_complete(_build(factory))

    def run(self, job: Callable[[ResolverClient], Awaitable[T]]) -> T:
        """Run ``job(client)`` to completion on this resolver's loop."""
        return self._loop.run_until_complete(job(self.client))

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self._loop.run_until_complete(self.client.aclose())
        finally:
            self._loop.close()


async def _build(factory: Callable[[], ResolverClient]) -> ResolverClient:
    return factory()
