"""Token buckets per access key (or client IP for anonymous requests), set by `--rate-limit N/unit`.

Each caller may burst up to N requests and then gets N per period; beyond that the S3 API answers
503 SlowDown, which the SDKs back off from and retry. Buckets idle for a full period are forgotten,
so memory stays bounded by the callers active within one period.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from s3server.config import Rate, parse_rate
from s3server.s3.errors import S3Error

__all__ = ["Rate", "RateLimiter", "parse_rate"]


class RateLimiter:
    """Token buckets keyed by caller; `check` raises SlowDown when the caller has no token left."""

    def __init__(self, rate: Rate, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # caller → (tokens, last refill)
        self._last_sweep = self._clock()
        self.throttled = 0

    def allow(self, caller: str) -> bool:
        now = self._clock()
        tokens, last = self._buckets.get(caller, (float(self.rate.requests), now))
        tokens = min(float(self.rate.requests), tokens + (now - last) * self.rate.per_second)
        allowed = tokens >= 1.0
        self._buckets[caller] = (tokens - 1.0 if allowed else tokens, now)
        if now - self._last_sweep > self.rate.period:
            self._sweep(now)
        if not allowed:
            self.throttled += 1
        return allowed

    def check(self, caller: str) -> None:
        if not self.allow(caller):
            raise S3Error("SlowDown")

    def _sweep(self, now: float) -> None:
        """Forget callers whose bucket has refilled completely: they are indistinguishable from new ones."""
        stale = now - self.rate.period
        self._buckets = {k: v for k, v in self._buckets.items() if v[1] >= stale}
        self._last_sweep = now
