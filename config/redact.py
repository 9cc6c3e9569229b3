"""Keep secrets and hostile text out of logs, exception messages, the database and the console.

* :func:`mask_url` replaces a URL's user information (``user:password@``) with ``***``.
* :func:`scrub` makes any text that came from outside (Alma's error messages, a Handle server's
  answer, a URL value of a handle, an exception's message) safe to store and print: URL user
  information, ``apikey=…``/``Authorization: apikey …``/``password=…`` values and every secret the
  settings hold are masked; escape sequences and control characters are removed; the result is one
  line of at most ``limit`` characters.

The settings remember their secrets here (:func:`remember_secrets`) when they are loaded, so
:func:`scrub` masks them without being handed them. This module imports nothing of the project.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

__all__ = ["MASK", "mask_url", "redact", "remember_secrets", "scrub"]

MASK = "***"
DEFAULT_LIMIT = 500
_MIN_SECRET = 4  # shorter values are too likely to be ordinary words or digits

# scheme://userinfo@ — greedy up to the last "@" before the path, so a password with "@" is covered
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^\s/?#]*@)")
_VALUE = r"(?P<value>[^\s&'\",;<>]+)"
_KEYED = re.compile(
    r"(?P<name>(?:api[_-]?key|password|passwd|secret|token)[\"']?\s*[=:]\s*[\"']?)" + _VALUE,
    re.IGNORECASE,
)
_AUTH = re.compile(
    r"(?P<name>\bauthorization[\"']?\s*[=:]\s*[\"']?(?:(?:apikey|basic|bearer|digest)\s+)?)" + _VALUE,
    re.IGNORECASE,
)
_APIKEY_WORD = re.compile(r"(?P<name>\bapikey\s+)" + _VALUE, re.IGNORECASE)
_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
# C0 and C1 controls, DEL, and Unicode bidirectional overrides/isolates (they reorder what is shown)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")

_lock = threading.Lock()
_secrets: set[str] = set()


def remember_secrets(values: Iterable[str | None]) -> None:
    """Add configured secrets (API key, Handle server secret, passwords) that :func:`scrub` masks."""
    with _lock:
        for value in values:
            if value and len(value.strip()) >= _MIN_SECRET:
                _secrets.add(value.strip())


def mask_url(url: str | None) -> str:
    """``url`` with its user information replaced by ``***`` (``redis://***@host:6379/0``).

    Works on any text, also one that is not a valid URL; ``None`` gives ``""``.
    """
    if url is None:
        return ""
    return _USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", str(url))


def redact(text: str, *, secrets: Iterable[str] = ()) -> str:
    """``text`` with secrets masked (configured secrets, URL user information, ``apikey=…``, …).

    Keeps everything else, line breaks included (for log records and tracebacks); see :func:`scrub`
    for text that came from outside.
    """
    out = text
    with _lock:
        known = sorted(_secrets | {s for s in secrets if s and len(s) >= _MIN_SECRET}, key=len, reverse=True)
    for secret in known:
        if secret in out:
            out = out.replace(secret, MASK)
    out = mask_url(out)
    out = _KEYED.sub(lambda m: m.group("name") + MASK, out)
    out = _AUTH.sub(lambda m: m.group("name") + MASK, out)
    return _APIKEY_WORD.sub(lambda m: m.group("name") + MASK, out)


def scrub(text: object, *, limit: int = DEFAULT_LIMIT, secrets: Iterable[str] = ()) -> str:
    """One safe line from ``text``: secrets masked, controls removed, at most ``limit`` characters."""
    if text is None:
        return ""
    out = text if isinstance(text, str) else str(text)
    if len(out) > limit * 8:  # no need to scan megabytes for a line that keeps only ``limit``
        out = out[: limit * 8]
    out = redact(out, secrets=secrets)
    out = _ESCAPE.sub("", out)
    out = _CONTROL.sub(" ", out)
    out = " ".join(out.split())
    if len(out) > limit:
        out = out[: max(0, limit - 1)].rstrip() + "…"
    return out
