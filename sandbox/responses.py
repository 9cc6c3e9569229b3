"""Alma-shaped HTTP answers: XML unless JSON is asked for, error bodies, tracking ids."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response

from sandbox.alma_xml import to_xml, wants_json
from sandbox.state import AlmaFault

XML_ERROR_NS = "http://com/exlibris/urm/general/xmlbeans"
JSON_TYPE = "application/json;charset=UTF-8"
XML_TYPE = "application/xml;charset=UTF-8"
_tracking = itertools.count(1)


def wants_xml(request: Request) -> bool:
    """XML unless JSON is asked for (``format=json``, or an Accept naming JSON); as Alma does."""
    return not wants_json(request)


def alma_answer(request: Request, root: str, data: dict[str, Any], status: int = 200) -> Response:
    """``data`` as JSON when asked for, else as Alma's XML under ``<root>``."""
    if wants_json(request):
        return json_response(data, status)
    return xml_response(to_xml(root, data), status)


def tracking_id() -> str:
    stamp = time.strftime("%d%m%H%M%S", time.gmtime())
    n = next(_tracking)
    letters = "".join(chr(65 + (n * k + 7) % 26) for k in (3, 5, 7, 11, 13))
    return f"E01-{stamp}-{letters}-AWAE{1554214409 + n}"


def error_body(code: str, message: str, *, xml: bool) -> tuple[str, str]:
    """(body, media type) of Alma's error answer (recorded: S08, S09, S11, S12).

    The XML ``UNAUTHORIZED`` answer has no ``trackingId`` (S09); every other error has one.
    """
    tid = tracking_id()
    if xml:
        track = "" if code == "UNAUTHORIZED" else f"<trackingId>{tid}</trackingId>"
        body = (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            f'<web_service_result xmlns="{XML_ERROR_NS}"><errorsExist>true</errorsExist><errorList>'
            f"<error><errorCode>{escape(code)}</errorCode><errorMessage>{escape(message)}</errorMessage>"
            f"{track}</error></errorList></web_service_result>"
        )
        return body, XML_TYPE
    data = {
        "errorsExist": True,
        "errorList": {"error": [{"errorCode": code, "errorMessage": message, "trackingId": tid}]},
        "result": None,
    }
    return json.dumps(data), JSON_TYPE


def alma_error(
    request: Request, code: str, message: str, status: int = 400, headers: dict[str, str] | None = None
) -> Response:
    body, media = error_body(code, message, xml=wants_xml(request))
    return Response(body, status_code=status, media_type=media, headers=headers)


def json_response(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status_code=status, media_type=JSON_TYPE)


def xml_response(body: str, status: int = 200) -> Response:
    if not body.startswith("<?xml"):
        body = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' + body
    return Response(body, status_code=status, media_type=XML_TYPE)


def gateway_not_found(request: Request) -> Response:
    """The API gateway's 404 for an unknown path: wrapped in ``web_service_result``, ``error`` an
    object (recorded in JSON: S10; the XML form is a guess built like S09)."""
    if wants_json(request):
        data = {
            "web_service_result": {
                "errorsExist": True,
                "errorList": {
                    "error": {"errorCode": "NOT_FOUND", "errorMessage": "", "trackingId": "unknown"}
                },
            }
        }
        return Response(json.dumps(data), status_code=404, media_type=JSON_TYPE)
    body = (
        f'<web_service_result xmlns="{XML_ERROR_NS}"><errorsExist>true</errorsExist><errorList><error>'
        "<errorCode>NOT_FOUND</errorCode><errorMessage></errorMessage><trackingId>unknown</trackingId>"
        "</error></errorList></web_service_result>"
    )
    return xml_response(body, 404)


def int_param(request: Request, name: str, default: int, maximum: int | None = None) -> int:
    """A paging parameter (``limit``, ``offset``); Alma's 40166410 when it is not a number in range."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or (maximum is not None and int(raw) > maximum):
        raise AlmaFault("40166410", f"Invalid value for parameter {name}: {raw}")
    return int(raw)
