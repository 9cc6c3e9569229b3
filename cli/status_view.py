"""What ``handles status`` prints for people: recent runs, one run, regressions; 80 columns, no cut ids."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Any

from cli import render
from cli.batches_view import batch_rows
from cli.records_view import record_lines
from pipeline.batch_plan import format_duration

__all__ = ["progress_line", "recent_lines", "regression_lines", "run_lines"]


def _when(value: str | None, zone: tzinfo) -> str:
    """An ISO time as stored in a snapshot (UTC, ``…Z``) in the operators' zone."""
    if not value:
        return ""
    return render.local_time(datetime.fromisoformat(value.rstrip("Z")), zone)


def recent_lines(rows: Sequence[dict[str, Any]], zone: tzinfo) -> list[str]:
    """Recent runs, one per line; the set's name and the run's note below, wrapped."""
    if not rows:
        return ["no runs yet: start one with `handles migrate SET_ID`"]
    table = [
        [
            str(r["run_id"]),
            str(r["set_id"]),
            str(r["state"]),
            _when(r["created_at"], zone),
            f"child of {r['parent_run_id']}" if r.get("parent_run_id") else "",
        ]
        for r in rows
    ]
    header, *blocks = render.aligned_blocks(table, ["run", "set", "state", "created", ""])
    lines = [f"recent runs (times in {render.zone_name(zone)})", *header]
    for row, block in zip(rows, blocks, strict=True):
        lines += block
        if row.get("set_name"):
            lines += render.wrapped(str(row["set_name"]), max_lines=1)
        note = row.get("error") or row.get("wait_reason")
        if note:
            lines += render.wrapped(str(note), max_lines=2)
    lines += render.wrapped(
        "`handles status RUN_ID` shows a run's steps, outcomes and the records that need attention",
        indent="",
        max_lines=None,
    )
    return lines


def run_lines(
    snap: dict[str, Any],
    zone: tzinfo,
    *,
    problems: Sequence[Any] = (),
    problem_total: int = 0,
    wide: bool = False,
    show_all: bool = False,
) -> list[str]:
    """One run: its steps, its note, the outcome summary with next steps, then the problem records."""
    run_id = snap["run_id"]
    lines = render.wrapped(
        f"run {run_id} · set {snap['set_id']} · {snap['state']}", indent="", max_lines=None
    )
    if snap.get("set_name"):
        lines += render.wrapped(f"set name: {snap['set_name']}", indent="  ", max_lines=1)
    if snap.get("parent_run_id"):
        lines.append(f"  child run of run {snap['parent_run_id']}")
    times = f"  created {_when(snap['created_at'], zone)}"
    if snap.get("finished_at"):
        times += f"; finished {_when(snap['finished_at'], zone)}"
    lines.append(times)
    steps = snap.get("steps") or []
    if steps:
        table = [
            [
                s["step"],
                s["status"],
                s.get("alma_job_id") or "",
                s.get("instance_id") or "",
                (s.get("alma_status") or "")
                + (f" {s['progress']}%" if s.get("instance_id") and s.get("progress") is not None else ""),
            ]
            for s in steps
        ]
        header, *blocks = render.aligned_blocks(table, ["step", "status", "Alma job", "instance", "Alma"])
        lines += ["steps", *header]
        for step, block in zip(steps, blocks, strict=True):
            lines += block
            if step.get("note"):
                lines += render.wrapped(str(step["note"]), max_lines=None if wide else 2)
    ended = [f"{s['step']} by {s['ended_via']}" for s in steps if s.get("ended_via")]
    if ended:
        lines += render.wrapped("end learned: " + ", ".join(ended), max_lines=None)
    if snap.get("batches"):
        lines += batch_lines(snap["batches"], wide=wide)
    if snap.get("wait_reason") and snap["state"] not in ("succeeded", "failed"):
        lines += ["waiting", *render.wrapped(str(snap["wait_reason"]), indent="  ", max_lines=None)]
    if snap.get("error"):
        lines += render.wrapped(f"error: {snap['error']}", indent="", max_lines=None)
    lines += render.outcome_summary(snap.get("outcomes") or {}, run_id)
    if problem_total:
        lines.append(f"records that need attention ({problem_total})")
        lines += record_lines(problems, wide=wide)
        if not show_all:
            lines += render.capped(
                problem_total, len(problems), f"`handles status {run_id} --all` lists them all"
            )
    return lines


def batch_lines(batches: dict[str, Any], *, wide: bool = False) -> list[str]:
    """A batch parent's batches: the summary, then one line per batch (or range) with its note."""
    lines = render.wrapped(str(batches["summary"]), indent="", max_lines=None)
    table = [
        [batch, run or "-", records or "-", state] for batch, run, records, state, _ in batch_rows(batches)
    ]
    header, *blocks = render.aligned_blocks(table, ["batch", "run", "records", "state"])
    lines += header
    for (_, _, _, _, note), block in zip(batch_rows(batches), blocks, strict=True):
        lines += block
        if note:
            lines += render.wrapped(note, max_lines=None if wide else 2)
    if batches.get("mean_batch_seconds"):
        lines += render.wrapped(
            f"a batch takes about {format_duration(batches['mean_batch_seconds'])} "
            f"(the mean of the finished ones); {batches['at_once']} run at a time",
            max_lines=None,
        )
    return lines


def progress_line(snap: dict[str, Any]) -> str:
    """One line of ``migrate --wait`` progress, then the run's wait wrapped below it."""
    mark = {"succeeded": "done", "pending": "-", "skipped": "skipped"}
    steps = ", ".join(
        f"{s['step']} "
        + (f"{s['progress']}%" if s["status"] == "running" else mark.get(s["status"], s["status"]))
        for s in snap["steps"]
    )
    lines = render.wrapped(f"run {snap['run_id']} {snap['state']}: {steps}", indent="", max_lines=None)
    if snap.get("wait_reason") and snap["state"] not in ("succeeded", "failed"):
        lines += render.wrapped(str(snap["wait_reason"]), indent="  ", max_lines=None)
    return "\n".join(lines)


def regression_lines(rows: Sequence[dict[str, Any]], zone: tzinfo, *, show_all: bool = False) -> list[str]:
    """Handles that resolved correctly before and no longer do: counted, then one per line."""
    if not rows:
        return ["no regressions: every handle that resolved correctly still does"]
    shown = rows if show_all else rows[: render.LIMIT]
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["verification"]] = counts.get(r["verification"], 0) + 1
    lines = render.wrapped(
        f"{len(rows)} regression(s): handles that resolved correctly before and no longer do "
        f"({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}); times in {render.zone_name(zone)}",
        indent="",
        max_lines=None,
    )
    table = [
        [r["handle"], r["mms_id"] or "-", r["verification"], _when(r["checked_at"], zone)] for r in shown
    ]
    header, *blocks = render.aligned_blocks(table, ["handle", "mms_id", "now", "checked"])
    lines += header
    for row, block in zip(shown, blocks, strict=True):
        lines += block
        if row.get("target"):
            lines += render.wrapped(f"resolves to {row['target']}", max_lines=2)
        if row.get("detail"):
            lines += render.wrapped(str(row["detail"]), max_lines=2)
    lines += render.capped(len(rows), len(shown), "`handles status --regressions --all` lists them all")
    lines += render.wrapped(
        "next: check each record in Alma; `handles verify --run RUN_ID` checks them again",
        indent="",
        max_lines=None,
    )
    return lines
