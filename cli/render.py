"""Console output that fits the terminal (80 columns by default) and never cuts an identifier.

The rules every command's human output follows:

* a summary first: records per outcome, what each means, and the next step for each;
* then one record per line, in aligned columns; when the columns do not fit, the ones that do not
  fit go on an indented continuation line, so an MMS id, a handle or an instance id is always
  printed whole (never folded, never "…");
* free text (notes, details, Alma's messages) is wrapped at word boundaries under its record and
  capped at a few lines; a long note never becomes a tall column;
* long lists are capped (:data:`LIMIT`) with a line saying how many more and which option lists all.

Times are shown in the operators' time zone (``HANDLES_TIMEZONE``), labelled with the zone.
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, tzinfo

from outcomes.next_steps import MEANINGS, next_step

__all__ = [
    "LIMIT",
    "aligned",
    "aligned_blocks",
    "capped",
    "echo",
    "local_time",
    "outcome_summary",
    "width",
    "wrapped",
    "zone_name",
]

LIMIT = 20  # records listed before "… and N more (--all lists all)"
NOTE_LINES = 3  # lines of free text under a record before it is cut with "…"
GAP = "  "
INDENT = "    "


def width() -> int:
    """The terminal's width (``COLUMNS`` when set, 80 when not a terminal); never under 40."""
    return max(40, shutil.get_terminal_size((80, 24)).columns)


def echo(lines: Iterable[str] | str, *, err: bool = False) -> None:
    """Print ``lines`` as they are: no markup, no highlighting, no re-wrapping."""
    from cli import common

    out = common.err_console if err else common.console
    for line in [lines] if isinstance(lines, str) else lines:
        out.print(line, markup=False, highlight=False, soft_wrap=True)


def wrapped(text: str, *, indent: str = INDENT, max_lines: int | None = NOTE_LINES) -> list[str]:
    """``text`` wrapped to the width under ``indent``, never breaking a word; at most ``max_lines``."""
    flat = " ".join(str(text).split())
    if not flat:
        return []
    lines = textwrap.wrap(
        flat,
        width=width(),
        initial_indent=indent,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )
    if max_lines is not None and len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while len(last) + 2 > width() and " " in last.strip():
            last = last.rsplit(" ", 1)[0]
        lines[-1] = last + " …"
    return lines


def _fit(widths: Sequence[int], room: int) -> list[list[int]]:
    """Column indexes grouped so that each group fits in ``room`` (a group holds at least one)."""
    groups: list[list[int]] = [[]]
    used = 0
    for i, w in enumerate(widths):
        need = w if not groups[-1] else used + len(GAP) + w
        if groups[-1] and need > room:
            groups.append([i])
            used = w
        else:
            groups[-1].append(i)
            used = need
    return groups


def aligned(
    rows: Sequence[Sequence[str]], headers: Sequence[str] | None = None, *, indent: str = "  "
) -> list[str]:
    """Rows in aligned columns; columns that do not fit continue on an indented line below.

    No cell is ever cut. Trailing spaces are stripped. With ``headers``, a header line (or lines)
    comes first, laid out like the rows.
    """
    return [line for block in aligned_blocks(rows, headers, indent=indent) for line in block]


def aligned_blocks(
    rows: Sequence[Sequence[str]], headers: Sequence[str] | None = None, *, indent: str = "  "
) -> list[list[str]]:
    """:func:`aligned`, as one list of lines per row (the header's first, when given)."""
    table = [list(headers)] if headers else []
    table += [[str(c) for c in row] for row in rows]
    if not table:
        return []
    count = max(len(r) for r in table)
    table = [r + [""] * (count - len(r)) for r in table]
    widths = [max(len(r[i]) for r in table) for i in range(count)]
    room = width() - len(indent)
    first, *rest = _fit(widths, room)
    rest_widths = [max((len(r[i]) for r in table), default=0) for g in rest for i in g]
    groups = [first]
    if rest:  # continuation lines are indented further: fit them again in the room left
        later = _fit(rest_widths, room - len(INDENT))
        flat = [i for g in rest for i in g]
        groups += [[flat[j] for j in g] for g in later]
    blocks = []
    for row in table:
        block = []
        for n, group in enumerate(groups):
            text = GAP.join(row[i].ljust(widths[i]) for i in group).rstrip()
            if n == 0:
                block.append(indent + text)
            elif text:
                block.append(indent + INDENT + text)
        blocks.append(block)
    return blocks


def capped(total: int, shown: int, how: str = "--all lists them all") -> list[str]:
    """The line that says how many were left out, or nothing."""
    if total <= shown:
        return []
    return wrapped(f"… and {total - shown} more ({how})", indent="  ", max_lines=None)


def outcome_summary(counts: dict[str, int], run_id: int | str | None) -> list[str]:
    """Records per outcome, what each outcome means, and the next step for each."""
    total = sum(counts.values())
    lines = [f"outcomes ({total} record{'s' if total != 1 else ''})"]
    if not counts:
        return lines + ["  no records yet"]
    name_width = max(len(o) for o in counts)
    count_width = max(len(str(n)) for n in counts.values())
    for outcome, number in counts.items():
        head = f"  {outcome.ljust(name_width)}  {str(number).rjust(count_width)}"
        meaning = MEANINGS.get(outcome, "")
        text = wrapped(meaning, indent=" " * (len(head) + 2), max_lines=2) if meaning else []
        if text:
            text[0] = head + text[0][len(head) :]
            lines += text
        else:
            lines.append(head)
        step = next_step(outcome, run_id)
        if step:
            lines += wrapped(f"next: {step}", indent="      ", max_lines=None)
    return lines


def zone_name(zone: tzinfo, when: datetime | None = None) -> str:
    """A label for ``zone``: its key (``Europe/London``) when it has one, else its abbreviation."""
    key = getattr(zone, "key", None)
    if key:
        return str(key)
    return (when or datetime.now(UTC)).astimezone(zone).tzname() or "local time"


def local_time(value: datetime | None, zone: tzinfo, *, seconds: bool = False) -> str:
    """A stored UTC time in the operators' zone, with the zone's abbreviation (``2026-11-30 18:40 GMT``)."""
    if value is None:
        return ""
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    local = aware.astimezone(zone)
    shown = local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return f"{shown} {local.tzname() or zone_name(zone)}"
