"""Dublin Core record XML as Alma stores it for DCAP01 digital titles, and the jobs' edits of it.

The root is ``<record xmlns="http://alma.exlibrisgroup.com/dc/01GCL_INST" xmlns:dc=… xmlns:dcterms=…
xmlns:xsi=…>`` (alma-api.md §5). Records written by the sandbox are trusted; XML from clients is
parsed with defusedxml.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # noqa: N817 - the usual name
from dataclasses import dataclass

from defusedxml.ElementTree import fromstring as safe_fromstring

ALMA_NS = "http://alma.exlibrisgroup.com/dc/01GCL_INST"
DC_NS = "http://purl.org/dc/elements/1.1/"
DCTERMS_NS = "http://purl.org/dc/terms/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XSI_TYPE = f"{{{XSI_NS}}}type"
DC_IDENTIFIER = f"{{{DC_NS}}}identifier"
DCTERMS_IDENTIFIER = f"{{{DCTERMS_NS}}}identifier"

for _prefix, _uri in (("dc", DC_NS), ("dcterms", DCTERMS_NS), ("xsi", XSI_NS)):
    ET.register_namespace(_prefix, _uri)


class RecordXmlError(ValueError):
    """XML that is not a readable Dublin Core ``<record>``."""


@dataclass(frozen=True)
class Identifier:
    element: str  # "dc:identifier" | "dcterms:identifier"
    text: str
    xsi_type: str | None


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def render_record(
    *,
    title: str,
    pid: str | None,
    identifiers: list[Identifier],
    creator: str = "",
    subject: str = "",
    date: str = "",
) -> str:
    """A DCAP01 ``<record>`` string (no XML declaration)."""
    lines = [
        f'<record xmlns="{ALMA_NS}" xmlns:dc="{DC_NS}" xmlns:dcterms="{DCTERMS_NS}" xmlns:xsi="{XSI_NS}">',
        f"<dc:title>{escape(title)}</dc:title>",
    ]
    if creator:
        lines.append(f"<dc:creator>{escape(creator)}</dc:creator>")
    if subject:
        lines.append(f'<dcterms:subject xsi:type="dcterms:LCSH">{escape(subject)}</dcterms:subject>')
    if date:
        lines.append(f"<dc:date>{escape(date)}</dc:date>")
    lines.append("<dc:type>Still Image</dc:type>")
    if pid:
        lines.append(f"<dc:identifier>{escape(pid)}</dc:identifier>")
    for ident in identifiers:
        attr = f' xsi:type="{escape(ident.xsi_type)}"' if ident.xsi_type else ""
        lines.append(f"<{ident.element}{attr}>{escape(ident.text)}</{ident.element}>")
    lines.append("<dc:format>image/jpeg</dc:format>")
    if pid:
        lines.append(f"<dginfo>Migrated from Digital.Grinnell ({escape(pid)})</dginfo>")
    lines.append("</record>")
    return "".join(lines)


def parse_record(xml: str) -> ET.Element:
    """The ``<record>`` element of a record string (hardened parser)."""
    try:
        root = safe_fromstring(xml.encode("utf-8") if isinstance(xml, str) else xml)
    except Exception as exc:  # noqa: BLE001 - any parse failure is the client's XML
        raise RecordXmlError(f"Invalid XML: {exc}") from None
    if _local(root.tag) != "record":
        raise RecordXmlError(f"expected <record>, got <{_local(root.tag)}>")
    return root


def serialize(record: ET.Element) -> str:
    """``record`` as a string, Alma elements unprefixed when they use Alma's DC namespace."""
    try:
        return ET.tostring(record, encoding="unicode", default_namespace=ALMA_NS)
    except ValueError:  # unqualified elements present: keep them as they are
        return ET.tostring(record, encoding="unicode")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def identifiers(xml: str) -> list[Identifier]:
    """Every dc:identifier / dcterms:identifier, in document order."""
    found = []
    for el in parse_record(xml).iter():
        if el.tag in (DC_IDENTIFIER, DCTERMS_IDENTIFIER):
            name = "dc:identifier" if el.tag == DC_IDENTIFIER else "dcterms:identifier"
            found.append(Identifier(name, el.text or "", el.get(XSI_TYPE)))
    return found


def title(xml: str) -> str:
    """The record's first dc:title ('' when none or unreadable)."""
    try:
        el = parse_record(xml).find(f"{{{DC_NS}}}title")
    except RecordXmlError:
        return ""
    return (el.text or "").strip() if el is not None else ""


def copy_dcterms_identifiers(xml: str) -> tuple[str, int]:
    """The Copy dcterms job: each dcterms:identifier becomes a dc:identifier too.

    The attributes go along — a ``xsi:type="dcterms:URI"`` on the source lands on the new
    dc:identifier, the pitfall that makes the Handle Migration miss it. A dc:identifier with the
    same text is not duplicated. Returns (new xml, number of identifiers added).
    """
    root = parse_record(xml)
    existing = {(el.text or "").strip() for el in root if el.tag == DC_IDENTIFIER}
    added = 0
    children = list(root)
    last_ident = max(
        (i for i, el in enumerate(children) if el.tag in (DC_IDENTIFIER, DCTERMS_IDENTIFIER)),
        default=len(children) - 1,
    )
    for el in [c for c in children if c.tag == DCTERMS_IDENTIFIER]:
        text = (el.text or "").strip()
        if not text or text in existing:
            continue
        new = ET.Element(DC_IDENTIFIER, dict(el.attrib))
        new.text = el.text
        last_ident += 1
        root.insert(last_ident, new)
        existing.add(text)
        added += 1
    return (serialize(root) if added else xml), added


def usable_handle(xml: str, prefix: str) -> str | None:
    """The handle the Handle Migration task takes from dc:identifier, or None.

    Only a dc:identifier without xsi:type whose text is ``http(s)://hdl.handle.net/{prefix}/{suffix}``
    counts: ``hdl:`` forms, inner white space, other URLs and typed identifiers do not.
    """
    pattern = re.compile(rf"^https?://hdl\.handle\.net/({re.escape(prefix)}/\S+)$")
    for ident in identifiers(xml):
        if ident.element != "dc:identifier" or ident.xsi_type:
            continue
        match = pattern.match(ident.text.strip())
        if match:
            return match.group(1)
    return None
