"""Progress of a long command on stderr: a live bar on a terminal, a line now and then otherwise.

Cron and log files get one plain line when the work starts, then one every ``every`` seconds
(``verifying run 8: 1200 of 12000 checked (10%), 3 not ok``), so a long command is never silent.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

__all__ = ["progress_reporter"]

EVERY_SECONDS = 15.0


@contextmanager
def progress_reporter(
    total: int,
    label: str,
    *,
    enabled: bool = True,
    every: float = EVERY_SECONDS,
    terminal: bool | None = None,
) -> Iterator[Callable[[Any], None]]:
    """A callback to call once per checked item (with its result, which has ``.ok``)."""
    from cli import common

    if not enabled or total == 0:
        yield lambda result: None
        return
    if terminal if terminal is not None else sys.stderr.isatty():
        bar = Progress(
            TextColumn("verifying"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=common.err_console,
            transient=True,
        )
        with bar:
            task = bar.add_task("verify", total=total)
            yield lambda result: bar.advance(task)
        return
    done = [0, 0]  # checked, not ok
    last = [time.monotonic()]

    def line() -> str:
        percent = done[0] * 100 // total
        return f"verifying {label}: {done[0]} of {total} checked ({percent}%), {done[1]} not ok"

    def advance(result: Any) -> None:
        done[0] += 1
        done[1] += 0 if getattr(result, "ok", True) else 1
        now = time.monotonic()
        if now - last[0] >= every and done[0] < total:
            last[0] = now
            print(line(), file=sys.stderr, flush=True)

    print(f"verifying {label}: {total} handles to check", file=sys.stderr, flush=True)
    yield advance
    print(line(), file=sys.stderr, flush=True)
