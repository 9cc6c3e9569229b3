"""The Handle proxy JSON API ``GET /api/handles/{handle}`` and the records' target pages.

Per handle-system.md §1.3/§1.4: found → 200 ``{"responseCode":1,"handle","values"}``; not found →
404 ``{"responseCode":100,"handle"}``; an injected failure (``resolver_fail_every``) → 500
``{"responseCode":2,…}``. ``resolver_latency_ms`` is an ``await asyncio.sleep`` so concurrent
lookups overlap. Handles compare ASCII case-insensitively (the registry's keys).
"""

from __future__ import annotations

import asyncio
import html
import json
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from sandbox.state import SandboxState

_SCHEMES = ("hdl:", "info:hdl/", "urn:hdl:", "doi:")


def _json(data: dict, status: int) -> Response:
    return Response(json.dumps(data), status_code=status, media_type="application/json;charset=UTF-8")


def _normalize(handle: str) -> str:
    text = unquote(handle)
    for scheme in _SCHEMES:
        if text.lower().startswith(scheme):
            return text[len(scheme) :]
    return text


async def resolve(request: Request) -> Response:
    """Resolve one handle, honouring ``type`` and ``index`` filters (repeatable)."""
    state: SandboxState = request.app.state.sandbox
    handle = _normalize(request.path_params["handle"])
    latency = state.config.resolver_latency_ms
    if latency > 0:
        await asyncio.sleep(latency / 1000.0)
    with state.lock:
        state.resolver_lookups += 1
        every = state.config.resolver_fail_every
        fail = bool(every) and state.resolver_lookups % every == 0
    if fail:
        return _json(
            {"responseCode": 2, "handle": handle, "message": "Error resolving handle (injected)"}, 500
        )
    if "/" not in handle:
        return _json({"responseCode": 102, "handle": handle, "message": "Invalid handle"}, 400)
    entry = state.registry.get(handle)
    if entry is None:
        return _json({"responseCode": 100, "handle": handle}, 404)
    types = request.query_params.getlist("type")
    indexes = {int(i) for i in request.query_params.getlist("index") if i.lstrip("-").isdigit()}
    values = entry.values
    if types or indexes:

        def wanted(value: dict) -> bool:
            vtype = str(value.get("type", ""))
            by_type = any(vtype == t or (t.endswith(".") and vtype.startswith(t)) for t in types)
            return by_type or value.get("index") in indexes

        values = [v for v in values if wanted(v)]
    return _json({"responseCode": 1, "handle": entry.handle, "values": values}, 200)


async def target_page(request: Request) -> Response:
    """Primo's full display of a record, as far as a resolver check needs it."""
    state: SandboxState = request.app.state.sandbox
    mms_id = request.path_params["mms_id"]
    view = request.path_params["view"]
    rec = state.record(mms_id) if mms_id.isdigit() else None
    if rec is None:
        return HTMLResponse("<!doctype html><title>Not found</title><h1>No record found</h1>", 404)
    title = html.escape(rec.title)
    return HTMLResponse(
        f"<!doctype html><html><head><title>{title} - Primo</title></head><body>"
        f"<h1>{title}</h1><p>MMS ID {mms_id} · view {html.escape(view)}</p></body></html>"
    )


def proxy_routes() -> list[Route]:
    return [
        Route("/api/handles/{handle:path}", resolve, methods=["GET"]),
        Route("/discovery/fulldisplay/alma{mms_id}/{view:path}", target_page, methods=["GET"]),
    ]
