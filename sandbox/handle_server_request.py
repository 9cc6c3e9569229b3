"""Reading a request to the sandbox's Handle server and shaping its answers (HANDLE.NET 9 style).

Parameter parsing, value validation and the ``{"responseCode", "handle", "message"}`` answer, as
:mod:`sandbox.handle_server` uses them. Messages imitate the Java server's (``java.lang.…``) where
the servlet turns a parse failure into RC 4.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

__all__ = [
    "Params",
    "Refused",
    "bool_param",
    "check_indexes",
    "indexes_param",
    "lookup_params",
    "query_params",
    "rc_answer",
    "stamp",
    "values_of",
]

Params = dict[str, list[str]]


class Refused(Exception):
    """An answer other than success, raised from deep inside a check."""

    def __init__(self, status: int, rc: int, message: str | None = None) -> None:
        super().__init__(message)
        self.status, self.rc, self.message = status, rc, message


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rc_answer(status: int, rc: int, handle: str | None, message: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"responseCode": rc}
    if handle is not None:
        body["handle"] = handle
    if message:
        body["message"] = message
    return JSONResponse(body, status_code=status)


def bool_param(params: Params, name: str, default: bool) -> bool:
    """HANDLE.NET's boolean parameter: absent → default; empty, ``true`` or ``yes`` → true."""
    if name not in params:
        return default
    return params[name][0].strip().lower() in {"", "true", "yes"}


def indexes_param(params: Params) -> set[int] | None:
    if "index" not in params:
        return None
    indexes = set()
    for text in params["index"]:
        try:
            indexes.add(int(text))
        except ValueError:
            raise Refused(400, 4, f'java.lang.NumberFormatException: For input string: "{text}"') from None
    return indexes


def query_params(request: Request) -> Params:
    params: Params = {}
    for key, value in request.query_params.multi_items():
        params.setdefault(key, []).append(value)
    return params


async def lookup_params(request: Request) -> Params:
    """A POST's parameters: the query's, plus a JSON body's keys (POST is GET with a body)."""
    params = query_params(request)
    if request.method == "POST" and request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            raise Refused(400, 4, "com.google.gson.JsonParseException: the body is not JSON") from None
        if isinstance(body, dict):
            for key, value in body.items():
                items = value if isinstance(value, list) else [value]
                params[key] = [str(v).lower() if isinstance(v, bool) else str(v) for v in items]
    return params


def values_of(body: Any) -> list[dict[str, Any]]:
    """The body's values in the stored shape; RC 4 when the JSON is not values at all."""
    if isinstance(body, dict):
        if "values" in body:
            body = body["values"]
        elif all(k in body for k in ("index", "type", "data")):
            body = [body]
        else:
            raise Refused(400, 4, "java.lang.Exception: Invalid JSON in PUT request")
    if not isinstance(body, list):
        raise Refused(400, 4, "java.lang.Exception: Invalid JSON in PUT request")
    out = []
    for value in body:
        if not isinstance(value, dict) or not isinstance(value.get("type"), str) or "data" not in value:
            raise Refused(400, 4, "com.google.gson.JsonParseException: a value needs index, type and data")
        raw_index: Any = value.get("index")
        index: int | None = None
        if isinstance(raw_index, int | str) and not isinstance(raw_index, bool):
            try:
                index = int(raw_index)
            except ValueError:
                index = None
        if index is None:
            raise Refused(400, 4, "com.google.gson.JsonParseException: a value index must be an integer")
        data = value["data"]
        data = data if isinstance(data, dict) else {"format": "string", "value": data}
        admin = data.get("value") if data.get("format") == "admin" else None
        if isinstance(admin, dict) and str(admin.get("index", "")).isdigit():  # the server reads ints
            data = {**data, "value": {**admin, "index": int(admin["index"])}}
        stored = {"index": index, "type": value["type"], "data": data, "ttl": value.get("ttl", 86400)}
        if value.get("permissions") not in (None, "1110"):
            stored["permissions"] = str(value["permissions"])
        out.append(stored)
    return out


def check_indexes(values: list[dict[str, Any]]) -> None:
    if not values:
        raise Refused(400, 202, "Empty value list")
    seen: set[int] = set()
    for value in sorted(values, key=lambda v: v["index"]):
        if value["index"] <= 0:
            raise Refused(400, 202, "Indexes must be positive")
        if value["index"] in seen:
            raise Refused(409, 201, f"Index conflict for {value['index']}")
        seen.add(value["index"])


def stamp(value: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
    """The server sets timestamps; an unchanged value keeps its old one."""
    if old and old.get("type") == value["type"] and old.get("data") == value["data"]:
        return {**value, "timestamp": old.get("timestamp", _now())}
    return {**value, "timestamp": _now()}
