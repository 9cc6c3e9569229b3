"""Read the handle-related parts of an Alma Dublin Core record, safely.

:func:`parse_dc` takes a ``<bib>`` document with its embedded ``<record>``, or the ``<record>``
alone, and parses it with defusedxml: no DTDs, so no external entities (XXE) and no entity-expansion
bombs. It copes with the pitfalls of alma-api.md §5: the default Alma namespace
``http://alma.exlibrisgroup.com/dc/{INST}``, ``dc``/``dcterms``/``xsi`` prefixes (declared or not),
``ns0:`` prefixes written by ElementTree, and ``encoding="UTF-16"`` declarations on UTF-8 text.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from alma.errors import DublinCoreError
from handles.syntax import handle_key, normalize_handle, strip_trailing, trailing_note

__all__ = ["DC", "DCTERMS", "XSI", "DcIdentifier", "DcRecord", "parse_dc"]

DC = "http://purl.org/dc/elements/1.1/"
DCTERMS = "http://purl.org/dc/terms/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
MAX_BYTES = 5_000_000
DEFAULT_PID_PATTERN = r"^[A-Za-z][\w.-]*:(?P<suffix>\d+)$"

_ELEMENTS = {f"{{{DC}}}identifier": "dc:identifier", f"{{{DCTERMS}}}identifier": "dcterms:identifier"}
_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_NOT_PIDS = ("hdl:", "doi:", "urn:", "info:", "http:", "https:")
_HANDLE_URL = re.compile(r"^https?://hdl\.handle\.net/", re.IGNORECASE)
_HANDLE_IN_TEXT = re.compile(r"hdl\.handle\.net/+(?P<h>[^/]+/.+)$", re.IGNORECASE)


@dataclass(frozen=True)
class DcIdentifier:
    """One ``dc:identifier`` or ``dcterms:identifier``; ``handle`` is ``prefix/suffix`` or None."""

    element: str
    text: str
    xsi_type: str | None
    handle: str | None
    trailing: str = ""  # stray punctuation / white space after the handle, left out of ``handle``

    def under(self, prefix: str) -> bool:
        """Holds a handle under ``prefix`` (ASCII case-insensitively)."""
        return self.handle is not None and handle_key(self.handle).startswith(handle_key(prefix) + "/")

    def usable(self, prefix: str) -> bool:
        """Exactly ``http(s)://hdl.handle.net/PREFIX/SUFFIX``, nothing around it, no xsi:type."""
        pattern = rf"https?://hdl\.handle\.net/{re.escape(prefix)}/\S+"
        return self.xsi_type is None and re.fullmatch(pattern, self.text, re.IGNORECASE) is not None

    def why_unusable(self) -> str:
        """One phrase saying why Alma cannot use this handle."""
        stripped = self.text.strip()
        if self.xsi_type is not None:
            return f'xsi:type="{self.xsi_type}" on {self.element}'
        if self.text != stripped:
            return f"stray spaces around {stripped!r}"
        if re.search(r"\s", stripped):
            return f"spaces inside {stripped!r}"
        if stripped.lower().startswith("hdl:"):
            return f"{stripped!r} is in hdl: form, not an http://hdl.handle.net/ URL"
        if not _HANDLE_URL.match(stripped):
            return f"{stripped!r} is not an http://hdl.handle.net/ URL"
        return f"{stripped!r} is not a usable handle URL"


@dataclass(frozen=True)
class DcRecord:
    """The parts of a DC record the migration needs."""

    pid: str | None
    title: str | None
    identifiers: tuple[DcIdentifier, ...]

    def _handles(self, prefix: str, element: str) -> list[DcIdentifier]:
        return [i for i in self.identifiers if i.element == element and i.under(prefix)]

    def expected_handle(self, prefix: str) -> str | None:
        """The first handle under ``prefix`` in dc:identifier, else in dcterms:identifier, else None."""
        found = self._handles(prefix, "dc:identifier") or self._handles(prefix, "dcterms:identifier")
        return found[0].handle if found else None

    def handle_note(self, prefix: str) -> str | None:
        """What normalizing the expected handle took away, in words; None when nothing was."""
        found = self._handles(prefix, "dc:identifier") or self._handles(prefix, "dcterms:identifier")
        if not found or not found[0].trailing or found[0].handle is None:
            return None
        return trailing_note(found[0].trailing, found[0].handle)

    def needs_copy(self, prefix: str) -> bool:
        """The handle is only in dcterms:identifier: step 1 (the copy job) must move it."""
        return not self._handles(prefix, "dc:identifier") and bool(
            self._handles(prefix, "dcterms:identifier")
        )

    def problem(self, prefix: str) -> str | None:
        """None when Alma can use the handle; ``"malformed: <why>"``; ``"missing"`` when there is none.

        dc:identifier is judged as the migration job reads it. A handle only in dcterms:identifier is
        judged by its text alone (its ``xsi:type`` is normal there; the copy job moves it).
        """
        in_dc = self._handles(prefix, "dc:identifier")
        if in_dc:
            if any(i.usable(prefix) for i in in_dc):
                return None
            return f"malformed: {in_dc[0].why_unusable()}"
        in_terms = self._handles(prefix, "dcterms:identifier")
        if not in_terms:
            return "missing"
        plain = [DcIdentifier(i.element, i.text, None, i.handle) for i in in_terms]
        if any(i.usable(prefix) for i in plain):
            return None
        return f"malformed: {plain[0].why_unusable()}"


def parse_dc(xml: str | bytes, *, pid_pattern: str = DEFAULT_PID_PATTERN) -> DcRecord:
    """Parse a ``<bib>`` (with its ``<record>``) or a DC ``<record>``.

    Raises :class:`~alma.errors.DublinCoreError` for text that is not XML, declares a DTD or
    entities, is larger than 5 MB, or has no ``<record>``.
    """
    record = _find_record(_parse(_as_text(xml)))
    identifiers = tuple(_identifier(el) for el in record.iter() if el.tag in _ELEMENTS)
    titles = [" ".join("".join(el.itertext()).split()) for el in record.iter(f"{{{DC}}}title")]
    return DcRecord(
        pid=_pid(identifiers, pid_pattern), title=titles[0] if titles else None, identifiers=identifiers
    )


def _as_text(xml: str | bytes) -> str:
    if isinstance(xml, bytes | bytearray):
        if len(xml) > MAX_BYTES:
            raise DublinCoreError(f"record of {len(xml)} bytes is larger than {MAX_BYTES}")
        data = bytes(xml)
        try:
            if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                xml = data.decode("utf-16")
            else:
                xml = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DublinCoreError(f"record is neither UTF-8 nor UTF-16 ({exc.reason})") from exc
    if not isinstance(xml, str) or not xml.strip():
        raise DublinCoreError("empty record")
    if len(xml) > MAX_BYTES:
        raise DublinCoreError(f"record of {len(xml)} characters is larger than {MAX_BYTES}")
    # The text is already decoded: an encoding="UTF-16" declaration would only mislead the parser.
    return _DECLARATION.sub("", xml.lstrip("\ufeff"), count=1).lstrip()


def _parse(text: str) -> Element:
    try:
        return fromstring(text, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise DublinCoreError(
            f"refused hostile XML ({type(exc).__name__}: DTDs and entities are not allowed)"
        ) from exc
    except ParseError as exc:
        if "unbound prefix" in str(exc):
            return _parse_with_prefixes(text, exc)
        raise DublinCoreError(f"not well-formed XML: {exc}") from exc


def _parse_with_prefixes(text: str, first: ParseError) -> Element:
    """Declare the usual dc/dcterms/xsi prefixes on the root when the record forgot them."""
    extra = " ".join(
        f'xmlns:{p}="{u}"'
        for p, u in (("dc", DC), ("dcterms", DCTERMS), ("xsi", XSI))
        if f"xmlns:{p}=" not in text
    )
    patched = re.sub(r"^(<[\w:.-]+)", rf"\1 {extra}", text, count=1)
    try:
        return fromstring(patched, forbid_dtd=True)
    except (ParseError, DefusedXmlException) as exc:
        raise DublinCoreError(f"not well-formed XML: {first}") from exc


def _local(tag: object) -> str:
    return str(tag).rsplit("}", 1)[-1].rsplit(":", 1)[-1]


def _find_record(root: Element) -> Element:
    if _local(root.tag) == "record":
        return root
    for element in root.iter():
        if _local(element.tag) == "record":
            return element
    raise DublinCoreError(f"no <record> inside <{_local(root.tag)}>")


def _identifier(element: Element) -> DcIdentifier:
    text = "".join(element.itertext())
    core, trailing = strip_trailing(text)
    handle = normalize_handle(core)
    if "hdl" in text.lower() or "handle" in text.lower():
        squeezed = re.sub(r"\s+", "", core)  # stray spaces or a broken URL: still the handle meant
        found = _HANDLE_IN_TEXT.search(squeezed)
        if found:
            handle = normalize_handle(found.group("h"))
        elif handle is None:
            handle = normalize_handle(squeezed)
    return DcIdentifier(
        element=_ELEMENTS[str(element.tag)],
        text=text,
        xsi_type=element.get(f"{{{XSI}}}type"),
        handle=handle,
        trailing=trailing if handle else "",
    )


def _pid(identifiers: tuple[DcIdentifier, ...], pattern: str) -> str | None:
    compiled = re.compile(pattern)
    for ident in sorted(identifiers, key=lambda i: i.element != "dc:identifier"):
        text = ident.text.strip()
        if not text.lower().startswith(_NOT_PIDS) and compiled.match(text):
            return text
    return None
