"""The shared token buckets of `--rate-limit`, for each backend (`take_tokens`).

They are counting, not metadata: losing them loses a few seconds of counting and nothing else. So
PostgreSQL keeps them in an UNLOGGED table, refilled by the database's clock (gateways whose clocks
differ refill alike), and SQLite in a file of its own beside the metadata (`ratelimit.db`, no
fsync), so that a lease never queues behind, or fsyncs with, the metadata's writes. Buckets idle for
a whole period are removed every SWEEP_EVERY leases: a full bucket and a missing one mean the same.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import time
from pathlib import Path
from typing import Any

import asyncpg

from s3server.config import Rate
from s3server.metadata.errors import MetadataError

__all__ = ["RATE_BUCKETS_MIGRATION_POSTGRES", "SWEEP_EVERY", "PostgresTokenBuckets", "SqliteTokenBuckets"]

SWEEP_EVERY = 1000  # leases between removals of buckets that have refilled completely
FILE_NAME = "ratelimit.db"

# IF NOT EXISTS: earlier releases created the table on first use, outside the migrations.
RATE_BUCKETS_MIGRATION_POSTGRES = (
    "CREATE UNLOGGED TABLE IF NOT EXISTS s3_rate_buckets "
    "(caller TEXT PRIMARY KEY, tokens DOUBLE PRECISION NOT NULL, updated DOUBLE PRECISION NOT NULL)",
)
_PG_NOW = "extract(epoch from clock_timestamp())"
_PG_REFILL = f"""
    INSERT INTO s3_rate_buckets AS b (caller, tokens, updated) VALUES ($1, $2, {_PG_NOW})
    ON CONFLICT (caller) DO UPDATE
        SET tokens = LEAST($2, b.tokens + GREATEST(0, {_PG_NOW} - b.updated) * $3), updated = {_PG_NOW}
    RETURNING tokens
"""


def _refill(tokens: float, elapsed: float, rate: Rate) -> float:
    return min(float(rate.requests), tokens + max(0.0, elapsed) * rate.per_second)


class SqliteTokenBuckets:
    """The buckets in `ratelimit.db` beside the SQLite metadata, shared by one host's workers."""

    def __init__(self, metadata_path: Path) -> None:
        self.path = Path(metadata_path).parent / FILE_NAME
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
            try:
                return await asyncio.to_thread(self._take, caller, want, rate)
            except sqlite3.Error as exc:
                raise MetadataError(f"sqlite rate buckets {self.path}: {exc}") from exc

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class PostgresTokenBuckets:
    """The `take_tokens` method of PostgresMetadataStore."""

    _transaction: Any
    _token_leases = 0

    async def take_tokens(self, caller: str, want: int, rate: Rate) -> int:
        self._token_leases += 1
        sweep = self._token_leases % SWEEP_EVERY == 0

        async def run(conn: asyncpg.Connection) -> int:
            tokens = await conn.fetchval(_PG_REFILL, caller, float(rate.requests), rate.per_second)
            granted = min(want, math.floor(tokens))
            if granted:
                await conn.execute(
                    "UPDATE s3_rate_buckets SET tokens = tokens - $2 WHERE caller = $1", caller, granted
                )
            if sweep:
                await conn.execute(f"DELETE FROM s3_rate_buckets WHERE updated < {_PG_NOW} - $1", rate.period)
            return granted

        return await self._transaction(run)
