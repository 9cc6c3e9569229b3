"""Alma's API thresholds and the sandbox's injected faults, checked before each Alma request.

Order: daily quota (429 DAILY_THRESHOLD) → ``burst_429`` (429 PER_SECOND_THRESHOLD) → per-second
limit per API key over a sliding one-second window (429 PER_SECOND_THRESHOLD) → ``burst_5xx`` (500).
Only admitted requests use the daily quota.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field

from sandbox.config import SandboxConfig


@dataclass
class Verdict:
    """``fault`` is None when admitted; else (HTTP status, errorCode, errorMessage)."""

    fault: tuple[int, str, str] | None
    remaining: int
    fail_after: bool = False  # carry the request out, then answer 500 (burst_5xx_landed)


PER_SECOND = (429, "PER_SECOND_THRESHOLD", "HTTP requests are more than allowed per second")
DAILY = (429, "DAILY_THRESHOLD", "Daily API threshold reached: too many requests today")
INTERNAL = (500, "INTERNAL_SERVER_ERROR", "Internal server error (injected by the sandbox)")


@dataclass
class AlmaGate:
    used: int = 0
    windows: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))

    def remaining(self, config: SandboxConfig) -> int:
        return max(0, config.daily_quota - self.used)

    def admit(self, config: SandboxConfig, api_key: str, now: float) -> Verdict:
        """Decide one authenticated Alma request (mutates the burst counters in ``config``)."""
        if self.remaining(config) <= 0:
            return Verdict(DAILY, 0)
        if config.burst_429 > 0:
            config.burst_429 -= 1
            return Verdict(PER_SECOND, self.remaining(config))
        window = self.windows[api_key]
        while window and window[0] <= now - 1.0:
            window.popleft()
        limit = config.rate_limit_per_second
        if limit and len(window) >= limit:
            return Verdict(PER_SECOND, self.remaining(config))
        window.append(now)
        if config.burst_5xx > 0:
            config.burst_5xx -= 1
            if config.burst_5xx_landed:
                self.used += 1
                return Verdict(None, self.remaining(config), fail_after=True)
            return Verdict(INTERNAL, self.remaining(config))
        self.used += 1
        return Verdict(None, self.remaining(config))
