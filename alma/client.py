"""The Alma REST client: jobs, instances, events, sets and bibs under ``/almaws/v1``.

Every call is paced by the shared :class:`~alma.ratelimit.RateLimiter`, refused early by the
:class:`~alma.ratelimit.QuotaGuard` when the daily quota is low, retried by the
:class:`~alma._retry.RetryPolicy` when that is safe, and fails with the :mod:`alma.errors` tree.
The API key travels only in the ``Authorization`` header; it is in no log line, message or repr.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
from pydantic import SecretStr

from alma._catalog import CatalogMixin
from alma._ids import check_instance_id, check_job_id, check_set_id
from alma._retry import RetryPolicy, never_landed
from alma.errors import AlmaApiError, AlmaError, AlmaTransportError, AlmaUnavailable, error_from_response
from alma.errors import map_transport_errors as _map_errors
from alma.models import JobInstance, as_list
from alma.naming import instance_matches
from alma.ratelimit import QuotaGuard, RateLimiter
from alma.xmlshape import from_xml

__all__ = ["AlmaClient", "run_answer_instance_id"]

log = logging.getLogger(__name__)
PAGE = 100
_TRIGGERED = re.compile(r"Job no\.\s*(\d+)")


class AlmaClient(CatalogMixin):
    """Talks to Alma through ``http`` (whose ``base_url`` ends in ``/almaws/v1``).

    ``limiter`` paces requests (None: unpaced), ``quota`` watches ``X-Exl-Api-Remaining`` (None:
    tracked, never refuses), ``retry`` is the transient-failure policy (tests pass a fast one).
    """

    def __init__(
        self,
        http: httpx.Client,
        *,
        api_key: str,
        limiter: RateLimiter | None = None,
        quota: QuotaGuard | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        if not api_key or not str(api_key).strip():
            raise ValueError("AlmaClient needs an API key")
        self._http = http
        self._api_key = SecretStr(str(api_key).strip())
        self.limiter = limiter
        self.quota = quota if quota is not None else QuotaGuard(0)
        self.retry = retry if retry is not None else RetryPolicy()

    @classmethod
    def from_settings(
        cls, settings: Any, *, redis: Any = None, transport: httpx.BaseTransport | None = None
    ) -> AlmaClient:
        """Build from :class:`config.settings.Settings`; ``redis`` shares the rate limit and quota."""
        http = httpx.Client(
            base_url=f"{settings.alma_api_base_url.rstrip('/')}/almaws/v1",
            timeout=settings.alma_timeout_seconds,
            transport=transport,
        )
        key = settings.alma_api_key
        return cls(
            http,
            api_key=key.get_secret_value() if isinstance(key, SecretStr) else key,
            limiter=RateLimiter(settings.alma_rate_limit, redis=redis),
            quota=QuotaGuard(settings.alma_remaining_floor, redis=redis),
            retry=RetryPolicy(throttle_patience=settings.alma_throttle_patience_seconds),
        )

    def __repr__(self) -> str:
        return f"AlmaClient(base_url={str(self._http.base_url)!r}, api_key='***')"

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    def __enter__(self) -> AlmaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing -------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """One attempt: quota check, pacing, the request, error mapping. No retry here."""
        operation = f"{method} {path}"
        self.quota.check()
        if self.limiter is not None:
            self.limiter.acquire()
        sent = {"Authorization": f"apikey {self._api_key.get_secret_value()}", "Accept": "application/json"}
        sent.update(headers or {})
        with _map_errors(operation):
            response = self._http.request(
                method, path, params=params, json=json, content=content, headers=sent
            )
        self.quota.record(response.headers.get("X-Exl-Api-Remaining"))
        if response.status_code >= 400:
            raise error_from_response(response, operation=operation, scrub=self._api_key.get_secret_value())
        return response

    def _request(self, method: str, path: str, *, idempotent: bool = True, **kwargs: Any) -> httpx.Response:
        """:meth:`_send` under the retry policy (non-idempotent calls retry only never-landed failures)."""
        return self.retry.call(self._send, method, path, idempotent=idempotent, **kwargs)

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            data = None
            if response.text.lstrip().startswith("<"):  # XML although JSON was asked for
                try:
                    data = from_xml(response.text)
                except AlmaError:
                    data = None
        if not isinstance(data, dict):
            raise AlmaApiError(
                response.status_code,
                None,
                "the answer is not a JSON object",
                operation=f"{response.request.method} {response.request.url.path}",
            )
        return data

    def _get_json(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._json(self._request("GET", path, params=params))

    def _paged(self, path: str, key: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a paged list (``limit``/``offset``, ``total_record_count``)."""
        offset = 0
        while True:
            data = self._get_json(path, {**(params or {}), "limit": PAGE, "offset": offset})
            items = as_list(data.get(key))
            yield from items
            offset += len(items)
            if not items or offset >= int(data.get("total_record_count") or 0):
                return

    # --- jobs -----------------------------------------------------------------------------

    def get_job(self, job_id: str) -> dict[str, Any]:
        """The job definition; :class:`~alma.errors.AlmaNotFound` for an unknown id."""
        return self._get_json(f"/conf/jobs/{check_job_id(job_id)}")

    def list_jobs(self, *, job_type: str | None = None) -> list[dict[str, Any]]:
        """All jobs (every page), optionally of one ``type`` (MANUAL, SCHEDULED, OTHER)."""
        return list(self._paged("/conf/jobs", "job", {"type": job_type} if job_type else None))

    def find_job(self, name: str) -> dict[str, Any] | None:
        """The first job whose ``name`` equals ``name`` (Alma has no name filter), else None."""
        wanted = name.strip()
        return next((job for job in self._paged("/conf/jobs", "job") if job.get("name") == wanted), None)

    def get_instance(self, job_id: str, instance_id: str) -> JobInstance:
        """One run of a job; :class:`~alma.errors.AlmaNotFound` for an unknown instance."""
        path = f"/conf/jobs/{check_job_id(job_id)}/instances/{check_instance_id(instance_id)}"
        return JobInstance.from_alma(self._get_json(path))

    def list_instances(self, job_id: str, *, submitted_since: date | None = None) -> list[JobInstance]:
        """The job's runs (every page), those submitted on or after ``submitted_since`` when given."""
        params = {"submit_date_from": submitted_since.isoformat()} if submitted_since else None
        path = f"/conf/jobs/{check_job_id(job_id)}/instances"
        return [JobInstance.from_alma(item) for item in self._paged(path, "job_instance", params)]

    def iter_events(self, job_id: str, instance_id: str) -> Iterator[dict[str, Any]]:
        """The instance's events, page by page.

        Raises :class:`~alma.errors.AlmaEventsUnsupported` (60332) for jobs other than USERS/SIS.
        """
        path = f"/conf/jobs/{check_job_id(job_id)}/instances/{check_instance_id(instance_id)}/events"
        return self._paged(path, "event")

    def run_job(self, job_id: str, *, set_id: str, job_name: str, parameters: Iterable[Any] = ()) -> str:
        """Start a run of ``job_id`` on ``set_id``; returns the new instance id.

        ``parameters`` are in Alma's shape ``{"name": {"value": …}, "value": …}`` (``set_id`` and
        ``job_name`` are added here). The POST is never blindly repeated: after an ambiguous failure
        (timeout, dropped connection, 5xx) the job's instances submitted since the attempt began are
        listed, and the one named ``job_name`` is returned; it is re-posted only after failures known
        not to have landed (no connection, per-second 429). ``job_name`` should be unique per run.
        Raises the :mod:`alma.errors` tree (e.g. AlmaJobThreshold, AlmaJobOverlap, AlmaNotFound).
        """
        check_job_id(job_id)
        check_set_id(set_id)
        if not job_name or not job_name.strip():
            raise ValueError("run_job needs a job_name")
        body = {
            "parameter": [
                *_alma_parameters(parameters),
                _param("set_id", set_id),
                _param("job_name", job_name),
            ]
        }
        began = datetime.now(UTC)
        budget = self.retry.patience()
        while True:
            try:
                response = self._send("POST", f"/conf/jobs/{job_id}", params={"op": "run"}, json=body)
            except AlmaError as exc:
                if never_landed(exc):
                    budget.wait_or_raise(exc)  # raises once the budget is spent
                    continue
                if isinstance(exc, AlmaTransportError | AlmaUnavailable) and not never_landed(exc):
                    found = self._find_submitted(job_id, job_name, began, exc)
                    if found is not None:
                        return found
                raise
            return run_answer_instance_id(self._json(response), f"POST /conf/jobs/{job_id}")

    def _find_submitted(self, job_id: str, job_name: str, began: datetime, exc: AlmaError) -> str | None:
        """After an ambiguous run failure: the id of our instance if Alma did start it."""
        try:
            instances = self.list_instances(job_id, submitted_since=began.date())
        except AlmaError as lookup:
            log.warning(
                "Alma run of %s ended ambiguously (%s) and its instances cannot be listed (%s)",
                job_id,
                exc,
                lookup,
            )
            return None
        wanted = job_name.strip()
        for instance in instances:
            if instance_matches(instance.name, wanted):
                log.warning(
                    "Alma run of %s ended ambiguously (%s) but instance %s exists; not re-posting",
                    job_id,
                    exc,
                    instance.id,
                )
                return instance.id
        log.warning("Alma run of %s ended ambiguously (%s); no instance named %r yet", job_id, exc, wanted)
        return None

    # Sets and bibs: see alma._catalog.CatalogMixin.


def _param(name: str, value: str) -> dict[str, Any]:
    return {"name": {"value": name}, "value": value}


def _alma_parameters(parameters: Iterable[Any]) -> list[dict[str, Any]]:
    """Alma-shaped parameters from dicts (Alma's or plain ``{"name","value"}``) or ``JobParameter``."""
    out = []
    for item in parameters:
        if hasattr(item, "as_alma"):
            item = item.as_alma()
        if not isinstance(item, dict) or "name" not in item:
            raise ValueError(f"not a job parameter: {item!r}")
        name = item["name"].get("value") if isinstance(item["name"], dict) else item["name"]
        if name in {"set_id", "job_name"}:
            continue
        out.append(_param(str(name), str(item.get("value", ""))))
    return out


def run_answer_instance_id(data: dict[str, Any], operation: str = "POST op=run") -> str:
    """The new instance id: last segment of ``additional_info.link``, else "Job no. N triggered"."""
    info = data.get("additional_info") or {}
    link = str(info.get("link") or "").rstrip("/") if isinstance(info, dict) else ""
    if link:
        return link.rsplit("/", 1)[-1]
    match = _TRIGGERED.search(str(info.get("value") if isinstance(info, dict) else info or ""))
    if match:
        return match.group(1)
    raise AlmaApiError(200, None, "Alma accepted the run but gave no instance id", operation=operation)
