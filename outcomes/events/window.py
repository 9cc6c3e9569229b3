"""Is an Events Report this run's? Each event's date against the migration instance's start–end.

Alma's Events Report writes local times (``05/08/2025 15:58:23 CDT``). A date is read in the
operators' time zone (``settings.timezone()``, from ``HANDLES_TIMEZONE``, default the machine's);
an abbreviation after it that names another zone's offset (``CDT``, ``UTC``…) is honoured. Where
day and month could be either way round (``05/08/2025``), the event is inside the window when
either reading is. The window is widened by :data:`MARGIN` on both sides (clocks, rounding).

The window is known when the run's migration step has a start (Alma's ``start_time`` saved by the
poll, else the submission time); its end is the step's ``ended_at``, else now. Where it is not
known (the step never started) no date is checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo

from sqlmodel import Session, select

from outcomes.events.read import EventRow, EventsFileError
from store.models import Step, utcnow

__all__ = ["MARGIN", "EventsWindowError", "Window", "event_times", "migration_window"]

MARGIN = timedelta(minutes=5)

_US = re.compile(
    r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?\s*([AP]M)?"
    r"\s*([A-Za-z]{1,5}|[+-]\d{2}:?\d{2})?$",
    re.IGNORECASE,
)
_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?\s*(Z|[+-]\d{2}:?\d{2}|[A-Za-z]{2,5})?$"
)
# Abbreviations Alma writes after a time, as fixed offsets (hours), when they are not the zone's own
_ABBREVIATIONS = {
    "UTC": 0, "GMT": 0, "Z": 0, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6,
    "PST": -8, "PDT": -7, "AKST": -9, "AKDT": -8, "HST": -10, "WET": 0, "WEST": 1, "CET": 1,
    "CEST": 2, "EET": 2, "EEST": 3, "AEST": 10, "AEDT": 11, "NZST": 12, "NZDT": 13,
}  # fmt: skip


class EventsWindowError(EventsFileError):
    """An event dated outside the run's migration window: the report is another run's."""


@dataclass(frozen=True)
class Window:
    """The migration instance's start and end (aware, UTC) and the operators' zone for messages."""

    run_id: int
    start: datetime
    end: datetime
    zone: tzinfo

    def contains(self, moment: datetime) -> bool:
        return self.start - MARGIN <= moment <= self.end + MARGIN

    def describe(self) -> str:
        start, end = self.start.astimezone(self.zone), self.end.astimezone(self.zone)
        tail = f"{end:%H:%M}" if end.date() == start.date() else f"{end:%Y-%m-%d %H:%M}"
        return f"{start:%Y-%m-%d %H:%M}–{tail} {end:%Z}".rstrip()

    def shown(self, moment: datetime) -> str:
        return f"{moment.astimezone(self.zone):%Y-%m-%d %H:%M %Z}".rstrip()

    def check(self, row: EventRow) -> None:
        """Raise :class:`EventsWindowError` unless ``row`` is undated or dated inside the window."""
        if not row.date:
            return
        times = event_times(row.date, self.zone)
        if not times:
            raise EventsWindowError(f"cannot read the event date {row.date[:40]!r}", row.line)
        if not any(self.contains(t) for t in times):
            raise EventsWindowError(
                f"event dated {self.shown(times[0])} is outside run {self.run_id}'s migration "
                f"({self.describe()}, ±{MARGIN.seconds // 60} min): another run's Events Report?",
                row.line,
            )


def migration_window(
    session: Session, run_id: int, zone: tzinfo, step_kind: str = "migration"
) -> Window | None:
    """The run's migration window, or ``None`` where the step has no start recorded."""
    step = session.exec(select(Step).where(Step.run_id == run_id, Step.kind == step_kind)).first()
    if step is None:
        return None
    start = step.started_at or step.submitted_at
    if start is None:
        return None
    end = step.ended_at or utcnow()
    start, end = _utc(start), _utc(end)
    return Window(run_id, start, max(end, start), zone)


def _utc(moment: datetime) -> datetime:
    """A stored time (naive UTC, or aware) as aware UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def event_times(text: str, zone: tzinfo) -> list[datetime]:
    """Every reading (aware) of an Events Report date: month/day and day/month where both are valid."""
    text = " ".join(text.split())
    iso = _ISO.match(text)
    if iso:
        y, mo, d, h, mi, s, label = iso.groups()
        return _readings([(int(y), int(mo), int(d))], int(h), int(mi), int(s or 0), label, zone)
    us = _US.match(text)
    if not us:
        return []
    a, b, y, h, mi, s, half, label = us.groups()
    hour = int(h)
    if half:
        if not 1 <= hour <= 12:
            return []
        hour = hour % 12 + (12 if half.upper() == "PM" else 0)
    days = [(int(y), int(a), int(b)), (int(y), int(b), int(a))]
    return _readings(days, hour, int(mi), int(s or 0), label, zone)


def _readings(
    days: list[tuple[int, int, int]], hour: int, minute: int, second: int, label: str | None, zone: tzinfo
) -> list[datetime]:
    found: list[datetime] = []
    for y, mo, d in days:
        try:
            naive = datetime(y, mo, d, hour, minute, second)
        except ValueError:
            continue
        moment = naive.replace(tzinfo=_zone_for(naive, label, zone))
        if moment not in found:
            found.append(moment)
    return found


def _zone_for(naive: datetime, label: str | None, zone: tzinfo) -> tzinfo:
    if not label:
        return zone
    label = label.upper()
    if label[0] in "+-" and label[1:].replace(":", "").isdigit():
        digits = label[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
        return timezone(-offset if label[0] == "-" else offset)
    if naive.replace(tzinfo=zone).tzname() == label:
        return zone
    hours = _ABBREVIATIONS.get(label)
    return zone if hours is None else timezone(timedelta(hours=hours))
