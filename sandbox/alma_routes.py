"""Alma's REST API under ``/almaws/v1``: jobs, instances, events, sets, bibs (alma-api.md §2–§5).

Every endpoint goes through :func:`alma_endpoint`: API key (``Authorization: apikey …`` or
``?apikey=``), daily quota, per-second limit and injected faults, lazy job progress, Alma error
bodies for :class:`~sandbox.state.AlmaFault`, and ``X-Exl-Api-Remaining`` on every answer.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox import dc
from sandbox.bib_routes import get_bib, get_bibs, put_bib
from sandbox.jobs import JOBS, STATUS_DESC, Instance, JobDef, iso
from sandbox.responses import alma_answer, alma_error, gateway_not_found
from sandbox.responses import int_param as _int_param
from sandbox.set_routes import create_set, delete_set, get_set, list_sets, set_members, set_op
from sandbox.state import AlmaFault, SandboxState

PREFIX = "/almaws/v1"
Handler = Callable[[Request, SandboxState], Awaitable[Response]]

PROFILE_ID = "7593500000004641"  # the Handle integration profile behind the profile job


def _state(request: Request) -> SandboxState:
    return request.app.state.sandbox


def _api_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("apikey "):
        return auth[7:].strip()
    return request.query_params.get("apikey")


def alma_endpoint(func: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap an Alma handler with auth, limits, faults, error bodies and the quota header."""

    @functools.wraps(func)
    async def endpoint(request: Request) -> Response:
        state = _state(request)
        with state.lock:
            key = _api_key(request)
            if key != state.config.api_key:
                remaining = str(state.gate.remaining(state.config))
                return alma_error(  # HTTP 400, as recorded (alma-samples S09)
                    request,
                    "UNAUTHORIZED",
                    "API-key not defined or not configured to allow this API.",
                    400,
                    {"X-Exl-Api-Remaining": remaining},
                )
            verdict = state.gate.admit(state.config, key, state.clock())
        headers = {"X-Exl-Api-Remaining": str(verdict.remaining)}
        if verdict.fault:
            status, code, message = verdict.fault
            return alma_error(request, code, message, status, headers)
        try:
            response = await func(request, state)
        except AlmaFault as fault:
            response = alma_error(request, fault.code, fault.message, fault.status)
        if verdict.fail_after:
            response = alma_error(
                request, "INTERNAL_SERVER_ERROR", "Internal server error (injected by the sandbox)", 500
            )
        response.headers.update(headers)
        return response

    return endpoint


def _link(request: Request, path: str) -> str:
    return _state(request).config.base_url.rstrip("/") + PREFIX + path


# --- jobs ------------------------------------------------------------------------------------------
def _code(value: str, desc: str) -> dict[str, str]:
    return {"value": value, "desc": desc}


def job_json(request: Request, job: JobDef) -> dict[str, Any]:
    params = [
        {"name": _code("set_id", "Set ID"), "value": ""},
        {"name": _code("job_name", "Job name"), "value": ""},
    ]
    if job.effect == "migration":
        params += [
            {
                "name": _code("task_HandlesMigrationParams_controlNumber", "Control Number"),
                "value": "Digital.Grinnell Handles",
            },
            {
                "name": _code("task_HandlesMigrationParams_sourceField", "Source Field"),
                "value": "dc:identifier",
            },
        ]
    data: dict[str, Any] = {
        "id": job.id,
        "name": job.name,
        "description": job.description,
        "type": _code(job.type, job.type.title()),
        "category": _code(job.category, job.category_desc),
        "content": _code(job.content, job.content_desc),
        "parameter": params,
        "link": _link(request, f"/conf/jobs/{job.id}"),
    }
    if job.effect == "profile":
        data["related_profile"] = {
            "value": PROFILE_ID,
            "link": _link(request, f"/conf/integration-profiles/{PROFILE_ID}"),
        }
    return data


def brief_job_json(request: Request, job: JobDef) -> dict[str, Any]:
    """A jobs-list item: brief, as recorded (alma-samples S06)."""
    return {
        "id": job.id,
        "name": job.name,
        "type": _code(job.type, job.type.title()),
        "category": _code(job.category, job.category_desc),
        "link": _link(request, f"/conf/jobs/{job.id}"),
    }


async def list_jobs(request: Request, state: SandboxState) -> Response:
    limit = _int_param(request, "limit", 10, 100)
    offset = _int_param(request, "offset", 0)
    jtype = request.query_params.get("type", "").upper()
    category = request.query_params.get("category", "").upper()
    if jtype and jtype not in ("MANUAL", "SCHEDULED", "OTHER"):
        raise AlmaFault("402219", f"Invalid job type: {jtype}")
    profile_id = request.query_params.get("profile_id", "")
    jobs = [
        j
        for j in JOBS
        if (not jtype or j.type == jtype)
        and (not category or j.category == category)
        and (not profile_id or (j.effect == "profile" and profile_id == PROFILE_ID))
    ]
    return alma_answer(
        request,
        "jobs",
        {
            "job": [brief_job_json(request, j) for j in jobs[offset : offset + limit]],
            "total_record_count": len(jobs),
        },
    )


async def get_job(request: Request, state: SandboxState) -> Response:
    return alma_answer(request, "job", job_json(request, state.job(request.path_params["job_id"])))


def _parameters_from_body(raw: bytes, content_type: str) -> list[dict[str, Any]]:
    text = raw.decode("utf-8", "replace").strip()
    if not text:
        return []
    if text.startswith("<"):
        try:
            root = dc.safe_fromstring(raw)
        except Exception:  # noqa: BLE001
            raise AlmaFault("402226", "Failed to parse the job XML.") from None
        params = []
        for p in root.iter("parameter"):
            name = p.findtext("name") or ""
            params.append({"name": {"value": name.strip()}, "value": (p.findtext("value") or "").strip()})
        return params
    try:
        body = json.loads(text)
    except ValueError:
        raise AlmaFault("402226", "Failed to parse the job JSON.") from None
    params = body.get("parameter", []) if isinstance(body, dict) else []
    return params if isinstance(params, list) else []


async def run_job(request: Request, state: SandboxState) -> Response:
    job_id = request.path_params["job_id"]
    job = state.job(job_id)
    op = request.query_params.get("op")
    if not op:
        raise AlmaFault("402220", "The op parameter is missing.")
    if op != "run":
        raise AlmaFault("402221", f"Operation {op} is not supported.")
    params = _parameters_from_body(await request.body(), request.headers.get("content-type", ""))
    inst = state.run_job(job.id, parameters=params, via_api=True)
    hold = state.config.hold_run_answer_seconds
    if hold > 0:  # the job has started; its answer is late (a worker may die in this window)
        await asyncio.sleep(hold)
    stamp = datetime.fromtimestamp(inst.submit_time, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    data = {  # as recorded (alma-samples S03, S04)
        "id": job.id,
        "name": job.name,
        "description": job.description,
        "type": _code(job.type, job.type.title()),
        "category": _code(job.category, job.category_desc),
        "content": _code(job.content, job.content_desc),
        "parameter": params,
        "additional_info": {
            "value": f"Job no. {inst.id} triggered on {stamp}",
            "link": _link(request, f"/conf/jobs/{job.id}/instances/{inst.id}"),
        },
        "link": _link(request, f"/conf/jobs/{job.id}"),
    }
    return alma_answer(request, "job", data)


# --- instances -------------------------------------------------------------------------------------
def instance_json(request: Request, inst: Instance, now: float) -> dict[str, Any]:
    status, progress = inst.phase(now)
    job = inst.job
    changed = inst.end_time or inst.start_time(now) or inst.submit_time
    return {  # in the order of the recorded XML (alma-samples S02)
        "id": inst.id,
        "external_id": inst.external_id,
        "name": inst.name,
        "submitted_by": dict(inst.submitted_by),
        "submit_time": iso(inst.submit_time),
        "start_time": iso(inst.start_time(now)),
        "end_time": iso(inst.end_time),
        "progress": progress,
        "status": _code(status, STATUS_DESC.get(status, status.title())),
        "status_date": datetime.fromtimestamp(changed, UTC).strftime("%Y-%m-%dZ"),
        "alert": [_code(v, d) for v, d in inst.alerts] if inst.is_terminal() else [],
        "counter": [{"type": _code(c, d), "value": v} for c, d, v in inst.counters]
        if inst.is_terminal()
        else [],
        "job_info": {
            "id": job.id,
            "name": job.name,
            "description": job.description,
            "type": _code(job.type, job.type.title()),
            "category": _code(job.category, job.category_desc),
            "link": _link(request, f"/conf/jobs/{job.id}"),
        },
        "link": _link(request, f"/conf/jobs/{job.id}/instances/{inst.id}"),
    }


def _date_param(request: Request, name: str) -> date | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        raise AlmaFault("402217", f"Invalid date format for {name}: {raw} (expected YYYY-MM-DD).")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise AlmaFault("402217", f"Invalid date for {name}: {raw}.") from None


async def list_instances(request: Request, state: SandboxState) -> Response:
    job_id = request.path_params["job_id"]
    limit = _int_param(request, "limit", 10, 100)
    offset = _int_param(request, "offset", 0)
    since, until = _date_param(request, "submit_date_from"), _date_param(request, "submit_date_to")
    status = request.query_params.get("status", "").upper()
    if status and status not in STATUS_DESC and status not in ("PENDING", "SKIPPED"):
        raise AlmaFault("40166410", f"Invalid status: {status}")
    with state.lock:
        now = state.clock()
        state.tick(now)
        if job_id != "ALL":
            state.job(job_id)
        found = []
        for inst in sorted(state.instances.values(), key=lambda i: i.submit_time, reverse=True):
            if job_id != "ALL" and inst.job.id != job_id:
                continue
            day = datetime.fromtimestamp(inst.submit_time, UTC).date()
            if (since and day < since) or (until and day > until):
                continue
            if status and inst.phase(now)[0] != status:
                continue
            found.append(inst)
        page = [instance_json(request, i, now) for i in found[offset : offset + limit]]
    return alma_answer(request, "job_instances", {"job_instance": page, "total_record_count": len(found)})


async def get_instance(request: Request, state: SandboxState) -> Response:
    with state.lock:
        inst = state.instance(request.path_params["job_id"], request.path_params["instance_id"])
        if inst.is_terminal():
            inst.gets_ended += 1
        else:
            inst.gets_running += 1
        return alma_answer(request, "job_instance", instance_json(request, inst, state.clock()))


async def list_events(request: Request, state: SandboxState) -> Response:
    limit = _int_param(request, "limit", 10, 100)
    offset = _int_param(request, "offset", 0)
    with state.lock:
        inst = state.instance(request.path_params["job_id"], request.path_params["instance_id"])
        if not state.config.events_api:
            raise AlmaFault(
                "60332", "This service will only work for the job category and type of USERS/SIS."
            )
        events = inst.events if inst.is_terminal() else []
        page = [
            {
                "event_id": e.event_id,
                "event_key": [
                    {"code": "description", "value": e.description},
                    {"code": "mms_id", "value": e.mms_id},
                    {"code": "date", "value": iso(e.time)},
                    {"code": "severity", "value": e.severity},
                ],
            }
            for e in events[offset : offset + limit]
        ]
    return alma_answer(request, "events", {"total_record_count": len(events), "event": page})


def alma_routes() -> list[Route]:
    """The Alma routes, with their full paths."""

    def r(path: str, handler: Handler, methods: list[str]) -> Route:
        return Route(PREFIX + path, alma_endpoint(handler), methods=methods)

    return [
        r("/conf/jobs", list_jobs, ["GET"]),
        r("/conf/jobs/{job_id}", get_job, ["GET"]),
        r("/conf/jobs/{job_id}", run_job, ["POST"]),
        r("/conf/jobs/{job_id}/instances", list_instances, ["GET"]),
        r("/conf/jobs/{job_id}/instances/{instance_id}", get_instance, ["GET"]),
        r("/conf/jobs/{job_id}/instances/{instance_id}/events", list_events, ["GET"]),
        r("/conf/sets", list_sets, ["GET"]),
        r("/conf/sets", create_set, ["POST"]),
        r("/conf/sets/{set_id}", get_set, ["GET"]),
        r("/conf/sets/{set_id}", set_op, ["POST"]),
        r("/conf/sets/{set_id}", delete_set, ["DELETE"]),
        r("/conf/sets/{set_id}/members", set_members, ["GET"]),
        r("/bibs", get_bibs, ["GET"]),
        r("/bibs/{mms_id}", get_bib, ["GET"]),
        r("/bibs/{mms_id}", put_bib, ["PUT"]),
        # anything else under /almaws/v1: the API gateway's 404 (alma-samples S10)
        Route(PREFIX + "/{path:path}", _not_found, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
    ]


async def _not_found(request: Request) -> Response:
    return gateway_not_found(request)
