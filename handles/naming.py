"""How a new handle's suffix is chosen: ``HANDLE_SUFFIX_RULE`` = ``opaque`` or ``pid-datastream``.

**opaque** (seed 003): suffixes are unique and non-semantic, and must not depend on case. We use
a lowercase UUIDv4, the same form the Handle server's own ``mintNewSuffix`` produces
(``HandleSuffixMinter``), e.g. ``11084/6f1c0f1e-0c4e-4f5e-9d55-3d1b2f0b8a11``.

**pid-datastream** (seed 002, the National Library of Wales' VITAL system): the suffix is the number
of the repository PID (``HANDLE_PID_PATTERN``'s ``suffix`` group; ``llgc-id:21`` → ``21``), and each
datastream gets its own handle ``PID-DSID`` where DSID is the datastream's number below. No DSID
means the object itself. Examples for ``llgc-id:21`` under prefix 10107: ``10107/21`` (object),
``10107/21-0`` (METS), ``10107/21-1`` (Dublin Core), ``10107/21-2`` (RELS-EXT),
``10107/21-10`` (archive image). Article *n* is ``21-20-n``.

Seed 002's datastream numbering (0–9 metadata, 10 onwards data):

====  ==========================  ==========================================
 no.  names accepted (any case)   what
====  ==========================  ==========================================
  0   METS                        the METS document
  1   DC                          the Dublin Core datastream
  2   RELS-EXT                    RELS-EXT (RDF)
  3   POLICY                      XACML policy (the object's POLICY only)
  4   METS-RIGHTS, RIGHTS         METS rights
  5   UKETD                       UKETD metadata
  6   PREMISRIGHTS                PREMIS rights
 10   ARCHIVE                     archive-level file
 11   REFERENCE                   main reference file (50PNG, JPEG2000, JPEG)
 12   ZOOM                        zoom
 13   THUMBNAIL                   thumbnail
 14   TEXT                        text
 15   ALTO                        coordinates (ALTO)
 16   BENCHMARK                   benchmarking document
 17   ABBYY                       AbbyFineReader XML output
 18   PNG100                      datastream_100_PNG
 19   TEI                         TEI
 20   ARTICLE                     article, followed by its number (20-1)
 21   PNG650                      650pxPNG
 22   TEXTMD                      textMD
====  ==========================  ==========================================

The seed's own example list disagrees with its table for 12–14 (it shows ``21-12`` as the
thumbnail and ``21-14`` as the zoom image); the table above follows the numbered list, which the
seed calls its convention. A number may always be given directly (``--datastream 12``).
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING

from handles.syntax import HandleSyntaxError

if TYPE_CHECKING:
    from config.settings import Settings

__all__ = [
    "ARTICLE",
    "DATASTREAMS",
    "NamingError",
    "datastream_number",
    "new_handle",
    "opaque_suffix",
    "pid_datastream_suffix",
    "pid_number",
]

#: number → (accepted names, description); see the module docstring.
DATASTREAMS: dict[int, tuple[tuple[str, ...], str]] = {
    0: (("METS",), "METS document"),
    1: (("DC",), "Dublin Core datastream"),
    2: (("RELS-EXT",), "RELS-EXT (RDF)"),
    3: (("POLICY",), "XACML policy"),
    4: (("METS-RIGHTS", "RIGHTS"), "METS rights"),
    5: (("UKETD",), "UKETD metadata"),
    6: (("PREMISRIGHTS",), "PREMIS rights"),
    10: (("ARCHIVE",), "archive-level file"),
    11: (("REFERENCE",), "main reference file"),
    12: (("ZOOM",), "zoom"),
    13: (("THUMBNAIL",), "thumbnail"),
    14: (("TEXT",), "text"),
    15: (("ALTO",), "coordinates (ALTO)"),
    16: (("BENCHMARK",), "benchmarking document"),
    17: (("ABBYY",), "AbbyFineReader XML output"),
    18: (("PNG100",), "datastream_100_PNG"),
    19: (("TEI",), "TEI"),
    20: (("ARTICLE",), "article (followed by its number)"),
    21: (("PNG650",), "650pxPNG"),
    22: (("TEXTMD",), "textMD"),
}
ARTICLE = 20
_BY_NAME = {name: number for number, (names, _) in DATASTREAMS.items() for name in names}


class NamingError(HandleSyntaxError):
    """A PID or datastream that the naming rule cannot turn into a suffix (one line)."""


def datastream_number(dsid: str | int) -> int:
    """``"DC"`` → 1, ``"rels-ext"`` → 2, ``"12"`` → 12; unknown names raise :class:`NamingError`."""
    text = str(dsid).strip()
    if text.isdigit():
        number = int(text)
        if number not in DATASTREAMS:
            raise NamingError(f"datastream number {number} is not in the seed-002 table")
        return number
    try:
        return _BY_NAME[text.upper().replace("_", "-")]
    except KeyError:
        raise NamingError(f"unknown datastream {text!r}; use a name or number from handles.naming") from None


def pid_number(pid: str, *, pattern: str) -> str:
    """The PID's suffix part by ``HANDLE_PID_PATTERN`` (``llgc-id:21`` → ``21``)."""
    match = re.match(pattern, pid.strip())
    if not match or not match.group("suffix"):
        raise NamingError(f"PID {pid!r} does not match HANDLE_PID_PATTERN")
    return match.group("suffix")


def pid_datastream_suffix(
    pid: str, dsid: str | int | None = None, *, pattern: str, article: int | None = None
) -> str:
    """Seed 002's suffix: ``21``, ``21-1`` (DC), ``21-20-3`` (article 3)."""
    suffix = pid_number(pid, pattern=pattern)
    if dsid is None:
        if article is not None:
            raise NamingError("an article number needs the ARTICLE datastream")
        return suffix
    number = datastream_number(dsid)
    suffix = f"{suffix}-{number}"
    if number == ARTICLE:
        if article is None or article < 1:
            raise NamingError("the ARTICLE datastream needs an article number (1, 2, ...)")
        suffix += f"-{article}"
    elif article is not None:
        raise NamingError("an article number is only for the ARTICLE datastream")
    return suffix


def opaque_suffix() -> str:
    """Seed 003's unique, non-semantic, case-free suffix: a lowercase UUIDv4."""
    return str(uuid.uuid4())


def new_handle(
    settings: Settings, *, pid: str | None = None, dsid: str | int | None = None, article: int | None = None
) -> str:
    """The handle for a new object (or datastream) by ``settings.handle_suffix_rule``."""
    if settings.handle_suffix_rule == "pid-datastream":
        if not pid:
            raise NamingError("HANDLE_SUFFIX_RULE=pid-datastream needs a PID")
        suffix = pid_datastream_suffix(pid, dsid, pattern=settings.handle_pid_pattern, article=article)
    else:
        if dsid is not None or article is not None:
            raise NamingError("HANDLE_SUFFIX_RULE=opaque does not name datastreams")
        suffix = opaque_suffix()
    return f"{settings.handle_prefix}/{suffix}"
