"""Read one line of Alma's Events Report: what it says about which record.

Alma's Handle Migration job writes lines such as::

    Record 991011507293904641 was skipped. Reason: BIB record MMS ID 991011507293904641
    already has a handle identifier 11084/1742400039

Text copied from Alma's page may be wrapped across lines and carry the row number, the event date,
severity, module and creator glued on; :func:`parse_event` tolerates all of that and never raises.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Literal

from handles.syntax import normalize_handle

__all__ = ["EventKind", "ParsedEvent", "clean_description", "fingerprint", "parse_event"]

EventKind = Literal["already_has", "no_handle", "failed", "other"]

_WS = re.compile(r"\s+")
_ROW_NUMBER = re.compile(r"^\d{1,9}\s*(?=Record\b)", re.IGNORECASE)
_RECORD = re.compile(r"(?<![A-Za-z])Record\s+(\d{3,30})\b", re.IGNORECASE)
_MMS = re.compile(r"\bMMS\s*ID\s*:?\s*(\d{3,30})\b", re.IGNORECASE)
_ALREADY = re.compile(r"already\s+has\s+a\s+handle\s+identifier\s*:?\s*(\S+)?", re.IGNORECASE)
_NO_HANDLE = re.compile(r"does\s+not\s+have\s+a\s+handle\s+identifier", re.IGNORECASE)
_FAILED = re.compile(r"(?<![A-Za-z])Record\s+\d{3,30}\s+(?:has\s+)?failed\b", re.IGNORECASE)
# a date glued onto the end of the handle in copied text: "11084/34662 05/08/2025"
_TRAILING_PUNCT = ".,;:)]}>\"'"


@dataclass(frozen=True, slots=True)
class ParsedEvent:
    """What one event line says: ``kind``, about which record, with which handle; ``text`` verbatim."""

    kind: EventKind
    mms_id: str | None
    handle: str | None
    text: str


def clean_description(text: str) -> str:
    """The description as Alma wrote it: white space collapsed, a leading row number dropped."""
    text = _WS.sub(" ", text).strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1].replace('""', '"').strip()
    return _ROW_NUMBER.sub("", text)


def fingerprint(description: str, step_kind: str | None = None) -> str:
    """Stable hash of a normalized description: the same event imported twice has one fingerprint."""
    key = f"{step_kind or ''}\x1f{clean_description(description).casefold()}"
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _handle_token(token: str | None) -> str | None:
    if not token:
        return None
    token = token.rstrip(_TRAILING_PUNCT)
    if not token:
        return None
    return normalize_handle(token) or token


def parse_event(text: str) -> ParsedEvent:
    """Classify one event description. Never raises; unrecognised text is ``other``, kept verbatim."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    clean = clean_description(text)
    record = _RECORD.search(clean) or _MMS.search(clean)
    mms_id = record.group(1) if record else None
    already = _ALREADY.search(clean)
    if already and mms_id:
        return ParsedEvent("already_has", mms_id, _handle_token(already.group(1)), clean)
    if _NO_HANDLE.search(clean) and mms_id:
        return ParsedEvent("no_handle", mms_id, None, clean)
    if _FAILED.search(clean):
        return ParsedEvent("failed", mms_id, None, clean)
    return ParsedEvent("other", mms_id, None, clean)
