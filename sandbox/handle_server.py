"""The sandbox's Handle server admin API (Handle.Net v9 JSON API), mounted under ``/handle-server``.

It writes the same :class:`~sandbox.registry.HandleRegistry` that the sandbox's proxy
(``/api/handles/{handle}``) reads, so a handle created here resolves there at once.

Behaviour follows ``shared/reference/handle-system.md`` §1.4 and §2.2:

- ``PUT /api/handles/{h}``: body a list of values, ``{"values": [...]}`` or one value; JSON only.
  ``overwrite`` (default true): ``overwrite=false`` on an existing handle → 409, RC 101. Without
  ``index`` the whole record is replaced (a record without HS_ADMIN loses it, as on the real
  server); a new record without HS_ADMIN gets the prefix's admin value. ``index=N`` (repeatable;
  ``index=various`` = the body's indexes) adds or replaces only those values, and the handle must
  exist (404, RC 100). Created → 201, overwritten → 200; indexes must be > 0 and unique (RC 201).
  Unchanged values keep their timestamps.
- ``DELETE /api/handles/{h}`` (``index=N`` removes values) → 200, 404 / RC 100 when missing.
  The registry keeps a deleted handle's record (seed 003) but it no longer resolves.
- ``GET /api/handles/{h}`` (``index``, ``type`` filters) → the values, 404 / RC 100 when missing;
  ``GET /api/handles?prefix=P`` lists handles.
- Bad handles → 400, RC 102; a handle under another prefix → 400, RC 301.

Authentication: HTTP Basic whose user is the percent-encoded identity (``300%3A0.NA/11084``) and
whose password is the secret. Writes without credentials → 401, RC 402; wrong credentials → 403,
RC 403 (also on reads that send them). The real server ignores authentication over plain HTTP and
answers 403; **this sandbox accepts it over http** so tests need no TLS.

Fault switches for tests (no authentication): ``POST /_faults`` with ``fail_next`` (the next N
admin requests answer ``fail_status``, default 500), ``delay_seconds`` (each write waits this long
before it is applied); ``GET /_faults`` shows them; ``GET /_log`` lists every admin request
(method, handle, status) in order; ``POST /_reset`` clears faults and log.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from handles.syntax import HandleSyntaxError, handle_key, parse_handle
from sandbox.registry import HandleRegistry, admin_value

__all__ = ["HandleServerFaults", "handle_server_routes"]


@dataclass
class HandleServerFaults:
    """Switches and a log, shared by the routes of one mount."""

    fail_next: int = 0
    fail_status: int = 500
    delay_seconds: float = 0.0
    log: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take_failure(self) -> int | None:
        with self.lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return self.fail_status
            return None

    def record(self, method: str, handle: str | None, status: int) -> None:
        with self.lock:
            self.log.append(
                {"method": method, "handle": handle, "status": status, "time": datetime.now(UTC).isoformat()}
            )


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rc(status: int, rc: int, handle: str | None, message: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"responseCode": rc}
    if handle is not None:
        body["handle"] = handle
    if message:
        body["message"] = message
    return JSONResponse(body, status_code=status)


def _bool(request: Request, name: str, default: bool) -> bool:
    if name not in request.query_params:
        return default
    return request.query_params[name].strip().lower() in {"", "true", "yes"}


class _Api:
    """The endpoint implementations, bound to one registry and identity."""

    def __init__(self, registry: HandleRegistry, *, auth_id: str, secret: str, prefix: str) -> None:
        self.registry = registry
        self.auth_id = auth_id
        self._secret = secret
        self.prefix = prefix
        self.faults = HandleServerFaults()

    # --- checks -----------------------------------------------------------------------------

    def auth(self, request: Request, *, required: bool) -> JSONResponse | None:
        header = request.headers.get("authorization", "")
        if not header:
            return _rc(401, 402, None, "Authentication needed") if required else None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "basic":
            return _rc(403, 403, None, "Authentication failed: only Basic is supported by the sandbox")
        try:
            user, _, password = base64.b64decode(token.strip()).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return _rc(403, 403, None, "Authentication failed")
        if unquote(user) != self.auth_id or password != self._secret:
            return _rc(403, 403, None, "Authentication failed")
        return None

    def handle(self, raw: str) -> tuple[str | None, JSONResponse | None]:
        try:
            handle = parse_handle(raw)
        except HandleSyntaxError as exc:
            return None, _rc(400, 102, raw, f"Invalid handle: {exc}")
        if handle_key(handle.split("/", 1)[0]) != handle_key(self.prefix):
            return None, _rc(400, 301, handle, "That prefix doesn't live here")
        return handle, None

    # --- endpoints --------------------------------------------------------------------------

    async def dispatch(self, request: Request) -> JSONResponse:
        raw = request.path_params["handle"]
        method = request.method
        denied = self.auth(request, required=method != "GET")
        if denied is None and method != "GET":
            status = self.faults.take_failure()
            if status is not None:
                denied = _rc(status, 2 if status >= 500 else 4, raw, "Sandbox fault switch")
        if denied is None:
            handle, denied = self.handle(raw)
        if denied is not None:
            self.faults.record(method, raw, denied.status_code)
            return denied
        assert handle is not None
        if method == "GET":
            response = self.get(request, handle)
        elif method == "PUT":
            if self.faults.delay_seconds:
                await asyncio.sleep(self.faults.delay_seconds)
            response = await self.put(request, handle)
        else:
            if self.faults.delay_seconds:
                await asyncio.sleep(self.faults.delay_seconds)
            response = self.delete(request, handle)
        self.faults.record(method, handle, response.status_code)
        return response

    def get(self, request: Request, handle: str) -> JSONResponse:
        entry = self.registry.get(handle)
        if entry is None:
            return _rc(404, 100, handle, "Handle Not Found")
        indexes = {int(i) for i in request.query_params.getlist("index") if i.isdigit()}
        types = request.query_params.getlist("type")
        values = [
            v
            for v in entry.values
            if (not indexes and not types)
            or v.get("index") in indexes
            or any(
                v.get("type") == t or (t.endswith(".") and str(v.get("type")).startswith(t)) for t in types
            )
        ]
        return JSONResponse({"responseCode": 1, "handle": entry.handle, "values": values})

    async def put(self, request: Request, handle: str) -> JSONResponse:
        if "json" not in request.headers.get("content-type", ""):
            return _rc(400, 4, handle, "PUT needs Content-Type application/json")
        try:
            body = await request.json()
        except ValueError:
            return _rc(400, 4, handle, "The body is not JSON")
        values, problem = _values(body)
        if problem:
            return _rc(400 if problem[0] != 201 else 409, problem[0], handle, problem[1])
        existing = self.registry.get(handle)
        index_params = request.query_params.getlist("index")
        if index_params:
            return self._put_indexes(handle, existing, values, index_params)
        if existing is not None and not _bool(request, "overwrite", True):
            return _rc(409, 101, handle, "Handle already exists")
        old = {v["index"]: v for v in existing.values} if existing else {}
        stamped = [_stamp(v, old.get(v["index"])) for v in values]
        if existing is None and not any(v["type"] == "HS_ADMIN" for v in stamped):
            stamped.append(admin_value(self.prefix))
        _, created = self.registry.put(handle, stamped, source="server")
        return _rc(201 if created else 200, 1, handle)

    def _put_indexes(
        self, handle: str, existing: Any, values: list[dict[str, Any]], index_params: list[str]
    ) -> JSONResponse:
        if existing is None:
            return _rc(404, 100, handle, "Handle Not Found")
        wanted = {v["index"] for v in values}
        if index_params != ["various"] and {int(i) for i in index_params if i.isdigit()} != wanted:
            return _rc(400, 202, handle, "The body's indexes do not match the index parameters")
        old = {v["index"]: v for v in existing.values}
        merged = {**old, **{v["index"]: _stamp(v, old.get(v["index"])) for v in values}}
        self.registry.put(existing.handle, sorted(merged.values(), key=lambda v: v["index"]), source="server")
        return _rc(200, 1, handle)

    def delete(self, request: Request, handle: str) -> JSONResponse:
        entry = self.registry.get(handle)
        if entry is None:
            return _rc(404, 100, handle, "Handle Not Found")
        indexes = {int(i) for i in request.query_params.getlist("index") if i.isdigit()}
        if indexes:
            kept = [v for v in entry.values if v.get("index") not in indexes]
            if len(kept) == len(entry.values):
                return _rc(400, 200, handle, "Values not found")
            self.registry.put(entry.handle, kept, source="server")
        else:
            self.registry.delete(handle)
        return _rc(200, 1, handle)

    async def list_handles(self, request: Request) -> JSONResponse:
        denied = self.auth(request, required=False)
        if denied is not None:
            return denied
        prefix = request.query_params.get("prefix", self.prefix)
        handles = [e.handle for e in self.registry.list(prefix)]
        return JSONResponse(
            {"responseCode": 1, "prefix": prefix, "totalCount": str(len(handles)), "handles": handles}
        )

    # --- fault switches ---------------------------------------------------------------------

    async def faults_endpoint(self, request: Request) -> JSONResponse:
        f = self.faults
        if request.method == "POST":
            body = await request.json()
            with f.lock:
                f.fail_next = int(body.get("fail_next", f.fail_next))
                f.fail_status = int(body.get("fail_status", f.fail_status))
                f.delay_seconds = float(body.get("delay_seconds", f.delay_seconds))
        return JSONResponse(
            {"fail_next": f.fail_next, "fail_status": f.fail_status, "delay_seconds": f.delay_seconds}
        )

    async def log_endpoint(self, request: Request) -> JSONResponse:
        with self.faults.lock:
            return JSONResponse(list(self.faults.log))

    async def reset_endpoint(self, request: Request) -> JSONResponse:
        with self.faults.lock:
            self.faults.fail_next, self.faults.delay_seconds = 0, 0.0
            self.faults.fail_status = 500
            self.faults.log.clear()
        return JSONResponse({"ok": True})


def _values(body: Any) -> tuple[list[dict[str, Any]], tuple[int, str] | None]:
    """The body's values, or (RC, message) when they are not acceptable."""
    if isinstance(body, dict):
        body = body["values"] if "values" in body else [body]
    if not isinstance(body, list) or not body:
        return [], (202, "Expected a list of values")
    seen: set[int] = set()
    out = []
    for value in body:
        if (
            not isinstance(value, dict)
            or not isinstance(value.get("type"), str)
            or not isinstance(value.get("data"), dict | str)
        ):
            return [], (202, "Each value needs index, type and data")
        index = value.get("index")
        if not isinstance(index, int) or isinstance(index, bool) or index <= 0:
            return [], (202, "Value indexes must be integers > 0")
        if index in seen:
            return [], (201, f"Duplicate index {index}")
        seen.add(index)
        data = (
            value["data"] if isinstance(value["data"], dict) else {"format": "string", "value": value["data"]}
        )
        out.append({"index": index, "type": value["type"], "data": data, "ttl": value.get("ttl", 86400)})
    return out, None


def _stamp(value: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
    """The server sets timestamps; an unchanged value keeps its old one."""
    if old and old.get("type") == value["type"] and old.get("data") == value["data"]:
        return {**value, "timestamp": old.get("timestamp", _now())}
    return {**value, "timestamp": _now()}


def handle_server_routes(registry: HandleRegistry, *, auth_id: str, secret: str, prefix: str) -> list[Any]:
    """Starlette routes of the admin API, relative to the mount point (``/api/handles/...``)."""
    api = _Api(registry, auth_id=auth_id, secret=secret, prefix=prefix)
    return [
        Route("/api/handles", api.list_handles, methods=["GET"]),
        Route("/api/handles/{handle:path}", api.dispatch, methods=["GET", "PUT", "DELETE"]),
        Route("/_faults", api.faults_endpoint, methods=["GET", "POST"]),
        Route("/_log", api.log_endpoint, methods=["GET"]),
        Route("/_reset", api.reset_endpoint, methods=["POST"]),
    ]
