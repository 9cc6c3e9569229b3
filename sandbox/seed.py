"""The sandbox's deterministic seed: the three records of seed 000, generated sets of seed 001's sizes.

Generated records are made on demand from their MMS id (``99{group}{index:09}04641``), so start-up
costs nothing; only the handles that already exist at start (already-migrated and conflict cases)
are listed eagerly, for the registry.

Cases (``CASES``), in the proportions of ``_CASE_BY_PERCENT``:

- ``needs_copy``: legacy handle only in ``dcterms:identifier`` (no xsi:type) → copy, migrate: migrated
- ``needs_copy_typed``: legacy ``dcterms:identifier xsi:type="dcterms:URI"`` → the copy carries the
  type along → "does not have a handle identifier" (malformed, repairable)
- ``ready``: ``dc:identifier`` already holds ``http://hdl.handle.net/11084/N``
- ``https``: the same over https (Alma takes it)
- ``already_migrated``: Alma already holds 11084/N, which resolves
- ``conflict``: Alma holds a sequential 11084/17424… (resolves); 11084/N does not
- ``missing``: no handle anywhere, only the pid grinnell:N (derivable)
- ``hdl_form``: ``dc:identifier`` is ``hdl:11084/N``
- ``spaces``: white space inside the handle URL
- ``bad_url``: ``http//hdl.handle.net/11084/N``
- ``locked``: the migration fails once: "The record is locked by another process"

The demo sample ends with issue 11's cases (``DEMO_EXTRA``): two records claiming one handle in
different letter case (``dup_a`` ``11084/DupA``, ``dup_b`` ``11084/dupa``), a MARC 21 record
(``marc21``), and a record suppressed from publishing whose handle does not resolve
(``unpublished``: the profile registers no handle for it, as for a record still in review).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sandbox.dc import Identifier, render_record

PREFIX = "11084"
LEGACY_TYPE = "dcterms:URI"


@dataclass
class SeedRecord:
    mms_id: str
    pid: str | None
    title: str
    xml: str
    alma_handle: str | None = None
    case: str = "seed"
    lock_once: bool = False
    record_format: str = "dcap01"
    suppressed: bool = False


@dataclass
class SeedSet:
    id: str
    name: str
    description: str
    content: str  # IEP | BIB_MMS | USER
    members: list[str] = field(default_factory=list)  # MMS ids (for USER sets: user ids)
    origin: str = "UI"
    created: str = "2025-09-29T12:34:31Z"


# --- seed 000: "Collembola Handle test" --------------------------------------------------------
SEED_SET_ID = "7593466560004641"
SEED_88 = "991011589491704641"
SEED_99 = "991011507293904641"
SEED_32100 = "991011507142104641"
SEED_99_ALMA_HANDLE = f"{PREFIX}/1742400039"

FIRST_BATCH_SET_ID = "7333418150004641"
ALL_DIGITAL_SET_ID = "7337283030004641"
DEMO_SET_ID = "7600000000004641"
EMPTY_SET_ID = "7600000000000001"
USER_SET_ID = "7600000000000002"
# 250 records (the first of "All Digital Titles"): three batches of at most 100 (field note 7)
BATCH_SET_ID = "7600000000000250"
BATCH_SET_SIZE = 250

FIRST_BATCH_SIZE = 6040
ALL_DIGITAL_SIZE = 11442
GROUP_ALL = 21  # records of "All Digital Titles" (the first batch is its first 6,040)
GROUP_DEMO = 20
DEMO_GENERATED = 37
DEMO_EXTRA = ("dup_a", "dup_b", "marc21", "unpublished")  # issue 11: after the 37 generated cases
DEMO_SIZE = DEMO_GENERATED + len(DEMO_EXTRA)
DUP_HANDLES = {"dup_a": f"{PREFIX}/DupA", "dup_b": f"{PREFIX}/dupa"}

_MMS = re.compile(r"^99(\d{2})(\d{9})04641$")

CASES = (
    "needs_copy",
    "needs_copy_typed",
    "ready",
    "https",
    "already_migrated",
    "conflict",
    "missing",
    "hdl_form",
    "spaces",
    "bad_url",
    "locked",
)

# percent buckets: (upper bound exclusive, case)
_CASE_BY_PERCENT = (
    (55, "needs_copy"),
    (70, "needs_copy_typed"),
    (74, "ready"),
    (77, "https"),
    (85, "already_migrated"),
    (89, "conflict"),
    (92, "missing"),
    (94, "hdl_form"),
    (96, "spaces"),
    (99, "bad_url"),
    (100, "locked"),
)

# The demo sample: every case, mostly fine records.
_DEMO_CASES = (
    ["needs_copy"] * 14
    + ["needs_copy_typed"] * 4
    + ["ready"] * 2
    + ["https"] * 2
    + ["already_migrated"] * 4
    + ["conflict"] * 3
    + ["missing"] * 2
    + ["hdl_form", "spaces", "bad_url", "locked"]
    + ["needs_copy"] * 2
)

_SUBJECTS = (
    "Collembola",
    "Grinnell College -- History",
    "Iowa -- Photographs",
    "Prairie restoration",
    "Student life",
    "Herbarium specimens",
    "Campus architecture",
    "Scarlet and Black",
)
_CREATORS = ("Grinnell College Archives", "Johnson, Ellen", "Biology Department", "Burling Library")


def mms_for(group: int, index: int) -> str:
    return f"99{group:02d}{index:09d}04641"


def _suffix(group: int, index: int) -> int:
    return (40000 if group == GROUP_ALL else 60000) + index


def case_for(group: int, index: int) -> str:
    if group == GROUP_DEMO and index >= DEMO_GENERATED:
        return DEMO_EXTRA[index - DEMO_GENERATED]
    if group == GROUP_DEMO:
        return _DEMO_CASES[index % len(_DEMO_CASES)]
    bucket = (index * 37 + 11) % 100
    for bound, case in _CASE_BY_PERCENT:
        if bucket < bound:
            return case
    return "needs_copy"  # pragma: no cover


def _conflict_handle(group: int, index: int) -> str:
    return f"{PREFIX}/{1742500000 + group * 100000 + index}"


def generated_record(mms_id: str) -> SeedRecord | None:
    """The record with this generated MMS id, or None when the id is not one of the seed's."""
    match = _MMS.match(mms_id)
    if not match:
        return None
    group, index = int(match.group(1)), int(match.group(2))
    limit = ALL_DIGITAL_SIZE if group == GROUP_ALL else DEMO_SIZE if group == GROUP_DEMO else 0
    if index >= limit:
        return None
    case = case_for(group, index)
    n = _suffix(group, index)
    pid = f"grinnell:{n}"
    url = f"http://hdl.handle.net/{PREFIX}/{n}"
    subject = _SUBJECTS[index % len(_SUBJECTS)]
    title = f"{subject.split(' --')[0]} photograph {n}"
    ids: list[Identifier]
    alma_handle = None
    legacy = Identifier("dcterms:identifier", url, LEGACY_TYPE)
    if case == "marc21":
        return SeedRecord(mms_id, None, title, _marc_record(title, url), case=case, record_format="marc21")
    if case in DUP_HANDLES:
        ids = [Identifier("dc:identifier", f"http://hdl.handle.net/{DUP_HANDLES[case]}", None)]
    elif case == "unpublished":
        ids = [Identifier("dc:identifier", url, None)]
    elif case in ("needs_copy", "locked"):
        ids = [Identifier("dcterms:identifier", url, None)]
    elif case == "needs_copy_typed":
        ids = [legacy]
    elif case == "ready":
        ids = [Identifier("dc:identifier", url, None), legacy]
    elif case == "https":
        ids = [Identifier("dc:identifier", url.replace("http:", "https:"), None)]
    elif case == "already_migrated":
        ids = [Identifier("dc:identifier", url, None), legacy]
        alma_handle = f"{PREFIX}/{n}"
    elif case == "conflict":
        ids = [Identifier("dc:identifier", url, None), legacy]
        alma_handle = _conflict_handle(group, index)
    elif case == "missing":
        ids = []
    elif case == "hdl_form":
        ids = [Identifier("dc:identifier", f"hdl:{PREFIX}/{n}", None)]
    elif case == "spaces":
        ids = [Identifier("dc:identifier", f"http://hdl.handle.net/ {PREFIX}/{n}", None)]
    else:  # bad_url
        ids = [Identifier("dc:identifier", f"http//hdl.handle.net/{PREFIX}/{n}", None)]
    xml = render_record(
        title=title,
        pid=pid,
        identifiers=ids,
        creator=_CREATORS[index % len(_CREATORS)],
        subject=subject,
        date=str(1890 + index % 120),
    )
    return SeedRecord(
        mms_id=mms_id,
        pid=pid,
        title=title,
        xml=xml,
        alma_handle=alma_handle,
        case=case,
        lock_once=case == "locked",
        suppressed=case == "unpublished",
    )


def _marc_record(title: str, url: str) -> str:
    """A MARC 21 ``<record>`` (a print title caught in a set of digital titles)."""
    return (
        "<record><leader>00000nam a2200000 i 4500</leader>"
        '<controlfield tag="008">900101s1990    iau           000 0 eng d</controlfield>'
        f'<datafield tag="245" ind1="0" ind2="0"><subfield code="a">{title}</subfield></datafield>'
        f'<datafield tag="856" ind1="4" ind2="0"><subfield code="u">{url}</subfield></datafield>'
        "</record>"
    )


def bib_flags(mms_id: str) -> tuple[str, bool]:
    """``(record_format, suppress_from_publishing)`` of a record: dcap01 and published, unless it
    is one of the demo's MARC 21 or suppressed records."""
    match = _MMS.match(mms_id)
    if not match or int(match.group(1)) != GROUP_DEMO or int(match.group(2)) < DEMO_GENERATED:
        return "dcap01", False
    case = case_for(GROUP_DEMO, int(match.group(2)))
    return ("marc21" if case == "marc21" else "dcap01"), case == "unpublished"


def seed_000_records() -> list[SeedRecord]:
    """grinnell:88 (already migrated), grinnell:99 (conflict), grinnell:32100 (xsi:type URI)."""

    def url(n: int) -> str:
        return f"http://hdl.handle.net/{PREFIX}/{n}"

    legacy = [Identifier("dcterms:identifier", url(n), LEGACY_TYPE) for n in (88, 99, 32100)]
    return [
        SeedRecord(
            SEED_88,
            "grinnell:88",
            "Collembola: Tomocerus flavescens, dorsal view",
            render_record(
                title="Collembola: Tomocerus flavescens, dorsal view",
                pid="grinnell:88",
                identifiers=[Identifier("dc:identifier", url(88), None), legacy[0]],
                creator="Biology Department",
                subject="Collembola",
                date="1998",
            ),
            alma_handle=f"{PREFIX}/88",
            case="already_migrated",
        ),
        SeedRecord(
            SEED_99,
            "grinnell:99",
            "Collembola: Orchesella cincta, lateral view",
            render_record(
                title="Collembola: Orchesella cincta, lateral view",
                pid="grinnell:99",
                identifiers=[Identifier("dc:identifier", url(99), None), legacy[1]],
                creator="Biology Department",
                subject="Collembola",
                date="1998",
            ),
            alma_handle=SEED_99_ALMA_HANDLE,
            case="conflict",
        ),
        SeedRecord(
            SEED_32100,
            "grinnell:32100",
            "Collembola: Isotoma viridis, habitus",
            render_record(
                title="Collembola: Isotoma viridis, habitus",
                pid="grinnell:32100",
                identifiers=[Identifier("dc:identifier", url(32100), LEGACY_TYPE), legacy[2]],
                creator="Biology Department",
                subject="Collembola",
                date="2001",
            ),
            case="needs_copy_typed",
        ),
    ]


def seed_sets() -> list[SeedSet]:
    """Every seeded set, members included (MMS id strings: cheap)."""
    all_digital = [mms_for(GROUP_ALL, i) for i in range(ALL_DIGITAL_SIZE)]
    seed3 = [SEED_88, SEED_99, SEED_32100]
    demo = seed3 + [mms_for(GROUP_DEMO, i) for i in range(DEMO_SIZE)]
    return [
        SeedSet(
            SEED_SET_ID,
            "Collembola Handle test",
            "Seed 000: three Collembola records",
            "IEP",
            seed3,
            created="2025-09-29T12:34:31Z",
        ),
        SeedSet(
            FIRST_BATCH_SET_ID,
            "Handles - First Batch from mms_ids.csv",
            "Seed 001: first batch of digital titles",
            "BIB_MMS",
            all_digital[:FIRST_BATCH_SIZE],
            created="2025-05-08T18:13:47Z",
        ),
        SeedSet(
            ALL_DIGITAL_SET_ID,
            "All Digital Titles in DCAP01 Format",
            "Seed 001: every digital title",
            "IEP",
            all_digital,
            created="2025-05-08T19:40:00Z",
        ),
        SeedSet(
            DEMO_SET_ID,
            "Handle demo sample",
            "Every case, for the demo",
            "IEP",
            demo,
            created="2025-10-01T14:00:00Z",
        ),
        SeedSet(EMPTY_SET_ID, "Empty handle set", "No members", "IEP", [], created="2025-10-01T14:00:00Z"),
        SeedSet(
            BATCH_SET_ID,
            "Handle batch test",
            "250 digital titles, for runs in batches of at most 100",
            "IEP",
            all_digital[:BATCH_SET_SIZE],
            created="2025-10-01T14:00:00Z",
        ),
        SeedSet(
            USER_SET_ID,
            "Student workers",
            "A set of users, not titles",
            "USER",
            [f"00{5380000 + i}" for i in range(5)],
            created="2025-10-01T14:00:00Z",
        ),
    ]


def preexisting_handles() -> list[tuple[str, str]]:
    """(handle, mms_id) of every handle registered before any job runs: seed 000's and the generated
    already-migrated and conflict records'."""
    found = [(f"{PREFIX}/88", SEED_88), (SEED_99_ALMA_HANDLE, SEED_99)]
    for group, size in ((GROUP_ALL, ALL_DIGITAL_SIZE), (GROUP_DEMO, DEMO_GENERATED)):
        for index in range(size):
            case = case_for(group, index)
            if case == "already_migrated":
                found.append((f"{PREFIX}/{_suffix(group, index)}", mms_for(group, index)))
            elif case == "conflict":
                found.append((_conflict_handle(group, index), mms_for(group, index)))
    return found
