"""The sandbox's Handle server admin API (HANDLE.NET 9 JSON API), mounted under ``/handle-server``.

It writes the same :class:`~sandbox.registry.HandleRegistry` that the sandbox's proxy
(``/api/handles/{handle}``) reads, so a handle created here resolves there at once. It answers as
a HANDLE.NET 9.2 server does (``shared/reference/handle-system.md`` §1.3–1.4, §2, and the 9.2.0
sources it cites); where those leave a gap, it guesses on the *unkind* side (marked GUESS).

- The handle is the percent-decoded path, taken literally: no ``hdl:``/``doi:`` stripping, no URL
  forms. ``hdl:11084/99`` names prefix ``hdl:11084``, which does not live here: 400, RC 301
  (as pyhandle's notes on issue #49 report). Other prefixes: 400, RC 301. Empty: 400, RC 102.
  GUESS: no ``/``, control characters or over 2048 bytes: 400, RC 102.
- Every answer's ``handle`` echoes the handle **as it was asked** (case kept), although handles
  are compared ASCII case-insensitively (``case_sensitive = no``, the default).
- ``GET /api/handles/{h}`` (``index``, ``type`` filters; ``publicOnly``, default true when
  anonymous, hides values without public read, e.g. HS_SECKEY ``1100``) → the values; 404 /
  RC 100 when missing; when no value is left: 200, RC 200, ``values: []``. A non-integer
  ``index`` is 400, RC 4. ``0.NA/<prefix>`` answers the prefix record (GUESS: as if the server
  recursed to the GHR) so that clients may check their identity handle.
- ``POST`` is a lookup, never a write: it is a ``GET`` whose parameters may come in a JSON body.
- ``PUT /api/handles/{h}``: JSON only (else 400, RC 4); body a list of values, ``{"values": [...]}``
  (whose optional ``handle`` must match, else RC 4) or one value. ``overwrite`` defaults to true;
  given, only ``true`` (any case) is true, as Java's ``Boolean.parseBoolean``. Without ``index`` the
  whole record is created (201) or replaced (200; a record without HS_ADMIN loses it; a new one
  without HS_ADMIN gets the prefix's); ``overwrite=false`` on an existing handle: 409, RC 101.
  ``index=N`` (repeatable; ``index=various`` = the body's) adds or replaces only those values: the
  handle must exist (404, RC 100); the body's indexes must equal the query's, else **400, RC 4**;
  with ``overwrite=false`` an existing index is 409, RC 201; 201 when nothing was replaced, else
  200. Indexes must be > 0 (RC 202); a duplicate index is 409, RC 201. Unchanged values keep
  their timestamps.
- ``DELETE /api/handles/{h}`` (``index=N`` removes values; 400, RC 200 when absent) → 200; 404 /
  RC 100 when missing. The registry keeps a deleted record (seed 003), which no longer resolves.
- ``GET /api/handles?prefix=P`` lists handles; it needs authentication (401, RC 402). No prefix:
  400, RC 102. ``page`` (zero-based) and ``pageSize`` page the list only when both are given;
  ``pageSize=0`` answers only ``totalCount`` (a string). GUESS: handles are listed **upper-cased**,
  as a case-insensitive server stores them.
- Order of checks, as the servlet then the server make them: request syntax (RC 4), prefix
  (RC 301), values (RC 202/201), then authentication: an anonymous write or list is 401, RC 402,
  with the ``WWW-Authenticate`` challenge. Authentication itself: :mod:`sandbox.handle_server_auth`
  (wrong credentials: a bare 401 before anything else). GUESS: the one identity is admin of every
  handle (no per-handle HS_ADMIN permission check).

Kinder than the real server, on purpose: plain http is accepted with credentials (the real server
answers 403), so tests need no TLS.

Fault switches for tests (no authentication): ``POST /_faults`` with ``fail_next`` (the next N
authenticated writes answer ``fail_status``, default 500), ``delay_seconds`` (each write waits this
long before it is applied); ``GET /_faults`` shows them; ``GET /_log`` lists every admin request
(method, handle, status) in order; ``POST /_reset`` clears faults and log.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from handles.syntax import handle_key
from sandbox.handle_server_auth import ANONYMOUS, add_challenge, authenticate
from sandbox.handle_server_request import (
    Params,
    Refused,
    bool_param,
    check_indexes,
    indexes_param,
    lookup_params,
    query_params,
    rc_answer,
    stamp,
    values_of,
)
from sandbox.registry import HandleRegistry, admin_value

__all__ = ["HandleServerFaults", "handle_server_routes"]

MAX_HANDLE_BYTES = 2048


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


class _Api:
    """The endpoint implementations, bound to one registry and identity."""

    def __init__(self, registry: HandleRegistry, *, auth_id: str, secret: str, prefix: str) -> None:
        self.registry = registry
        self.auth_id = auth_id
        self._secret = secret
        self.prefix = prefix
        self.faults = HandleServerFaults()

    # --- checks -----------------------------------------------------------------------------

    def check_handle(self, raw: str) -> None:
        """The handle as the server reads it: literal, under our prefix."""
        if not raw:
            raise Refused(400, 102, "Empty handle invalid")
        if len(raw.encode("utf-8")) > MAX_HANDLE_BYTES or any(ord(c) < 32 or ord(c) == 127 for c in raw):
            raise Refused(400, 102, "Invalid handle")
        prefix, sep, _ = raw.partition("/")
        if not sep:
            raise Refused(400, 102, "Invalid handle")
        if handle_key(prefix) != handle_key(self.prefix):
            raise Refused(400, 301, "That prefix doesn't live here")

    @staticmethod
    def need_auth(who: str) -> None:
        if who == ANONYMOUS:
            raise Refused(401, 402, "Authentication needed")

    def _answer(self, request: Request, exc: Refused, handle: str | None) -> JSONResponse:
        response = rc_answer(exc.status, exc.rc, handle, exc.message)
        if exc.status == 401:
            add_challenge(response, request)
        return response

    # --- endpoints --------------------------------------------------------------------------

    async def dispatch(self, request: Request) -> Response:
        raw = request.path_params["handle"]
        method = request.method
        who = authenticate(request, auth_id=self.auth_id, secret=self._secret)
        if isinstance(who, Response):
            self.faults.record(method, raw, who.status_code)
            return who
        response: Response
        try:
            if method in ("GET", "POST"):
                response = self.get(raw, await lookup_params(request), who)
            else:
                status = self.faults.take_failure() if who != ANONYMOUS else None
                if status is not None:
                    raise Refused(status, 2 if status >= 500 else 4, "Sandbox fault switch")
                if method == "PUT":
                    response = await self.put(request, raw, who)
                else:
                    response = await self.delete(request, raw, who)
        except Refused as exc:
            response = self._answer(request, exc, raw)
        self.faults.record(method, raw, response.status_code)
        return response

    async def _delay(self) -> None:
        if self.faults.delay_seconds:
            await asyncio.sleep(self.faults.delay_seconds)

    def get(self, raw: str, params: Params, who: str) -> JSONResponse:
        if raw.upper() == f"0.NA/{self.prefix}".upper():
            values = self._prefix_values()
        else:
            self.check_handle(raw)
            entry = self.registry.get(raw)
            if entry is None:
                raise Refused(404, 100, "Handle Not Found")
            values = entry.values
        indexes = indexes_param(params) or set()
        types = params.get("type", [])
        public_only = bool_param(params, "publicOnly", who == ANONYMOUS)
        shown = [
            v
            for v in values
            if (not public_only or str(v.get("permissions", "1110"))[2:3] == "1")
            and (
                (not indexes and not types)
                or v.get("index") in indexes
                or any(
                    v.get("type") == t or (t.endswith(".") and str(v.get("type")).startswith(t))
                    for t in types
                )
            )
        ]
        if not shown:
            return JSONResponse({"responseCode": 200, "handle": raw, "values": []})
        return JSONResponse({"responseCode": 1, "handle": raw, "values": shown})

    def _prefix_values(self) -> list[dict[str, Any]]:
        na = f"0.NA/{self.prefix}"
        return [
            {**admin_value(self.prefix), "timestamp": "2000-01-01T00:00:00Z"},
            {
                "index": 200,
                "type": "HS_VLIST",
                "data": {"format": "vlist", "value": [{"handle": na, "index": 300}]},
                "ttl": 86400,
                "timestamp": "2000-01-01T00:00:00Z",
            },
            {
                "index": 300,
                "type": "HS_SECKEY",
                "data": {"format": "string", "value": "(hidden)"},
                "ttl": 86400,
                "permissions": "1100",
                "timestamp": "2000-01-01T00:00:00Z",
            },
        ]

    async def put(self, request: Request, raw: str, who: str) -> JSONResponse:
        params = query_params(request)
        content_type = request.headers.get("content-type", "").strip().lower()
        if content_type != "application/json" and not content_type.startswith("application/json;"):
            raise Refused(400, 4, f"java.lang.Exception: Unsupported media type {content_type or None}")
        various = params.get("index", [None])[0] == "various"
        indexes = None if various else indexes_param(params)
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise Refused(400, 4, "com.google.gson.JsonSyntaxException: the body is not JSON") from None
        if isinstance(body, dict) and "values" in body:
            asked = body.get("handle")
            if asked is not None and handle_key(str(asked)) != handle_key(raw):
                raise Refused(400, 4, "java.lang.Exception: Mismatched handle in PUT request")
        values = values_of(body)
        if indexes is not None and indexes != {v["index"] for v in values}:
            raise Refused(400, 4, "java.lang.Exception: Mismatched indexes in PUT request")
        self.check_handle(raw)
        check_indexes(values)
        self.need_auth(who)
        overwrite = params["overwrite"][0].strip().lower() == "true" if "overwrite" in params else True
        await self._delay()
        existing = self.registry.get(raw)
        old = {v["index"]: v for v in existing.values} if existing else {}
        if various or indexes is not None:
            if existing is None:
                raise Refused(404, 100, "Handle Not Found")
            shared = sorted(set(old) & {v["index"] for v in values})
            if shared and not overwrite:
                raise Refused(409, 201, f"Index conflict for {shared[0]}")
            merged = {**old, **{v["index"]: stamp(v, old.get(v["index"])) for v in values}}
            self.registry.put(raw, sorted(merged.values(), key=lambda v: v["index"]), source="server")
            return rc_answer(200 if shared else 201, 1, raw)
        if existing is not None and not overwrite:
            raise Refused(409, 101, "Handle already exists")
        stamped = [stamp(v, old.get(v["index"])) for v in values]
        if existing is None and not any(v["type"] == "HS_ADMIN" for v in stamped):
            stamped.append(admin_value(self.prefix))
        _, created = self.registry.put(raw, stamped, source="server")
        return rc_answer(201 if created else 200, 1, raw)

    async def delete(self, request: Request, raw: str, who: str) -> JSONResponse:
        indexes = indexes_param(query_params(request))
        self.check_handle(raw)
        self.need_auth(who)
        await self._delay()
        entry = self.registry.get(raw)
        if entry is None:
            raise Refused(404, 100, None)
        if indexes:
            if not indexes <= {v.get("index") for v in entry.values}:
                raise Refused(400, 200, None)
            kept = [v for v in entry.values if v.get("index") not in indexes]
            self.registry.put(entry.handle, kept, source="server")
        else:
            self.registry.delete(raw)
        return rc_answer(200, 1, raw)

    async def list_handles(self, request: Request) -> Response:
        who = authenticate(request, auth_id=self.auth_id, secret=self._secret)
        if isinstance(who, Response):
            return who
        try:
            params = await lookup_params(request)
            if "prefix" not in params:
                raise Refused(400, 102, "Empty handle invalid")
            asked = params["prefix"][0]
            bare = asked[5:] if asked.upper().startswith("0.NA/") else asked
            if handle_key(bare) != handle_key(self.prefix):
                raise Refused(400, 301, "That prefix doesn't live here")
            try:
                page = int(params.get("page", ["-1"])[0])
                size = int(params.get("pageSize", ["-1"])[0])
            except ValueError:
                raise Refused(
                    400, 4, "java.lang.NumberFormatException: page and pageSize are integers"
                ) from None
            self.need_auth(who)
        except Refused as exc:
            return self._answer(request, exc, None)
        handles = [handle_key(e.handle) for e in self.registry.list(self.prefix)]
        body: dict[str, Any] = {"responseCode": 1, "prefix": asked, "totalCount": str(len(handles))}
        if page >= 0 and size >= 0:
            handles = handles[page * size : (page + 1) * size]
            body.update(page=page, pageSize=size)
        body["handles"] = handles
        return JSONResponse(body)

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


def handle_server_routes(registry: HandleRegistry, *, auth_id: str, secret: str, prefix: str) -> list[Any]:
    """Starlette routes of the admin API, relative to the mount point (``/api/handles/...``)."""
    api = _Api(registry, auth_id=auth_id, secret=secret, prefix=prefix)
    return [
        Route("/api/handles", api.list_handles, methods=["GET", "POST"]),
        Route("/api/handles/{handle:path}", api.dispatch, methods=["GET", "POST", "PUT", "DELETE"]),
        Route("/_faults", api.faults_endpoint, methods=["GET", "POST"]),
        Route("/_log", api.log_endpoint, methods=["GET"]),
        Route("/_reset", api.reset_endpoint, methods=["POST"]),
    ]
