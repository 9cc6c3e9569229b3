"""Finding runs that a dead worker or a lost message left behind.

A live run beats (``Run.heartbeat_at``) at every visit, at most ``POLL_MAX_SECONDS`` apart, so a run
silent for longer than a threshold has lost the messages that carried it. Claiming one is a
conditional UPDATE of its heartbeat, so two resumers never both take the same run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import col, select

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
    with session_scope(engine) as session:
        runs = [
            (r.id, r.state, r.heartbeat_at)
            for r in session.exec(select(Run).where(col(Run.state).in_(ACTIVE)))
        ]
    for run_id, state, heartbeat in runs:
        if now - heartbeat < threshold:
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
