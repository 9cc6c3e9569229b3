"""Control routes under ``/sandbox`` (no auth): reset, switches, the run log, an operator's UI run of
the profile, Events Report exports, internal record state, and resolver preloading for tests.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox import reports
from sandbox.jobs import PROFILE, iso
from sandbox.state import STAFF_USER, AlmaFault, SandboxState


def _state(request: Request) -> SandboxState:
    return request.app.state.sandbox


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    return data


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def reset(request: Request) -> Response:
    try:
        _state(request).reset(await _body(request))
    except ValueError as exc:
        return _error(str(exc))
    return JSONResponse({"status": "reset", "config": _state(request).config.as_dict()})


async def config(request: Request) -> Response:
    state = _state(request)
    if request.method == "POST":
        try:
            changes = await _body(request)
            with state.lock:
                state.config.update(changes)
                if "resolver_fail_every" in changes:
                    state.resolver_lookups = 0  # "every Nth" counts from the switch
        except ValueError as exc:
            return _error(str(exc))
    with state.lock:
        return JSONResponse(state.config.as_dict())


async def log(request: Request) -> Response:
    """Every ``op=run`` (and UI run), with what became of its instance so far: ``end_time``, the
    instance GETs answered while it ran and after it ended, and when its JOB_END events went out."""
    state = _state(request)
    with state.lock:
        state.tick()
        entries = []
        for entry in state.log:
            inst = state.instances.get(entry["instance_id"])
            if inst is not None:
                entry = {
                    **entry,
                    "end_time": iso(inst.end_time),
                    "gets_running": inst.gets_running,
                    "gets_ended": inst.gets_ended,
                    "events_sent": [iso(t) for t in inst.events_sent],
                }
            entries.append(entry)
        return JSONResponse(entries)


async def ui_run_profile(request: Request) -> Response:
    """An operator presses Run on the Handle integration profile in Alma's UI."""
    state = _state(request)
    try:
        body = await _body(request)
    except ValueError as exc:
        return _error(str(exc))
    params = [{"name": {"value": "set_id"}, "value": str(body.get("set_id", ""))}]
    if body.get("job_name"):
        params.append({"name": {"value": "job_name"}, "value": str(body["job_name"])})
    user = {"value": str(body.get("user", STAFF_USER["value"])), "desc": STAFF_USER["desc"]}
    try:
        inst = state.run_job(PROFILE, parameters=params, via_api=False, submitted_by=user)
    except AlmaFault as fault:
        return _error(f"{fault.code}: {fault.message}")
    return JSONResponse(
        {
            "job_id": PROFILE,
            "instance_id": inst.id,
            "name": inst.name,
            "submitted_by": inst.submitted_by,
            "submit_time": iso(inst.submit_time),
        }
    )


async def events_report(request: Request) -> Response:
    state = _state(request)
    name = request.path_params["file"]
    instance_id, _, ext = name.rpartition(".")
    if ext not in reports.FORMATS:
        return _error(f"unknown format {ext!r}: use .csv, .xlsx or .txt", 404)
    try:
        with state.lock:
            inst = state.instance(request.path_params["job_id"], instance_id)
    except AlmaFault as fault:
        return _error(f"{fault.code}: {fault.message}", 404)
    media, render = reports.FORMATS[ext]
    disposition = f'attachment; filename="events_{inst.job.id}_{inst.id}.{ext}"'
    return Response(render(inst), media_type=media, headers={"Content-Disposition": disposition})


async def record(request: Request) -> Response:
    state = _state(request)
    mms_id = request.path_params["mms_id"]
    with state.lock:
        rec = state.record(mms_id)
        if rec is None:
            return _error(f"unknown record {mms_id}", 404)
        entry = state.registry.get(rec.alma_handle) if rec.alma_handle else None
        return JSONResponse(
            {
                "mms_id": rec.mms_id,
                "pid": rec.pid,
                "title": rec.title,
                "case": rec.case,
                "metadata": rec.xml,
                "alma_handle": rec.alma_handle,
                "alma_handle_url": entry.url() if entry else None,
                "target_url": state.config.target_url(rec.mms_id),
            }
        )


async def registry(request: Request) -> Response:
    """Preload resolver entries: ``{"handle","url"}``, ``{"handle","delete":true}`` removes one;
    ``{"entries": [{"handle","url"}, …]}`` loads many at once."""
    state = _state(request)
    try:
        body = await _body(request)
        if isinstance(body.get("entries"), list):
            loaded = 0
            for item in body["entries"]:
                state.registry.set_url(
                    str(item["handle"]), str(item["url"]), source="server", prefix=state.config.handle_prefix
                )
                loaded += 1
            return JSONResponse({"loaded": loaded})
        handle = str(body["handle"])
    except (ValueError, KeyError, TypeError):
        return _error('expected {"handle": …, "url": …} or {"entries": [{"handle": …, "url": …}, …]}')
    if body.get("delete"):
        return JSONResponse({"handle": handle, "deleted": state.registry.delete(handle)})
    if not body.get("url"):
        return _error('expected {"handle": …, "url": …}')
    entry = state.registry.set_url(
        handle, str(body["url"]), source=str(body.get("source", "server")), prefix=state.config.handle_prefix
    )
    return JSONResponse({"handle": entry.handle, "url": entry.url()})


def control_routes() -> list[Route]:
    return [
        Route("/sandbox/health", health, methods=["GET"]),
        Route("/sandbox/reset", reset, methods=["POST"]),
        Route("/sandbox/config", config, methods=["GET", "POST"]),
        Route("/sandbox/log", log, methods=["GET"]),
        Route("/sandbox/ui/run-profile", ui_run_profile, methods=["POST"]),
        Route("/sandbox/events-report/{job_id}/{file}", events_report, methods=["GET"]),
        Route("/sandbox/records/{mms_id}", record, methods=["GET"]),
        Route("/sandbox/registry", registry, methods=["POST"]),
    ]
