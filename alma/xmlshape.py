"""Alma's XML answers read into the shape of its JSON answers, so one parser serves both.

The client asks for JSON; this is for answers that come back as XML all the same (a gateway that
ignores ``Accept``, a recorded answer, a file an operator saved). Alma's XML conventions (recorded:
alma-samples S02, S04, S14): a code is ``<status desc="…">VALUE</status>`` (JSON
``{"value", "desc"}``); a ``link`` is an attribute (JSON ``"link"``); a list is a wrapper
``<alerts><alert/>…</alerts>`` (JSON ``"alert": […]``).
"""

from __future__ import annotations

import re
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from alma.errors import AlmaError

__all__ = ["from_xml"]

_WRAPPERS = frozenset({"alerts", "counters", "parameters", "actions", "members", "events"})


def _local(tag: object) -> str:
    return str(tag).rsplit("}", 1)[-1]


def _convert(element: Element) -> Any:
    attrs = {_local(k): v for k, v in element.attrib.items() if _local(k) in ("desc", "link")}
    children = list(element)
    if not children:
        text = (element.text or "").strip()
        return {"value": text, **attrs} if attrs else text
    data: dict[str, Any] = {}
    for child in children:
        tag = _local(child.tag)
        grand = [_local(g.tag) for g in child]
        if tag in _WRAPPERS or (grand and all(g + "s" == tag for g in grand)):
            data[tag[:-1]] = [_convert(g) for g in child]
        else:
            data[tag] = _convert(child)
    if "link" in attrs:
        data["link"] = attrs["link"]
    return data


def from_xml(text: str) -> dict[str, Any]:
    """The JSON-shaped dict of Alma's XML answer ``text`` (its root element's content).

    Raises :class:`~alma.errors.AlmaError` with one line when ``text`` is not XML.
    """
    body = re.sub(r"^\s*<\?xml[^>]*\?>", "", text or "").strip()
    try:
        root = fromstring(body, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise AlmaError(f"Alma's answer is not readable XML ({exc})") from None
    data = _convert(root)
    return data if isinstance(data, dict) else {"value": data}
