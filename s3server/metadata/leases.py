"""Bucket lifecycle configurations and leases on background work, for each backend.

A lease names one piece of background work (the lifecycle pass) that must run in one process at a
time across workers and gateways sharing the database: it is taken with one conditional
insert-or-update timed by the database (SQLite's single writer, PostgreSQL's clock, so gateways on
several machines agree on when a lease ran out), and carries its holder's saved progress so that a
successor resumes where a crashed holder stopped. A configuration goes with its bucket.

The two mixins run their SQL through the store's own plumbing (`_write`, `_read`, `_lookup` for
SQLite; `_run` for PostgreSQL) and its timestamp converters (`stamp`, `when`).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

import asyncpg

from s3server.metadata.base import Lease
from s3server.metadata.errors import NoSuchBucketError

__all__ = ["LIFECYCLE_MIGRATION_POSTGRES", "LIFECYCLE_MIGRATION_SQLITE", "PostgresLeases", "SqliteLeases"]

LIFECYCLE_MIGRATION_SQLITE = (
    """CREATE TABLE bucket_lifecycle (
            bucket TEXT PRIMARY KEY REFERENCES buckets (name) ON DELETE CASCADE,
            config TEXT NOT NULL
        ) WITHOUT ROWID""",
    """CREATE TABLE leases (
            name TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            expires INTEGER NOT NULL,
            state TEXT
        ) WITHOUT ROWID""",
)
LIFECYCLE_MIGRATION_POSTGRES = (
    """CREATE TABLE bucket_lifecycle (
            bucket TEXT COLLATE "C" PRIMARY KEY REFERENCES buckets (name) ON DELETE CASCADE,
            config TEXT NOT NULL
        )""",
    """CREATE TABLE leases (
            name TEXT COLLATE "C" PRIMARY KEY,
            holder TEXT NOT NULL,
            expires TIMESTAMPTZ NOT NULL,
            state TEXT
        )""",
)
_LIST = "SELECT bucket, config FROM bucket_lifecycle WHERE bucket > {0} ORDER BY bucket LIMIT {1}"


class SqliteLeases:
    """The lifecycle and lease methods of SqliteMetadataStore."""

    _write: Any
    _read: Any
    _lookup: Any
    stamp: Any
    when: Any

    async def get_bucket_lifecycle(self, name: str) -> str | None:
        def run(conn: sqlite3.Connection) -> str | None:
            row = conn.execute("SELECT config FROM bucket_lifecycle WHERE bucket = ?", (name,)).fetchone()
            return None if row is None else row[0]

        return await self._lookup(run)

    async def set_bucket_lifecycle(self, name: str, config: str | None) -> None:
        def run(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM buckets WHERE name = ?", (name,)).fetchone() is None:
                raise NoSuchBucketError(name)
            if config is None:
                conn.execute("DELETE FROM bucket_lifecycle WHERE bucket = ?", (name,))
            else:
                conn.execute(
                    "INSERT OR REPLACE INTO bucket_lifecycle (bucket, config) VALUES (?, ?)", (name, config)
                )

        await self._write(run)

    async def lifecycle_buckets(self, after: str = "", limit: int = 100) -> list[tuple[str, str]]:
        def run(conn: sqlite3.Connection) -> list[tuple[str, str]]:
            return [(row[0], row[1]) for row in conn.execute(_LIST.format("?", "?"), (after, limit))]

        return await self._read(run)

    async def take_lease(self, name: str, holder: str, ttl: float) -> Lease | None:
        def run(conn: sqlite3.Connection) -> Lease | None:
            now = self.stamp(datetime.now(UTC))
            conn.execute(
                "INSERT INTO leases (name, holder, expires) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE "
                "SET holder = excluded.holder, expires = excluded.expires "
                "WHERE leases.holder = excluded.holder OR leases.expires <= ?",
                (name, holder, now + int(ttl * 1e6), now),
            )
            row = conn.execute("SELECT holder, expires, state FROM leases WHERE name = ?", (name,)).fetchone()
            if row[0] != holder:
                return None
            return Lease(name, row[0], self.when(row[1]), row[2])

        return await self._write(run)

    async def keep_lease(self, name: str, holder: str, ttl: float, state: str | None) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            expires = self.stamp(datetime.now(UTC)) + int(ttl * 1e6)
            cursor = conn.execute(
                "UPDATE leases SET expires = ?, state = ? WHERE name = ? AND holder = ?",
                (expires, state, name, holder),
            )
            return cursor.rowcount == 1

        return await self._write(run)


class PostgresLeases:
    """The lifecycle and lease methods of PostgresMetadataStore."""

    _run: Any

    async def get_bucket_lifecycle(self, name: str) -> str | None:
        return await self._run(
            lambda conn: conn.fetchval("SELECT config FROM bucket_lifecycle WHERE bucket = $1", name)
        )

    async def set_bucket_lifecycle(self, name: str, config: str | None) -> None:
        async def run(conn: asyncpg.Connection) -> None:
            if config is None:
                if await conn.fetchval("SELECT 1 FROM buckets WHERE name = $1", name) is None:
                    raise NoSuchBucketError(name)
                await conn.execute("DELETE FROM bucket_lifecycle WHERE bucket = $1", name)
                return
            try:
                await conn.execute(
                    "INSERT INTO bucket_lifecycle (bucket, config) VALUES ($1, $2) "
                    "ON CONFLICT (bucket) DO UPDATE SET config = excluded.config",
                    name,
                    config,
                )
            except asyncpg.ForeignKeyViolationError as exc:
                raise NoSuchBucketError(name) from exc

        await self._run(run)

    async def lifecycle_buckets(self, after: str = "", limit: int = 100) -> list[tuple[str, str]]:
        async def run(conn: asyncpg.Connection) -> list[tuple[str, str]]:
            rows = await conn.fetch(_LIST.format("$1", "$2"), after, limit)
            return [(row["bucket"], row["config"]) for row in rows]

        return await self._run(run)

    async def take_lease(self, name: str, holder: str, ttl: float) -> Lease | None:
        async def run(conn: asyncpg.Connection) -> Lease | None:
            row = await conn.fetchrow(
                "INSERT INTO leases (name, holder, expires) "
                "VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3)) ON CONFLICT (name) DO UPDATE "
                "SET holder = excluded.holder, expires = excluded.expires "
                "WHERE leases.holder = excluded.holder OR leases.expires <= clock_timestamp() "
                "RETURNING holder, expires, state",
                name,
                holder,
                float(ttl),
            )
            return None if row is None else Lease(name, row["holder"], row["expires"], row["state"])

        return await self._run(run)

    async def keep_lease(self, name: str, holder: str, ttl: float, state: str | None) -> bool:
        async def run(conn: asyncpg.Connection) -> bool:
            status = await conn.execute(
                "UPDATE leases SET expires = clock_timestamp() + make_interval(secs => $3), state = $4 "
                "WHERE name = $1 AND holder = $2",
                name,
                holder,
                float(ttl),
                state,
            )
            return status.endswith(" 1")

        return await self._run(run)
