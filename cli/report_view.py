"""``handles report --format text``: the report for people, in 80 columns."""

from __future__ import annotations

from typing import Any

from cli import render
from cli.records_view import is_problem, record_lines
from outcomes.current import current_counts, current_records
from outcomes.report_xlsx import report_title

__all__ = ["report_lines"]


def report_lines(session: Any, run_id: int, config: Any, *, show_all: bool, wide: bool) -> list[str]:
    """The title, the outcome summary with next steps, then the records (those needing attention)."""
    lines = render.wrapped(report_title(session, run_id, config.timezone()), indent="", max_lines=None)
    lines += render.outcome_summary(current_counts(session, run_id), run_id)
    shown: list[Any] = []
    total = 0
    for record in current_records(session, run_id):
        if show_all or is_problem(record):
            total += 1
            if show_all or len(shown) < render.LIMIT:
                shown.append(record)
    if show_all:
        lines.append(f"records ({total})")
    elif total:
        lines.append(f"records that need attention ({total})")
    lines += record_lines(shown, wide=wide)
    if not show_all:
        lines += render.capped(total, len(shown), f"`handles report {run_id} --all` lists every record")
    lines += render.wrapped(
        f"for a spreadsheet: `handles report {run_id} --format xlsx --output report.xlsx`",
        indent="",
        max_lines=None,
    )
    return lines
