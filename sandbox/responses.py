"""Alma-shaped HTTP answers: JSON or XML by ``Accept``/``format``, error bodies, tracking ids."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response

XML_ERROR_NS = "http://com/exlibris/urm/general/xmlbeans"
JSON_TYPE = "application/json;charset=UTF-8"
XML_TYPE = "application/xml;charset=UTF-8"
_tracking = itertools.count(1)


def wants_xml(request: Request) -> bool:
    """``format=xml`` or an Accept that names XML and not JSON (JSON otherwise)."""
    fmt = request.query_params.get("format", "").lower()
    if fmt in ("xml", "json"):
        return fmt == "xml"
    accept = request.headers.get("accept", "").lower()
    return "xml" in accept and "json" not in accept


def tracking_id() -> str:
    stamp = time.strftime("%d%m%H%M%S", time.gmtime())
    n = next(_tracking)
    letters = "".join(chr(65 + (n * k + 7) % 26) for k in (3, 5, 7, 11, 13))
    return f"E01-{stamp}-{letters}-AWAE{1554214409 + n}"


def error_body(code: str, message: str, *, xml: bool) -> tuple[str, str]:
    """(body, media type) of Alma's error answer."""
    tid = tracking_id()
    if xml:
        body = (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            f'<web_service_result xmlns="{XML_ERROR_NS}"><errorsExist>true</errorsExist><errorList>'
            f"<error><errorCode>{escape(code)}</errorCode><errorMessage>{escape(message)}</errorMessage>"
            f"<trackingId>{tid}</trackingId></error></errorList></web_service_result>"
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
