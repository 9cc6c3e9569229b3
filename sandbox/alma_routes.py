"""Alma's REST API under ``/almaws/v1``: jobs, instances, events, sets, bibs (alma-api.md §2–§5).

Every endpoint goes through :func:`alma_endpoint`: API key (``Authorization: apikey …`` or
``?apikey=``), daily quota, per-second limit and injected faults, lazy job progress, Alma error
bodies for :class:`~sandbox.state.AlmaFault`, and ``X-Exl-Api-Remaining`` on every answer.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox import dc, seed
from sandbox.jobs import JOBS, STATUS_DESC, Instance, JobDef, iso
from sandbox.responses import alma_error, json_response, wants_xml, xml_response
from sandbox.state import AlmaFault, SandboxState

PREFIX = "/almaws/v1"
Handler = Callable[[Request, SandboxState], Awaitable[Response]]

PROFILE_ID = "7593500000004641"  # the Handle integration profile behind the profile job
CONTENT_DESC = {"IEP": "Digital titles", "BIB_MMS": "All Titles", "USER": "Users", "ITEM": "Physical items"}


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
                return alma_error(
                    request,
                    "UNAUTHORIZED",
                    "API-key not defined or not configured to allow this API.",
                    401,
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


def _int_param(request: Request, name: str, default: int, maximum: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or (maximum is not None and int(raw) > maximum):
        raise AlmaFault("40166410", f"Invalid value for parameter {name}: {raw}")
    return int(raw)


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
        "schedule": _code("NOT_SCHEDULED", "Not scheduled"),
        "creator": "000538225",
        "parameter": params,
        "link": _link(request, f"/conf/jobs/{job.id}"),
    }
    if job.effect == "profile":
        data["related_profile"] = {
            "value": PROFILE_ID,
            "link": _link(request, f"/conf/integration-profiles/{PROFILE_ID}"),
        }
    return data


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
    return json_response(
        {
            "job": [job_json(request, j) for j in jobs[offset : offset + limit]],
            "total_record_count": len(jobs),
        }
    )


async def get_job(request: Request, state: SandboxState) -> Response:
    return json_response(job_json(request, state.job(request.path_params["job_id"])))


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
    data = job_json(request, job)
    data["parameter"] = params
    stamp = datetime.fromtimestamp(inst.submit_time, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    data["additional_info"] = {
        "value": f"Job no. {inst.id} triggered on {stamp}",
        "link": _link(request, f"/conf/jobs/{job.id}/instances/{inst.id}"),
    }
    return json_response(data)


# --- instances -------------------------------------------------------------------------------------
def instance_json(request: Request, inst: Instance, now: float) -> dict[str, Any]:
    status, progress = inst.phase(now)
    job = inst.job
    changed = inst.end_time or inst.start_time(now) or inst.submit_time
    return {
        "id": inst.id,
        "external_id": "",
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
        "action": [],
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
    return json_response({"job_instance": page, "total_record_count": len(found)})


async def get_instance(request: Request, state: SandboxState) -> Response:
    with state.lock:
        inst = state.instance(request.path_params["job_id"], request.path_params["instance_id"])
        return json_response(instance_json(request, inst, state.clock()))


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
    return json_response({"total_record_count": len(events), "event": page})


# --- sets ------------------------------------------------------------------------------------------
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
        "query": {"value": ""},
        "number_of_members": {
            "value": len(the_set.members),
            "link": _link(request, f"/conf/sets/{the_set.id}/members"),
        },
        "created_by": {"value": "000538225", "desc": "McFate, Mark"},
        "created_date": the_set.created[:10] + "Z",
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
    return json_response({"set": page, "total_record_count": len(sets)})


async def get_set(request: Request, state: SandboxState) -> Response:
    return json_response(set_json(request, state.get_set(request.path_params["set_id"])))


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
    return json_response({"member": members, "total_record_count": total})


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
    return json_response(set_json(request, new))


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
        return json_response(set_json(request, the_set))


# --- bibs ------------------------------------------------------------------------------------------
def _bib_fields(state: SandboxState, mms_id: str) -> tuple[Any, str]:
    rec = state.record(mms_id)
    if rec is None:
        raise AlmaFault("402203", f"Input parameters mmsId {mms_id} is not valid.")
    return rec, rec.title


def bib_json(request: Request, rec: Any) -> dict[str, Any]:
    record_format, suppressed = seed.bib_flags(rec.mms_id)
    return {
        "mms_id": rec.mms_id,
        "record_format": record_format,
        "title": rec.title,
        "author": None,
        "suppress_from_publishing": "true" if suppressed else "false",
        "suppress_from_external_search": "false",
        "created_date": "2019-06-20Z",
        "last_modified_date": "2025-09-30Z",
        "anies": [rec.xml],
        "link": _link(request, f"/bibs/{rec.mms_id}"),
    }


def bib_xml(rec: Any) -> str:
    record_format, suppressed = seed.bib_flags(rec.mms_id)
    return (
        f"<bib><mms_id>{rec.mms_id}</mms_id><record_format>{record_format}</record_format>"
        f"<title>{escape(rec.title)}</title>"
        f"<suppress_from_publishing>{str(suppressed).lower()}</suppress_from_publishing>"
        f"<created_date>2019-06-20Z</created_date><last_modified_date>2025-09-30Z</last_modified_date>"
        f"{rec.xml}</bib>"
    )


async def get_bibs(request: Request, state: SandboxState) -> Response:
    raw = request.query_params.get("mms_id", "")
    ids = [i.strip() for i in raw.split(",") if i.strip()]
    if not ids:
        raise AlmaFault("402204", "Mandatory parameter mms_id is missing.")
    if len(ids) > 100:
        raise AlmaFault("40166410", "Invalid value for parameter mms_id: more than 100 MMS IDs.")
    with state.lock:
        recs = [r for r in (state.record(i) for i in ids) if r is not None]
        if wants_xml(request):
            inner = "".join(bib_xml(r) for r in recs)
            return xml_response(f'<bibs total_record_count="{len(recs)}">{inner}</bibs>')
        return json_response({"bib": [bib_json(request, r) for r in recs], "total_record_count": len(recs)})


async def get_bib(request: Request, state: SandboxState) -> Response:
    with state.lock:
        rec, _ = _bib_fields(state, request.path_params["mms_id"])
        if wants_xml(request):
            return xml_response(bib_xml(rec))
        return json_response(bib_json(request, rec))


async def put_bib(request: Request, state: SandboxState) -> Response:
    mms_id = request.path_params["mms_id"]
    raw = await request.body()
    ctype = request.headers.get("content-type", "").lower()
    if "json" in ctype or raw.lstrip()[:1] in (b"{", b"["):
        raise AlmaFault("60105", "JSON is not supported for this API.")
    with state.lock:
        rec, _ = _bib_fields(state, mms_id)
        try:
            root = dc.safe_fromstring(raw)
        except Exception as exc:  # noqa: BLE001 - the client's XML
            raise AlmaFault("402205", f"Failed to parse the bib XML: {exc}") from None
        if root.tag != "bib":
            raise AlmaFault("402205", f"Expected a <bib> document, got <{root.tag}>.")
        _check_namespaces(raw.decode("utf-8", "replace"))
        record = next((el for el in root if el.tag.rsplit("}", 1)[-1] == "record"), None)
        if record is None:
            raise AlmaFault("402205", "The bib has no <record>.")
        rec.xml = dc.serialize(record)
        if wants_xml(request) or "json" not in request.headers.get("accept", "").lower():
            return xml_response(bib_xml(rec))
        return json_response(bib_json(request, rec))


def _check_namespaces(text: str) -> None:
    """Alma's namespace pitfalls (alma-api.md §5): no default xmlns on <bib>, no ``ns0:`` prefixes."""
    if re.search(r"<bib\b[^>]*\sxmlns\s*=", text):
        raise AlmaFault("402205", "Failed to parse the bib: <bib> must not declare a default namespace.")
    prefixed = re.search(r"</?(ns\d+):", text)
    if prefixed:
        raise AlmaFault(
            "402205",
            f"Failed to parse the bib: unexpected namespace prefix '{prefixed.group(1)}:' "
            "(Alma elements such as <record> must be unprefixed).",
        )


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
        r("/conf/sets/{set_id}/members", set_members, ["GET"]),
        r("/bibs", get_bibs, ["GET"]),
        r("/bibs/{mms_id}", get_bib, ["GET"]),
        r("/bibs/{mms_id}", put_bib, ["PUT"]),
    ]
