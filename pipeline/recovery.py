"""Finding runs that a dead worker or a lost message left behind.

A live run beats (``Run.heartbeat_at``) at every visit, at most ``POLL_MAX_SECONDS`` apart, so a run
silent for longer than a threshold has lost the messages that carried it. Claiming one is a
conditional UPDATE of its heartbeat, so two resumers never both take the same run.

A run held for Alma's daily quota (:data:`pipeline.context.QUOTA_WAIT`) is visited again only at
the next hour: it counts as stalled only that much later. A run stopped because Alma refused the
API key is failed, so it is never resumed (:mod:`pipeline.holds`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from pipeline.context import QUOTA_RECHECK_MAX_SECONDS, QUOTA_WAIT
from store.db import session_scope
from store.models import Run, RunState, utcnow

__all__ = ["Claimed", "claim_stalled_runs"]

ACTIVE = [s.value for s in RunState if not s.is_terminal]


@dataclass
class Claimed:
    """The runs claimed for resumption (with when each last beat), and how many are still beating."""

    runs: list[tuple[int, str, datetime]] = field(default_factory=list)  # (run id, state, last heartbeat)
    fresh: int = 0


def claim_stalled_runs(*, engine: Engine, threshold: timedelta) -> Claimed:
    """Claim every unfinished run whose heartbeat is older than ``threshold``."""
    now = utcnow()
    claimed = Claimed()
    held = threshold + timedelta(seconds=QUOTA_RECHECK_MAX_SECONDS)
    with session_scope(engine) as session:
        runs = [
            (r.id, r.state, r.heartbeat_at, held if r.wait_reason == QUOTA_WAIT else threshold)
            for r in session.exec(select(Run).where(col(Run.state).in_(ACTIVE)))
        ]
    for run_id, state, heartbeat, silent_for in runs:
        if now - heartbeat < silent_for:
            claimed.fresh += 1
            continue
        with session_scope(engine) as session:
            won = session.exec(
                update(Run)
                .where(col(Run.id) == run_id, col(Run.heartbeat_at) == heartbeat)
                .values(heartbeat_at=now)
            ).rowcount
        if won and run_id is not None:
            claimed.runs.append((run_id, state, heartbeat))
    return claimed
