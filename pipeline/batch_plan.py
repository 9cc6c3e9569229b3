"""The arithmetic of batches: how many, how many jobs, and the least time Alma's limits allow.

Alma runs an API-started job only while at most 3 such jobs run and at most 5 runs of that job
started in the past hour (alma-api.md §2). A set run as ``b`` batches runs each of its jobs ``b``
times, so the first and the last run of one job are at least ``ceil(b/5) − 1`` full hours apart;
the last batch then still needs its own jobs' time. With 3 jobs at once and every batch's jobs in a
row, the jobs cannot all take less than ``ceil(b × jobs / 3)`` job-lengths either. The least time is
the larger of the two. 12,102 records in batches of 100 are 122 batches: at least 24 full hours,
plus the jobs' own time (≈ 24.4 hours with 8-minute jobs).

Pure functions, no I/O: the CLI's plan and ``handles status``'s estimate both come from here.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass

__all__ = [
    "BatchPlan",
    "batch_sizes",
    "format_duration",
    "jobs_per_batch",
    "least_seconds",
    "plan_batches",
    "time_left_seconds",
]

HOUR = 3600.0


def batch_sizes(records: int, batch_size: int) -> list[int]:
    """The sizes of the batches ``records`` records make, in order: full ones, then the rest."""
    if batch_size < 1:
        raise ValueError("the batch size must be at least 1")
    full, rest = divmod(max(0, records), batch_size)
    return [batch_size] * full + ([rest] if rest else [])


def jobs_per_batch(skip_copy: bool) -> int:
    """Copy → migration → profile; without the copy (``--skip-copy``) two."""
    return 2 if skip_copy else 3


def least_seconds(
    batches: int,
    *,
    jobs_per_batch: int = 3,
    job_seconds: float = 0.0,
    runs_per_hour: int = 5,
    max_running: int = 3,
) -> float:
    """The least time Alma's limits allow for ``batches`` batches (seconds).

    ``(ceil(b / runs_per_hour) − 1)`` full hours between the first and the last run of one job, plus
    the last batch's own jobs (``jobs_per_batch × job_seconds``); never less than the jobs' total
    time spread over the ``max_running`` jobs Alma runs at once.
    """
    if batches <= 0:
        return 0.0
    by_hourly_limit = (math.ceil(batches / runs_per_hour) - 1) * HOUR + jobs_per_batch * job_seconds
    by_running_limit = math.ceil(batches * jobs_per_batch / max_running) * job_seconds
    return max(by_hourly_limit, by_running_limit)


def time_left_seconds(
    left: int,
    *,
    window: int,
    mean_batch_seconds: float | None,
    jobs_per_batch: int = 3,
    runs_per_hour: int = 5,
    max_running: int = 3,
) -> float:
    """An estimate of the time the ``left`` batches not yet ended still need (seconds).

    The larger of what Alma's limits allow (:func:`least_seconds`, each job taking its share of the
    measured mean batch) and what the measured pace gives (``window`` batches at a time, each taking
    the mean duration of the finished ones). Without a finished batch, only the limits' part.
    """
    if left <= 0:
        return 0.0
    job_seconds = (mean_batch_seconds or 0.0) / jobs_per_batch
    limits = least_seconds(
        left,
        jobs_per_batch=jobs_per_batch,
        job_seconds=job_seconds,
        runs_per_hour=runs_per_hour,
        max_running=max_running,
    )
    pace = math.ceil(left / max(1, window)) * (mean_batch_seconds or 0.0)
    return max(limits, pace)


def format_duration(seconds: float) -> str:
    """``24.4 hours``, ``1.5 hours``, ``35 minutes``, ``under a minute``."""
    if seconds >= HOUR:
        hours = seconds / HOUR
        shown = f"{hours:.1f}".rstrip("0").rstrip(".")
        return f"{shown} hour{'' if shown == '1' else 's'}"
    minutes = round(seconds / 60)
    if minutes >= 1:
        return f"{minutes} minute{'' if minutes == 1 else 's'}"
    return "under a minute"


@dataclass(frozen=True)
class BatchPlan:
    """What ``handles migrate --batch-size`` will do, told before the first job."""

    records: int
    batch_size: int
    batches: int
    jobs_per_batch: int
    runs_per_hour: int
    max_running: int
    job_seconds: float | None  # the mean Alma job measured so far; None when nothing ran yet

    @property
    def jobs(self) -> int:
        return self.batches * self.jobs_per_batch

    @property
    def least_hours_between(self) -> int:
        """Full hours between the first and the last run of one job."""
        return max(0, math.ceil(self.batches / self.runs_per_hour) - 1) if self.batches else 0

    @property
    def least_seconds(self) -> float:
        return least_seconds(
            self.batches,
            jobs_per_batch=self.jobs_per_batch,
            job_seconds=self.job_seconds or 0.0,
            runs_per_hour=self.runs_per_hour,
            max_running=self.max_running,
        )

    def lines(self, width: int = 78) -> list[str]:
        """The plan in words, wrapped to ``width`` columns."""
        steps = "copy → migration → profile" if self.jobs_per_batch == 3 else "migration → profile"
        hours = self.least_hours_between
        between = f"{hours} full hour{'' if hours == 1 else 's'}"
        limits = f"Alma runs at most {self.max_running} API jobs at once and {self.runs_per_hour} runs of one job an hour:"
        if hours:
            limits += f" at least {between} between the first and the last run of each job, plus the jobs' own time;"
        else:
            limits += f" the {self.batches} runs of each job fit in one hour;"
        if self.job_seconds:
            least = (
                f"least time: about {format_duration(self.least_seconds)} (jobs of "
                f"{format_duration(self.job_seconds)}, the mean of the jobs run here so far)."
            )
        else:
            least = (
                f"least time: {format_duration(hours * HOUR) + ' plus ' if hours else ''}the jobs' own time "
                f"(not measured yet: no Alma job has run here)."
            )
        text = [
            f"plan: {self.records:,} records in {self.batches:,} batch"
            f"{'' if self.batches == 1 else 'es'} of at most {self.batch_size:,}, each its own "
            f"itemized set.",
            f"{self.jobs:,} Alma jobs: {steps} for each batch.",
            f"{limits} {least}",
        ]
        out: list[str] = []
        for paragraph in text:
            out += textwrap.wrap(paragraph, width=width, subsequent_indent="  ")
        return out


def plan_batches(
    records: int,
    batch_size: int,
    *,
    skip_copy: bool = False,
    runs_per_hour: int = 5,
    max_running: int = 3,
    job_seconds: float | None = None,
) -> BatchPlan:
    """The plan for ``records`` records in batches of at most ``batch_size``."""
    return BatchPlan(
        records=records,
        batch_size=batch_size,
        batches=len(batch_sizes(records, batch_size)),
        jobs_per_batch=jobs_per_batch(skip_copy),
        runs_per_hour=runs_per_hour,
        max_running=max_running,
        job_seconds=job_seconds,
    )
