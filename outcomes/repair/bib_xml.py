"""Pure repairs of a bib's Dublin Core handle identifier, as text edits of the bib XML.

Only the ``dc:identifier`` elements concerned are touched; every other byte of the document stays
as it was (no re-serialization, so no ``ns0:`` prefixes and no moved namespace declarations —
alma-api.md §5). Repairs:

* a ``dc:identifier`` holding a handle with an ``xsi:type`` (``dcterms:URI``): the attribute goes;
* a handle written as ``hdl:…``, ``https://…``, ``handle.net/…`` or with stray spaces: rewritten
  as ``http://hdl.handle.net/PREFIX/SUFFIX``;
* no handle in ``dc:identifier``: one is added, derived from a ``dcterms:identifier`` handle or
  from the record's PID by ``HANDLE_PID_PATTERN`` (``grinnell:99`` → ``11084/99``).

The result is checked with :func:`alma.dc.parse_dc`: Alma must be able to use the handle.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # noqa: N817 - only to canonicalize trusted, already-parsed XML
from dataclasses import dataclass
from html import unescape

from defusedxml.ElementTree import fromstring

from alma.dc import parse_dc
from handles.syntax import handle_key, normalize_handle

__all__ = [
    "NotRepairable",
    "Repair",
    "canonical_record",
    "handle_url",
    "record_difference",
    "repair_bib_xml",
    "with_record_of",
]

_DC_IDENTIFIER = re.compile(
    r"<dc:identifier(?P<attrs>(?:\s+[^<>]*?)?)\s*(?:/>|>(?P<text>[^<]*)</dc:identifier\s*>)", re.DOTALL
)
_DCTERMS_IDENTIFIER = re.compile(
    r"<dcterms:identifier(?:\s+[^<>]*?)?\s*(?:/>|>[^<]*</dcterms:identifier\s*>)", re.DOTALL
)
_XSI_TYPE = re.compile(r"\s+xsi:type\s*=\s*(?P<q>[\"'])(?P<value>.*?)(?P=q)", re.DOTALL)
_RECORD_END = re.compile(r"</record\s*>")
# the whole <record> element of a bib, prefixed or not (a mangled store writes <ns0:record …>)
_RECORD = re.compile(
    r"<(?:(?P<p>[A-Za-z_][\w.-]*):)?record(?=[\s/>])[^>]*?(?:/>|>.*</(?:(?P=p):)?record\s*>)", re.DOTALL
)
_STRAY_PREFIX = re.compile(r"</?(ns\d+):|\sxmlns:(ns\d+)\s*=")
_INDENT = re.compile(r"(\r?\n[ \t]*)$")


class NotRepairable(ValueError):
    """This bib cannot be repaired automatically; the message says why (one line)."""


@dataclass(frozen=True)
class Repair:
    """The repaired XML, the handle Alma will now find, and what changed, in words."""

    xml: str
    handle: str
    changes: tuple[str, ...]


def handle_url(handle: str) -> str:
    """The form the Handle Migration task reads: ``http://hdl.handle.net/PREFIX/SUFFIX``."""
    return f"http://hdl.handle.net/{handle}"


def _handle_in(text: str, prefix: str) -> str | None:
    value = unescape(text)
    handle = normalize_handle(value, expected_prefix=prefix)
    if handle is None and re.search(r"hdl|handle", value, re.IGNORECASE):
        handle = normalize_handle(re.sub(r"\s+", "", value), expected_prefix=prefix)
    return handle


def _fix_identifiers(xml: str, prefix: str) -> tuple[str, list[str], list[str]]:
    """Rewrite every dc:identifier holding a handle under ``prefix``; returns (xml, changes, handles)."""
    changes: list[str] = []
    handles: list[str] = []

    def fix(match: re.Match[str]) -> str:
        text = match.group("text") or ""
        handle = _handle_in(text, prefix)
        if handle is None:
            return match.group(0)
        handles.append(handle)
        attrs = match.group("attrs") or ""
        new_attrs = attrs
        for xsi in _XSI_TYPE.finditer(attrs):
            new_attrs = new_attrs.replace(xsi.group(0), "", 1)
            changes.append(f'removed xsi:type="{xsi.group("value")}" from dc:identifier {text.strip()}')
        url = handle_url(handle)
        if text != url:
            changes.append(f"rewrote dc:identifier {unescape(text)!r} as {url}")
        if new_attrs == attrs and text == url:
            return match.group(0)
        return f"<dc:identifier{new_attrs}>{url}</dc:identifier>"

    return _DC_IDENTIFIER.sub(fix, xml), changes, handles


def _derive(xml: str, prefix: str, pid: str | None, pid_pattern: str) -> tuple[str, str]:
    """The handle a record without one should get, and where it came from."""
    record = parse_dc(xml, pid_pattern=pid_pattern)
    for ident in record.identifiers:
        if ident.element == "dcterms:identifier" and ident.under(prefix) and ident.handle:
            return ident.handle, f"dcterms:identifier {ident.text.strip()}"
    pid = pid or record.pid
    if not pid:
        raise NotRepairable("no handle in dc:identifier or dcterms:identifier, and no PID to derive one from")
    match = re.match(pid_pattern, pid.strip())
    if not match or not match.group("suffix"):
        raise NotRepairable(f"no handle in the metadata, and PID {pid!r} does not match HANDLE_PID_PATTERN")
    return f"{prefix}/{match.group('suffix')}", f"PID {pid.strip()}"


def _insert_identifier(xml: str, handle: str) -> str:
    element = f"<dc:identifier>{handle_url(handle)}</dc:identifier>"
    anchors = list(_DC_IDENTIFIER.finditer(xml)) or list(_DCTERMS_IDENTIFIER.finditer(xml))
    if anchors:
        anchor = anchors[-1]
        indent = _INDENT.search(xml, 0, anchor.start())
        sep = indent.group(1) if indent else ""
        return xml[: anchor.end()] + sep + element + xml[anchor.end() :]
    end = None
    for found in _RECORD_END.finditer(xml):
        end = found
    if end is None:
        raise NotRepairable("the bib has no <record> element to add a dc:identifier to")
    return xml[: end.start()] + element + xml[end.start() :]


def repair_bib_xml(
    xml: str,
    *,
    prefix: str,
    pid: str | None = None,
    expected: str | None = None,
    pid_pattern: str = r"^[A-Za-z][\w.-]*:(?P<suffix>\d+)$",
) -> Repair:
    """Repair the handle identifier of a ``<bib>`` document; ``changes`` is empty when none is needed.

    ``expected`` (the run's expected handle, when known) must be what the repaired bib carries.
    Raises :class:`NotRepairable` when the bib cannot be repaired safely.
    """
    parse_dc(xml, pid_pattern=pid_pattern)  # raises DublinCoreError for a bib that cannot be read
    fixed, changes, handles = _fix_identifiers(xml, prefix)
    if handles:
        distinct = {handle_key(h) for h in handles}
        if len(distinct) > 1:
            raise NotRepairable(
                f"dc:identifier holds several handles ({', '.join(handles)}); choose one by hand"
            )
        handle = handles[0]
        if not changes and (not expected or handle_key(expected) == handle_key(handle)):
            return Repair(xml, handle, ())
    else:
        handle, source = _derive(fixed, prefix, pid, pid_pattern)
        fixed = _insert_identifier(fixed, handle)
        changes.append(f"added dc:identifier {handle_url(handle)} (from {source})")
    if expected and handle_key(expected) != handle_key(handle):
        raise NotRepairable(f"the metadata gives {handle}, but the run expected {expected}")
    after = parse_dc(fixed, pid_pattern=pid_pattern)
    if after.problem(prefix) is not None or after.expected_handle(prefix) is None:
        raise NotRepairable(f"the repaired bib would still be {after.problem(prefix) or 'missing'}")
    return Repair(fixed, handle, tuple(changes))


def canonical_record(xml: str) -> str:
    """The ``<record>`` in canonical XML (C14N 2.0): equal when the meaningful content is equal."""
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", xml.lstrip("\ufeff"), count=1)
    root = fromstring(text, forbid_dtd=True)
    record = next((el for el in root.iter() if str(el.tag).rsplit("}", 1)[-1] == "record"), root)
    return ET.canonicalize(ET.tostring(record, encoding="unicode"), strip_text=True)


def with_record_of(current: str, source: str) -> str:
    """``current`` (the whole bib as Alma holds it now) with its ``<record>`` replaced by ``source``'s.

    Everything outside ``<record>`` (``suppress_from_publishing``, staff edits since the repair)
    stays byte for byte. Raises :class:`NotRepairable` when either has no ``<record>``.
    """
    here = _RECORD.search(current)
    there = _RECORD.search(source)
    if here is None or there is None:
        raise NotRepairable("the bib has no <record> element to put back")
    return current[: here.start()] + there.group(0) + current[here.end() :]


def _stray_prefixes(xml: str) -> set[str]:
    found = set()
    for match in _STRAY_PREFIX.finditer(xml):
        found.add(match.group(1) or match.group(2))
    return found


_SHORT = {
    "http://purl.org/dc/elements/1.1/": "dc",
    "http://purl.org/dc/terms/": "dcterms",
}


def _elements(xml: str) -> list[str]:
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", xml.lstrip("\ufeff"), count=1)
    root = fromstring(text, forbid_dtd=True)
    record = next((el for el in root.iter() if str(el.tag).rsplit("}", 1)[-1] == "record"), root)
    out = []
    for el in record:
        tag = str(el.tag)
        if tag.startswith("{"):
            uri, local = tag[1:].split("}", 1)
            tag = f"{_SHORT[uri]}:{local}" if uri in _SHORT else local
        text = " ".join("".join(el.itertext()).split())
        out.append(f"{tag} {text[:60]}".strip())
    return out


def record_difference(intended: str, stored: str) -> str | None:
    """How ``stored`` (a bib read back from Alma) differs from ``intended``; ``None`` when it does not.

    Compared: the ``<record>`` in canonical form (only the intended change, nothing lost or added)
    and stray ``ns0:``-style prefixes that the intended bib did not have (field-notes §6).
    """
    reasons = []
    extra = sorted(_stray_prefixes(_record_text(stored)) - _stray_prefixes(_record_text(intended)))
    if extra:
        reasons.append("namespace prefixes " + ", ".join(f"{p}:" for p in extra) + " added")
    try:
        same = canonical_record(intended) == canonical_record(stored)
    except Exception:  # noqa: BLE001 - what Alma returned cannot be read: that is the difference
        return "; ".join([*reasons, "the stored bib cannot be read as XML"])
    if not same:
        want, got = _elements(intended), _elements(stored)
        lost = [e for e in want if e not in got]
        added = [e for e in got if e not in want]
        if lost:
            reasons.append("lost: " + "; ".join(lost[:3]) + (" …" if len(lost) > 3 else ""))
        if added:
            reasons.append("added: " + "; ".join(added[:3]) + (" …" if len(added) > 3 else ""))
        if not lost and not added:
            reasons.append("the record's elements differ in order or attributes")
    return "; ".join(reasons) or None


def _record_text(xml: str) -> str:
    match = _RECORD.search(xml)
    return match.group(0) if match else xml
