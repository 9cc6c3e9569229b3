"""Liveness of the long-running processes, and the one Redis setting the broker must have.

* :func:`touch` / :func:`is_fresh`: the beat stamps a heartbeat file on every pass
  (:mod:`workers.beat`); ``python -m workers.health beat SCHEDULE_FILE [MAX_AGE]`` exits 0 while
  the stamp is younger than ``MAX_AGE`` seconds (default :data:`BEAT_MAX_AGE`), 1 otherwise — the
  beat's health check in docker-compose.yml. (``celery inspect ping`` asks workers; a file needs
  neither the broker nor the network, so a beat waiting for Redis stays healthy.)
* :func:`warn_unless_noeviction`: the broker's Redis also holds RedBeat's schedule and lock and
  every queued task; with an eviction policy a full Redis silently drops them. One warning line at
  start-up when ``CONFIG GET maxmemory-policy`` answers anything but ``noeviction``; managed Redis
  services that refuse ``CONFIG`` are skipped silently.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from config.celery import DEFAULT_BEAT_SCHEDULE_FILE
from config.redact import mask_url

log = logging.getLogger("handles.worker")

#: a beat ticks at least once a minute (beat_max_loop_interval); five minutes without is a hang
BEAT_MAX_AGE = 300.0


def heartbeat_path(schedule_filename: str | None) -> Path:
    """Where the beat stamps each pass: next to its ``--schedule`` file."""
    return Path(f"{schedule_filename or DEFAULT_BEAT_SCHEDULE_FILE}.heartbeat")


def touch(path: Path) -> None:
    """Stamp ``path`` with the current time; a file that cannot be written is not fatal."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        os.utime(path)
    except OSError as exc:
        log.warning("cannot stamp the heartbeat file %s: %s", path, exc.strerror or exc)


def is_fresh(path: Path, max_age: float, *, now: float | None = None) -> bool:
    """Whether ``path`` was stamped less than ``max_age`` seconds ago."""
    try:
        stamped = path.stat().st_mtime
    except OSError:
        return False
    return ((time.time() if now is None else now) - stamped) < max_age


def warn_unless_noeviction(client: Callable[[], Any], url: str, *, who: str) -> str | None:
    """Log one warning line when the Redis at ``url`` may evict keys; return its policy (or None)."""
    try:
        answer = client().config_get("maxmemory-policy")
    except Exception:  # noqa: BLE001 - CONFIG refused (managed Redis), or Redis away: say nothing
        return None
    policy = answer.get("maxmemory-policy") if isinstance(answer, dict) else None
    if isinstance(policy, bytes):
        policy = policy.decode(errors="replace")
    if policy and policy != "noeviction":
        log.warning(
            "%s: the Redis at %s has maxmemory-policy %s; set it to noeviction, or a full Redis "
            "drops queued tasks and the beat's schedule",
            who,
            mask_url(url),
            policy,
        )
    return policy


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3) or argv[0] != "beat":
        print("usage: python -m workers.health beat SCHEDULE_FILE [MAX_AGE_SECONDS]", file=sys.stderr)
        return 2
    path = heartbeat_path(argv[1])
    max_age = float(argv[2]) if len(argv) == 3 else BEAT_MAX_AGE
    if is_fresh(path, max_age):
        return 0
    print(f"beat: no pass in the last {max_age:.0f} s ({path})", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
