"""``--batch-size`` for ``handles migrate``: reading it, the plan told before the first job, and the
batches ``handles status`` shows for a batch parent (see :mod:`pipeline.batches`)."""

from __future__ import annotations

from typing import Any

from cli.common import CliError

__all__ = [
    "batch_rows",
    "batches_snapshot",
    "parse_batch_size",
    "plan_lines",
    "set_size",
]

# batches shown one per row; beyond this, finished batches are summed up in one row
SHOWN = 12


def parse_batch_size(text: str | None, default: int | None) -> int | None:
    """The batch size asked for (``--batch-size``, else ``ALMA_BATCH_SIZE``); None: no batches.

    Anything but a whole number of at least 1 is refused with one line (exit 2).
    """
    if text is None:
        return default
    value = text.strip()
    if not value.lstrip("-").isdigit():
        raise CliError(
            f"--batch-size {text!r} is not a number; give the most records per batch, e.g. --batch-size 100",
            code=2,
        )
    number = int(value)
    if number < 1:
        raise CliError(
            f"--batch-size {number}: a batch holds at least 1 record; give e.g. --batch-size 100",
            code=2,
        )
    return number


def plan_lines(engine: Any, settings: Any, *, records: int, batch_size: int, skip_copy: bool) -> list[str]:
    """The plan: batches, jobs, the least time Alma's limits allow (the mean job time measured here)."""
    from pipeline.batch_plan import plan_batches
    from pipeline.batch_progress import measured_job_seconds
    from store.db import session_scope

    with session_scope(engine) as session:
        job_seconds = measured_job_seconds(session)
    plan = plan_batches(
        records,
        batch_size,
        skip_copy=skip_copy,
        runs_per_hour=settings.alma_max_runs_per_job_hour,
        max_running=settings.alma_max_api_jobs_running,
        job_seconds=job_seconds,
    )
    return plan.lines()


def batches_snapshot(session: Any, run: Any, settings: Any) -> dict[str, Any] | None:
    """The batches of a batch parent, for ``status --json`` (None for any other run)."""
    from pipeline.batch_progress import batch_progress
    from pipeline.batches import is_batch_parent

    if not is_batch_parent(run):
        return None
    progress = batch_progress(session, run.id, window=settings.alma_max_api_jobs_running, settings=settings)
    return {"summary": progress.summary(), **progress.as_dict()}


def batch_rows(batches: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(batch, run, records, state, note) rows: the running and failed batches one by one, the
    succeeded ones too while few, then one row for those not started yet."""
    rows: list[tuple[str, str, str, str, str]] = []
    items = batches["batches"]
    many = len(items) > SHOWN
    done = [b for b in items if b["state"] == "succeeded"]
    for b in items:
        if many and b["state"] == "succeeded":
            continue
        note = b["note"] or ("" if b["state"] in ("succeeded", "failed") else b["step"])
        rows.append((str(b["batch"]), str(b["run_id"]), str(b["records"] or ""), b["state"], note))
    if many and done:
        numbers = ", ".join(_ranges([b["batch"] for b in done]))
        rows.insert(0, (numbers, "", str(sum(b["records"] or 0 for b in done)), "succeeded", ""))
    if batches["not_started"]:
        total = batches["total"] or 0
        first = total - batches["not_started"] + 1
        label = str(first) if first == total else f"{first}–{total}"
        rows.append((label, "", "", "not started", batches["not_started_why"] or ""))
    return rows


def _ranges(numbers: list[int]) -> list[str]:
    """``[1, 2, 3, 5]`` → ``["1–3", "5"]``."""
    spans: list[list[int]] = []
    for n in sorted(numbers):
        if spans and spans[-1][1] == n - 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return [str(a) if a == b else f"{a}–{b}" for a, b in spans]


def set_size(info: dict[str, Any]) -> int:
    """The member count Alma gives for a set (``number_of_members``)."""
    members = info.get("number_of_members") or 0
    return int(members.get("value") or 0) if isinstance(members, dict) else int(members)
