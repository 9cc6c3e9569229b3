"""The listener for Alma's JOB_END webhook (an ASGI app; ``handles webhook`` serves it).

``GET /?challenge=X`` (or ``/webhook``) answers ``{"challenge": "X"}`` as JSON. Registration:
Alma sends a GET with a ``challenge`` parameter and the listener must "return it back"; Ex Libris'
webhooks page and its sample listeners answer with a JSON object holding the challenge (``res.json({
challenge})``), and Alma's webhooks are JSON-format integration profiles, so JSON is answered here;
the value is echoed unchanged, so a check that only looks for the string in the body passes too.

``POST`` a JOB_END event: the body is read up to :data:`MAX_BODY` bytes (413 beyond it, without
reading more), ``X-Exl-Signature`` must be base64(HMAC-SHA256(secret, raw body)), compared in
constant time (401 when missing or wrong), the body must be a JSON object with a ``job_instance``
(400 otherwise). Another ``action`` is acknowledged (202) and ignored. A JOB_END event is applied
by :func:`pipeline.job_end.apply_job_end` in a worker thread (a few milliseconds of database
work), then ``send(run_id, kind)`` hands the step to the workers; the answer never waits for Alma.

Every request gives exactly one log line, which never holds the secret nor a refused body.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Callable

from pydantic import ValidationError
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from alma.models import JobInstance
from pipeline import job_end
from store.db import session_scope

__all__ = ["MAX_BODY", "create_app", "sign"]

log = logging.getLogger("handles.webhook")

MAX_BODY = 1024 * 1024  # a JOB_END event is a few kilobytes; nothing larger is read
SIGNATURE_HEADER = "X-Exl-Signature"

Send = Callable[[int, str], None]


def sign(secret: str, body: bytes) -> str:
    """Alma's signature of ``body``: base64 of its HMAC-SHA256 under ``secret``."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


class _TooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _refuse(status: int, why: str, client: str) -> JSONResponse:
    log.warning("webhook: refused (%s) from %s: %s", status, client, why)
    return JSONResponse({"error": why}, status_code=status)


def create_app(*, secret: str, engine: Engine, send: Send, max_body: int = MAX_BODY) -> Starlette:
    """The listener. ``send(run_id, kind)`` hands a step to the workers (``handles.run_step``)."""
    if not secret:
        raise ValueError("the webhook secret is empty")

    async def challenge(request: Request) -> JSONResponse:
        value = request.query_params.get("challenge")
        if value is None:
            return JSONResponse({"listener": "handles webhook", "events": "POST JOB_END"})
        log.info("webhook: answered Alma's challenge")
        return JSONResponse({"challenge": value})

    async def event(request: Request) -> JSONResponse:
        client = request.client.host if request.client else "?"
        try:
            body = await _read_body(request, max_body)
        except _TooLarge:
            return _refuse(413, f"body larger than {max_body} bytes", client)
        given = request.headers.get(SIGNATURE_HEADER)
        if not given:
            return _refuse(401, f"no {SIGNATURE_HEADER} header", client)
        if not hmac.compare_digest(sign(secret, body).encode(), given.strip().encode()):
            return _refuse(401, f"{SIGNATURE_HEADER} does not match the body", client)
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return _refuse(400, "body is not JSON", client)
        if not isinstance(data, dict):
            return _refuse(400, "body is not a JSON object", client)
        action = str(data.get("action") or "")
        if action.upper() != "JOB_END":
            log.info("webhook: ignored event %s: action %r is not JOB_END", data.get("id"), action[:40])
            return JSONResponse({"result": "ignored"}, status_code=202)
        raw = data.get("job_instance")
        if not isinstance(raw, dict):
            return _refuse(400, "JOB_END event without a job_instance object", client)
        try:
            instance = JobInstance.from_alma(raw)
        except ValidationError:
            return _refuse(400, "job_instance has no id", client)
        info = raw.get("job_info")
        job_id = str(info.get("id") or "") if isinstance(info, dict) else ""
        try:
            drive = await run_in_threadpool(_apply, engine, instance, job_id)
        except Exception as exc:  # noqa: BLE001 - the database is away: Alma retries, polling goes on
            log.error("webhook: event for instance %s not applied: %s", instance.id, type(exc).__name__)
            return JSONResponse({"error": "not applied; try again"}, status_code=503)
        sent = []
        for run_id, kind in drive:
            try:
                send(run_id, kind)
                sent.append(f"run {run_id} {kind}")
            except Exception as exc:  # noqa: BLE001 - the step is ended in the database; polling resumes it
                log.error("webhook: run %s: %s ended, could not tell the workers: %s", run_id, kind, exc)
        if sent:
            log.info(
                "webhook: job %s instance %s %s: %s moved on",
                job_id,
                instance.id,
                instance.status,
                ", ".join(sent),
            )
            return JSONResponse({"result": "applied"})
        unknown = job_end.counts["unknown"]
        log.info(
            "webhook: job %s instance %s %s: nothing to do (not followed, or its end already "
            "recorded); %d events for instances not followed so far",
            job_id,
            instance.id,
            instance.status,
            unknown,
        )
        return JSONResponse({"result": "nothing to do"})

    routes = [Route(path, challenge, methods=["GET"]) for path in ("/", "/webhook")] + [
        Route(path, event, methods=["POST"]) for path in ("/", "/webhook")
    ]
    return Starlette(routes=routes)


def _apply(engine: Engine, instance: JobInstance, job_id: str) -> list[tuple[int, str]]:
    with session_scope(engine) as session:
        return job_end.apply_job_end(session, instance, job_id, source="webhook")
