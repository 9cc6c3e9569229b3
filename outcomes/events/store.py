"""Store event lines for a run: verbatim, idempotently, and only for records of the run's set.

Events come from an Events Report file (:func:`import_file`) or from Alma's events API
(:func:`import_api_events`). Every line is kept as an :class:`EventLine` whose fingerprint makes a
re-import change nothing; the run's records are then classified once (``outcomes.classify``).
The whole import is one transaction: an unreadable line stores nothing at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from handles.syntax import normalize_handle
from outcomes.events.parse import fingerprint, parse_event
from outcomes.events.read import EventRow, EventsFileError, read_events
from outcomes.events.window import Window, migration_window
from store.models import EventLine, Record
from store.runs import get_run

__all__ = ["ImportSummary", "import_api_events", "import_file", "import_rows"]

BATCH = 1000
SAMPLE = 5


@dataclass
class ImportSummary:
    """What an import did: lines read, stored, already known, and those about other records."""

    source: str
    lines: int = 0
    new: int = 0
    duplicates: int = 0
    not_in_set: int = 0
    not_in_set_sample: list[str] = field(default_factory=list)
    by_kind: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.by_kind.items())) or "none"
        text = (
            f"{self.lines} event lines read ({self.source}): {self.new} new, "
            f"{self.duplicates} already imported; kinds: {kinds}"
        )
        if self.not_in_set:
            text += (
                f"; {self.not_in_set} name records not in the run's set, ignored "
                f"(first: {', '.join(self.not_in_set_sample)})"
            )
        return text


def _members(session: Session, run_id: int) -> set[str]:
    return set(session.exec(select(Record.mms_id).where(Record.run_id == run_id)).all())


def import_rows(
    *,
    session: Session,
    run_id: int,
    rows: Iterable[EventRow],
    source: str,
    step_kind: str | None = "migration",
    window: Window | None = None,
) -> ImportSummary:
    """Store ``rows`` as EventLines of the run (not committed: the caller's transaction decides).

    With ``window``, an event dated outside it raises ``EventsWindowError``. An event that says a
    record already has a handle but whose handle cannot be read raises :class:`EventsFileError`:
    no outcome is changed from a line that was not fully read.
    """
    get_run(session, run_id)  # raises store.runs.RunNotFound
    members = _members(session, run_id)
    summary = ImportSummary(source=source)
    batch: dict[str, EventLine] = {}
    for row in rows:
        summary.lines += 1
        if window is not None:
            window.check(row)
        event = parse_event(row.description)
        if event.kind == "already_has" and not _readable_handle(event.handle):
            shown = (event.handle or "nothing")[:40]
            raise EventsFileError(f"cannot read the handle in the event (found {shown!r})", row.line)
        if event.mms_id is not None and event.mms_id not in members:
            summary.not_in_set += 1
            if len(summary.not_in_set_sample) < SAMPLE and event.mms_id not in summary.not_in_set_sample:
                summary.not_in_set_sample.append(event.mms_id)
            continue
        print_ = fingerprint(event.text, step_kind, clean=True)
        if print_ in batch:
            summary.duplicates += 1
            continue
        batch[print_] = EventLine(
            run_id=run_id,
            step_kind=step_kind,
            mms_id=event.mms_id,
            kind=event.kind,
            handle=event.handle,
            text=event.text,
            event_date=row.date,
            severity=row.severity,
            source=source,
            fingerprint=print_,
        )
        if len(batch) >= BATCH:
            _flush(session, run_id, batch, summary)
    _flush(session, run_id, batch, summary)
    return summary


def _readable_handle(handle: str | None) -> bool:
    """A handle as Alma writes it: valid syntax, and no delimiter (a table's row read as text)."""
    if handle is None or normalize_handle(handle) is None:
        return False
    return not any(mark in handle for mark in ",;|\t")


def _flush(session: Session, run_id: int, batch: dict[str, EventLine], summary: ImportSummary) -> None:
    if not batch:
        return
    known = set(
        session.exec(
            select(EventLine.fingerprint).where(
                EventLine.run_id == run_id, col(EventLine.fingerprint).in_(list(batch))
            )
        ).all()
    )
    added = []
    for print_, line in batch.items():
        if print_ in known:
            summary.duplicates += 1
            continue
        summary.new += 1
        summary.by_kind[line.kind] = summary.by_kind.get(line.kind, 0) + 1
        session.add(line)
        added.append(line)
    session.flush()
    for line in added:  # keep the session's memory flat on long reports
        session.expunge(line)
    batch.clear()


def import_file(
    *,
    session: Session,
    run_id: int,
    path: str | Path,
    step_kind: str | None = "migration",
    zone: tzinfo | None = None,
) -> ImportSummary:
    """Read an Events Report file (CSV, XLSX or copied text) into the run's event lines.

    With ``zone`` (the zone the report's times are written in), events dated outside the run's
    migration window, where it is known, refuse the whole file (``EventsWindowError``).
    """
    fmt, rows = read_events(path)
    get_run(session, run_id)  # raises store.runs.RunNotFound
    window = migration_window(session, run_id, zone, step_kind or "migration") if zone is not None else None
    return import_rows(
        session=session, run_id=run_id, rows=rows, source=fmt, step_kind=step_kind, window=window
    )


def _api_rows(events: Iterator[dict[str, Any]]) -> Iterator[EventRow]:
    for number, item in enumerate(events, 1):
        yield EventRow(
            number,
            _api_description(item),
            _text(item.get("date") or item.get("event_date")),
            _text(item.get("severity")),
        )


def _text(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("desc") or value.get("value")
    return None if value in (None, "") else str(value)


def _api_description(item: dict[str, Any]) -> str:
    for key in ("description", "event_description", "desc", "message", "text"):
        value = _text(item.get(key))
        if value:
            return value
    keys = item.get("event_key") or []
    return " ".join(str(k.get("value", "")) for k in keys if isinstance(k, dict)) or str(item)


def import_api_events(
    *, session: Session, run_id: int, alma: Any, job_id: str, instance_id: str, step_kind: str = "migration"
) -> ImportSummary | None:
    """Read the instance's events from Alma's API; ``None`` where the tenant does not serve them."""
    from alma.errors import AlmaEventsUnsupported

    try:
        events = iter(alma.iter_events(job_id, instance_id))
        first = next(events, None)
    except AlmaEventsUnsupported:
        return None

    def chained() -> Iterator[dict[str, Any]]:
        if first is not None:
            yield first
            yield from events

    return import_rows(
        session=session, run_id=run_id, rows=_api_rows(chained()), source="api", step_kind=step_kind
    )
