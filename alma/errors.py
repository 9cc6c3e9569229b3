"""The Alma client's one error tree; no httpx exception escapes the client.

```
AlmaError
├── AlmaTransportError                  — no HTTP answer; the request may have landed
│   ├── AlmaTimeout                     (read/write timeout: may have landed)
│   └── AlmaConnectError                (never connected: certainly did not land)
├── AlmaApiError(status_code, error_code, error_message, tracking_id)
│   ├── AlmaRateLimited                 (PER_SECOND_THRESHOLD | DAILY_THRESHOLD; .retry_after, .daily)
│   ├── AlmaJobThreshold                (402222/402223: execution threshold reached)
│   ├── AlmaJobOverlap                  (60347: overlaps with a running job)
│   ├── AlmaJobNotSubmittable           (402248/402249/402231: this job cannot be run by API)
│   ├── AlmaEventsUnsupported           (60332: events only for USERS/SIS jobs)
│   ├── AlmaNotFound                    (402215/402216/402218/60107/402203/402204/401861/402219 …, 404)
│   │   └── AlmaInvalidId               (an id that cannot be valid; refused before any request)
│   ├── AlmaAuthError                   (401/403, bad or unauthorized API key)
│   └── AlmaUnavailable                 (5xx)
├── AlmaQuotaLow                        (X-Exl-Api-Remaining under the floor; .remaining)
└── DublinCoreError                     (a bib that cannot be read)
```
Alma error bodies are read from JSON (``errorList.error[0]``) or XML (``web_service_result`` in
``http://com/exlibris/urm/general/xmlbeans``); HTML or empty bodies give a message from the status.
Alma's ``errorCode``, ``errorMessage`` and ``trackingId`` came from outside: they are scrubbed
(:func:`config.redact.scrub`: secrets masked, controls removed, length capped) before they are kept
on an exception, and so before anything stores or prints them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from xml.etree.ElementTree import ParseError

import httpx
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from config.redact import scrub as _scrub

__all__ = [
    "AlmaApiError",
    "AlmaAuthError",
    "AlmaConnectError",
    "AlmaError",
    "AlmaEventsUnsupported",
    "AlmaInvalidId",
    "AlmaJobNotSubmittable",
    "AlmaJobOverlap",
    "AlmaJobThreshold",
    "AlmaNotFound",
    "AlmaQuotaLow",
    "AlmaRateLimited",
    "AlmaTimeout",
    "AlmaTransportError",
    "AlmaUnavailable",
    "DublinCoreError",
    "error_from_response",
]

XML_NS = "http://com/exlibris/urm/general/xmlbeans"

NOT_FOUND_CODES = frozenset({"402215", "402216", "402218", "402219", "60107", "402203", "402204", "401861"})
JOB_THRESHOLD_CODES = frozenset({"402222", "402223"})
# op=run refused for what the job is (scheduled, not API-submittable, multi-task), not for when
NOT_SUBMITTABLE_CODES = frozenset({"402248", "402249", "402231"})
AUTH_CODES = frozenset({"UNAUTHORIZED", "INVALID_API_KEY", "API_KEY_INVALID", "FORBIDDEN"})
CODE_LIMIT, MESSAGE_LIMIT, TRACKING_LIMIT = 60, 300, 80


def _clean(value: object, limit: int, secrets: tuple[str, ...] = ()) -> str | None:
    """Alma's text made safe to keep and print; None for nothing."""
    if value is None:
        return None
    text = _scrub(value, limit=limit, secrets=secrets)
    return text or None


class AlmaError(Exception):
    """Root of every error the Alma client raises."""


class AlmaTransportError(AlmaError):
    """No HTTP answer came back. ``may_have_landed``: Alma may have received the request."""

    may_have_landed = True


class AlmaTimeout(AlmaTransportError):
    """Alma did not answer in time; the request may have been received and acted on."""


class AlmaConnectError(AlmaTransportError):
    """The connection could not be made; the request certainly did not reach Alma."""

    may_have_landed = False


class AlmaApiError(AlmaError):
    """Alma answered with an error status; carries Alma's own code, message and tracking id."""

    def __init__(
        self,
        status_code: int,
        error_code: str | None = None,
        error_message: str | None = None,
        tracking_id: str | None = None,
        *,
        operation: str = "",
    ) -> None:
        self.status_code = status_code
        self.error_code = _clean(error_code, CODE_LIMIT)
        self.error_message = _clean(error_message, MESSAGE_LIMIT)
        self.tracking_id = _clean(tracking_id, TRACKING_LIMIT)
        self.operation = _clean(operation, MESSAGE_LIMIT) or ""
        super().__init__(self._line())

    def _line(self) -> str:
        where = f"{self.operation}: " if self.operation else ""
        code = f" {self.error_code}" if self.error_code else ""
        text = f": {self.error_message}" if self.error_message else ""
        track = f" (tracking id {self.tracking_id})" if self.tracking_id else ""
        return f"{where}Alma answered HTTP {self.status_code}{code}{text}{track}"


class AlmaRateLimited(AlmaApiError):
    """HTTP 429. ``daily`` when the institution's daily quota is spent; ``retry_after`` in seconds."""

    def __init__(
        self, *args: Any, retry_after: float | None = None, daily: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after
        self.daily = daily


class AlmaJobThreshold(AlmaApiError):
    """402222/402223: too many API-run jobs running, or too many runs of this job this hour."""


class AlmaJobOverlap(AlmaApiError):
    """60347: the job overlaps with a running job and cannot start."""


class AlmaJobNotSubmittable(AlmaApiError):
    """402248/402249/402231: Alma does not run this job by API (scheduled, not allowed, multi-task)."""


class AlmaEventsUnsupported(AlmaApiError):
    """60332: the events API serves only USERS/SIS jobs; read the Events Report from the UI."""


class AlmaNotFound(AlmaApiError):
    """An unknown or invalid id (job, instance, set, bib, user)."""


class AlmaInvalidId(AlmaNotFound, ValueError):
    """An id that cannot be valid (e.g. a set id with letters); raised before any request is sent."""

    def __init__(self, kind: str, value: object, example: str = "") -> None:
        self.status_code = 0
        self.error_code = None
        self.tracking_id = None
        self.operation = ""
        hint = f" such as {example}" if example else ""
        self.error_message = f"{value!r} is not a valid Alma {kind}{hint}"
        Exception.__init__(self, self.error_message)


class AlmaAuthError(AlmaApiError):
    """The API key is missing, wrong, or not allowed to use this API.

    Retrying cannot help: a run that meets it stops, and ``str()`` is one line that names the
    setting to fix (``ALMA_API_KEY``).
    """

    SETTING = "ALMA_API_KEY"

    def _line(self) -> str:
        where = f"{self.operation}: " if self.operation else ""
        said = f" {self.error_code}" if self.error_code else ""
        said += f": {self.error_message}" if self.error_message else ""
        track = f"; tracking id {self.tracking_id}" if self.tracking_id else ""
        return (
            f"{where}{self.SETTING} refused by Alma (HTTP {self.status_code}{said}{track}): "
            "check the key and its API areas/permissions"
        )


class AlmaUnavailable(AlmaApiError):
    """HTTP 5xx: Alma failed; for a POST the request may still have been acted on."""


class AlmaQuotaLow(AlmaError):
    """The daily API quota (``X-Exl-Api-Remaining``) is under the configured floor; calls paused."""

    def __init__(self, remaining: int, floor: int) -> None:
        self.remaining = remaining
        self.floor = floor
        super().__init__(f"Alma daily API quota low: {remaining} calls left, floor {floor}; calls paused")


class DublinCoreError(AlmaError):
    """A bib's Dublin Core record cannot be read (not XML, hostile XML, no <record>)."""


def parse_error_body(text: str) -> tuple[str | None, str | None, str | None]:
    """``(error_code, error_message, tracking_id)`` from an Alma JSON or XML error body, else Nones."""
    body = (text or "").strip()
    if body.startswith("{"):
        return _from_json(body)
    if body.startswith("<") and "errorList" in body:
        return _from_xml(body)
    return None, None, None


def _from_json(body: str) -> tuple[str | None, str | None, str | None]:
    try:
        data = json.loads(body)
        if isinstance(data, dict) and isinstance(data.get("web_service_result"), dict):
            data = data["web_service_result"]  # the API gateway's wrapping (alma-samples S10)
        errors = data["errorList"]["error"]
        first = errors[0] if isinstance(errors, list) else errors
        return (
            _s(first.get("errorCode")) or None,
            _s(first.get("errorMessage")) or None,
            _s(first.get("trackingId")) or None,
        )
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None, None, None


def _from_xml(body: str) -> tuple[str | None, str | None, str | None]:
    body = re.sub(r"^<\?xml[^>]*\?>", "", body)
    try:
        root = fromstring(body, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError):
        return None, None, None
    for error in root.iter():
        if _local(error.tag) == "error":
            found = {_local(child.tag): (child.text or "").strip() for child in error}
            return (
                found.get("errorCode") or None,
                found.get("errorMessage") or None,
                found.get("trackingId") or None,
            )
    return None, None, None


def _local(tag: object) -> str:
    return str(tag).rsplit("}", 1)[-1]


def _s(value: object) -> str | None:
    return None if value is None else str(value)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def error_from_response(
    response: httpx.Response, *, operation: str = "", scrub: str | None = None
) -> AlmaApiError:
    """The most specific :class:`AlmaApiError` for an error response (status ≥ 400).

    ``scrub`` is a secret (the API key) removed from Alma's text should the server echo it.
    """
    code, message, tracking = parse_error_body(response.text)
    if message is None and response.status_code >= 400:
        message = response.reason_phrase or None
    secrets = (scrub,) if scrub else ()
    code = _clean(code, CODE_LIMIT, secrets)
    message = _clean(message, MESSAGE_LIMIT, secrets)
    tracking = _clean(tracking, TRACKING_LIMIT, secrets)
    status = response.status_code
    args = (status, code, message, tracking)
    if status == 429 or code in {"PER_SECOND_THRESHOLD", "DAILY_THRESHOLD"}:
        daily = code == "DAILY_THRESHOLD" or "daily" in (message or "").lower()
        return AlmaRateLimited(*args, operation=operation, retry_after=_retry_after(response), daily=daily)
    if code in JOB_THRESHOLD_CODES:
        return AlmaJobThreshold(*args, operation=operation)
    if code == "60347":
        return AlmaJobOverlap(*args, operation=operation)
    if code in NOT_SUBMITTABLE_CODES:
        return AlmaJobNotSubmittable(*args, operation=operation)
    if code == "60332":
        return AlmaEventsUnsupported(*args, operation=operation)
    if status in (401, 403) or (code or "").upper() in AUTH_CODES:
        return AlmaAuthError(*args, operation=operation)
    if code in NOT_FOUND_CODES or status == 404:
        return AlmaNotFound(*args, operation=operation)
    if status >= 500:
        return AlmaUnavailable(*args, operation=operation)
    return AlmaApiError(*args, operation=operation)


@contextmanager
def map_transport_errors(operation: str) -> Iterator[None]:
    """Translate httpx exceptions raised inside the block into the Alma tree (``raise … from``)."""
    try:
        yield
    except httpx.ConnectTimeout as exc:
        raise AlmaConnectError(f"{operation}: timed out connecting to Alma") from exc
    except httpx.ConnectError as exc:
        raise AlmaConnectError(f"{operation}: cannot connect to Alma ({_scrub(exc, limit=200)})") from exc
    except httpx.PoolTimeout as exc:
        raise AlmaConnectError(f"{operation}: no free connection to Alma") from exc
    except httpx.TimeoutException as exc:
        raise AlmaTimeout(f"{operation}: Alma did not answer in time ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:
        raise AlmaTransportError(
            f"{operation}: connection to Alma failed ({type(exc).__name__}: {_scrub(exc, limit=200)})"
        ) from exc
    except httpx.HTTPError as exc:
        raise AlmaError(f"{operation}: {type(exc).__name__}: {_scrub(exc, limit=200)}") from exc
