"""Token buckets per access key (or client IP for anonymous requests), set by `--rate-limit N/unit`.

Each caller may burst up to N requests and then gets N per period; beyond that the S3 API answers
503 SlowDown, which the SDKs back off from and retry. Buckets idle for a full period are forgotten,
so memory stays bounded by the callers active within one period.

One process alone keeps the buckets in memory (`RateLimiter`). Several processes share them
(`SharedRateLimiter`): in the PostgreSQL database when the metadata lives there, so every gateway
on it counts against the same buckets, else in a SQLite file in the data dir shared by the worker
processes of one host. A process takes tokens from the shared bucket a few at a time (a lease of
N/20, at least 1) and spends them locally, so the database sees one statement per lease, not per
request. Tokens only ever come out of the shared bucket, so no caller gets more than N per period
plus the burst, however many processes serve it; a lease left unspent in one process while the
caller's requests land on others is the only loss, at most (lease - 1) per process, well inside
one burst. (The limiter's one table is the only SQL outside metadata/ and the storage index: it is
not metadata, UNLOGGED in PostgreSQL, and losing it loses nothing but a few seconds of counting.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from s3server.config import Rate, parse_rate
from s3server.s3.errors import S3Error

__all__ = ["Rate", "RateLimiter", "SharedRateLimiter", "build_limiter", "parse_rate"]

log = logging.getLogger("s3server.ratelimit")

LEASE_FRACTION = 20  # a process takes N/20 tokens (at least one) from the shared bucket at a time
SWEEP_EVERY = 1000  # leases between removals of buckets that have refilled completely


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


class Buckets(Protocol):
    """Where shared buckets live: take up to `want` tokens from the caller's bucket."""

    async def take(self, caller: str, want: int, rate: Rate) -> int: ...

    async def close(self) -> None: ...


class SharedRateLimiter:
    """Token buckets shared between processes (and gateways); see the module docstring."""

    def __init__(self, rate: Rate, buckets: Buckets) -> None:
        self.rate = rate
        self.buckets = buckets
        self.lease = max(1, rate.requests // LEASE_FRACTION)
        self._leases: dict[str, tuple[int, float]] = {}  # caller -> (tokens in hand, since when)
        self.throttled = 0

    async def acquire(self, caller: str) -> bool:
        now = time.monotonic()
        tokens, since = self._leases.get(caller, (0, now))
        if tokens and now - since < self.rate.period:  # an old lease would let a caller bank tokens
            self._leases[caller] = (tokens - 1, since)
            return True
        try:
            granted = await self.buckets.take(caller, self.lease, self.rate)
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
        await self.buckets.close()


def _refill(tokens: float, elapsed: float, rate: Rate) -> float:
    return min(float(rate.requests), tokens + max(0.0, elapsed) * rate.per_second)


class SqliteBuckets:
    """Buckets in a SQLite file shared by the worker processes of one host."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()
        self._leases = 0

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = OFF")  # counting, not data: a crash may forget some
        conn.execute(
            "CREATE TABLE IF NOT EXISTS rate_buckets (caller TEXT PRIMARY KEY, tokens REAL NOT NULL, "
            "updated REAL NOT NULL) WITHOUT ROWID"
        )
        return conn

    def _take(self, caller: str, want: int, rate: Rate) -> int:
        if self._conn is None:
            self._conn = self._connect()
        conn = self._conn
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(
                "SELECT tokens, updated FROM rate_buckets WHERE caller = ?", (caller,)
            ).fetchone()
            tokens = _refill(row[0], now - row[1], rate) if row else float(rate.requests)
            granted = min(want, math.floor(tokens))
            conn.execute(
                "INSERT INTO rate_buckets (caller, tokens, updated) VALUES (?, ?, ?) "
                "ON CONFLICT (caller) DO UPDATE SET tokens = excluded.tokens, updated = excluded.updated",
                (caller, tokens - granted, now),
            )
            self._leases += 1
            if self._leases % SWEEP_EVERY == 0:
                conn.execute("DELETE FROM rate_buckets WHERE updated < ?", (now - rate.period,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return granted

    async def take(self, caller: str, want: int, rate: Rate) -> int:
        async with self._lock:  # one connection, one transaction at a time
            return await asyncio.to_thread(self._take, caller, want, rate)

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


# The database's clock, so that gateways whose clocks differ still refill buckets alike.
_PG_NOW = "extract(epoch from clock_timestamp())"
_PG_TABLE = (
    "CREATE UNLOGGED TABLE IF NOT EXISTS s3_rate_buckets "
    "(caller TEXT PRIMARY KEY, tokens DOUBLE PRECISION NOT NULL, updated DOUBLE PRECISION NOT NULL)"
)
_PG_REFILL = f"""
    INSERT INTO s3_rate_buckets AS b (caller, tokens, updated) VALUES ($1, $2, {_PG_NOW})
    ON CONFLICT (caller) DO UPDATE
        SET tokens = LEAST($2, b.tokens + GREATEST(0, {_PG_NOW} - b.updated) * $3), updated = {_PG_NOW}
    RETURNING tokens
"""


class PgBuckets:
    """Buckets in the PostgreSQL database every gateway shares (its own small pool)."""

    def __init__(self, dsn: str) -> None:
        from s3server.pgdb import PgDatabase

        self.db = PgDatabase(dsn, max_size=4, timeout=5.0)
        self._opened = asyncio.Lock()
        self._leases = 0

    async def _open(self) -> None:
        async with self._opened:
            if not self.db.is_open:
                await self.db.open()
                import asyncpg

                # Two gateways creating the table at the same moment: one of them is told it exists.
                with contextlib.suppress(asyncpg.UniqueViolationError, asyncpg.DuplicateTableError):
                    await self.db.run(lambda conn: conn.execute(_PG_TABLE))

    async def take(self, caller: str, want: int, rate: Rate) -> int:
        if not self.db.is_open:
            await self._open()
        self._leases += 1
        sweep = self._leases % SWEEP_EVERY == 0

        async def run(conn) -> int:  # type: ignore[no-untyped-def]
            tokens = await conn.fetchval(_PG_REFILL, caller, float(rate.requests), rate.per_second)
            granted = min(want, math.floor(tokens))
            if granted:
                await conn.execute(
                    "UPDATE s3_rate_buckets SET tokens = tokens - $2 WHERE caller = $1", caller, granted
                )
            if sweep:
                await conn.execute(f"DELETE FROM s3_rate_buckets WHERE updated < {_PG_NOW} - $1", rate.period)
            return granted

        return await self.db.transaction(run)

    async def close(self) -> None:
        if self.db.is_open:
            await self.db.close()


def build_limiter(
    text: str, *, metadata_url: str, processes: int, data_dir: Path
) -> RateLimiter | SharedRateLimiter | None:
    """The limiter for `--rate-limit`: shared through PostgreSQL when the metadata is there, through
    a file in the data dir when several worker processes share SQLite metadata, else in memory."""
    rate = parse_rate(text)
    if rate is None:
        return None
    if metadata_url:
        return SharedRateLimiter(rate, PgBuckets(metadata_url))
    if processes > 1:
        return SharedRateLimiter(rate, SqliteBuckets(data_dir / "ratelimit.db"))
    return RateLimiter(rate)
