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
from typing import Any, Literal, NamedTuple

from handles.syntax import normalize_handle

__all__ = ["EventKind", "ParsedEvent", "clean_description", "fingerprint", "parse_event"]

EventKind = Literal["already_has", "no_handle", "failed", "other"]

_ROW_NUMBER = re.compile(r"^\d{1,9}\s*(?=Record\b)", re.IGNORECASE)
_RECORD = re.compile(r"(?<![A-Za-z])Record\s+(\d{3,30})\b", re.IGNORECASE)
_MMS = re.compile(r"\bMMS\s*ID\s*:?\s*(\d{3,30})\b", re.IGNORECASE)
_ALREADY = re.compile(r"already\s+has\s+a\s+handle\s+identifier\s*:?\s*(\S+)?", re.IGNORECASE)
_NO_HANDLE = re.compile(r"does\s+not\s+have\s+a\s+handle\s+identifier", re.IGNORECASE)
_FAILED = re.compile(r"(?<![A-Za-z])Record\s+\d{3,30}\s+(?:has\s+)?failed\b", re.IGNORECASE)
_PLAIN_HANDLE = re.compile(r"[0-9A-Za-z][0-9A-Za-z.]*/[0-9A-Za-z._-]+")
# Alma's usual wording, matched in one go before the tolerant patterns below
_USUAL = re.compile(
    r"Record (\d+) was skipped\. Reason: BIB record MMS ID \d+ "
    r"(?:already has a handle identifier (\S+)|(does not have a handle identifier))"
)
# The usual wording exactly as Alma exports it, the whole text: single spaces, nothing around it, a
# plain handle not ending in punctuation. Such text is already clean_description()'s output and its
# handle needs no normalizing, so parse_event() answers without cleaning or the tolerant patterns.
_EXACT = re.compile(
    r"Record (\d+) was skipped\. Reason: BIB record MMS ID \d+ (?:already has a handle identifier "
    r"([0-9A-Za-z][0-9A-Za-z.]*/[0-9A-Za-z._-]*[0-9A-Za-z_-])|(does not have a handle identifier))"
)
# a date glued onto the end of the handle in copied text: "11084/34662 05/08/2025"
_TRAILING_PUNCT = ".,;:)]}>\"'"


class ParsedEvent(NamedTuple):
    """What one event line says: ``kind``, about which record, with which handle; ``text`` verbatim."""

    kind: EventKind
    mms_id: str | None
    handle: str | None
    text: str


_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__
_PREFIXES: dict[str, Any] = {}  # step kind -> blake2b fed with its prefix


def clean_description(text: str) -> str:
    """The description as Alma wrote it: white space collapsed, a leading row number dropped."""
    # Collapse only where needed (str.split() and re's \s agree on what white space is): ASCII's white
    # space is the space and \t\n\v\f\r\x1c-\x1f; beyond ASCII, only the space is also printable.
    if text.isascii():
        untidy = (
            "  " in text
            or "\t" in text
            or "\n" in text
            or "\r" in text
            or "\x0b" in text
            or "\x0c" in text
            or "\x1c" in text
            or "\x1d" in text
            or "\x1e" in text
            or "\x1f" in text
        )
    else:
        untidy = not text.isprintable() or "  " in text
    if untidy or text[:1] == " " or text[-1:] == " ":
        text = " ".join(text.split())
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = " ".join(text[1:-1].replace('""', '"').split())
    if text[:1].isdigit():
        text = _ROW_NUMBER.sub("", text)
    return text


def fingerprint(description: str, step_kind: str | None = None, *, clean: bool = False) -> str:
    """Stable hash of a normalized description: the same event imported twice has one fingerprint.

    ``clean=True`` says ``description`` is already :func:`clean_description`'s output.
    """
    text = description if clean else clean_description(description)
    # blake2b(f"{step_kind or ''}\x1f{text.casefold()}" as UTF-8, surrogates passed), the prefix hashed once
    step = step_kind or ""
    prefix = _PREFIXES.get(step)
    if prefix is None:
        prefix = hashlib.blake2b(f"{step}\x1f".encode("utf-8", "surrogatepass"), digest_size=16)
        if len(_PREFIXES) < 64:
            _PREFIXES[step] = prefix
    digest = prefix.copy()
    digest.update(text.casefold().encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def _handle_token(token: str | None) -> str | None:
    if not token:
        return None
    token = token.rstrip(_TRAILING_PUNCT)
    if not token:
        return None
    if _PLAIN_HANDLE.fullmatch(token):  # the usual "11084/1742400039": nothing to normalize
        return token
    return normalize_handle(token) or token


def parse_event(text: str) -> ParsedEvent:
    """Classify one event description. Never raises; unrecognised text is ``other``, kept verbatim."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    exact = _EXACT.fullmatch(text)
    if exact:
        mms_id, handle, no_handle = exact.groups()
        return _new(ParsedEvent, ("no_handle" if no_handle else "already_has", mms_id, handle, text))
    clean = clean_description(text)
    usual = _USUAL.match(clean)
    if usual:
        if usual.group(3):
            return ParsedEvent("no_handle", usual.group(1), None, clean)
        if usual.group(2):
            return ParsedEvent("already_has", usual.group(1), _handle_token(usual.group(2)), clean)
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
