"""Token buckets per access key (or client IP for anonymous requests), set by `--rate-limit N/unit`.

Each caller may burst up to N requests and then gets N per period; beyond that the S3 API answers
503 SlowDown, which the SDKs back off from and retry. Buckets idle for a full period are forgotten,
so memory stays bounded by the callers active within one period.

One process alone keeps the buckets in memory (`RateLimiter`). Several processes share them
(`SharedRateLimiter`) through the metadata store's `take_tokens`: in the PostgreSQL database when
the metadata lives there, so every gateway on it counts against the same buckets, else in a SQLite
file beside the metadata, shared by the worker processes of one host (see metadata.ratelimit). A
process takes tokens from the shared bucket a few at a time (a lease of N/20, at least 1) and
spends them locally, so the database sees one statement per lease, not per
request. Tokens only ever come out of the shared bucket, so no caller gets more than N per period
plus the burst, however many processes serve it; a lease left unspent in one process while the
caller's requests land on others is the only loss, at most (lease - 1) per process, well inside
one burst.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from s3server.config import Rate, parse_rate
from s3server.s3.errors import S3Error

__all__ = ["Rate", "RateLimiter", "SharedRateLimiter", "build_limiter", "parse_rate"]

log = logging.getLogger("s3server.ratelimit")

LEASE_FRACTION = 20  # a process takes N/20 tokens (at least one) from the shared bucket at a time


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

    async def acquire(self, caller: str) -> bool:
        """allow(), for callers that may share the limiter with other processes."""
        return self.allow(caller)

    async def close(self) -> None:
        """Nothing to release: the buckets live in this process."""

    def _sweep(self, now: float) -> None:
        """Forget callers whose bucket has refilled completely: they are indistinguishable from new ones."""
        stale = now - self.rate.period
        self._buckets = {k: v for k, v in self._buckets.items() if v[1] >= stale}
        self._last_sweep = now


class TokenStore(Protocol):
    """Where shared buckets live (the metadata store): take up to `want` tokens from the caller's."""

    async def take_tokens(self, caller: str, want: int, rate: Rate) -> int: ...


class SharedRateLimiter:
    """Token buckets shared between processes (and gateways); see the module docstring."""

    def __init__(self, rate: Rate, store: TokenStore | None = None) -> None:
        self.rate = rate
        self.store = store  # bound at startup, once the metadata store is open
        self.lease = max(1, rate.requests // LEASE_FRACTION)
        self._leases: dict[str, tuple[int, float]] = {}  # caller -> (tokens in hand, since when)
        self.throttled = 0

    async def acquire(self, caller: str) -> bool:
        now = time.monotonic()
        tokens, since = self._leases.get(caller, (0, now))
        if tokens and now - since < self.rate.period:  # an old lease would let a caller bank tokens
            self._leases[caller] = (tokens - 1, since)
            return True
        if self.store is None:
            raise RuntimeError("SharedRateLimiter used before a store was bound")
        try:
            granted = await self.store.take_tokens(caller, self.lease, self.rate)
        except Exception as exc:  # the database is down: the requests fail or pass on their own merits
            log.warning("rate limit not applied: the shared buckets are unavailable: %s", exc)
            return True
        if granted <= 0:
            self._leases.pop(caller, None)
            self.throttled += 1
            return False
        self._leases[caller] = (granted - 1, now)
        if len(self._leases) > 100_000:
            self._leases.clear()
        return True

    async def close(self) -> None:
        """Nothing to release: the buckets live in the store, which closes them."""


def build_limiter(text: str, *, shared: bool) -> RateLimiter | SharedRateLimiter | None:
    """The limiter for `--rate-limit`: shared through the metadata store (bind it with `store`) when
    other processes serve the same callers (PostgreSQL metadata, or several workers), else in memory."""
    rate = parse_rate(text)
    if rate is None:
        return None
    return SharedRateLimiter(rate) if shared else RateLimiter(rate)
