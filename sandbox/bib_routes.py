"""Alma's bib API in the sandbox: ``GET /bibs?mms_id=``, ``GET|PUT /bibs/{mms_id}`` (alma-api.md §5).

Bibs keep their own XML (the Dublin Core ``<record>`` inside ``<bib>``); PUT takes XML only.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # noqa: N817 - serializes an already-parsed record
from typing import Any
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response

from sandbox import dc, seed
from sandbox.responses import json_response, wants_xml, xml_response
from sandbox.state import AlmaFault, SandboxState


def _link(request: Request, path: str) -> str:
    return request.app.state.sandbox.config.base_url.rstrip("/") + "/almaws/v1" + path


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
        rec.xml = _mangled(state, record) or dc.serialize(record)
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


def _mangled(state: SandboxState, record: Any) -> str | None:
    """The record as a damaging bulk edit stores it (``bib_put_mangle``), or ``None``: as sent."""
    config = state.config
    if config.bib_put_mangle != "ns0":
        return None
    if config.bib_put_mangle_times:
        config.bib_put_mangle_times -= 1
        if not config.bib_put_mangle_times:
            config.bib_put_mangle = ""
    return ET.tostring(record, encoding="unicode")  # no default namespace: <ns0:record …>
