"""A small asyncpg layer shared by the PostgreSQL metadata and identity stores.

One pool per process; every operation runs under one deadline that covers getting a connection
(which may mean connecting), the statements and the commit, so a PostgreSQL that is down, restarting
or hung costs a request a bounded wait, never a hang. Broken connections are dropped by the pool and
replaced on the next acquire, so the stores recover by themselves when the server is back.

Functions passed to `run`/`transaction` receive an `asyncpg.Connection`. Errors are asyncpg's own (or
whatever the function raised); `UNAVAILABLE` lists the ones that mean "the database failed", which
`PgClient` turns into each store's own error type (MetadataError, IdentityUnavailable).

Migrations are versioned per component ("metadata", "identity") in one `schema_versions` table and
applied under a transaction-scoped advisory lock, so any number of processes may start at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

__all__ = [
    "UNAVAILABLE",
    "PgClient",
    "PgDatabase",
    "SchemaTooNewError",
    "apply_migrations",
    "is_postgres_url",
    "redact",
    "schema_version",
]

T = TypeVar("T")

log = logging.getLogger(__name__)

# Failures that mean the database could not do the work: unreachable, restarting, shutting down,
# timed out, or refusing the statement. Integrity errors a store expects are caught before these.
# InternalClientError: asyncpg's protocol state when the server drops a connection mid-statement.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
    TimeoutError,
)

# Any fixed 64-bit number works: it only has to be the same in every process that migrates.
_MIGRATION_LOCK = 0x5335_6D69_6772_6174


class SchemaTooNewError(asyncpg.InterfaceError):
    """The database was migrated by a newer release than this one; refuse rather than misread it."""


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def redact(url: str) -> str:
    """The URL with any password replaced, for logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[-1]}"))


async def schema_version(conn: asyncpg.Connection, component: str) -> int:
    """The version `apply_migrations` recorded for a component (0 when none)."""
    exists = await conn.fetchval("SELECT to_regclass('schema_versions') IS NOT NULL")
    if not exists:
        return 0
    version = await conn.fetchval("SELECT version FROM schema_versions WHERE component = $1", component)
    return version or 0


async def apply_migrations(
    conn: asyncpg.Connection, component: str, migrations: Sequence[Sequence[str]]
) -> int:
    """Bring a component's schema up to len(migrations), in one transaction; return the version.

    migrations[i] holds the statements that produce version i + 1; applied ones are never edited,
    only appended to, so running this again (from any number of processes) changes nothing.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_versions "
            "(component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
        )
        current = await schema_version(conn, component)
        if current > len(migrations):
            raise SchemaTooNewError(
                f"{component} schema version {current} is newer than this release knows ({len(migrations)})"
            )
        for version in range(current + 1, len(migrations) + 1):
            for statement in migrations[version - 1]:
                await conn.execute(statement)
            log.info("%s schema migrated to version %d", component, version)
        if current < len(migrations):
            await conn.execute(
                "INSERT INTO schema_versions (component, version) VALUES ($1, $2) "
                "ON CONFLICT (component) DO UPDATE SET version = excluded.version",
                component,
                len(migrations),
            )
    return len(migrations)


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """Pool release hook: the stores leave no session state behind (no SET, LISTEN or session locks),
    so skip asyncpg's reset query and save a round trip per operation. Open transactions are still
    rolled back by asyncpg itself."""


class PgDatabase:
    """An asyncpg pool with deadlines; shared by the stores that live in one PostgreSQL database."""

    def __init__(
        self,
        dsn: str,
        *,
        min_size: int = 0,
        max_size: int = 10,
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
    ) -> None:
        self.dsn = dsn
        self.min_size = min_size
        self.max_size = max_size
        self.timeout = timeout  # one operation, from asking for a connection to its commit
        self.connect_timeout = min(connect_timeout, timeout)
        self._pool: asyncpg.Pool | None = None
        self._users = 0

    @property
    def name(self) -> str:
        return redact(self.dsn)

    async def open(self) -> None:
        """Create the pool. Connections are made on demand (min_size 0), so while the server is down
        nothing retries in the background; the stores' migrations make a wrong URL fail at start-up.

        Stores sharing this database each open and close it; the pool lives while any of them does.
        """
        self._users += 1
        if self._pool is not None:
            return
        try:
            self._pool = await asyncio.wait_for(
                asyncpg.create_pool(
                    self.dsn,
                    min_size=self.min_size,
                    max_size=self.max_size,
                    timeout=self.connect_timeout,
                    command_timeout=self.timeout,
                    reset=_keep_session,
                    server_settings={"application_name": "s3server", "jit": "off"},
                ),
                self.timeout,
            )
        except BaseException:
            self._users -= 1
            raise

    async def close(self) -> None:
        """Release one user's hold; the last one closes the pool (forcibly if the server is gone)."""
        self._users = max(0, self._users - 1)
        if self._users or self._pool is None:
            return
        pool, self._pool = self._pool, None
        try:
            await asyncio.wait_for(pool.close(), self.timeout)
        except (*UNAVAILABLE, asyncio.CancelledError):
            pool.terminate()

    @property
    def is_open(self) -> bool:
        return self._pool is not None

    async def run(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """fn(conn) on a pooled connection (autocommit: each statement is its own transaction)."""
        return await self._within_deadline(fn, transactional=False)

    async def transaction(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """fn(conn) inside one READ COMMITTED transaction; committed when fn returns, rolled back if
        it raises."""
        return await self._within_deadline(fn, transactional=True)

    async def _within_deadline(
        self, fn: Callable[[asyncpg.Connection], Awaitable[T]], *, transactional: bool
    ) -> T:
        """Run the operation as a task and stop waiting for it at the deadline.

        Cancelling a statement on a server that does not answer would make asyncpg wait again, for
        the cancellation and then for the rollback; instead the connection is terminated, which
        fails whatever the task still awaits at once, and the caller gets TimeoutError on time.
        """
        pool = self._require()
        held: list[asyncpg.Connection] = []

        async def operate() -> T:
            conn = await pool.acquire(timeout=self.timeout)
            held.append(conn)
            try:
                if not transactional:
                    return await fn(conn)
                async with conn.transaction():
                    return await fn(conn)
            finally:
                await pool.release(conn, timeout=self.timeout)

        task = asyncio.ensure_future(operate())
        try:
            done, _ = await asyncio.wait({task}, timeout=self.timeout)
        except asyncio.CancelledError:  # our caller gave up (the client went away)
            task.cancel()
            raise
        if task in done:
            return task.result()
        for conn in held:
            conn.terminate()
        task.cancel()
        task.add_done_callback(_consume)
        raise TimeoutError(f"no answer from {self.name} within {self.timeout:g}s")

    def _require(self) -> asyncpg.Pool:
        if self._pool is None:
            raise asyncpg.InterfaceError(f"database {self.name} is not open")
        return self._pool


class PgClient:
    """What a store on a PgDatabase shares: operations run under the database's deadline, and a
    failure of the database raised as the store's own `unavailable` error (anything else passes)."""

    db: PgDatabase
    unavailable: type[Exception]  # the store's "the database failed" error
    label: str  # the store in messages: "postgresql metadata", "identity store"

    async def _call(
        self,
        run: Callable[[Callable[[asyncpg.Connection], Awaitable[T]]], Awaitable[T]],
        fn: Callable[[asyncpg.Connection], Awaitable[T]],
    ) -> T:
        try:
            return await run(fn)
        except UNAVAILABLE as exc:
            raise self.unavailable(f"{self.label} {self.db.name}: {type(exc).__name__}: {exc}") from exc

    async def _run(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        return await self._call(self.db.run, fn)

    async def _transaction(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        return await self._call(self.db.transaction, fn)

    async def _open_migrated(self, component: str, migrations: Sequence[Sequence[str]]) -> None:
        """Open the database and bring the component's schema up to date (safe to repeat, and from
        many processes at once)."""
        try:
            await self.db.open()
        except UNAVAILABLE as exc:
            raise self.unavailable(f"cannot open {self.label} {self.db.name}: {exc}") from exc
        try:
            await self._run(lambda conn: apply_migrations(conn, component, migrations))
        except BaseException:
            await self.db.close()
            raise

    async def _schema_version(self, component: str) -> int:
        return await self._run(lambda conn: schema_version(conn, component))


def _consume(task: asyncio.Future[object]) -> None:
    """Retrieve an abandoned operation's outcome, so that asyncio does not log it as lost."""
    if not task.cancelled():
        task.exception()
