"""Conflicts the institution cannot fix itself: the evidence for an Ex Libris support case.

When Ex Libris hosts the institution's handles (``HANDLE_SERVER_URL=none``), only Ex Libris can
re-register a handle or remove a wrong registration (field-notes §8). :func:`build_support_case`
gathers, for each ``conflict`` record of a run, the MMS id, title, expected handle, the handle Alma
holds and where each resolves now (the resolver asked for both, with the resolver client's bounded
concurrency; a lookup that failed is shown as an error, never as "not found");
:func:`write_support_case` writes it as a CSV and a short text to paste into the case.
"""

from __future__ import annotations

import asyncio
import csv
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from handles.resolver import Resolution, ResolverClient
from outcomes.repair.conflicts import conflicts
from store.models import utcnow
from store.runs import get_run

if TYPE_CHECKING:
    from config.settings import Settings

__all__ = ["CaseRow", "SupportCase", "build_support_case", "where_it_resolves", "write_support_case"]

COLUMNS = (
    "mms_id",
    "title",
    "expected_handle",
    "expected_handle_resolves_to",
    "alma_handle",
    "alma_handle_resolves_to",
    "record_target",
)


@dataclass
class CaseRow:
    mms_id: str
    title: str
    expected_handle: str
    expected_handle_resolves_to: str
    alma_handle: str
    alma_handle_resolves_to: str
    record_target: str

    def as_dict(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in COLUMNS}


@dataclass
class SupportCase:
    run_id: int
    set_id: str
    prefix: str
    checked_at: str
    rows: list[CaseRow] = field(default_factory=list)
    title_problem: str | None = None  # titles could not be read from Alma (the rest stands)


def _cell(text: str) -> str:
    """A title as a spreadsheet shows it, never as a formula."""
    text = " ".join(text.split())
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def where_it_resolves(resolution: Resolution | None) -> str:
    """In words: the URL, ``not found`` (the Handle System said so) or ``error: …`` (no answer)."""
    if resolution is None:
        return ""
    if resolution.status == "ok":
        return resolution.url or "resolves, but to no URL"
    if resolution.status == "not_found":
        return "not found (the handle does not exist)"
    return f"error: could not tell ({resolution.detail or 'no answer'})"


async def _resolve(factory: Callable[[], ResolverClient], handles: list[str]) -> dict[str, Resolution]:
    client = factory()
    try:
        return await _each(client, handles)
    finally:
        await client.aclose()


async def _each(client: ResolverClient, handles: list[str]) -> dict[str, Resolution]:
    async def one(handle: str) -> Resolution:
        try:
            return await client.check(handle)
        except Exception as exc:  # noqa: BLE001 - one bad lookup is that handle's error
            return Resolution(handle=handle, status="error", detail=" ".join(str(exc).split())[:200])

    unique = list(dict.fromkeys(handles))
    results = await asyncio.gather(*(one(h) for h in unique))  # bounded by the client's semaphore
    return dict(zip(unique, results, strict=True))


def _titles(alma: Any, ids: list[str]) -> tuple[dict[str, str], str | None]:
    from alma.errors import AlmaError

    try:
        return {bib.mms_id: bib.title for bib in alma.get_bibs(ids)}, None
    except (AlmaError, ValueError) as exc:
        return {}, " ".join(str(exc).split())[:200]


def build_support_case(
    *,
    session: Session,
    run_id: int,
    alma: Any,
    settings: Settings,
    resolver: Callable[[], ResolverClient],
) -> SupportCase:
    """The evidence for each ``conflict`` record of the run (raises ``store.runs.RunNotFound``).

    ``resolver`` makes the resolver client (``handles.verify.make_client``), used on one event loop.
    """
    run = get_run(session, run_id)
    records = conflicts(session=session, run_id=run_id)
    case = SupportCase(
        run_id=run_id,
        set_id=run.set_id,
        prefix=settings.handle_prefix,
        checked_at=utcnow().strftime("%Y-%m-%d %H:%M UTC"),
    )
    if not records:
        return case
    titles, case.title_problem = _titles(alma, [r.mms_id for r in records])
    handles = [h for r in records for h in (r.expected_handle, r.alma_handle) if h]
    found = asyncio.run(_resolve(resolver, handles))
    for record in records:
        case.rows.append(
            CaseRow(
                mms_id=record.mms_id,
                title=_cell(titles.get(record.mms_id, "")),
                expected_handle=record.expected_handle or "",
                expected_handle_resolves_to=where_it_resolves(found.get(record.expected_handle or "")),
                alma_handle=record.alma_handle or "",
                alma_handle_resolves_to=where_it_resolves(found.get(record.alma_handle or "")),
                record_target=settings.target_url(record.mms_id),
            )
        )
    return case


def _text(case: SupportCase, csv_name: str) -> str:
    count = len(case.rows)
    records = "record" if count == 1 else "records"

    def para(text: str) -> str:
        return textwrap.fill(" ".join(text.split()), width=74)

    return (
        "\n\n".join(
            [
                f"Subject: handles to correct for {count} digital {records} (prefix {case.prefix})",
                para(
                    f"What happened: after the Handle Migration job and the Persistent Handle Identifiers "
                    f"profile ran on Alma set {case.set_id}, {count} {records} hold a handle in Alma "
                    f"other than the one their Dublin Core metadata carries (dc:identifier): Alma "
                    f"registered new, sequential handles for them instead of the expected ones."
                ),
                para(
                    f"The attached file {csv_name} lists, per record: MMS id, title, the expected "
                    f"handle and where it resolves now, the handle Alma holds and where it resolves "
                    f"now, and the record's target in Primo (checked {case.checked_at})."
                ),
                para(
                    f"Ex Libris hosts our handles (prefix {case.prefix}); we cannot change them "
                    f"ourselves. We ask Ex Libris to:"
                ),
                "1. "
                + para(
                    "register each expected handle (column expected_handle) to the record's target "
                    "(column record_target), or re-point it there if it exists;"
                ).replace("\n", "\n   "),
                "2. "
                + para(
                    "remove the sequential registrations Alma made for these records (column "
                    "alma_handle), or tell us if they must stay."
                ).replace("\n", "\n   "),
                para(f"Reference: run {case.run_id} of our handles migration tool."),
            ]
        )
        + "\n"
    )


def write_support_case(case: SupportCase, directory: Path) -> tuple[Path, Path]:
    """Write ``support-case-run-N.csv`` and ``.txt`` in ``directory`` (created); their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    csv_path = directory / f"support-case-run-{case.run_id}.csv"
    text_path = directory / f"support-case-run-{case.run_id}.txt"
    with open(csv_path, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        for row in case.rows:
            writer.writerow(row.as_dict())
    text_path.write_text(_text(case, csv_path.name), encoding="utf-8")
    return csv_path, text_path
