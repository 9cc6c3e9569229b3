"""Handle syntax: parse the many ways a handle is written, normalize to ``prefix/suffix``.

Handles are ``<prefix>/<suffix>`` split at the first ``/``; the suffix may hold more ``/``.
Handle.Net servers compare handles ASCII case-insensitively by default, so :func:`handle_key`
folds ASCII case only (no Unicode folding), as the Handle technical manual describes.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

__all__ = [
    "HandleSyntaxError",
    "handle_key",
    "normalize_handle",
    "parse_handle",
    "same_handle",
    "split_handle",
    "strip_trailing",
    "trailing_note",
]

_RESOLVER_URL = re.compile(
    r"^(?:https?://)?(?:hdl\.handle\.net|handle\.net|hdl\.net|doi\.org|dx\.doi\.org)/+(?P<handle>.+)$",
    re.IGNORECASE,
)
_SCHEME = re.compile(r"^(?:info:hdl/|urn:hdl:|hdl:|doi:)\s*", re.IGNORECASE)
_PREFIX = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.]*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class HandleSyntaxError(ValueError):
    """Text that cannot be read as a handle; the message says why, on one line."""


def split_handle(handle: str) -> tuple[str, str]:
    """``"11084/99"`` → ``("11084", "99")``; raises :class:`HandleSyntaxError`."""
    prefix, sep, suffix = handle.partition("/")
    if not sep or not prefix or not suffix:
        raise HandleSyntaxError(f"{handle!r} has no prefix/suffix form")
    return prefix, suffix


def parse_handle(text: str, *, expected_prefix: str | None = None) -> str:
    """Read a handle written as ``11084/99``, ``hdl:11084/99``, ``http(s)://hdl.handle.net/11084/99``.

    Returns ``prefix/suffix`` (case preserved). Surrounding white space is ignored; white space or
    control characters inside the handle are an error. With ``expected_prefix`` a handle under another
    prefix is an error.
    """
    if text is None:
        raise HandleSyntaxError("no handle given")
    raw = text.strip()
    if not raw:
        raise HandleSyntaxError("empty handle")
    match = _RESOLVER_URL.match(raw)
    if match:
        raw = match.group("handle")
    elif re.match(r"^[a-z][a-z0-9+.-]*://", raw, re.IGNORECASE):
        raise HandleSyntaxError(f"{text.strip()!r} is a URL but not a handle resolver URL")
    raw = _SCHEME.sub("", raw)
    raw = raw.split("#", 1)[0].split("?", 1)[0] if match else raw
    if "%" in raw:
        raw = unquote(raw)
    if _CONTROL.search(raw):
        raise HandleSyntaxError(f"{text.strip()!r} contains control characters")
    if re.search(r"\s", raw):
        raise HandleSyntaxError(f"{text.strip()!r} contains white space")
    prefix, suffix = split_handle(raw)
    if prefix.upper().startswith("0.NA"):
        raise HandleSyntaxError(f"{raw!r} is a prefix handle, not a handle")
    if not _PREFIX.match(prefix):
        raise HandleSyntaxError(f"{prefix!r} is not a handle prefix")
    if expected_prefix is not None and prefix.lower() != expected_prefix.lower():
        raise HandleSyntaxError(f"{raw!r} is not under prefix {expected_prefix}")
    return f"{prefix}/{suffix}"


def normalize_handle(text: str | None, *, expected_prefix: str | None = None) -> str | None:
    """Like :func:`parse_handle` but returns ``None`` instead of raising."""
    if text is None:
        return None
    try:
        return parse_handle(text, expected_prefix=expected_prefix)
    except HandleSyntaxError:
        return None


_TRAILING = re.compile(r"[\s.,;:!?)\]}>'\"]+$")


def strip_trailing(text: str) -> tuple[str, str]:
    """``"http://hdl.handle.net/11084/99. "`` → ``("http://hdl.handle.net/11084/99", ". ")``.

    Stray punctuation and white space at the end of a handle (a sentence's full stop, a closing
    bracket, a copied line end) are not part of it; what was removed is returned beside the text.
    """
    found = _TRAILING.search(text)
    if not found:
        return text, ""
    return text[: found.start()], found.group(0)


def trailing_note(removed: str, handle: str) -> str:
    """The record's detail when :func:`strip_trailing` removed something."""
    marks = removed.strip()
    if marks:
        what = f"a trailing {marks!r}" if len(marks) == 1 else f"trailing {marks!r}"
    else:
        what = "trailing white space"
    return f"handle in the metadata had {what}, read as {handle}"


def handle_key(handle: str) -> str:
    """The comparison key of a handle: ASCII upper-case, as case-insensitive Handle servers store it."""
    return handle.translate(_ASCII_UPPER)


def same_handle(a: str | None, b: str | None) -> bool:
    """True when both are handles that name the same handle (ASCII case-insensitively)."""
    if not a or not b:
        return False
    return handle_key(a) == handle_key(b)


_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
