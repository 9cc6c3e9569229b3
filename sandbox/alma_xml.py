"""Alma's XML form of the sandbox's answers, and which form a request gets.

Alma answers XML unless JSON is asked for (``Accept: application/json`` or ``format=json``;
``format=`` wins over ``Accept``). The XML follows the recorded answers (alma-samples S02, S04):

- a code object ``{"value": v, "desc": d}`` is ``<tag desc="d">v</tag>``;
- a ``link`` is an attribute of its element (``<job_instance link=…>``, ``<additional_info link=…>``);
- a JSON list ``"alert": […]`` is a wrapper ``<alerts><alert …/>…</alerts>`` (also ``counter``,
  ``parameter``, ``member`` …);
- a page of a list is ``<jobs total_record_count="N"><job …>…</jobs>``.

Recorded: ``job_instance`` (S02, S14), the run answer ``job`` (S04), errors (S09, S11, S13).
Guesses (no public recording): the XML of job lists, instance lists, sets, members and events —
built by the same rules.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape, quoteattr

from starlette.requests import Request

__all__ = ["to_xml", "wants_json"]

_ATTRS = ("link", "desc")
_PLURAL = {
    "job_instance": "job_instances",
    "set": "sets",
    "job": "jobs",
    "member": "members",
    "event": "events",
}


def wants_json(request: Request) -> bool:
    """JSON only when asked for: ``format=json`` (wins), else an ``Accept`` that names JSON."""
    fmt = request.query_params.get("format", "").strip().lower()
    if fmt in ("xml", "json"):
        return fmt == "json"
    return "json" in request.headers.get("accept", "").lower()


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(str(value))


def _element(tag: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        attrs = "".join(
            f" {name}={quoteattr(str(value[name]))}"
            for name in _ATTRS
            if isinstance(value.get(name), str | int) and value.get(name) != ""
        )
        if "value" in value and set(value) <= {"value", *_ATTRS}:
            inner = "" if value["value"] is None else _text(value["value"])
        else:
            inner = "".join(_member(k, v) for k, v in value.items() if k not in _ATTRS)
        return f"<{tag}{attrs}>{inner}</{tag}>" if inner else f"<{tag}{attrs}/>"
    return f"<{tag}>{_text(value)}</{tag}>"


def _member(key: str, value: Any) -> str:
    if isinstance(value, list):
        if not value:
            return ""
        return f"<{key}s>" + "".join(_element(key, item) for item in value) + f"</{key}s>"
    return _element(key, value)


def to_xml(root: str, data: dict[str, Any]) -> str:
    """``data`` (the JSON answer) as Alma's XML with root element ``root``.

    A page ``{"<item>": […], "total_record_count": N}`` becomes ``<items total_record_count="N">``.
    """
    if "total_record_count" in data and root in _PLURAL.values():
        item = next(k for k, v in _PLURAL.items() if v == root)
        items = data.get(item) or []
        inner = "".join(_element(item, entry) for entry in items)
        return f'<{root} total_record_count="{int(data["total_record_count"])}">{inner}</{root}>'
    return _element(root, data)
