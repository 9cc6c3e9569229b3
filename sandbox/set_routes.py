"""Alma's set API in the sandbox: ``GET|POST /conf/sets``, ``GET|POST /conf/sets/{id}``
(``op=add_members|delete_members|replace_members``), ``GET /conf/sets/{id}/members``.

The set answer follows the recorded one (alma-samples S07): ``created_date`` a date-time,
``number_of_members.value`` an integer, API-made sets ``created_by`` ``exl_api``.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandbox.responses import alma_answer
from sandbox.responses import int_param as _int_param
from sandbox.state import API_USER, STAFF_USER, AlmaFault, SandboxState

CONTENT_DESC = {"IEP": "Digital titles", "BIB_MMS": "All Titles", "USER": "Users", "ITEM": "Physical items"}


def _link(request: Request, path: str) -> str:
    return request.app.state.sandbox.config.base_url.rstrip("/") + "/almaws/v1" + path


def _code(value: str, desc: str) -> dict[str, str]:
    return {"value": value, "desc": desc}


def set_json(request: Request, the_set: Any) -> dict[str, Any]:
    return {
        "id": the_set.id,
        "name": the_set.name,
        "description": the_set.description,
        "type": _code("ITEMIZED", "Itemized"),
        "content": _code(the_set.content, CONTENT_DESC.get(the_set.content, the_set.content)),
        "private": _code("false", "No"),
        "status": _code("ACTIVE", "Active"),
        "origin": _code(the_set.origin, "Institution only"),
        "number_of_members": {
            "value": len(the_set.members),
            "link": _link(request, f"/conf/sets/{the_set.id}/members"),
        },
        "status_date": the_set.created,
        "created_by": dict(API_USER if the_set.origin == "API" else STAFF_USER),
        "created_date": the_set.created,  # a date-time, as recorded (alma-samples S07)
        "link": _link(request, f"/conf/sets/{the_set.id}"),
    }


async def list_sets(request: Request, state: SandboxState) -> Response:
    limit = _int_param(request, "limit", 10, 100)
    offset = _int_param(request, "offset", 0)
    q = request.query_params.get("q", "")
    needle = q.split("~", 1)[1].lower() if q.startswith("name~") else ""
    content = request.query_params.get("content_type", "")
    with state.lock:
        sets = [
            s
            for s in state.sets.values()
            if (not needle or needle in s.name.lower()) and (not content or s.content == content)
        ]
        page = [set_json(request, s) for s in sets[offset : offset + limit]]
    return alma_answer(request, "sets", {"set": page, "total_record_count": len(sets)})


async def get_set(request: Request, state: SandboxState) -> Response:
    return alma_answer(request, "set", set_json(request, state.get_set(request.path_params["set_id"])))


async def set_members(request: Request, state: SandboxState) -> Response:
    limit = _int_param(request, "limit", 10, 100)
    offset = _int_param(request, "offset", 0)
    with state.lock:
        the_set = state.get_set(request.path_params["set_id"])
        members = []
        for mid in the_set.members[offset : offset + limit]:
            if the_set.content == "USER":
                members.append(
                    {
                        "id": mid,
                        "description": f"Student worker {mid}",
                        "link": _link(request, f"/users/{mid}"),
                    }
                )
            else:
                rec = state.record(mid)
                members.append(
                    {
                        "id": mid,
                        "description": rec.title if rec else "",
                        "link": _link(request, f"/bibs/{mid}"),
                    }
                )
        total = len(the_set.members)
    return alma_answer(request, "members", {"member": members, "total_record_count": total})


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise AlmaFault("402265", "Failed to parse the request body.") from None
    if not isinstance(body, dict):
        raise AlmaFault("402265", "The request body must be an object.")
    return body


def _value(field: Any) -> str:
    return str(field.get("value", "")) if isinstance(field, dict) else str(field or "")


async def create_set(request: Request, state: SandboxState) -> Response:
    body = await _json_body(request)
    new = state.create_set(
        name=str(body.get("name", "")).strip(),
        description=str(body.get("description", "")),
        content=_value(body.get("content")) or "BIB_MMS",
        set_type=_value(body.get("type")) or "ITEMIZED",
    )
    return alma_answer(request, "set", set_json(request, new))


async def delete_set(request: Request, state: SandboxState) -> Response:
    """``DELETE /conf/sets/{set_id}``: Alma answers 204 with no body; 60107 for an unknown set."""
    state.delete_set(request.path_params["set_id"])
    return Response(status_code=204)


async def set_op(request: Request, state: SandboxState) -> Response:
    set_id = request.path_params["set_id"]
    op = request.query_params.get("op", "")
    state.get_set(set_id)
    if op not in ("add_members", "delete_members", "replace_members"):
        raise AlmaFault("402221", f"Operation {op or '(none)'} is not supported.")
    body = await _json_body(request)
    members = body.get("members", {})
    items = members.get("member", []) if isinstance(members, dict) else []
    ids = [str(m.get("id", "")).strip() for m in items if isinstance(m, dict)]
    fail = request.query_params.get("fail_on_invalid_id", "true").lower() != "false"
    with state.lock:
        if op == "add_members":
            the_set = state.add_members(set_id, ids, fail_on_invalid_id=fail)
        else:
            if len(ids) > 1000:
                raise AlmaFault("60118", "The number of members exceeds the limit of 1000 per request.")
            the_set = state.get_set(set_id)
            if op == "replace_members":
                the_set.members.clear()
                state.add_members(set_id, ids, fail_on_invalid_id=fail)
            else:
                drop = set(ids)
                the_set.members[:] = [m for m in the_set.members if m not in drop]
        return alma_answer(request, "set", set_json(request, the_set))
